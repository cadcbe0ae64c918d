"""`attack_counts`: how many pieces of each side attack each square (the network's attack planes).

A piece attacks a square it could move to were an opponent's piece standing there: one-step
moves to the adjacent squares, slides up to and including the first occupied square, knight
jumps. Pins and the king's safety are ignored (a pinned piece still defends), as in dlshogi's
attack features. It runs move generation's `seen_index` pass again (the observation does not see
`step`'s) and reads its descriptor words without the pins `analyze` applies to the mover's
pieces.
"""

from __future__ import annotations

import torch

from tensordict import TensorDictBase

from ._movegen import _pad, _take_squares, lookup, seen_index, to_canonical
from ._tables import KNIGHT, tables


def attack_counts(state: TensorDictBase) -> torch.Tensor:
    """int32 [B, 2, 81]: attackers of each square by the side to move (row 0) and by its
    opponent (row 1), in the side to move's frame (the observation's: square s -> 80 - s when
    White moves). Reads board and side_to_move only."""
    cb = to_canonical(state["board"], state["side_to_move"])
    T = tables(cb.device)
    b = cb.shape[0]
    code = cb.long() + 14
    zero = torch.zeros(b, 1, dtype=torch.int32, device=cb.device)
    desc = torch.cat([lookup(T.desc_far, code), zero, lookup(T.desc_adjacent, code), zero], 1)
    at = desc.gather(1, seen_index(cb != 0, T))  # [B, 648]: the first piece seen from t
    # mover's then opponent's bit of each column: [B, 2, 8, 81] as bytes (at most 10 attackers)
    seen = ((at[:, None] & T.col_sides) != 0).view(b, 2, 8, 81).to(torch.uint8)
    seen = seen[:, :, :4] + seen[:, :, 4:]  # a tree of slice sums: a reduction over a middle
    seen = seen[:, :, :2] + seen[:, :, 2:]  # dim is slow on CPU
    knights = torch.stack([_take_squares(_pad(cb == KNIGHT, False), T.knight_src),
                           _take_squares(_pad(cb == -KNIGHT, False), T.opp_knight_src)], 1)
    knights = knights.view(b, 2, 2, 81).to(torch.uint8)
    return (seen[:, :, 0] + seen[:, :, 1] + knights[:, :, 0] + knights[:, :, 1]).int()
