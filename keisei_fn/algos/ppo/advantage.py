"""Zero-sum advantages from TorchRL's GAE with a negative discount.

In self-play each transition is valued from its mover's side, and the next state belongs to the
opponent, whose value is the negative of ours: delta_t = r_t - gamma * V(s_{t+1}) - V(s_t).
TorchRL's GAE computes exactly this with gamma -> -gamma, on its non-vectorized (loop) path only:
the vectorized path raises or is silently wrong for a negative discount. tests/test_advantage.py
checks it against a hand-written negamax loop, games ending mid-rollout included.

The move cap is a rule of the game (a draw), not a time limit outside the MDP, and the
observation carries the ply count: a capped game is terminal, so it is not bootstrapped.
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torchrl.objectives.value import GAE


def make_gae(gamma: float, lmbda: float) -> GAE:
    gae = GAE(gamma=-gamma, lmbda=lmbda, value_network=None, vectorized=False)
    gae.set_keys(value="state_value", advantage="advantage", value_target="value_target",
                 terminated="game_over")
    return gae


def zero_sum_gae(gae: GAE, rollout: TensorDictBase, last_value: torch.Tensor) -> TensorDictBase:
    """Add "advantage" and "value_target" to a rollout [B, T] (time last).

    Args:
        rollout: collector output with "state_value" [B, T, 1] from the acting policy and
            ("next", "reward"/"done"/"terminated"/"truncated") [B, T, 1].
        last_value: [B, 1] value of the state after the rollout's last step (from its mover's side).
    """
    value = rollout.get("state_value")
    next_value = torch.cat([value[:, 1:], last_value[:, None]], 1)
    done = rollout.get(("next", "done"))
    rollout.set(("next", "state_value"), next_value)
    # The move cap ends the game as a draw: terminal for the value, see the module docstring.
    rollout.set(("next", "game_over"), done)
    gae(rollout)
    return rollout
