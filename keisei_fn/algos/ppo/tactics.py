"""Search-labelled policy targets for PPO (`ppo.tactics_coef`): on a few positions of each
rollout, a 2-ply material search (search/minimax.py, the `minimax` player's) says which moves
lose material against the best move, and an auxiliary loss moves the policy's probability off
them.

Why: what our agents lose to the ladder's `minimax` rung is short tactics (a piece left hanging,
a free capture missed) that self-play's +-1 result teaches slowly. The search labels them at
once, and the loss is the one used for play (`PATH@material=M`, agent/decision.py) taught to
the policy: for a labelled position with legal moves L and moves within `margin` pawns of the
best A,

    loss = -log sum_{a in A} pi(a) = logsumexp(logits[L]) - logsumexp(logits[A])

which is 0 when the policy already plays only such moves, and leaves their relative order to
PPO. Labelling costs a 2-ply search (every legal move stepped, every reply's best capture
scored), about 100 engine steps a position, so only `tactics_positions` positions a rollout are
labelled, evenly spaced over it.
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase

from ...env.compact import pack_mask, unpack_mask
from ...search.minimax import move_values, within
from ...shogi import make_state

CHUNK = 32
"""positions searched at once: a chunk's replies ([~100 x CHUNK, 2187] capture gains) take
~30 MB (with ppo.tactics_quiet, each ply's captures add their own)"""
SEARCH_PLIES = 4
"""the searched positions' own move cap: past the 2 plies searched (and the quiescence's plies,
added to it), so none is truncated"""


def label_rows(n: int, count: int, device) -> torch.Tensor:
    """long [min(count, n)]: evenly spaced sample indices of an [n] batch (no random draw, so a
    resumed run labels the same rows)."""
    count = min(count, n)
    return torch.div(torch.arange(count, device=device) * n, count, rounding_mode="floor")


def near_best(game: TensorDictBase, margin: float, quiet: int = 0) -> torch.Tensor:
    """bool [M, 2187]: the moves of the stored positions `game` [M] (board, hands, side to move)
    that the 2-ply material search (its last ply's captures played out `quiet` plies deep) rates
    within `margin` pawns of the best."""
    out = []
    for part in game.split(CHUNK):
        state = make_state(part["board"], part["hands"], part["side_to_move"],
                           torch.ones_like(part["side_to_move"], dtype=torch.int32),
                           max_plies=SEARCH_PLIES + quiet)
        out.append(within(move_values(state, 2, impasse=False, quiet=quiet), margin))
    return torch.cat(out)


def add_labels(batch: TensorDictBase, ppo) -> TensorDictBase:
    """The training batch [K, N] with "tactics_bits" (the packed near-best moves of the labelled
    samples, the legal moves of the others) and "labelled" [K, N]; unchanged when
    `ppo.tactics_coef` is 0."""
    if ppo.tactics_coef <= 0:
        return batch
    members, n = batch.batch_size
    rows = label_rows(n, ppo.tactics_positions, batch.device)
    bits = batch.get("mask_bits").clone()
    game = batch.get("game")[:, rows].reshape(-1)
    bits[:, rows] = pack_mask(near_best(game, ppo.tactics_margin, ppo.tactics_quiet)).view(
        members, len(rows), -1)
    labelled = torch.zeros(members, n, dtype=torch.bool, device=batch.device)
    labelled[:, rows] = True
    batch.set("tactics_bits", bits)
    batch.set("labelled", labelled)
    return batch


def tactics_terms(logits: torch.Tensor, minibatch: TensorDictBase
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(the loss, the policy's probability on the moves the search rejects), each averaged over
    the labelled samples of each member: [K] from logits [K, M, 2187] (float32)."""
    legal = minibatch.get("action_mask")
    good = unpack_mask(minibatch.get("tactics_bits")) & legal
    labelled = minibatch.get("labelled").float()
    all_legal = logits.masked_fill(~legal, -torch.inf).logsumexp(-1)
    near = logits.masked_fill(~good, -torch.inf).logsumexp(-1)
    loss = torch.where(labelled > 0, all_legal - near, 0.0)
    rejected = torch.where(labelled > 0, -torch.expm1(near - all_legal), 0.0)
    count = labelled.sum(-1).clamp(min=1.0)
    return loss.sum(-1) / count, rejected.sum(-1) / count
