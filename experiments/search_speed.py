"""Simulations per second of the Gumbel search with a checkpoint's network, by batch size.

    .venv/bin/python experiments/search_speed.py RUN_DIR [--repeats 3]
    .venv/bin/python experiments/search_speed.py RUN_DIR --memory 10000

`--baseline COMMIT` instead times today's search against the search package of an older commit
(read with `git show`, imported beside today's: same network, engine and positions, the two
interleaved, sequential order, Gumbel noise 0), checks they choose the same moves, and prints
the ratio. `--memory N` instead measures one game's search of N simulations (the start position, the
network's own value): the tree's bytes per node and how much the process's peak RSS grows
(Linux's VmHWM, reset before the search; issue 30 asks for at most 150 MB at 10,000).

Positions: the default opening suite's first games; one thread; the median of `--repeats`;
`--cpu-time` times by the thread's CPU time (for a busy machine), `--cases 1x64,64x16` a subset.
The shares: time inside the network's evaluation and inside the rules engine's `step`, the
rest being the tree's bookkeeping (selection, backup), measured by wrapping both functions.
Each case runs one simulation after the other (mctx's order) and with `batched_rounds` (each
Sequential Halving round's visits side by side), interleaved, and prints the speed-up;
`--compiled` runs both orders compiled (search/compiled.py: `simulate` and `simulate_wave`).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import gc
import importlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

import keisei_fn.search.gumbel as gumbel
from keisei_fn.agent import compiled_evaluator, evaluator, load_agent
from keisei_fn.arena.openings import load_suite, replay
from keisei_fn.search.tree import tree_bytes
from keisei_fn.shogi import initial_state

CASES = ((1, 64), (1, 256), (16, 16), (64, 16), (128, 8))
# wall clock, or with --cpu-time the thread's CPU time (one thread: the search's own compute,
# readable on a busy machine, where a process waiting for the CPU is not charged)
CLOCK = [time.perf_counter]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", type=int, default=0, metavar="N")
    parser.add_argument("--baseline", metavar="COMMIT")
    parser.add_argument("--compiled", action="store_true",
                        help="both orders compiled, with the network's compiled evaluator "
                             "(no shares); with --baseline: also today's search with "
                             "compiled=True")
    parser.add_argument("--baseline-compiled", action="store_true",
                        help="with --baseline and --compiled: also time the older commit's "
                             "compiled search")
    parser.add_argument("--bf16", action="store_true",
                        help="with --baseline and --compiled: also the compiled search with the "
                             "network in bf16 (precision=bf16)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time by the thread's CPU time instead of the wall clock")
    parser.add_argument("--cases", default="",
                        help="GAMESxSIMS,... instead of every case, e.g. 1x64,64x16")
    parser.add_argument("--max-bucket", type=int, default=0, metavar="N",
                        help="compile batches of up to N games (a power of two; default "
                             "shogi.compiled_step's MAX_BUCKET), e.g. 128 for self-play's batch")
    args = parser.parse_args(argv)
    if args.max_bucket:
        if args.max_bucket & (args.max_bucket - 1):
            raise SystemExit(f"--max-bucket must be a power of two, got {args.max_bucket}")
        import keisei_fn.shogi._compiled as compiled_step_module
        compiled_step_module.MAX_BUCKET = args.max_bucket
    if args.cpu_time:
        CLOCK[0] = time.thread_time
    if args.cases:
        global CASES
        CASES = tuple(tuple(int(n) for n in c.split("x")) for c in args.cases.split(","))
    torch.set_num_threads(1)
    agent, _ = load_agent(args.run)
    if args.memory:
        return memory(agent, args.memory)
    if args.baseline:
        return against(agent, args.baseline, args.repeats, args.compiled,
                       args.baseline_compiled, args.bf16)
    state = replay(load_suite("default")[:128])
    generator = torch.Generator().manual_seed(0)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread")
    spent = {"network": 0.0, "engine": 0.0}

    def timed(name, fn):
        def wrapper(*a, **k):
            started = CLOCK[0]()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += CLOCK[0]() - started
        return wrapper

    if args.compiled:
        # both orders compiled (search/compiled.py), the network's compiled evaluator unwrapped
        # (its `traceable` fuses one game's expansion), so no shares: the speed-up is the claim
        evaluate, search = compiled_evaluator(agent), partial(gumbel.search, compiled=True)
    else:
        evaluate, search = timed("network", evaluator(agent)), gumbel.search
        gumbel.step = timed("engine", gumbel.step)
    for games, sims in CASES:
        results = {}
        if args.compiled:  # compile outside the clock
            for batched in (False, True):
                with torch.no_grad():
                    search(state[:games], evaluate, generator, simulations=sims,
                           batched_rounds=batched)
        for _ in range(args.repeats):
            for batched in (False, True):
                spent.update(network=0.0, engine=0.0)
                started = CLOCK[0]()
                with torch.no_grad():
                    search(state[:games], evaluate, generator, simulations=sims,
                           batched_rounds=batched)
                t = CLOCK[0]() - started
                results.setdefault(batched, []).append(
                    (t, spent["network"] / t, spent["engine"] / t))
        for batched, runs in results.items():
            t = statistics.median(r[0] for r in runs)
            net_share = statistics.median(r[1] for r in runs)
            eng_share = statistics.median(r[2] for r in runs)
            mode = "batched rounds" if batched else "sequential"
            print(f"{games:>4} games x {sims:>4} simulations, {mode:>14}: {1000 * t:7.0f} ms, "
                  f"{games * sims / t:7.0f} simulations/s; network {100 * net_share:3.0f}%, "
                  f"engine {100 * eng_share:3.0f}%, tree {100 * (1 - net_share - eng_share):3.0f}%")
        ratio = (statistics.median(r[0] for r in results[False])
                 / statistics.median(r[0] for r in results[True]))
        print(f"{'':>31}batched rounds / sequential: {ratio:.2f}x")
    return 0


def baseline_search(commit: str):
    """The `search` function of `keisei_fn/search` at `commit`, importable beside today's."""
    root = Path(tempfile.mkdtemp()) / "baseline_search"
    root.mkdir()
    listing = subprocess.run(["git", "ls-tree", "--name-only", f"{commit}:keisei_fn/search"],
                             capture_output=True, text=True, check=True).stdout.split()
    for name in listing:
        if name.endswith(".py"):
            text = subprocess.run(["git", "show", f"{commit}:keisei_fn/search/{name}"],
                                  capture_output=True, text=True, check=True).stdout
            (root / name).write_text(text.replace("from ..", "from keisei_fn."))
    sys.path.insert(0, str(root.parent))
    return importlib.import_module("baseline_search.gumbel").search


def against(agent, commit: str, repeats: int, compiled: bool = False,
            baseline_compiled: bool = False, bf16: bool = False) -> int:
    old = baseline_search(commit)
    state = replay(load_suite("default")[:128])
    evaluate = evaluator(agent)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread, "
          f"{CLOCK[0].__name__}; "
          f"today's search against {commit}'s")
    arms = {"today": gumbel.search, commit: old}
    networks = {name: evaluate for name in arms}
    if compiled:  # the compiled simulation with the compiled network, as `compiled=1` players
        arms["compiled"] = partial(gumbel.search, compiled=True)
        networks["compiled"] = compiled_evaluator(agent)
    if bf16:  # the compiled search with the network in bf16 (a player's precision=bf16)
        arms["compiled bf16"] = partial(gumbel.search, compiled=True)
        networks["compiled bf16"] = compiled_evaluator(replace(agent, precision="bf16"))
    if baseline_compiled:  # the older commit's compiled simulation too
        arms[f"{commit} compiled"] = partial(old, compiled=True)
        networks[f"{commit} compiled"] = compiled_evaluator(agent)
    for games, sims in CASES:
        for name in [n for n in arms if n.endswith("compiled")]:
            # compile outside the clock (every batch size the expansions will use)
            with torch.no_grad():
                arms[name](state[:games], networks[name], torch.Generator().manual_seed(0),
                           simulations=sims, gumbel_scale=0.0)
        times = {name: [] for name in arms}
        moves = {}
        for _ in range(repeats):
            for name, fn in arms.items():
                started = CLOCK[0]()
                with torch.no_grad():
                    out = fn(state[:games], networks[name], torch.Generator().manual_seed(0),
                             simulations=sims, gumbel_scale=0.0)
                times[name].append(CLOCK[0]() - started)
                moves[name] = out["action"]
        t = {name: statistics.median(v) for name, v in times.items()}
        line = (f"{games:>4} games x {sims:>4} simulations: {commit} {1000 * t[commit]:6.0f} ms, "
                f"today {1000 * t['today']:6.0f} ms ({t[commit] / t['today']:.2f}x)")
        if compiled:
            line += f", compiled {1000 * t['compiled']:6.0f} ms ({t[commit] / t['compiled']:.2f}x)"
        if baseline_compiled:
            old_compiled = t[f"{commit} compiled"]
            line += (f", {commit} compiled {1000 * old_compiled:6.0f} ms (today's compiled "
                     f"{old_compiled / t['compiled']:.2f}x faster)")
        if bf16:
            half, agree = t["compiled bf16"], int((moves["compiled bf16"] == moves[commit]).sum())
            line += (f", compiled bf16 {1000 * half:6.0f} ms ({t['compiled'] / half:.2f}x the "
                     f"fp32 compiled; {agree} of {games} moves the same)")
        same = all(torch.equal(moves[name], moves[commit]) for name in arms if "bf16" not in name)
        print(line + f"; the same moves: {same}", flush=True)
    return 0


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def memory(agent, simulations: int) -> int:
    root = initial_state(1)
    evaluate = evaluator(agent)
    with torch.no_grad():  # warm-up: the engine's tables, the network's first call
        gumbel.search(root, evaluate, torch.Generator().manual_seed(0), simulations=8)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak mark := the current RSS
    base = _status_kb("VmHWM")
    started = CLOCK[0]()
    with torch.no_grad():
        out = gumbel.search(root, evaluate, torch.Generator().manual_seed(0),
                            simulations=simulations, gumbel_scale=0.0)
    seconds = CLOCK[0]() - started
    grown = (_status_kb("VmHWM") - base) / 1024
    per_node = tree_bytes(out["tree"]) / (simulations + 1) / 1024
    print(f"1 game x {simulations} simulations: {seconds:.1f} s, tree {per_node:.1f} KB a node, "
          f"peak RSS grew {grown:.0f} MB ({platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, 1 thread)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
