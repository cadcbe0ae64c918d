"""Write the fixed value probe set (keisei_fn/insight/value_probes.txt): positions whose value for
the side to move is known, or nearly.

- `mate1`: the side to move mates in one (cshogi's `mate_move_in_1ply`): a won position.
- `mate3`: it mates in three (cshogi's `mate_move(3)`) and not in one: a won position.
- `rook_up` / `rook_down`: the side to move is a rook (10 pawns, shogi/material.py) or more ahead
  / behind in material, is not in check and has no mate in one on the board for either side:
  a heuristic, clearly better / worse.

Positions come from seeded random games (captures preferred, so material changes hands) after
the openings of the default suite; each kind keeps `--per-kind` of them, no two alike.

    .venv/bin/python experiments/make_value_probes.py --per-kind 100
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import cshogi

from keisei_fn.arena.openings import load_suite
from keisei_fn.shogi import from_sfen
from keisei_fn.shogi.material import material_balance

OUT = Path(__file__).resolve().parents[1] / "keisei_fn" / "insight" / "value_probes.txt"
KINDS = ("mate1", "mate3", "rook_up", "rook_down")
ROOK = 10.0


def _random_game(board: cshogi.Board, rng: random.Random, plies: int):
    """Positions (SFEN) of a game of random moves from `board`, captures preferred."""
    for _ in range(plies):
        moves = list(board.legal_moves)
        if not moves or board.is_game_over():
            return
        captures = [m for m in moves if cshogi.move_cap(m)]
        board.push(rng.choice(captures if captures and rng.random() < 0.7 else moves))
        yield board.sfen()


def _kind(board: cshogi.Board, balance: float) -> str | None:
    if board.is_check():
        return None  # in check: no clean label
    if board.mate_move_in_1ply():
        return "mate1"
    if board.mate_move(3):
        return "mate3"
    if abs(balance) < ROOK:
        return None
    # no mate in one for the opponent either (a null move is not allowed in check; not in check)
    board.push_pass()
    threatened = bool(board.mate_move_in_1ply())
    board.pop_pass()
    if threatened:
        return None
    return "rook_up" if balance > 0 else "rook_down"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    openings = load_suite("default")
    found: dict[str, dict[str, None]] = {k: {} for k in KINDS}
    games = 0
    while min(len(v) for v in found.values()) < args.per_kind and games < 20000:
        board = cshogi.Board()
        for move in rng.choice(openings):
            board.push_usi(move)
        games += 1
        sfens = list(_random_game(board, rng, rng.randint(20, 160)))
        if not sfens:
            continue
        # one position per game at most per kind, from the game's later half (more material
        # has changed hands)
        balance = material_balance(from_sfen(sfens)).tolist()
        for sfen, bal in list(zip(sfens, balance))[len(sfens) // 2:]:
            kind = _kind(cshogi.Board(sfen), bal)
            if kind is not None and len(found[kind]) < args.per_kind and sfen not in found[kind]:
                found[kind][sfen] = None
                break
    lines = [f"{kind}\t{sfen}" for kind in KINDS for sfen in found[kind]]
    Path(args.out).write_text(
        "# kind<TAB>SFEN: the value probe set (experiments/make_value_probes.py, seed "
        f"{args.seed}, {games} random games)\n" + "\n".join(lines) + "\n")
    print({k: len(v) for k, v in found.items()}, f"from {games} games -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
