"""Short (CI) and long benchmark modes, chosen by KEISEI_BENCH_LONG=1."""

from __future__ import annotations

import os
from dataclasses import dataclass

LONG = os.environ.get("KEISEI_BENCH_LONG", "") == "1"


@dataclass(frozen=True)
class BenchConfig:
    long: bool
    batch_sizes: tuple[int, ...]
    rounds: int
    """Measured rounds per benchmark."""
    states_per_round: int
    """Target B * steps per round; steps are clamped to [min_steps, max_steps]."""
    min_steps: int = 2
    max_steps: int = 200
    warmup_steps: int = 100
    """Warm-up steps (with random restarts) so games sit at varied plies."""

    def steps_per_round(self, batch_size: int) -> int:
        return max(self.min_steps, min(self.max_steps, self.states_per_round // batch_size))


CONFIG = (
    BenchConfig(long=True, batch_sizes=(1, 64, 1024, 4096), rounds=10, states_per_round=32768)
    if LONG
    else BenchConfig(long=False, batch_sizes=(64, 1024), rounds=4, states_per_round=8192)
)
