"""State N (issue 29's search row): how many simulations `keisei-fn usi --compiled` completes in
one second a move on one thread, read from the engine itself.

    .venv/bin/python experiments/state_n.py [CHECKPOINT] [--positions 20] [--out state_n.json]

It starts the USI engine (`--simulations 20000 --compiled`, one thread: the clock, not that
cap, sets N), waits until the background compilation says it is ready, then sends the default
suite's opening positions with `go byoyomi 1000` and reads the `nodes` of each answer's last
`info` line: the simulations the engine's clock allowed. The first few answers calibrate the
engine's rate and are not counted. Prints the median; then ladder the search player at that N
and its material control:

    keisei-fn ladder "RUN@sims=N,compiled=1"
    keisei-fn ladder "RUN@sims=N,compiled=1,value=material"

Wall clock: run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time

from keisei_fn.arena.openings import load_suite

WARM_ANSWERS = 3
READY_TIMEOUT_S = 900


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", nargs="?", default="reference")
    p.add_argument("--positions", type=int, default=20)
    p.add_argument("--byoyomi-ms", type=int, default=1000)
    p.add_argument("--out", help="write the answers as JSON here too")
    args = p.parse_args(argv)
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
        send("quit")
    finally:
        engine.kill()
    n = statistics.median(a["nodes"] for a in answers)
    print(f"state N: {n:.0f} simulations (median of {len(answers)} answers, go byoyomi "
          f"{args.byoyomi_ms})")
    if args.out:
        from make_reference import machine  # experiments/: the cards' machine description

        with open(args.out, "w") as f:
            json.dump({"checkpoint": args.checkpoint, "state_n": n, "answers": answers,
                       "machine": {**machine(), "threads": 1}}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
