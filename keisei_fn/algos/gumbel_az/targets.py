"""What a searched position teaches, stored compactly: the improved policy over the legal moves
only, and the value target once the position's game has ended.

The search's improved policy is a distribution over the 2187 labels that is zero off the legal
moves (at most 593 in any Shogi position), so a stored position keeps it as float16 over its legal
moves in label order (`pack_policy`), 1.2 KB instead of 8.7 KB; `unpack_policy` puts it back
(exact up to float16 rounding, illegal labels exactly 0).

Value targets (from the side to move at each position, like every value here):
- "outcome": the game's result, +1 for the side that wins (AlphaZero);
- "nstep": (-1)^n times the search's root value n plies later, or the outcome when the game ends
  within n plies (MuZero's n-step return, without rewards: Shogi pays only at the end).

The value head learns the target minus the material prior (`material_prior`, coef x material
balance, clamped to the tanh's range), and the search reads the head plus the prior back
(collect/search_policy.py): the network need not learn what counting the pieces already says.
"""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase

from ...shogi import MAX_LEGAL_MOVES
from ...shogi.material import material_balance

# Slots of a packed policy: room for the most legal moves any Shogi position has.
POLICY_SLOTS = 600
assert POLICY_SLOTS >= MAX_LEGAL_MOVES


def _slots(mask: torch.Tensor) -> torch.Tensor:
    """Each legal label's slot (its rank among the legal labels), POLICY_SLOTS where illegal."""
    slot = mask.long().cumsum(-1) - 1
    return torch.where(mask, slot, POLICY_SLOTS)


def pack_policy(policy: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """float [..., 2187] zero off `mask` -> float16 [..., POLICY_SLOTS]: the legal labels' mass in
    label order, zero padded."""
    out = torch.zeros(*policy.shape[:-1], POLICY_SLOTS + 1, dtype=torch.float16,
                      device=policy.device)
    out.scatter_(-1, _slots(mask), policy.to(torch.float16))
    return out[..., :POLICY_SLOTS]


def unpack_policy(packed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`pack_policy`'s inverse: float32 [..., 2187], exactly 0 off `mask`."""
    slot = _slots(mask).clamp(max=POLICY_SLOTS - 1)
    return torch.where(mask, packed.gather(-1, slot).float(), 0.0)


def value_targets(length: torch.Tensor, reward: torch.Tensor, root_value: torch.Tensor,
                  kind: str, td_steps: int) -> torch.Tensor:
    """[D, P] value targets of D finished games' positions (ply 0 ... length - 1; later entries
    are unused), from each position's side to move.

    `reward` [D] is the result for the mover of the last ply (+1 mate given, 0 draw, ...);
    `root_value` [D, P] the search's root value at each position, for its side to move.
    """
    plies = torch.arange(root_value.shape[1], device=root_value.device)
    to_end = length[:, None] - 1 - plies
    sign = 1.0 - 2.0 * (to_end % 2).float()  # +1 for the last mover's positions
    outcome = reward[:, None].float() * sign
    if kind == "outcome":
        return outcome
    later = (plies + td_steps).clamp(max=root_value.shape[1] - 1)
    bootstrap = root_value.gather(1, later.expand_as(root_value)) * (-1.0) ** td_steps
    return torch.where(to_end >= td_steps, bootstrap, outcome)


def learned_value(target: torch.Tensor, game: TensorDictBase, coef: float) -> torch.Tensor:
    """What the value head is trained towards: the target less the material prior (clamped to
    the head's range)."""
    if not coef:
        return target
    return (target - coef * material_balance(game)).clamp(-1.0, 1.0)


def finished_games(pending: TensorDictBase, done: torch.Tensor, ply: torch.Tensor,
                   reward: torch.Tensor, cfg) -> TensorDict | None:
    """The positions of the games that just ended, with their value targets, flat [N].

    `pending` [B, P] holds each row's current game by ply; `done` [B] marks the rows whose game
    ended with this step, `ply` [B] the ply of the move that ended it and `reward` [B] its result
    for that move's mover. None when no game ended.
    """
    rows = done.nonzero().squeeze(-1)
    if rows.numel() == 0:
        return None
    games = pending[rows]
    length = ply[rows].long() + 1
    root = games.get("root_value")
    outcome = value_targets(length, reward[rows], root, "outcome", cfg.td_steps)
    target = (outcome if cfg.value_target == "outcome"
              else value_targets(length, reward[rows], root, cfg.value_target, cfg.td_steps))
    valid = torch.arange(games.batch_size[1], device=rows.device) < length[:, None]
    out = games[valid]
    out.set("outcome", outcome[valid])
    out.set("target_value", learned_value(target[valid], out.get("game"), cfg.material_prior))
    return out
