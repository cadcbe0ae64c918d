"""The rules engine at small batches against cshogi's loop (issue 30's engine targets: B = 1 at
least 3,000 states/s, B = 64 at least cshogi's loop), eager and with `shogi.compiled_step`.

    .venv/bin/python experiments/engine_small_batch.py [--batches 1,64,1024] [--out FILE]

The unit of work is the benchmarks' (bench/engine_loop.py, bench/cshogi_peer.py): per step and
game a random legal move, the step (with the next position's legal moves), auto-reset and the
network's input (ours: `observe`; cshogi: its legal moves into a 2187-wide mask and dlshogi's
input features). Three loops, interleaved round by round: ours eager, ours with the compiled
step (reset and observe stay eager; batches above the step's MAX_BUCKET run eager anyway), and
cshogi. Each figure is the median over rounds of the thread's CPU time (`time.thread_time`), so
that it can be read on a busy machine; one thread. The step alone, which is what a search pays
per simulation, is experiments/search_floor.py's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import cshogi_peer  # noqa: E402
import engine_loop  # noqa: E402
from make_reference import machine  # noqa: E402  experiments/: the cards' machine description

from keisei_fn import shogi  # noqa: E402

ROUNDS = 7


def steps_for(batch: int) -> int:
    return max(8, 4096 // batch)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", default="1,64,1024")
    p.add_argument("--out")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    compiled = SimpleNamespace(**{name: getattr(shogi, name) for name in
                                  ("initial_state", "reset_where", "observe")},
                               step=partial(shogi.compiled_step, impasse=False))
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        steps = steps_for(batch)
        loops = {"eager": engine_loop.warm_up(engine_loop.new_loop(shogi, batch)),
                 "compiled step": engine_loop.warm_up(engine_loop.new_loop(compiled, batch))}
        peer = cshogi_peer.warm_up(cshogi_peer.new_games(batch))
        seconds = {name: [] for name in (*loops, "cshogi")}
        for _ in range(ROUNDS):
            for name, loop in loops.items():
                engine_loop.reset_counters(loop)
                start = time.thread_time()
                engine_loop.run(loop, steps)
                seconds[name].append(time.thread_time() - start)
            start = time.thread_time()
            cshogi_peer.run(peer, steps)
            seconds["cshogi"].append(time.thread_time() - start)
        rate = {name: batch * steps / statistics.median(s) for name, s in seconds.items()}
        row = {"batch": batch, "steps": steps, "states_per_s": {k: round(v) for k, v in
                                                                rate.items()},
               "ratio_to_cshogi": {k: round(rate[k] / rate["cshogi"], 3) for k in loops}}
        rows.append(row)
        print(f"B = {batch}: " + ", ".join(f"{k} {v:,.0f} states/s" for k, v in rate.items())
              + "; against cshogi: " + ", ".join(f"{k} {v:.2f}x" for k, v in
                                                 row["ratio_to_cshogi"].items()), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows, "rounds": ROUNDS,
                                              "machine": {**machine(), "threads": 1},
                                              "clock": "thread CPU time"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
