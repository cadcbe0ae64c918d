"""Simulations per second of the Gumbel search with a checkpoint's network, by batch size.

    .venv/bin/python experiments/search_speed.py RUN_DIR [--repeats 3]

Positions: the default opening suite's first games; one thread; the median of `--repeats`.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import torch

from keisei_fn.agent import load_agent, search_moves
from keisei_fn.arena.openings import load_suite, replay

CASES = ((1, 64), (1, 256), (16, 16), (64, 16), (128, 8))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    net, _ = load_agent(args.run)
    state = replay(load_suite("default")[:128])
    generator = torch.Generator().manual_seed(0)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread")
    for games, sims in CASES:
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            search_moves(net, state[:games], generator, sims)
            times.append(time.perf_counter() - started)
        t = statistics.median(times)
        print(f"{games:>4} games x {sims:>4} simulations: {1000 * t:7.0f} ms, "
              f"{games * sims / t:7.0f} simulations/s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
