"""Does gnushogi play book moves from the suite's openings? (issue 29, item 5)

gnushogi reads its binary opening book (gnushogi.bbk) at start-up. From each opening of a suite
(and the start position), gnushogi plays `--plies` moves for both sides three times: as the
ladder starts it; with no book (`-B` naming a file that does not exist); and with the book
named explicitly (`-B --book`, Debian's path). A ply where two choose different moves is one
where a book decided. Prints the counts and writes OUT (JSON).

Found (gnushogi 1.4.2, Debian): started as the ladder starts it, gnushogi opens
/usr/lib/gnushogi/gnushogi.bbk (strace), where Debian does not install it
(/usr/lib/games/gnushogi/gnushogi.bbk): it plays without a book, exactly as with `-B` missing.

    .venv/bin/python experiments/gnushogi_book.py --depth 1 --plies 4 --out book.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from keisei_fn.arena.engines import (await_move, close_session, gnushogi_spec, open_session,
                                     request_move)
from keisei_fn.arena.openings import load_suite


def continuation(spec, opening: list[str], plies: int) -> list[str]:
    """gnushogi's moves for both sides from the position after `opening`."""
    session = open_session(spec)
    try:
        moves = list(opening)
        for _ in range(plies):
            request_move(session, moves)
            moves.append(await_move(session))
        return moves[len(opening):]
    finally:
        close_session(session)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="default")
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--plies", type=int, default=4)
    parser.add_argument("--book", default="/usr/lib/games/gnushogi/gnushogi.bbk")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    ladder = gnushogi_spec(args.depth)
    variants = {"ladder": ladder,
                "no_book": replace(ladder, argv=(*ladder.argv, "-B", "/nonexistent/no-book.bbk")),
                "book": replace(ladder, argv=(*ladder.argv, "-B", args.book))}
    openings = [[], *load_suite(args.suite)]  # the start position too: any book knows it
    rows = []
    for opening in openings:
        row = {"opening": list(opening)}
        for name, spec in variants.items():
            row[name] = continuation(spec, list(opening), args.plies)
        rows.append(row)
    print(f"gnushogi depth {args.depth}, {len(rows)} positions (the start and the {args.suite} "
          f"suite's openings), {args.plies} plies each for both sides:")
    for a, b in (("ladder", "no_book"), ("ladder", "book")):
        differ = [next((i for i, (x, y) in enumerate(zip(r[a], r[b])) if x != y), None)
                  for r in rows]
        first = [sum(d == i for d in differ) for i in range(args.plies)]
        print(f"  {a} vs {b}: identical in {differ.count(None)} of {len(rows)}; first different "
              f"move at ply 1..{args.plies} after the opening: {first}")
    Path(args.out).write_text(json.dumps({"depth": args.depth, "plies": args.plies,
                                          "suite": args.suite, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
