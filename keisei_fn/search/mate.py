"""A batched mate search over the tensor engine, independent of any tree: mate in one, and mate
in three by checks (tsume-shogi's convention: every attacking move gives check).

    mate_in_one(state)          -> long [B]: a move that wins at once, -1 where none
    find_mates(state, plies)    -> (long [B] move, long [B] plies to mate: 1, 3 or 0)
    allows_mate(state, moves, plies=1)
                                -> bool [B, K]: each move lets the opponent win at once (or,
                                   plies=3, mate in three by checks)
    score_mates(state, logits, value)
                                -> the evaluation with a mate in one scored as a win (the
                                   search's `mate_depth`)

Mate in three is brute force by levels, each one batched `step` over every position of the
level: the attacker's moves that may give check (`shogi.may_check`, a superset of the checks
read off tables; stepped, the checks kept), every reply of the defender, then a mate in one
after each reply, again stepping only the moves that may give check. A move is proven when
every reply loses (a mate in one follows, or the reply itself ends the game against the
defender, e.g. its perpetual check). The rules decide everything (`step`'s outcome), so a proven
mate is a real one; quiet first moves are not tried, so "none" means none by checks. The cost
is roughly (legal moves, for the mate in one) + (checking moves x replies x checking moves)
steps per position: a few hundred in games (~870 in the middle game positions of a ladder's
games, tens of thousands with full hands), affordable at play time; work is cut into chunks
of at most `chunk` stepped states, so memory stays bounded whatever the batch.
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase

from ..shogi import may_check, step

NONE = -1
CHUNK = 8192  # stepped states held at once (a state is ~7 KB with its 512-ply histories)
_NO_LABEL = torch.iinfo(torch.long).max


def _children(state: TensorDictBase, chunk: int, checks_only: bool = False):
    """Every legal move of every position (or only those that may give check), stepped, `chunk`
    at a time: yields (parent row [n], label [n], children [n])."""
    rows, labels = state["legal_mask"].nonzero(as_tuple=True)
    if checks_only:
        keep = may_check(state, rows, labels)
        rows, labels = rows[keep], labels[keep]
    for lo in range(0, len(rows), chunk):
        r, lab = rows[lo:lo + chunk], labels[lo:lo + chunk]
        yield r, lab, step(state[r], lab)


def _smallest(rows: torch.Tensor, labels: torch.Tensor, ok: torch.Tensor, into: torch.Tensor):
    """into[row] = min(into[row], label) over the rows where ok (deterministic on every device)."""
    return into.scatter_reduce(0, rows, torch.where(ok, labels, _NO_LABEL), "amin")


def _wins(after: TensorDictBase) -> torch.Tensor:
    return after["terminated"] & (after["reward"] > 0)


def mate_in_one(state: TensorDictBase, chunk: int = CHUNK, checks_only: bool = False
                ) -> torch.Tensor:
    """long [B]: the smallest label of a move that wins at once by the rules (mate, or the
    opponent's perpetual check ending), -1 where there is none. `checks_only` steps only the
    moves that may give check (`shogi.may_check`, ~8% of them): every mate, not the rare quiet
    move that wins by the opponent's perpetual check."""
    b, device = state.batch_size[0], state.device
    best = torch.full((b,), _NO_LABEL, dtype=torch.long, device=device)
    for rows, labels, after in _children(state, chunk, checks_only):
        best = _smallest(rows, labels, _wins(after), best)
    return torch.where(best < _NO_LABEL, best, NONE)


def allows_mate(state: TensorDictBase, moves: torch.Tensor, chunk: int = CHUNK,
                plies: int = 1) -> torch.Tensor:
    """bool [B, K]: whether playing each of `moves` [B, K] (legal labels, -1 for none) lets the
    opponent force a win: it loses by the rules itself (our perpetual check), or the opponent
    then has a mate in one (`mate_in_one`, checks only), or with `plies` 3 a mate in three by
    checks (as `find_mates`). False for -1 and for moves that end the game otherwise (a win, a
    draw)."""
    if plies not in (1, 3):
        raise ValueError(f"mate search plies must be 1 or 3, got {plies}")
    b, k = moves.shape
    rows, slots = (moves >= 0).nonzero(as_tuple=True)
    bad = torch.zeros(b, k, dtype=torch.bool, device=moves.device)
    for lo in range(0, len(rows), chunk):
        r, s = rows[lo:lo + chunk], slots[lo:lo + chunk]
        after = step(state[r], moves[r, s])
        lost = after["terminated"] & (after["reward"] < 0)
        going = ~after["terminated"] & ~after["truncated"]
        mated = torch.zeros_like(lost)
        if bool(going.any()):
            mated[going] = mate_in_one(after[going], chunk, checks_only=True) >= 0
        if plies == 3 and bool((rest := going & ~mated).any()):
            mated[rest] = _mate_in_three(after[rest], chunk) < _NO_LABEL
        bad[r, s] = lost | mated
    return bad


def _all_replies_lose(checks: TensorDictBase, chunk: int) -> torch.Tensor:
    """bool [C]: every reply of the defender (to move in `checks`, in check) loses: after it the
    attacker mates in one, or the reply itself ended the game against the defender."""
    c, device = checks.batch_size[0], checks.device
    refuted = torch.zeros(c, dtype=torch.bool, device=device)
    # a reply expands again into its checking moves for the mate in one: fewer per chunk
    for rows, _, replies in _children(checks, max(1, chunk // 16)):
        lost = replies["terminated"] & (replies["reward"] < 0)
        # a check already refuted by an earlier reply needs no more mate searches
        alive = ~replies["terminated"] & ~replies["truncated"] & ~refuted[rows]
        mated = torch.zeros_like(lost)
        if bool(alive.any()):
            mated[alive] = mate_in_one(replies[alive], chunk, checks_only=True) >= 0
        escaped = ~(lost | mated) & ~refuted[rows]
        refuted = refuted.index_fill(0, rows[escaped], True)
    return ~refuted


def _mate_in_three(state: TensorDictBase, chunk: int) -> torch.Tensor:
    """long [B]: the smallest label of a check after which every reply loses, _NO_LABEL where
    none. Only the moves that may give check are stepped (`shogi.may_check`)."""
    best = torch.full(state.batch_size, _NO_LABEL, dtype=torch.long, device=state.device)
    for rows, labels, after in _children(state, chunk, checks_only=True):
        check = after["in_check"] & ~after["terminated"] & ~after["truncated"]
        if bool(check.any()):
            proven = _all_replies_lose(after[check], chunk)
            best = _smallest(rows[check], labels[check], proven, best)
    return best


def find_mates(state: TensorDictBase, plies: int = 3, chunk: int = CHUNK
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(move [B], plies [B]): for each position, the first move of the shortest forced mate
    within `plies` (1 or 3) by checks, smallest label first, and its length; (-1, 0) where none.
    Positions must be unfinished with a legal move."""
    if plies not in (1, 3):
        raise ValueError(f"mate search plies must be 1 or 3, got {plies}")
    in_one = mate_in_one(state, chunk)  # every move: a quiet one may win by a perpetual check
    in_three = torch.full_like(in_one, _NO_LABEL)
    if plies == 3 and bool((todo := in_one < 0).any()):
        in_three[todo] = _mate_in_three(state[todo], chunk)
    move = torch.where(in_one >= 0, in_one, torch.where(in_three < _NO_LABEL, in_three, NONE))
    length = torch.where(in_one >= 0, 1, torch.where(in_three < _NO_LABEL, 3, 0))
    return move, length



MATE_LIFT = 10.0  # a mating move's logit above the position's best other one: a prior of ~1


def score_mates(state: TensorDictBase, logits: torch.Tensor, value: torch.Tensor,
                where: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """An evaluation (logits [B, 2187], value [B]) of `state` [B] that knows mates in one:
    where the side to move has one (of the rows `where` says, all by default), the value is +1,
    the win the rules will score a ply later, and the mating move's logit is lifted
    `MATE_LIFT` above the others, so that a search that comes back plays it. Finished positions
    are left as they are. Cost: one mate search (checks only) per row searched."""
    going = ~state["terminated"] & ~state["truncated"]
    if where is not None:
        going = going & where
    mate = torch.full(going.shape, NONE, dtype=torch.long, device=going.device)
    if bool(going.any()):
        mate[going] = mate_in_one(state[going], checks_only=True)
    won = mate >= 0
    top = logits.max(-1, keepdim=True).values + MATE_LIFT
    lifted = logits.scatter(1, mate.clamp(min=0)[:, None], top)
    return (torch.where(won[:, None], lifted, logits),
            torch.where(won, torch.ones_like(value), value))
