"""How many of an agent's losses by mate came right after a move that let the opponent mate at
once when another move would not have (cshogi as the judge), by opponent.

    .venv/bin/python experiments/avoidable_mates.py LADDER_DIR/games.jsonl

The agent is the player that is not a named rung (random, greedy, minimax, gnushogi, mix:...).
"avoidable": some legal move at our last turn leaves the opponent no mate in one; "forced":
every move does (brute force where the opponent would be in check, where cshogi's
mate_move_in_1ply does not apply).
"""

from __future__ import annotations

import collections
import json
import sys

import cshogi

RUNGS = ("random", "greedy", "minimax", "gnushogi", "mix:")


def _mated_at_once(board: cshogi.Board) -> bool:
    if not board.is_check():
        return bool(board.mate_move_in_1ply())
    for move in list(board.legal_moves):
        board.push(move)
        mated = board.is_check() and not any(True for _ in board.legal_moves)
        board.pop()
        if mated:
            return True
    return False


def main(path: str) -> None:
    counts = collections.Counter()
    for line in open(path):
        game = json.loads(line)
        agent_black = not game["black"].startswith(RUNGS)
        opponent = game["white"] if agent_black else game["black"]
        lost = game["winner"] == ("white" if agent_black else "black")
        if not lost or game["reason"] != "mate":
            continue
        board = cshogi.Board(game["start_sfen"]) if game.get("start_sfen") else cshogi.Board()
        for move in game["moves"][:-2]:  # ours is the one before the mate
            board.push_usi(move)
        avoidable = False
        for move in list(board.legal_moves):
            board.push(move)
            avoidable = not board.is_game_over() and not _mated_at_once(board)
            board.pop()
            if avoidable:
                break
        counts[(opponent, "avoidable" if avoidable else "forced")] += 1
    for (opponent, kind), n in sorted(counts.items()):
        print(f"{opponent:<32} {kind:<10} {n}")


if __name__ == "__main__":
    main(sys.argv[1])
