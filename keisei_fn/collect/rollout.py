"""Self-play in this process as a loop over time, games in and games out (purejaxrl's env-step
scan): `rollout(env, policy, games, steps) -> (games, trajectory)`.

The games in progress are a value the caller holds (the train state, and so the checkpoint),
not a collector's hidden attribute. Each step stores only what the learner reads (`stored_step`):
the compact position, the legal moves as bits, the policy's outputs and the transition, about
400 bytes (and 162 more with the attack planes' counts) against the 19.5 KB of the env's full
output (observation planes, bool mask, repetition history), which a TorchRL `Collector` would
stack for every step.
"""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase

from ..env.compact import ATTACK_KEY, POSITION_KEYS, pack_attacks, pack_mask

# What a game in progress is: enough to continue it exactly after a resume.
CARRIED_KEYS = ("observation", "action_mask", "game")

# What each stored step keeps (besides the position and the mask bits).
POLICY_KEYS = ("action", "action_log_prob", "state_value", "learner_move", "forced",
               # Gumbel AlphaZero's search policy (algos/gumbel_az/search_policy.py)
               "search_policy", "root_value", "raw_value", "full_search")
TRANSITION_KEYS = ("reward", "outcome", "done", "terminated", "truncated")

# Keys the loss reads, rebuilt into its network input by env.compact.network_input.
BATCH_KEYS = ("game", "mask_bits", ATTACK_KEY, "action", "action_log_prob", "state_value",
              "advantage", "value_target", "forced")


def stored_step(td: TensorDictBase, attacks: bool = False) -> TensorDict:
    """The learner's record of one step of `td` (a stepped env TensorDict with ("next", ...));
    `attacks`: the env's observation has the attack planes, kept as counts (env.compact)."""
    out = td.select(*[("game", k) for k in POSITION_KEYS], *POLICY_KEYS,
                     *[("next", k) for k in TRANSITION_KEYS], strict=False)
    out.set("mask_bits", pack_mask(td.get("action_mask")))
    if attacks:
        out.set(ATTACK_KEY, pack_attacks(td.get("observation")))
    return out


def stored_bytes(trajectory: TensorDictBase) -> int:
    """Bytes the trajectory holds per env step."""
    total = sum(v.element_size() * v.numel()
                for v in trajectory.values(include_nested=True, leaves_only=True))
    return total // trajectory.numel()


@torch.no_grad()
def rollout(env, policy, games: TensorDictBase, steps: int) -> tuple[TensorDict, TensorDict]:
    """Play `steps` moves in every game: (the games after them, the stored trajectory [B, T]).

    Finished games restart in place (`step_and_maybe_reset`), so every row is one stream of
    games whose ("next", "done") marks the boundaries, as with TorchRL's collectors.
    """
    records = []
    td = games.select(*CARRIED_KEYS)
    for _ in range(steps):
        td, nxt = env.step_and_maybe_reset(policy(td))
        records.append(stored_step(td, env.attacks))
        td = nxt.select(*CARRIED_KEYS)
    return td, torch.stack(records, dim=1)
