"""How many of an agent's losses by mate came right after a move that let the opponent mate at
once when another move would not have (cshogi as the judge), by opponent; with `--plies 3`, the
same for our move before that, and a mate in three by checks.

    .venv/bin/python experiments/avoidable_mates.py LADDER_DIR/games.jsonl [--plies 3]

The agent is the player that is not a named rung (random, greedy, minimax, gnushogi, mix:...).
"avoidable": some legal move at our turn `plies` + 1 plies before the end leaves the opponent no
mate within `plies` (in one: cshogi's mate_move_in_1ply, a brute force where the opponent would
be in check; in three: also cshogi's mate_move(3), by checks, and a move that puts the opponent
in check counts as not avoiding, as cshogi's mate search assumes no check); "forced": every
move does. With `--plies 3`, the losses whose last three plies were not check, reply, mate are
counted apart ("not by checks"), and so are those where the move we played allowed no mate
in three (the reply to the check lost: "later error") or gave check itself ("not judged")."""

from __future__ import annotations

import argparse
import collections
import json

import cshogi

RUNGS = ("random", "greedy", "minimax", "gnushogi", "mix:")


def agent_games(path: str, opponent: str | None = None):
    """(game, whether the agent played Black, "won" | "lost" | "drawn" for the agent) of each game
    in a ladder's games.jsonl (against `opponent` only, if given). The agent is the player that
    is not a named rung; the other experiments on ladder games read them through this."""
    for line in open(path):
        game = json.loads(line)
        if opponent is not None and opponent not in (game["black"], game["white"]):
            continue
        black = not game["black"].startswith(RUNGS)
        winner = game["winner"]
        result = ("drawn" if winner not in ("black", "white")
                  else "won" if winner == ("black" if black else "white") else "lost")
        yield game, black, result


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


def _mated_within(board: cshogi.Board, plies: int) -> bool | None:
    """The side to move mates within `plies` (1, or 3 by checks); None: not judged (in check)."""
    if plies == 1:
        return _mated_at_once(board)
    if board.is_check():
        return None
    return _mated_at_once(board) or bool(board.mate_move(3))


def _kind(game: dict, plies: int) -> str:
    moves = game["moves"]
    board = cshogi.Board(game["start_sfen"]) if game.get("start_sfen") else cshogi.Board()
    for move in moves[:-(plies + 1)]:  # ours is the one `plies` + 1 before the end
        board.push_usi(move)
    if plies == 3:
        board.push_usi(moves[-4])
        played = _mated_within(board, 3)  # did the move we played allow the mate in three?
        board.push_usi(moves[-3])
        by_checks = board.is_check()
        board.pop()
        board.pop()
        if not by_checks:
            return "not by checks"
        if played is None:
            return "not judged"
        if not played:  # our reply to the check was the error: the mate in one's business
            return "later error"
    for move in list(board.legal_moves):
        board.push(move)
        avoids = not board.is_game_over() and _mated_within(board, plies) is False
        board.pop()
        if avoids:
            return "avoidable"
    return "forced"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("games", help="a ladder's games.jsonl")
    parser.add_argument("--plies", type=int, default=1, choices=(1, 3))
    args = parser.parse_args()
    counts = collections.Counter()
    for game, agent_black, result in agent_games(args.games):
        opponent = game["white"] if agent_black else game["black"]
        if result != "lost" or game["reason"] != "mate" or len(game["moves"]) < args.plies + 1:
            continue
        counts[(opponent, _kind(game, args.plies))] += 1
    for (opponent, kind), n in sorted(counts.items()):
        print(f"{opponent:<32} {kind:<14} {n}")
    totals = collections.Counter()
    for (_, kind), n in counts.items():
        totals[kind] += n
    print("all:", ", ".join(f"{kind} {n}" for kind, n in sorted(totals.items())))


if __name__ == "__main__":
    main()
