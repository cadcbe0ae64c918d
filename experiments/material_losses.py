"""How often a player's moves lose material by the 2-ply material minimax (the material veto's
measure, `search/minimax.move_values`), in the games of a ladder or eval run.

    .venv/bin/python experiments/material_losses.py GAMES.jsonl [--opponent gnushogi:1]
        [--player reference]

For each game of the player (the side whose name starts with `--player`) against `--opponent`
(every opponent if not given): of its moves, how many a 2-ply material minimax rates more than
3, 5 and 8 pawns below the best legal move, in won and in lost games, and the ply of the first
move more than 5 below. A move that loses at two plies need not lose (a sacrifice, a defended
piece taken back on the third ply), so the counts are an upper bound on blunders; what they
are for is to say whether a veto has moves to act on.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics

import torch

from keisei_fn.apps.usi_position import play_moves, start_position
from keisei_fn.search.minimax import move_values
from keisei_fn.shogi import usi_to_action

MARGINS = (3, 5, 8)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("games")
    p.add_argument("--player", default="reference")
    p.add_argument("--opponent")
    args = p.parse_args()
    torch.set_num_threads(1)
    counts, first_loss = collections.Counter(), collections.defaultdict(list)
    for line in open(args.games):
        game = json.loads(line)
        mine = [game[c].startswith(args.player) for c in ("black", "white")]
        if mine.count(True) != 1:  # not the player's game, or both sides are
            continue
        side = mine.index(True)
        opponent = game["white" if side == 0 else "black"]
        if args.opponent and opponent != args.opponent:
            continue
        winner = game["winner"]
        result = ("won" if winner == ("black", "white")[side]
                  else "lost" if winner in ("black", "white") else "drawn")
        position = start_position(game["start_sfen"], plies=len(game["moves"]) + 2)
        first = None
        for ply, move in enumerate(game["moves"]):
            if ply % 2 == side:
                values = move_values(position.state, depth=2)[0]
                loss = float(values.max() - values[usi_to_action(position.state, [move])[0]])
                counts[result, "moves"] += 1
                for margin in MARGINS:
                    counts[result, margin] += loss > margin
                if loss > 5 and first is None:
                    first = ply
            position = play_moves(position, [move])
        counts[result, "games"] += 1
        if first is not None:
            first_loss[result].append(first)
    for result in ("won", "drawn", "lost"):
        moves = counts[result, "moves"]
        if not moves:
            continue
        shares = ", ".join(f"> {m}: {counts[result, m]} ({100 * counts[result, m] / moves:.1f}%)"
                           for m in MARGINS)
        plies = first_loss[result]
        where = (f"; the first > 5 in {len(plies)} of them, median ply {statistics.median(plies):g}"
                 if plies else "")
        print(f"{result}: {counts[result, 'games']} games, {moves} moves; {shares}{where}")


if __name__ == "__main__":
    main()
