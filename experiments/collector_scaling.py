"""Collection throughput by backend: direct (in process) vs TorchRL's multi-process collector and
its RayCollector (a local Ray instance) with 1 and 2 workers, default config (128 games x 32 steps
per iteration; the measurements in docs/scaling.md were taken with the acting policy compiled,
the default then: add optim.compile_acting=true to repeat them).

    .venv/bin/python experiments/collector_scaling.py [--iterations 5] [--only ray] [key=value ...]

Times weight push + one collector iteration (what the training loop does per iteration), after
two warm-up iterations (worker start-up and compilation), in wall-clock time: the workers' time is
not in this process's CPU time. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from keisei_fn.collect.rollout import stored_bytes
from keisei_fn.config import load_config
from keisei_fn.run.parts import build
from keisei_fn.run.session import collect_with_restarts
from keisei_fn.run.snapshot import fresh_state

SETTINGS = {"direct": ["collector.backend=direct"],
            "process, 1 worker": ["collector.backend=process", "collector.workers=1"],
            "process, 2 workers": ["collector.backend=process", "collector.workers=2"],
            "ray, 1 worker": ["collector.backend=ray", "collector.workers=1"],
            "ray, 2 workers": ["collector.backend=ray", "collector.workers=2"]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--only", default="", help="only the settings whose name contains this")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("| backend | env steps/s (median) | per iteration | stored bytes per step |\n"
          "|---|---:|---:|---:|")
    for name, overrides in SETTINGS.items():
        if args.only not in name:
            continue
        cfg = load_config(None, ["track.aim=false", "run_dir=/tmp/collector_scaling", *overrides,
                                 *args.overrides])
        parts = build(cfg, log=lambda *a: None)
        collect, state = collect_with_restarts(cfg, parts, None, print), fresh_state(cfg, parts)
        times = []
        try:
            for i in range(args.iterations + 2):
                start = time.perf_counter()
                state, rollout, _ = collect(state)  # binds and syncs the weights first
                if i >= 2:
                    times.append(time.perf_counter() - start)
        finally:
            parts.collector.shutdown()
        median = statistics.median(times)
        print(f"| {name} | {rollout.numel() / median:,.0f} | {median:.2f} s | "
              f"{stored_bytes(rollout):,} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
