"""What a stored env step holds, and the network input rebuilt from it.

A stored step keeps the position compactly (board, hands, side to move, ply: 100 bytes) and the
legal moves as bits (274 bytes), instead of the 46 float planes (14,904 bytes), the bool mask
(2,187) and the repetition history (2,300) the env carries from ply to ply. The learner rebuilds
"observation" and "action_mask" per minibatch (`network_input`), exactly: the planes are a pure
function of those four keys (shogi/_observe.py), and the bits are the mask. With the attack
planes (`model.attack_planes`), their saturated counts are kept too (`ATTACK_KEY`, 162 bytes):
they are a function of the board as well, but rebuilding them costs about as much as the rest of
the observation together, every epoch, where copying them from the env's observation is free.
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase

from ..shogi import ATTACK_PLANE_MAX, ATTACK_PLANES, NUM_ACTIONS, observe

# The position keys under "game" that the observation is a function of.
POSITION_KEYS = ("board", "hands", "side_to_move", "ply")
MASK_BYTES = (NUM_ACTIONS + 7) // 8
# The attack planes' counts (uint8 [..., 2, 81], saturated at ATTACK_PLANE_MAX), where stored.
ATTACK_KEY = "attack_counts"


def pack_attacks(observation: torch.Tensor) -> torch.Tensor:
    """float [..., 46, 9, 9] observation with the attack planes -> their counts, uint8
    [..., 2, 81] (exact: the planes hold count / ATTACK_PLANE_MAX)."""
    planes = observation[..., ATTACK_PLANES, :, :].reshape(*observation.shape[:-3], 2, 81)
    return (planes.float() * ATTACK_PLANE_MAX).round().to(torch.uint8)


def _bit_weights(device) -> torch.Tensor:
    return torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.uint8, device=device)


def pack_mask(mask: torch.Tensor) -> torch.Tensor:
    """bool [..., 2187] -> uint8 [..., 274], bit i of byte j is label 8j + i."""
    pad = MASK_BYTES * 8 - mask.shape[-1]
    bits = torch.nn.functional.pad(mask.to(torch.uint8), (0, pad))
    return (bits.view(*mask.shape[:-1], MASK_BYTES, 8) * _bit_weights(mask.device)).sum(
        -1, dtype=torch.uint8)


def unpack_mask(packed: torch.Tensor) -> torch.Tensor:
    """uint8 [..., 274] -> bool [..., 2187] (`pack_mask`'s inverse)."""
    bits = (packed.unsqueeze(-1) & _bit_weights(packed.device)) != 0
    return bits.flatten(-2)[..., :NUM_ACTIONS]


def engine_state(td: TensorDictBase) -> TensorDictBase:
    """The engine state of the games an env step carries ("game" and "action_mask"), for the
    engine's functions (search, a mate search); the games in progress are never finished (the
    env restarts them)."""
    game = td.get("game")
    b, device = game.batch_size, game.device
    false = torch.zeros(b, dtype=torch.bool, device=device)
    return game.copy().update({
        "legal_mask": td.get("action_mask"), "in_check": false, "terminated": false,
        "truncated": false.clone(), "reward": torch.zeros(b, device=device),
        "termination_reason": torch.zeros(b, dtype=torch.int8, device=device)})


def network_input(td: TensorDictBase, max_plies: int, *, attacks: bool) -> TensorDictBase:
    """`td` (any batch shape) with "observation" and "action_mask" in place of the stored
    position ("game"), "mask_bits" (and `ATTACK_KEY`); `max_plies` is the env's (the ply plane's
    scale), `attacks` the network's (`NetSpec.attacks`: the attack planes, from the stored counts
    where `td` has them, else rebuilt)."""
    shape = td.batch_size
    game = td.get("game").reshape(-1)
    out = td.exclude("game", "mask_bits", ATTACK_KEY)
    stored = td.get(ATTACK_KEY, None) if attacks else None
    planes = observe(game, max_plies=max_plies, attacks=attacks,
                     counts=None if stored is None else stored.reshape(-1, 2, 81))
    out.set("observation", planes.view(*shape, -1, 9, 9))
    out.set("action_mask", unpack_mask(td.get("mask_bits")))
    return out
