"""`observe`: the 46-plane network input, from the side to move's point of view.

| planes | content |
|---|---|
| 0-7   | own unpromoted P L N S G B R K (1 where the piece stands) |
| 8-13  | own +P +L +N +S +B +R |
| 14-27 | the same 14 planes for the opponent |
| 28-34 | own hand counts P L N S G B R, constant planes, / max (P 18; L N S G 4; B R 2) |
| 35-41 | opponent hand, likewise |
| 42    | 1 if Black is to move |
| 43    | ply / max_plies |
| 44-45 | zero (reserved) |

The board is rotated 180 degrees for White (square s -> 80 - s); spatial axes are (file, rank) of
that frame, i.e. `obs.view(B, 46, 81)[:, c, s]`, matching the action labels' destination squares.
"""

from __future__ import annotations

import torch
from tensordict import TensorDict

from ._movegen import hands_to_canonical, to_canonical
from ._state import max_plies_of
from ._tables import HAND_MAX, OBS_HAND_ORDER, tables


def observe(state: TensorDict, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Float [B, 46, 9, 9] observation of every game's side to move."""
    T = tables(state.device)
    side = state["side_to_move"]
    cb = to_canonical(state["board"], side)
    b = cb.shape[0]
    planes = T.obs_plane[cb.long() + 14]  # [B,81], 28 = empty
    board_planes = torch.zeros(b, 29, 81, dtype=dtype, device=cb.device)
    board_planes.scatter_(1, planes[:, None, :], 1.0)
    hands = hands_to_canonical(state["hands"], side)[:, :, list(OBS_HAND_ORDER)].to(dtype)
    scale = torch.tensor([HAND_MAX[k] for k in OBS_HAND_ORDER], dtype=dtype, device=cb.device)
    hand_vals = (hands / scale).reshape(b, 14)
    extra = torch.stack([(side == 0).to(dtype), state["ply"].to(dtype) / max_plies_of(state),
                         torch.zeros(b, dtype=dtype, device=cb.device),
                         torch.zeros(b, dtype=dtype, device=cb.device)], 1)
    scalars = torch.cat([hand_vals, extra], 1)[:, :, None].expand(b, 18, 81)
    return torch.cat([board_planes[:, :28], scalars], 1).view(b, 46, 9, 9)
