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
| 44-45 | with `attacks`: the squares' attackers, own then opponent's, min(n, 4) / 4; else zero |

The board is rotated 180 degrees for White (square s -> 80 - s); spatial axes are (file, rank) of
that frame, i.e. `obs.view(B, 46, 81)[:, c, s]`, matching the action labels' destination squares.

The attack planes (`model.attack_planes`) tell a small network what its few 3x3 layers cannot
see: a bishop's reach across the board, a piece attacked more often than defended. A network
trained without them saw zeros there, so it is read with zeros there (`NetSpec.attacks`).
"""

from __future__ import annotations

import torch
from tensordict import TensorDict

from ._attacks import attack_counts
from ._movegen import hands_to_canonical, lookup, to_canonical
from ._state import max_plies_of
from ._tables import HAND_MAX, OBS_HAND_ORDER, tables


# attackers of a square beyond which the attack planes saturate
ATTACK_PLANE_MAX = 4
# the attack planes' place in the observation: the side to move's attackers, then the opponent's
ATTACK_PLANES = slice(44, 46)


def observe(state: TensorDict, dtype: torch.dtype = torch.float32,
            max_plies: int | None = None, attacks: bool = False,
            counts: torch.Tensor | None = None) -> torch.Tensor:
    """Float [B, 46, 9, 9] observation of every game's side to move, with the attack planes
    where `attacks` (from `counts` [B, 2, 81] where given: a rollout's stored counts).

    Reads board, hands, side_to_move and ply only; `max_plies` (the ply plane's scale) defaults
    to the state's history length, and must be given for a stored position without history."""
    T = tables(state.device)
    side = state["side_to_move"]
    cb = to_canonical(state["board"], side)
    b = cb.shape[0]
    out = torch.empty(b, 46, 81, dtype=dtype, device=cb.device)
    # Empty squares land on plane 28, which the hand planes overwrite right after.
    board_planes = out[:, :29].zero_()
    board_planes.scatter_(1, lookup(T.obs_plane, cb.long() + 14)[:, None, :], 1.0)
    hands = hands_to_canonical(state["hands"], side)[:, :, list(OBS_HAND_ORDER)].to(dtype)
    scale = torch.tensor([HAND_MAX[k] for k in OBS_HAND_ORDER], dtype=dtype, device=cb.device)
    scalars = torch.cat([(hands / scale).reshape(b, 14), (side == 0).to(dtype)[:, None],
                         (state["ply"].to(dtype) / (max_plies or max_plies_of(state)))[:, None],
                         hands.new_zeros(b, 2)], 1)
    out[:, 28:] = scalars[:, :, None]
    if attacks:
        counts = attack_counts(state) if counts is None else counts
        out[:, ATTACK_PLANES] = counts.clamp(max=ATTACK_PLANE_MAX).to(dtype) / ATTACK_PLANE_MAX
    return out.view(b, 46, 9, 9)
