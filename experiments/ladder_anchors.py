"""Measure the ladder's anchor ratings once and store them with the package.

    .venv/bin/python experiments/ladder_anchors.py [--games 200] [--engine-games 64] \
        [--slow-games 16] [--out keisei_fn/arena/ladder.json]

Every rung of `arena.ladder.RUNGS` plays every rung at most two places above it, on the default
opening suite (pairs, both colours), with the arena's referee. Games between batched players
number `--games`, games with an engine `--engine-games` (`--slow-games` for gnushogi:3, ~30 s a
game). Bradley-Terry over all games, random = 0 (ratings/elo.py), gives the stored ratings. The
results depend on the players' moves only, not on the machine's speed (gnushogi is limited by
depth, not time).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from keisei_fn.arena.ladder import RUNGS, anchors_path
from keisei_fn.arena.match import play_match
from keisei_fn.arena.openings import DEFAULT_SUITE, load_suite
from keisei_fn.arena.opponents import make_player
from keisei_fn.arena.referee import IMPASSE, MAX_PLIES
from keisei_fn.ratings.elo import fit, format_ratings


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=200)
    parser.add_argument("--engine-games", type=int, default=64)
    parser.add_argument("--slow-games", type=int, default=16)
    parser.add_argument("--parallel", type=int, default=2, help="engine games side by side")
    parser.add_argument("--out", default=str(anchors_path()))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    openings = load_suite(DEFAULT_SUITE)
    players = {r: make_player(r) for r in RUNGS}
    matches = []
    started = time.monotonic()
    for i, a in enumerate(RUNGS):
        for b in RUNGS[i + 1:i + 3]:
            pa, pb = players[a], players[b]
            games = (args.games if pa.batched and pb.batched else
                     args.slow_games if "gnushogi:3" in (a, b) else args.engine_games)
            records = play_match(pa, pb, games, openings=openings, seed=1000 * i + len(matches),
                                 parallel=None if pa.batched and pb.batched else args.parallel)
            points = [r.score_for(a) for r in records]
            wins, losses = points.count(1.0), points.count(0.0)
            matches.append({"a": a, "b": b, "games": games, "wins": wins,
                            "draws": games - wins - losses, "losses": losses})
            print(f"{a} vs {b}: W {wins} D {games - wins - losses} L {losses} "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
    results = []
    for m in matches:
        results += ([(m["a"], m["b"], 1.0)] * m["wins"] + [(m["a"], m["b"], 0.5)] * m["draws"]
                    + [(m["a"], m["b"], 0.0)] * m["losses"])
    ratings = fit(results, anchor="random")
    print(format_ratings(ratings))
    rungs = []
    for r in RUNGS:
        elo, low, high = ratings.of(r)
        rungs.append({"player": r, "elo": round(elo, 1), "low": round(low, 1),
                      "high": round(high, 1)})
    data = {
        "scale": "Bradley-Terry Elo, random = 0, 95% intervals relative to random",
        "measured": {
            "command": "experiments/ladder_anchors.py " + " ".join(argv),
            "date": time.strftime("%Y-%m-%d"), "suite": DEFAULT_SUITE,
            "referee": {"max_plies": MAX_PLIES, "impasse": IMPASSE},
            "regularized": ratings.regularized, "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
            "seconds": round(time.monotonic() - started)},
        "rungs": rungs,
        "matches": matches,
    }
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(out)
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
