"""End-to-end training throughput of `keisei-fn train` under given overrides: the one home of
the measurement that bench/test_throughput_bench.py gates and experiments/throughput.py tables.

Each run is a fresh `keisei-fn train` process (with its ranks, under distributed.ranks=auto)
for a few iterations; its per-iteration status lines give env steps per second of the whole run
(collection + update, every rank's games counted), and the first two iterations (compilation,
warm-up) are left out.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
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
                "eval.every=0", "eval.max_plies=8", "eval.openings=none", *overrides]
        proc = subprocess.run([sys.executable, "-m", "keisei_fn.cli", *args],
                              capture_output=True, text=True, timeout=1800)
        if proc.returncode:
            raise RuntimeError(f"keisei-fn {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
        rates = {int(m[1]): float(m[2].replace(",", ""))
                 for m in STATUS.finditer(proc.stdout + proc.stderr)}
        return [rate for it, rate in sorted(rates.items()) if it > WARM_UP]
