"""The rollout's layout: the keys a batch keeps, and the games in progress a collector carries
between iterations (saved in checkpoints and restored)."""

from __future__ import annotations

from tensordict import TensorDictBase
from torchrl.collectors import Collector

# Keys the loss reads; everything else in the rollout (game state, next mirrors) stays behind.
BATCH_KEYS = ("observation", "action_mask", "action", "action_log_prob", "state_value",
              "advantage", "value_target")


# What a game in progress is: enough to continue it exactly after a resume.
CARRIED_KEYS = ("observation", "action_mask", "game")


def carrier(collector: Collector) -> TensorDictBase:
    """The collector's live TensorDict: the state each game is in after the last rollout.

    TorchRL keeps it in a private attribute; this is the one place that reads it. It is needed to
    bootstrap the last step's value (the rollout itself does not store next observations, by
    `compact_obs`) and to checkpoint the games in progress for an exact resume.
    """
    return collector._carrier


def restore_carrier(collector: Collector, games: TensorDictBase) -> None:
    """Put checkpointed games back into the collector (see `carrier`)."""
    live = carrier(collector)
    live.update_(games.select(*CARRIED_KEYS).to(live.device))


