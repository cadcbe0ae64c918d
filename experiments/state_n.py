"""State N (issue 29's search row): how many simulations `keisei-fn usi --compiled` completes in
one second a move on one thread, read from the engine itself.

    .venv/bin/python experiments/state_n.py [CHECKPOINT] [--positions 20] [--out state_n.json]
        [--option Guard=3 --option MateDepth=2 ...]

It starts the USI engine (`--simulations 20000 --compiled`, one thread: the clock, not that
cap, sets N), waits until the background compilation says it is ready, then sends the default
suite's opening positions with `go byoyomi 1000` and reads the `nodes` of each answer's last
`info` line: the simulations the engine's clock allowed. The first few answers calibrate the
engine's rate and are not counted. The engine spends CLOCK_SHARE of what the clock allows less
`NetworkDelay` (the rest is its margin, `apps/usi_clock.py`), so that median is below state N;
`--clock-only` stops here, after the slowest answer (pipe included) is printed: the check that
the margin holds. State N itself is
then found with `go nodes N` on the same positions: from twice that median, scaled by the
median answer's seconds, until the median answer takes at most `--byoyomi-ms` (the answers' wall
clock as this script sees it, pipe included). Prints both; then ladder the search player at
state N and its material control:

    keisei-fn ladder "RUN@sims=N,compiled=1"
    keisei-fn ladder "RUN@sims=N,compiled=1,value=material"

`--option NAME=VALUE` (repeatable) sets a USI option before the search, so that state N is
measured for the player that is laddered (a guard or a mate search costs time a move too).

Wall clock: run it on an otherwise idle machine. On a busy one, `--cpu-time` drives the engine
in-process instead and times each `go nodes N` by the engine thread's CPU time
(`time.thread_time`: the search runs in that thread), which other processes do not inflate.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time

from keisei_fn.apps.usi_options import Options, set_option
from keisei_fn.arena.openings import load_suite

WARM_ANSWERS = 3
READY_TIMEOUT_S = 900
MAX_NODE_PASSES = 6


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", nargs="?", default="reference")
    p.add_argument("--positions", type=int, default=20)
    p.add_argument("--byoyomi-ms", type=int, default=1000)
    p.add_argument("--out", help="write the answers as JSON here too")
    p.add_argument("--clock-only", action="store_true",
                   help="only the `go byoyomi` answers: how close to the clock they come")
    p.add_argument("--cpu-time", action="store_true",
                   help="in-process, the engine thread's CPU time (for a busy machine)")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="a USI option of the measured player (repeatable), e.g. Guard=3")
    args = p.parse_args(argv)
    args.option = [_option(o, p) for o in args.option]
    try:  # refused here in one line, not by the engine mid-measurement
        options = Options(checkpoint=args.checkpoint)
        for name, value in args.option:
            options = set_option(options, name, value)
    except ValueError as err:
        p.error(f"--option: {str(err).removesuffix(' (ignored)')}")
    if args.cpu_time and args.clock_only:
        p.error("--clock-only measures the wall clock through the pipe: drop --cpu-time")
    if args.cpu_time:
        return _cpu_time(args)
    engine = subprocess.Popen([sys.executable, "-m", "keisei_fn.cli", "--threads", "1", "usi",
                               "--checkpoint", args.checkpoint, "--simulations", "20000",
                               "--compiled"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def send(line: str) -> None:
        engine.stdin.write(line + "\n")

    def until(pattern: str) -> list[str]:
        lines = []
        while True:
            line = engine.stdout.readline()
            if not line:
                raise SystemExit(f"the engine exited; last lines: {lines[-5:]}")
            lines.append(line.strip())
            if re.match(pattern, lines[-1]):
                return lines

    try:
        send("usi")
        until("usiok")
        for name, value in args.option:
            send(f"setoption name {name} value {value}")
        started = time.monotonic()
        while True:  # the compiled search is ready once the engine says so at a command
            send("isready")
            lines = until("readyok")
            if any("compiled search ready" in line for line in lines):
                break
            if any("compiling the search failed" in line for line in lines):
                raise SystemExit("the engine could not compile its search")
            if time.monotonic() - started > READY_TIMEOUT_S:
                raise SystemExit(f"not compiled within {READY_TIMEOUT_S} s")
            time.sleep(5)
        print(f"compiled search ready after {time.monotonic() - started:.0f} s", flush=True)
        send("usinewgame")
        answers = []
        suite = load_suite("default")
        for i in range(WARM_ANSWERS + args.positions):
            moves = " ".join(suite[i % len(suite)])
            send(f"position startpos moves {moves}" if moves else "position startpos")
            begun = time.monotonic()
            send(f"go byoyomi {args.byoyomi_ms}")
            lines = until("bestmove")
            seconds = time.monotonic() - begun
            nodes = [int(m.group(1)) for line in lines
                     if (m := re.search(r"\bnodes (\d+)", line))]
            if i >= WARM_ANSWERS and nodes:
                answers.append({"position": i, "nodes": nodes[-1], "seconds": round(seconds, 3)})
                print(f"position {i}: {nodes[-1]} simulations in {seconds:.2f} s", flush=True)
        clock_n = statistics.median(a["nodes"] for a in answers)
        print(f"the engine's clock: {clock_n:.0f} simulations (median of {len(answers)} "
              f"answers, go byoyomi {args.byoyomi_ms})", flush=True)
        slowest = max(a["seconds"] for a in answers)
        print(f"the slowest answer: {slowest:.3f} s of {args.byoyomi_ms / 1000:g} s", flush=True)
        limit_s = args.byoyomi_ms / 1000
        if args.clock_only:
            send("quit")
            _write(args, {"clock_n": clock_n, "slowest_s": slowest, "answers": answers})
            return 0

        def answer_s(i: int, n: int) -> float:
            moves = " ".join(suite[i % len(suite)])
            send(f"position startpos moves {moves}" if moves else "position startpos")
            begun = time.monotonic()
            send(f"go nodes {n}")
            until("bestmove")
            return time.monotonic() - begun

        trials = _converge(answer_s, range(WARM_ANSWERS, WARM_ANSWERS + args.positions),
                           int(2 * clock_n), limit_s, "s")
        send("quit")
    finally:
        engine.kill()
    within = [t for t in trials if t["median_s"] <= limit_s]
    if not within:
        raise SystemExit(f"no go nodes count answered within {limit_s} s: {trials}")
    best = max(within, key=lambda t: t["nodes"])
    n = best["nodes"]
    print(f"state N: {n} simulations (go nodes {n} answers in a median {best['median_s']:.3f} s)")
    _write(args, {"state_n": n, "clock_n": clock_n, "node_trials": trials, "answers": answers})
    return 0


def _write(args, result: dict) -> None:
    if args.out:
        from make_reference import machine  # experiments/: the cards' machine description

        with open(args.out, "w") as f:
            json.dump({"checkpoint": args.checkpoint, "options": dict(args.option), **result,
                       "machine": {**machine(), "threads": 1}}, f, indent=1)


def _option(text: str, parser) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        parser.error(f"--option wants NAME=VALUE (a USI option, e.g. Guard=3), got {text!r}")
    return name, value


def _converge(answer_s, positions, n: int, limit_s: float, unit: str) -> list[dict]:
    """`go nodes n` over `positions` (`answer_s(i, n)`: seconds of one answer), n scaled by the
    median's distance from `limit_s` (time is linear in n) until within 5% below it, at most
    MAX_NODE_PASSES passes: each pass's nodes, median and slowest seconds."""
    trials = []
    for _ in range(MAX_NODE_PASSES):
        seconds = [answer_s(i, n) for i in positions]
        median_s = statistics.median(seconds)
        trials.append({"nodes": n, "median_s": round(median_s, 3),
                       "max_s": round(max(seconds), 3)})
        print(f"go nodes {n}: median {median_s:.3f} {unit}, slowest {max(seconds):.3f} {unit}",
              flush=True)
        if 0.95 * limit_s <= median_s <= limit_s:  # within 5% below: over it is not state N
            break
        n = int(n * 0.975 * limit_s / median_s)  # aim inside the window, not at its edge
    return trials


def _cpu_time(args) -> int:
    """State N by the engine thread's CPU time: `go nodes N` in-process on the same openings,
    N scaled until the median is within 5% below the limit (time is linear in N)."""
    import torch

    import keisei_fn.apps.usi_engine as ue

    torch.set_num_threads(1)
    options = ue.Options(checkpoint=args.checkpoint)
    for name, value in (("Search", "gumbel"), ("Simulations", "20000"), ("Compiled", "true"),
                        *args.option):
        options = ue.set_option(options, name, value)
    out: list[str] = []
    session = ue.run_engine(["usi", "isready"], ue.new_session(options), out.append)
    started = time.monotonic()
    while ue.compiling():
        if time.monotonic() - started > READY_TIMEOUT_S:
            raise SystemExit(f"not compiled within {READY_TIMEOUT_S} s")
        time.sleep(1)
    suite = load_suite("default")
    commands = [f"position startpos moves {' '.join(suite[i % len(suite)])}"
                if suite[i % len(suite)] else "position startpos"
                for i in range(WARM_ANSWERS + args.positions)]
    limit_s = args.byoyomi_ms / 1000

    def answer_s(i: int, n: int) -> float:
        nonlocal session
        begun = time.thread_time()
        session = ue.run_engine([commands[i], f"go nodes {n}"], session, out.append)
        return time.thread_time() - begun

    for i in range(WARM_ANSWERS):
        answer_s(i, 512)
    trials = _converge(answer_s, range(WARM_ANSWERS, len(commands)), 512, limit_s, "s of CPU")
    within = [t for t in trials if t["median_s"] <= limit_s]
    if not within:
        raise SystemExit(f"no go nodes count answered within {limit_s} s of CPU: {trials}")
    n = max(within, key=lambda t: t["nodes"])["nodes"]
    print(f"state N by CPU time: {n} simulations")
    _write(args, {"state_n_cpu_time": n, "node_trials": trials})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
