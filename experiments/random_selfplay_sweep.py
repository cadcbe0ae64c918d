"""Random self-play statistics across batch sizes and move caps (engine sanity and throughput).

    .venv/bin/python experiments/random_selfplay_sweep.py --games 512 --batch-sizes 64 256 1024

Prints, per setting, how games end (mate / repetition / perpetual check / move cap), their
lengths and plies per second, so that rule frequencies and throughput can be compared at a glance.
"""

from __future__ import annotations

import argparse

import torch

from keisei_fn._runtime import tune_allocator
from keisei_fn.selfplay import format_summary, play_random_games


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=512)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--max-plies", type=int, nargs="+", default=[512])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    tune_allocator()
    torch.set_num_threads(args.threads)
    for max_plies in args.max_plies:
        for batch_size in args.batch_sizes:
            print(f"== batch {batch_size}, move cap {max_plies}")
            summary = play_random_games(args.games, batch_size=batch_size, seed=args.seed,
                                        max_plies=max_plies)
            print(format_summary(summary))


if __name__ == "__main__":
    main()
