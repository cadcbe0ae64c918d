"""Which torch ops dominate the random-play loop? (torch.profiler, CPU)

    .venv/bin/python bench/profile_step.py --batch 1024 --steps 10 --threads 1

Prints the ops by self CPU time, then the same grouped by input shape, then by Python stack (so a
slow cat or index can be traced to its line in keisei_fn/shogi).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).parent))

import engine_loop  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from keisei_fn import shogi

    loop = engine_loop.warm_up(engine_loop.new_loop(shogi, args.batch), 60)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_stack=True) as prof:
        engine_loop.run(loop, args.steps)
    print(engine_loop.summary(loop))
    averages = prof.key_averages()
    print(averages.table(sort_by="self_cpu_time_total", row_limit=args.rows))
    by_shape = prof.key_averages(group_by_input_shape=True)
    print(by_shape.table(sort_by="self_cpu_time_total", row_limit=args.rows))
    by_stack = prof.key_averages(group_by_stack_n=4)
    print(by_stack.table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
