"""Peak-RSS probe, run in a fresh subprocess by test_memory_per_game (prints one JSON line).

    python bench/memory_probe.py engine 4096 20
    python bench/memory_probe.py cshogi 4096 20

Peak RSS is Linux's VmHWM from /proc/self/status, reset to the current RSS at the baseline by
writing "5" to /proc/self/clear_refs (psutil is not a dependency; tracemalloc does not see torch's
allocations; getrusage's ru_maxrss survives fork+exec, so a child of a big pytest process would
inherit its parent's peak). The baseline is taken after imports, after the engine's lazy
tables are built (a B=1 warm-up) and after the sampler's noise pool is allocated, so the delta is
what B games of state, the step/observe intermediates and the kept observation add.
"""

from __future__ import annotations

import gc
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # kB
    raise KeyError(field)


def current_rss_bytes() -> int:
    return _status_bytes("VmRSS")


def peak_rss_bytes() -> int:
    return _status_bytes("VmHWM")


def reset_peak() -> tuple[int, int]:
    """Reset the peak-RSS mark to the current RSS; returns (peak, rss) to measure deltas from."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return peak_rss_bytes(), current_rss_bytes()


def probe_engine(batch_size: int, steps: int) -> dict:
    import engine_loop

    from keisei_fn import shogi

    engine_loop.run(engine_loop.new_loop(shogi, 1), 5)  # build lazy tables, first-call caches
    pool = engine_loop.noise_pool(batch_size, seed=0)
    base_peak, base_rss = reset_peak()
    fresh = shogi.initial_state(batch_size)
    loop = engine_loop.EngineLoop(shogi, fresh.clone(), fresh, pool, random.Random(0))
    engine_loop.run(loop, steps)
    return {
        "state_bytes_per_game": engine_loop.state_bytes_per_game(loop.state),
        "obs_bytes_per_game": loop.obs.numel() * loop.obs.element_size() / batch_size,
        "baseline_rss_mb": base_rss / 2**20,
        "peak_rss_delta_bytes_per_game": (peak_rss_bytes() - max(base_peak, base_rss)) / batch_size,
        "rss_delta_after_bytes_per_game": (current_rss_bytes() - base_rss) / batch_size,
    }


def probe_cshogi(batch_size: int, steps: int) -> dict:
    import cshogi_peer

    cshogi_peer.run(cshogi_peer.new_games(1), 5)
    base_peak, base_rss = reset_peak()
    games = cshogi_peer.new_games(batch_size)
    cshogi_peer.run(games, steps)
    return {
        "baseline_rss_mb": base_rss / 2**20,
        "peak_rss_delta_bytes_per_game": (peak_rss_bytes() - max(base_peak, base_rss)) / batch_size,
        "rss_delta_after_bytes_per_game": (current_rss_bytes() - base_rss) / batch_size,
    }


if __name__ == "__main__":
    which, batch, n_steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    probe = {"engine": probe_engine, "cshogi": probe_cshogi}[which]
    result = {"which": which, "batch_size": batch, "steps": n_steps, **probe(batch, n_steps)}
    print(json.dumps(result))
