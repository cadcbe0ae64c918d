"""Full-width material minimax over the tensor engine: the ladder's `minimax` player and the
opening suites' judge.

No Python loop over games or moves: every legal move of every game is played in one batched
`step`, the replies of all those children are scored together, and a scatter brings the values
back to the root's [B, 2187] labels. Values are in pawns (`material.BOARD_VALUES`), from the side
to move at the root (negamax across plies). The last ply of the search is not played but scored
with `capture_gain`, i.e. the material it wins at once; a finished game scores +-`WIN` (mate,
perpetual check, a granted entering-king declaration) or 0 (repetition, the move cap).
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase

from ..shogi import step
from ..shogi.material import best_capture_gain, capture_gain, material_balance

WIN = 1000.0  # a won game in pawns: more than any material swing
_TIE_NOISE = 1e-3  # breaks ties between equal moves at random, never reorders unequal ones


def move_values(state: TensorDictBase, depth: int = 2, *, impasse: bool = True) -> torch.Tensor:
    """float [B, 2187]: each legal move's minimax value at `depth` plies (-inf where illegal)."""
    if depth < 1:
        raise ValueError(f"minimax depth must be >= 1, got {depth}")
    mask = state["legal_mask"]
    if depth == 1:
        values = material_balance(state)[:, None] + capture_gain(state)
        return values.masked_fill(~mask, -torch.inf)
    rows, actions = mask.nonzero(as_tuple=True)
    child = step(state[rows], actions, impasse=impasse)
    ended = child["terminated"] | child["truncated"]
    value = child["reward"] * WIN  # the mover's outcome; 0 for draws and the move cap
    going = (~ended).nonzero().squeeze(1)
    if going.numel():
        value[going] = -position_value(child[going], depth - 1, impasse=impasse)
    values = torch.full(mask.shape, -torch.inf, device=mask.device)
    return values.index_put((rows, actions), value)


def position_value(state: TensorDictBase, depth: int = 2, *, impasse: bool = True) -> torch.Tensor:
    """float [B]: the minimax value of each (unfinished) position for its side to move."""
    if depth == 1:  # move_values(state, 1).amax(-1), without the [B, 2187] gains
        return material_balance(state) + best_capture_gain(state)
    return move_values(state, depth, impasse=impasse).amax(-1)


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
