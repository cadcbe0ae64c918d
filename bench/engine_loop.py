"""Random self-play with keisei_fn.shogi: the measured unit of work for the benchmarks.

One step of the loop, for all B games at once (no Python loop over games):
  1. sample: a random legal action per game from ``state["legal_mask"]`` (cheap, see below);
  2. ``step``: play it; the engine also computes the next position's legal mask;
  3. ``reset_where``: replace the finished games (terminated | truncated) by fresh start positions;
  4. ``observe``: the [B, 46, 9, 9] observation the policy would see next.

Sampling must not dominate the measurement (the peers' measurements, docs/results.md: uniform or
Gumbel sampling over [1024, 2187]
costs 20-30 ms, as much as a fast engine step). So the noise is not drawn per step: a pool of
uint8 noise in 1..255, [B + POOL_EXTRA, 2187], is drawn once, and each step takes the window of B
rows at a random offset (a view, no copy). ``(mask * noise).argmax(-1)`` then picks a legal move:
illegal entries are 0, legal ones 1..255. Ties (same noise byte) go to the lowest label, so the
choice is random but not exactly uniform; for benchmarking that does not matter.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from types import ModuleType

import torch
from tensordict import TensorDict

N_LABELS = 2187
POOL_EXTRA = 1009  # distinct window offsets of the noise pool (a prime)
PHASES = ("sample", "step", "reset", "observe")


def noise_pool(batch_size: int, seed: int) -> torch.Tensor:
    """uint8 [B + POOL_EXTRA, 2187] noise in 1..255, drawn once."""
    gen = torch.Generator().manual_seed(seed)
    shape = (batch_size + POOL_EXTRA, N_LABELS)
    return torch.randint(1, 256, shape, dtype=torch.uint8, generator=gen)


def sample_actions(mask: torch.Tensor, pool: torch.Tensor, offset: int) -> torch.Tensor:
    """A random legal action per game: mask bool [B, 2187], pool from noise_pool -> int64 [B]."""
    batch_size = mask.shape[0]
    return (mask * pool[offset : offset + batch_size]).argmax(-1)


@dataclass
class EngineLoop:
    """The carry of the random self-play loop (the benchmark calls ``run`` repeatedly)."""

    shogi: ModuleType
    state: TensorDict  # batch [B]
    fresh: TensorDict  # batch [B], start positions used by reset_where
    pool: torch.Tensor  # uint8 [B + POOL_EXTRA, 2187]
    rng: random.Random
    obs: torch.Tensor | None = None  # float [B, 46, 9, 9], last observation
    games_finished: int = 0
    phase_seconds: dict = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    steps: int = 0

    @property
    def batch_size(self) -> int:
        return self.state.batch_size[0]


def new_loop(shogi: ModuleType, batch_size: int, seed: int = 0) -> EngineLoop:
    fresh = shogi.initial_state(batch_size)
    pool = noise_pool(batch_size, seed)
    return EngineLoop(shogi, fresh.clone(), fresh, pool, random.Random(seed))


def run(loop: EngineLoop, steps: int) -> EngineLoop:
    """``steps`` steps of random play with auto-reset, timing each phase."""
    shogi, fresh, pool, rng, clock = loop.shogi, loop.fresh, loop.pool, loop.rng, time.perf_counter
    secs = loop.phase_seconds
    state = loop.state
    for _ in range(steps):
        t0 = clock()
        action = sample_actions(state["legal_mask"], pool, rng.randrange(POOL_EXTRA))
        t1 = clock()
        state = shogi.step(state, action)
        t2 = clock()
        done = state["terminated"] | state["truncated"]
        state = shogi.reset_where(state, done, fresh)
        t3 = clock()
        loop.obs = shogi.observe(state)
        t4 = clock()
        secs["sample"] += t1 - t0
        secs["step"] += t2 - t1
        secs["reset"] += t3 - t2
        secs["observe"] += t4 - t3
        loop.games_finished += done  # tensor add: no sync in the loop; summed on read
    loop.state = state
    loop.steps += steps
    return loop


def warm_up(loop: EngineLoop, steps: int = 100, restart_prob: float = 0.02) -> EngineLoop:
    """Play ``steps`` steps, also restarting random games: games then sit at varied plies."""
    gen = torch.Generator().manual_seed(loop.rng.randrange(2**31))
    for _ in range(steps):
        run(loop, 1)
        restart = torch.rand(loop.batch_size, generator=gen) < restart_prob
        loop.state = loop.shogi.reset_where(loop.state, restart, loop.fresh)
    reset_counters(loop)
    return loop


def reset_counters(loop: EngineLoop) -> None:
    loop.games_finished = 0
    loop.phase_seconds = dict.fromkeys(PHASES, 0.0)
    loop.steps = 0


def summary(loop: EngineLoop) -> dict:
    """Phase shares and game statistics accumulated since the last reset_counters."""
    total = sum(loop.phase_seconds.values()) or 1.0
    finished = loop.games_finished
    ply = loop.state["ply"].float()
    return {
        "phase_share": {k: round(v / total, 4) for k, v in loop.phase_seconds.items()},
        "phase_ms_per_step": {
            k: round(1e3 * v / max(loop.steps, 1), 4) for k, v in loop.phase_seconds.items()
        },
        "games_finished": int(finished.sum()) if torch.is_tensor(finished) else int(finished),
        "ply_mean": round(float(ply.mean()), 1),
        "ply_max": int(ply.max()),
    }


def state_bytes_per_game(state: TensorDict) -> float:
    """Sum of the state's tensor nbytes divided by B."""
    leaves = state.values(include_nested=True, leaves_only=True)
    return sum(t.numel() * t.element_size() for t in leaves) / state.batch_size[0]
