"""What our network's prior says of the opponent's big captures in the games we lost: a search
reaches a reply through its prior (an interior node visits a move about in proportion to it
until values say otherwise), so a capture the prior rates at 1% is one the tree seldom looks at.

    .venv/bin/python experiments/refutation_prior.py LADDER_DIR/games.jsonl \\
        [--opponent gnushogi:1] [--checkpoint reference] [--min-gain 5] [--capture 0.1]

For each of the opponent's moves in our lost games, the network's probability of it from the
opponent's side (the prior our search gives that reply) and its rank among the legal moves; the
captures winning at least `--min-gain` pawns at once (`shogi.material.capture_gain`, board plus
hand) are reported apart, and again under `--capture F` (Agent.capture_floor, the search
players' `capture=F`: such captures get at least F of the prior). The agent is the player that
is not a named rung (as avoidable_mates.py).
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace

import torch

from avoidable_mates import agent_games
from keisei_fn.agent import evaluate, load_agent, resolve_checkpoint
from keisei_fn.apps.usi_position import play_moves, start_position
from keisei_fn.shogi import STARTPOS_SFEN, usi_to_action
from keisei_fn.shogi.material import capture_gain


def _summary(name: str, probs: list[float], ranks: list[int]) -> str:
    if not probs:
        return f"{name}: none"
    low = sum(p < 0.05 for p in probs) / len(probs)
    far = sum(r >= 16 for r in ranks) / len(ranks)
    return (f"{name}: {len(probs)} moves, our prior a median {statistics.median(probs):.3f}; "
            f"{100 * low:.0f}% below 5%, {100 * far:.0f}% outside its 16 favourites")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("games")
    parser.add_argument("--opponent", default="gnushogi:1")
    parser.add_argument("--checkpoint", default="reference")
    parser.add_argument("--min-gain", type=float, default=5.0)
    parser.add_argument("--capture", type=float, default=0.1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    agent, _ = load_agent(resolve_checkpoint(args.checkpoint))
    lifted = replace(agent, capture_floor=args.capture)
    seen = {"all": ([], []), "big": ([], []), "big, lifted": ([], [])}
    mass = {"big": [], "big, lifted": []}
    for game, black, result in agent_games(args.games, args.opponent):
        if result != "lost":
            continue
        position = start_position(game.get("start_sfen") or STARTPOS_SFEN, len(game["moves"]))
        for move in game["moves"]:
            state = position.state
            if (int(state["side_to_move"][0]) == 0) != black:  # the opponent's move
                action = int(usi_to_action(state, [move])[0])
                gains = capture_gain(state)[0]
                plain = evaluate(agent, state)[0][0]
                readings = [("all", plain)]
                if gains[action] >= args.min_gain:
                    readings += [("big", plain), ("big, lifted", evaluate(lifted, state)[0][0])]
                for key, log_probs in readings:
                    seen[key][0].append(float(log_probs[action].exp()))
                    seen[key][1].append(int((log_probs > log_probs[action]).sum()))
                    if key != "all":  # the prior on every capture as big (often the same
                        # piece taken by another of ours, which the tree then explores)
                        mass[key].append(float(log_probs[gains >= args.min_gain].exp().sum()))
            position = play_moves(position, [move])
    print(_summary(f"the opponent's moves in our lost games ({args.checkpoint})", *seen["all"]))
    for key, name in (("big", f"its captures of at least {args.min_gain:g} pawns"),
                      ("big, lifted", f"the same with capture={args.capture:g}")):
        print(_summary(name, *seen[key]))
        blind = sum(m < 0.05 for m in mass[key])
        print(f"  positions where all such captures together had under 5% of our prior: "
              f"{blind} of {len(mass[key])}")


if __name__ == "__main__":
    main()
