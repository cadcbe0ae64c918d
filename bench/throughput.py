"""End-to-end training throughput of `keisei-fn train` under given overrides: the one home of
the measurement that bench/test_throughput_bench.py gates and experiments/throughput.py tables.

Each run is a fresh `keisei-fn train` process (with its ranks, under distributed.ranks=auto)
for a few iterations; its per-iteration status lines give env steps per second of the whole run
(collection + update, every rank's games counted), and the first two iterations (compilation,
warm-up) are left out.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STATUS = re.compile(r"\[(\d+)/\d+ it\] it \d+ \| [\d,]+ steps ([\d,]+)/s")
WARM_UP = 2

# "before" is the default of 2026-11-28 (before issue 15): one process, float32.
BEFORE = ("distributed.ranks=1", "optim.precision=fp32")
DEFAULT = ()


def steps_per_s(overrides, iterations: int) -> list[float]:
    """Per-iteration env steps/s after the warm-up, of one `keisei-fn train` run."""
    with tempfile.TemporaryDirectory() as run_dir:
        args = ["train", f"run_dir={Path(run_dir) / 'run'}", f"total_updates={iterations}",
                "time_budget_s=0", "track.aim=false", "track.progress=false", "eval.games=2",
                "eval.every=0", "eval.max_plies=8", "eval.openings=none",
                # every epoch runs: the KL early stop would make the work per step vary by arm
                "ppo.target_kl=0.0",
                # the policy's fused act function, as when the baselines were measured: the mate
                # search (the default since 2026-12-06) is engine work neither ranks nor
                # precision were there to speed up
                "ppo.mate_in_one=false", *overrides]
        proc = subprocess.run([sys.executable, "-m", "keisei_fn.cli", *args],
                              capture_output=True, text=True, timeout=1800)
        if proc.returncode:
            raise RuntimeError(f"keisei-fn {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
        rates = {int(m[1]): float(m[2].replace(",", ""))
                 for m in STATUS.finditer(proc.stdout + proc.stderr)}
        return [rate for it, rate in sorted(rates.items()) if it > WARM_UP]


def _busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores, every process), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """CPU seconds of this process and its waited-for children (the runs it measures)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def with_foreign_load(fn):
    """(fn(), the cores other processes kept busy meanwhile, averaged over its wall time); None
    for the load where /proc/stat is not there (not Linux)."""
    if not Path("/proc/stat").is_file():
        return fn(), None
    busy, own, start = _busy_seconds(), _own_seconds(), time.monotonic()
    out = fn()
    wall = max(time.monotonic() - start, 1e-9)
    foreign = (_busy_seconds() - busy) - (_own_seconds() - own)
    return out, max(0.0, foreign / wall)
