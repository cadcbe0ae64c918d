"""Full-width material minimax over the tensor engine: the ladder's `minimax` player and the
opening suites' judge.

No Python loop over games or moves: every legal move of every game is played in one batched
`step`, the replies of all those children are scored together, and a scatter brings the values
back to the root's [B, 2187] labels. Values are in pawns (`material.BOARD_VALUES`), from the side
to move at the root (negamax across plies). The last ply of the search is not played but scored
with `capture_gain`, i.e. the material it wins at once; a finished game scores +-`WIN` (mate,
perpetual check, a granted entering-king declaration) or 0 (repetition, the move cap).

`quiet=Q` is a quiescence: the captures of that static last ply are played out, Q plies deep
(captures only, each side free to stand pat instead: a quiet move scores its static value). The
static ply alone lets the opponent take a piece for nothing, so a move onto a defended square
reads as losing that piece; with Q = 1 the defender retakes, with Q = 2 the attacker again.
Below the root's own moves the quiescence is an alpha-beta in two waves: each position's capture
that wins the most is played first, and the rest only where it (or standing pat) has not already
refuted the parent's move. A position is cut only once refuted, and a refuted position's value
only has to show it (at least the parent's bound), so the root's values are exact.
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase

from ..shogi import step
from ..shogi.material import (MAX_QUIET, best_capture_gain, capture_gain,  # noqa: F401 (API)
                              material_balance, takes_piece)

WIN = 1000.0  # a won game in pawns: more than any material swing
_TIE_NOISE = 1e-3  # breaks ties between equal moves at random, never reorders unequal ones


def move_values(state: TensorDictBase, depth: int = 2, *, impasse: bool = True,
                quiet: int = 0) -> torch.Tensor:
    """float [B, 2187]: each legal move's minimax value at `depth` plies, the captures of the
    static last ply played out `quiet` plies deep (-inf where illegal)."""
    if depth < 1:
        raise ValueError(f"minimax depth must be >= 1, got {depth}")
    if quiet < 0:
        raise ValueError(f"quiescence plies must be >= 0, got {quiet}")
    mask = state["legal_mask"]
    if depth > 1:
        return _children_values(state, mask, lambda child, _: -position_value(
            child, depth - 1, impasse=impasse, quiet=quiet), impasse)
    values = (material_balance(state)[:, None] + capture_gain(state)).masked_fill(~mask, -torch.inf)
    captures = mask & takes_piece(state) if quiet else None
    if captures is None or not bool(captures.any()):
        return values
    played = _children_values(state, captures, lambda child, _: -_quiesce(
        child, quiet - 1, *_full_window(child), impasse), impasse)
    return torch.where(captures, played, values)


def position_value(state: TensorDictBase, depth: int = 2, *, impasse: bool = True,
                   quiet: int = 0) -> torch.Tensor:
    """float [B]: the minimax value of each (unfinished) position for its side to move."""
    if depth == 1:
        return _quiesce(state, quiet, *_full_window(state), impasse)
    return move_values(state, depth, impasse=impasse, quiet=quiet).amax(-1)


# Below this many captures in a batch, one step for all of them costs less than a second call
_ONE_WAVE = 256


def _quiesce(state, quiet: int, alpha, beta, impasse: bool) -> torch.Tensor:
    """float [B]: the depth-1 value with `quiet` plies of captures, by alpha-beta within the
    window (`alpha`, `beta`) [B]: exact inside it, at most `alpha` where the value is at most
    `alpha`, at least `beta` where it is at least `beta` (what a parent needs to keep or refute
    a move)."""
    if not quiet:  # move_values(state, 1).amax(-1), without the [B, 2187] gains
        return material_balance(state) + best_capture_gain(state)
    mask = state["legal_mask"]
    values = (material_balance(state)[:, None] + capture_gain(state)).masked_fill(~mask, -torch.inf)
    captures = mask & takes_piece(state)
    best = values.masked_fill(captures, -torch.inf).amax(-1)  # standing pat: the best quiet move
    ranked = values.masked_fill(~captures, -torch.inf)
    first = torch.zeros_like(captures).scatter(1, ranked.argmax(-1, keepdim=True), True) & captures
    waves = (first, captures & ~first) if int(captures.sum()) > _ONE_WAVE else (captures,)
    for wave in waves:
        moves = wave & (best < beta)[:, None]  # not yet refuted: the parent still needs a value
        if not bool(moves.any()):
            continue
        floor = torch.maximum(best, alpha)
        played = _children_values(state, moves, lambda child, rows, floor=floor: -_quiesce(
            child, quiet - 1, -beta[rows], -floor[rows], impasse), impasse)
        best = torch.maximum(best, played.amax(-1))
    return best


def _full_window(state) -> tuple[torch.Tensor, torch.Tensor]:
    inf = torch.full(state.batch_size, torch.inf, device=state.device)
    return -inf, inf


def _children_values(state, moves, value_of, impasse: bool) -> torch.Tensor:
    """float [B, 2187]: `value_of(child, parent_rows)` each child of the `moves` [B, 2187]
    (bool) played in one batched step, +-`WIN` or 0 where the move ends the game; -inf where
    not a move."""
    rows, actions = moves.nonzero(as_tuple=True)
    child = step(state[rows], actions, impasse=impasse)
    ended = child["terminated"] | child["truncated"]
    value = child["reward"] * WIN  # the mover's outcome; 0 for draws and the move cap
    going = (~ended).nonzero().squeeze(1)
    if going.numel():
        value[going] = value_of(child[going], rows[going])
    values = torch.full(moves.shape, -torch.inf, device=moves.device)
    return values.index_put((rows, actions), value)


def within(values: torch.Tensor, margin: float) -> torch.Tensor:
    """bool [B, 2187]: the moves whose `move_values` are within `margin` pawns of the position's
    best (a tolerance absorbs the float rounding of sums like 1.1 + 4.5)."""
    return values >= values.amax(-1, keepdim=True) - margin - 1e-4


def minimax_choose(state: TensorDictBase, generator: torch.Generator, depth: int = 2,
                   impasse: bool = True) -> torch.Tensor:
    """long [B]: a best move by `depth`-ply material minimax, ties broken at random."""
    values = move_values(state, depth, impasse=impasse)
    noise = torch.rand(values.shape, generator=generator, device=values.device) * _TIE_NOISE
    return (values + noise).argmax(-1)
