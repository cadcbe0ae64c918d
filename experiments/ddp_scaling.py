"""Training throughput of one process vs a data-parallel torchrun group, default config.

    .venv/bin/python experiments/ddp_scaling.py [--iterations 8] [--ranks 1 2] [key=value ...]

Runs `keisei-fn train` for a few iterations in each setting (1 = a plain process, N > 1 =
`torchrun --standalone --nproc-per-node N`) and reads the per-iteration status lines: env steps
per second of the whole group (collection + update, every rank's games counted), median over the
iterations after the first two (compilation, warm-up). Each rank plays `env.batch_size` games, so
a group of N collects and learns from N times the samples per iteration. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

STATUS = re.compile(r"\[(\d+)/\d+ it\] it \d+ \| [\d,]+ steps ([\d,]+)/s")


def run(ranks: int, iterations: int, overrides: list[str]) -> list[float]:
    with tempfile.TemporaryDirectory() as run_dir:
        args = ["train", f"run_dir={Path(run_dir) / 'run'}", f"total_updates={iterations}",
                "time_budget_s=0", "track.aim=false", "track.progress=false", "eval.games=2",
                "eval.every=0", *overrides]
        launcher = ([sys.executable, "-m", "keisei_fn.cli"] if ranks == 1 else
                    [sys.executable, "-m", "torch.distributed.run", "--standalone",
                     f"--nproc-per-node={ranks}", "-m", "keisei_fn.cli"])
        proc = subprocess.run([*launcher, *args], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stderr[-2000:])
        rates = {int(m[1]): float(m[2].replace(",", ""))
                 for m in STATUS.finditer(proc.stdout + proc.stderr)}
        return [rate for it, rate in sorted(rates.items()) if it > 2]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    print("| processes | env steps/s of the group (median) | range | vs 1 |\n|---|---:|---:|---:|")
    base = None
    for ranks in args.ranks:
        rates = run(ranks, args.iterations, args.overrides)
        median = statistics.median(rates)
        base = base or median
        print(f"| {ranks} | {median:,.0f} | {min(rates):,.0f}-{max(rates):,.0f} | "
              f"{median / base:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
