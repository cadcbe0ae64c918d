"""How often an agent's moves lose material that a 2-ply material search sees, over a ladder's
games against one opponent: lost games against won ones, and where in the game.

    .venv/bin/python experiments/material_blunders.py LADDER_DIR/games.jsonl \\
        [--opponent gnushogi:1] [--margin 3]

Each of our moves is scored by the `minimax` rung's own search (search/minimax.py: every legal
move, the opponent's best capture after it, in pawns of `shogi.material`); a move more than
`--margin` pawns below the best one is a blunder by that search (what `PATH@material=M` vetoes
for the policy's move; a search player has no such veto). If the losses are full of them, a
material check on the searched move would save games; if not, what loses them is deeper than
two plies. The agent is the player that is not a named rung (as avoidable_mates.py).
"""

from __future__ import annotations

import argparse
import statistics

import torch

from avoidable_mates import agent_games
from keisei_fn.apps.usi_position import play_moves, start_position
from keisei_fn.search.minimax import move_values
from keisei_fn.shogi import STARTPOS_SFEN, usi_to_action


def blunders(game: dict, black: bool, margin: float) -> tuple[list[tuple[int, float]], int]:
    """(plies before the end, pawns below the best) of each of our moves more than `margin`
    pawns below the 2-ply search's best move (a missed mate in one or a move that allows one
    is ~1000: search/minimax.py's WIN), and how many moves we made."""
    position = start_position(game.get("start_sfen") or STARTPOS_SFEN, len(game["moves"]))
    found, n, made = [], len(game["moves"]), 0
    ours = 0 if black == (position.state["side_to_move"].item() == 0) else 1
    for ply, move in enumerate(game["moves"]):
        if ply % 2 == ours:
            made += 1
            values = move_values(position.state, 2)[0]
            played = values[usi_to_action(position.state, [move])[0]].item()
            loss = values.max().item() - played
            if loss > margin + 1e-4:
                found.append((n - ply, loss))
        position = play_moves(position, [move])
    return found, made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("games")
    parser.add_argument("--opponent", default="gnushogi:1")
    parser.add_argument("--margin", type=float, default=3.0)
    parser.add_argument("--theirs", action="store_true",
                        help="score the opponent's moves instead (the same games, its side): "
                             "how often the measure fires on a stronger player's moves")
    args = parser.parse_args()
    torch.set_num_threads(1)
    by_result: dict[str, list[list[tuple[int, float]]]] = {"lost": [], "won": [], "drawn": []}
    moves = {"lost": 0, "won": 0, "drawn": 0}
    for game, black, result in agent_games(args.games, args.opponent):
        found, made = blunders(game, black != args.theirs, args.margin)
        by_result[result].append(found)
        moves[result] += made
    for result, games in by_result.items():
        if not games:
            continue
        count = sum(len(g) for g in games)
        with_one = sum(1 for g in games if g)
        print(f"{result}: {len(games)} games, {moves[result]} of our moves, {count} blunders "
              f"by 2-ply material (more than {args.margin:g} pawns below the best; "
              f"{1000 * count / max(1, moves[result]):.1f} per 1000 moves); "
              f"{with_one} games with at least one")
        first = [max(g)[0] for g in games if g]  # plies before the end of each game's first
        if first:
            print(f"  the first one: a median {statistics.median(first):.0f} plies before the "
                  f"end; median size {statistics.median(x for g in games for _, x in g):.1f} "
                  f"pawns")


if __name__ == "__main__":
    main()
