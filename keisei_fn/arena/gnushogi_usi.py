"""gnushogi behind the USI protocol, so any USI client (GUIs, tournament managers) can play it.

`keisei-fn gnushogi-usi --depth 1` (or `python -m keisei_fn.arena.gnushogi_usi`, which starts
faster: no torch) reads USI commands on stdin and answers on stdout. One gnushogi process plays
the game; a position that continues the last one by a single move is passed on as that move,
any other (a new game, a take-back) restarts gnushogi and replays the moves (`engines.py`).
Only positions reached from the standard start position are supported (gnushogi has no SFEN
input); others, and a gnushogi that fails, are answered with `bestmove resign` and an
`info string` saying why. Time controls in `go` are ignored: gnushogi's depth and seconds per
move (`--seconds`) decide.
"""

from __future__ import annotations

import argparse
import sys

from ._process import EngineFailure
from .engines import (STARTPOS_SFEN, await_move, close_session, gnushogi_spec, open_session,
                      request_move)


def parse_position(args: list[str]) -> tuple[str, list[str]]:
    """(start SFEN, USI moves) of a `position` command's arguments."""
    if not args:
        raise ValueError("empty position command")
    moves: list[str] = []
    if "moves" in args:
        k = args.index("moves")
        args, moves = args[:k], args[k + 1:]
    if args[0] == "startpos":
        return STARTPOS_SFEN, moves
    if args[0] == "sfen" and len(args) >= 4:
        sfen = " ".join(args[1:5] if len(args) >= 5 else args[1:4] + ["1"])
        return sfen, moves
    raise ValueError(f"bad position command: {' '.join(args)}")


def serve(depth: int, seconds: int = 1, timeout: float = 30.0, stdin=None, stdout=None) -> int:
    """The USI loop; returns on `quit` or end of input, leaving no gnushogi behind."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    spec = gnushogi_spec(depth, seconds, timeout=timeout)

    def say(text: str) -> None:
        stdout.write(text + "\n")
        stdout.flush()

    session, position = None, (STARTPOS_SFEN, [])
    try:
        for raw in stdin:
            words = raw.split()
            if not words:
                continue
            cmd = words[0]
            if cmd == "usi":
                say(f"id name gnushogi depth {depth} (keisei-fn USI wrapper)")
                say("id author GNU Shogi authors; wrapper: keisei_fn")
                say("usiok")
            elif cmd == "isready":
                say("readyok")
            elif cmd in ("usinewgame", "gameover"):
                if session is not None:
                    close_session(session)
                session = None
            elif cmd == "position":
                try:
                    position = parse_position(words[1:])
                except ValueError as err:
                    say(f"info string {err}")
                    position = None
            elif cmd == "go":
                session, reply = _best_move(spec, session, position)
                say(reply)
            elif cmd == "quit":
                break
            # setoption, stop, ponderhit and unknown commands: nothing to do (we reply at once)
    finally:
        if session is not None:
            close_session(session)
    return 0


def _best_move(spec, session, position):
    """(session to keep, the `bestmove` line) for a `go` at `position`."""
    if position is None or position[0] != STARTPOS_SFEN:
        return session, "info string gnushogi plays from the start position only\nbestmove resign"
    try:
        if session is None:
            session = open_session(spec)
        request_move(session, position[1])
        return session, f"bestmove {await_move(session)}"
    except EngineFailure as err:
        if session is not None:
            close_session(session)
        return None, f"info string {err}\nbestmove resign"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--depth", type=int, default=1, help="search depth in plies (1 = weakest)")
    p.add_argument("--seconds", type=int, default=1, help="time cap per move (whole seconds)")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for gnushogi before resigning on its behalf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gnushogi-usi", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return serve(args.depth, args.seconds, args.timeout)
    except ValueError as err:
        print(f"gnushogi-usi: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
