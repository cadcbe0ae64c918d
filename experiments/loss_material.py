"""When an agent's lost games against one opponent turn: our material minus theirs at fixed
distances before the end, over a ladder's games (cshogi replays them).

    .venv/bin/python experiments/loss_material.py LADDER_DIR/games.jsonl [--opponent gnushogi:1]

Material is a plain count (pawn 1, lance 3, knight 4, silver 5, gold 6, bishop 8, rook 10; a
promoted minor piece 6, horse 10, dragon 12; in hand as unpromoted). The agent is the player
that is not a named rung (as experiments/avoidable_mates.py).
"""

from __future__ import annotations

import argparse
import statistics

import cshogi

from avoidable_mates import agent_games

BOARD = {cshogi.PAWN: 1, cshogi.LANCE: 3, cshogi.KNIGHT: 4, cshogi.SILVER: 5, cshogi.GOLD: 6,
         cshogi.BISHOP: 8, cshogi.ROOK: 10, cshogi.PROM_PAWN: 6, cshogi.PROM_LANCE: 6,
         cshogi.PROM_KNIGHT: 6, cshogi.PROM_SILVER: 6, cshogi.PROM_BISHOP: 10,
         cshogi.PROM_ROOK: 12}
HAND = (1, 3, 4, 5, 6, 8, 10)  # cshogi's hand order: pawn, lance, knight, silver, gold, B, R
BEFORE_END = (40, 20, 10, 4)


def material(board: cshogi.Board, black: bool) -> int:
    total = 0
    for square in range(81):
        piece = board.piece(square)
        if piece:
            total += BOARD.get(piece & 15, 0) * (1 if (piece < 16) == black else -1)
    for side, hand in zip((True, False), board.pieces_in_hand):
        total += sum(v * n for v, n in zip(HAND, hand)) * (1 if side == black else -1)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("games")
    parser.add_argument("--opponent", default="gnushogi:1")
    args = parser.parse_args()
    at = {k: [] for k in BEFORE_END}
    for game, black, result in agent_games(args.games, args.opponent):
        if result != "lost":
            continue
        board = cshogi.Board(game["start_sfen"]) if game.get("start_sfen") else cshogi.Board()
        path = []
        for move in game["moves"]:
            board.push_usi(move)
            path.append(material(board, black))
        for k in BEFORE_END:
            if len(path) > k:
                at[k].append(path[-1 - k])
    for k in BEFORE_END:
        if at[k]:
            print(f"{k:>3} plies before the end: median {statistics.median(at[k]):+g}, mean "
                  f"{statistics.mean(at[k]):+.1f} over {len(at[k])} lost games")


if __name__ == "__main__":
    main()
