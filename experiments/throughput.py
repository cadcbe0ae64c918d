"""End-to-end training throughput of named settings, side by side, default config otherwise.

    .venv/bin/python experiments/throughput.py [--iterations 8] [--rounds 2] [--only NAME] \
        [key=value ...]

Runs `keisei-fn train` for a few iterations per setting (bench/throughput.py), the settings
interleaved round by round so that a slow phase of a shared machine hits them all: env steps per
second of the whole run, median over the iterations after the first two of every round. "before"
is the default of 2026-11-28: one process, float32. Run it on an idle machine, or state the load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from throughput import BEFORE, DEFAULT, steps_per_s  # noqa: E402

SETTINGS = {
    "before: 1 process, fp32": list(BEFORE),
    "1 process, precision auto": ["distributed.ranks=1"],
    "2 ranks, fp32": ["distributed.ranks=2", "optim.precision=fp32"],
    "default: ranks auto, precision auto": list(DEFAULT),
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default="", help="only the settings whose name contains this")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    names = [n for n in SETTINGS if args.only in n]
    rates = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names:
            rates[name] += steps_per_s(SETTINGS[name] + args.overrides, args.iterations)
            print(f"round {r + 1}: {name}: {statistics.median(rates[name]):,.0f} steps/s "
                  f"(load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    base = statistics.median(rates[names[0]])
    print(f"| setting | env steps/s (median) | range | vs {names[0].split(':')[0]} |\n"
          f"|---|---:|---:|---:|")
    for name in names:
        median = statistics.median(rates[name])
        print(f"| {name} | {median:,.0f} | {min(rates[name]):,.0f}-{max(rates[name]):,.0f} | "
              f"{median / base:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
