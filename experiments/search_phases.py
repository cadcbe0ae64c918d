"""Where a compiled search's time goes, by phase: each compiled program of a simulation
(search/compiled.py), the step and the network call wrapped and timed.

    .venv/bin/python experiments/search_phases.py [--games 1] [--simulations 64] [CHECKPOINT]

CPU time (`time.thread_time`, one thread: readable on a busy machine), the least of 3 searches
after one that compiles; the positions are the default suite's first games, Gumbel noise 0,
mctx's order. "glue" is what the search spent outside the wrapped calls (the host's Python
between them). docs/search.md has the figures.
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
import time

import torch

import keisei_fn.search.compiled as compiled
import keisei_fn.search.gumbel as gumbel
from keisei_fn.agent import compiled_evaluator, load_agent
from keisei_fn.arena.openings import load_suite, replay


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", nargs="?", default="reference")
    p.add_argument("--games", type=int, default=1)
    p.add_argument("--simulations", type=int, default=64)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    agent, _ = load_agent(args.checkpoint)
    state = replay(load_suite("default")[:args.games])
    spent, calls = collections.Counter(), collections.Counter()

    def timed(name, fn):
        def wrapper(*a, **k):
            started = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.thread_time() - started
                calls[name] += 1
        return wrapper

    network = compiled_evaluator(agent)

    def run(evaluate) -> float:
        started = time.thread_time()
        with torch.no_grad():
            gumbel.search(state, evaluate, torch.Generator().manual_seed(0),
                          simulations=args.simulations, gumbel_scale=0.0, compiled=True)
        return time.thread_time() - started

    run(network)  # compiles, outside the clock
    phases = compiled._compiled
    compiled._compiled = functools.cache(lambda name: timed(name, phases(name)))
    compiled.compiled_step = timed("step", compiled.compiled_step)
    best = None
    for _ in range(3):
        spent.clear()
        calls.clear()
        total = run(timed("network", network))
        if best is None or total < best[0]:
            best = (total, dict(spent), dict(calls))
    total, spent_best, calls_best = best
    print(f"{args.games} x {args.simulations}: {total * 1e3:.1f} ms CPU")
    for name, seconds in sorted(spent_best.items(), key=lambda kv: -kv[1]):
        print(f"  {name:18s} {seconds * 1e3:7.1f} ms  {calls_best[name]:4d} calls  "
              f"{seconds / calls_best[name] * 1e6:6.0f} us a call")
    print(f"  {'glue':18s} {(total - sum(spent_best.values())) * 1e3:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
