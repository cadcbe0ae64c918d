"""Would picking the best of a run's last snapshots pick a better network, or the luckiest ladder?

Split-half check on ladders already played: each snapshot's ladder games are split by opening
(even and odd openings of the suite, both colours of an opening in the same half, so the halves
are independent games). Within a run, each snapshot's Elo on one half minus the run's mean on
that half is its deviation. If the snapshots truly differ, the deviations on the two halves
agree; if the spread is the ladder's noise, they do not. Reported:
- the covariance of the two halves' deviations (an estimate of the variance of the snapshots'
  true deviations: the halves' noises are independent) against each half's own variance;
- the selection's gain: the snapshot best on one half, scored on the other half against the
  run's mean there (both ways round), averaged over runs.

    .venv/bin/python experiments/snapshot_selection.py NAME=LADDER_DIR,LADDER_DIR[,...] ...
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from keisei_fn.arena.ladder import ladder_elo, load_anchors

RUNGS = set(load_anchors())


def half_results(ladder_dir: Path) -> tuple[list, list]:
    """(rung, score) of every game of the agent, split by the opening's parity."""
    halves = ([], [])
    for line in (ladder_dir / "games.jsonl").read_text().splitlines():
        game = json.loads(line)
        meta, black, white = game["meta"], game["black"], game["white"]
        agent_black = white in RUNGS
        if agent_black == (black in RUNGS):
            raise SystemExit(f"{ladder_dir}: game {meta['game']} is not the agent against a rung")
        rung = white if agent_black else black
        winner = game.get("winner")
        score = 0.5 if winner is None else float((winner == "black") == agent_black)
        halves[meta["opening"] % 2].append((rung, score))
    return halves


def main(argv: list[str]) -> int:
    if not argv:
        raise SystemExit(__doc__.strip().splitlines()[-1].strip())
    pairs, gains = [], []
    print("| run | snapshot | Elo, even openings | Elo, odd openings |")
    print("|---|---|---:|---:|")
    for arg in argv:
        name, _, dirs = arg.partition("=")
        elos = []
        for d in dirs.split(","):
            a, b = half_results(Path(d))
            elos.append((ladder_elo(a)[0], ladder_elo(b)[0]))
            print(f"| {name} | {Path(d).name} | {elos[-1][0]:+.0f} | {elos[-1][1]:+.0f} |")
        mean = [statistics.fmean(e[h] for e in elos) for h in (0, 1)]
        dev = [(e[0] - mean[0], e[1] - mean[1]) for e in elos]
        pairs += dev
        for pick, score in ((0, 1), (1, 0)):
            best = max(range(len(dev)), key=lambda i: dev[i][pick])
            gains.append(dev[best][score])
    n = len(pairs)
    cov = sum(a * b for a, b in pairs) / n
    var = [sum(p[h] ** 2 for p in pairs) / n for h in (0, 1)]
    print(f"\n{n} snapshots in {len(argv)} runs; deviations from the run's mean (Elo^2): "
          f"covariance of the halves {cov:+.0f} (sd {max(cov, 0) ** 0.5:.0f} if positive); "
          f"variance even {var[0]:.0f} (sd {var[0] ** 0.5:.0f}), odd {var[1]:.0f} "
          f"(sd {var[1] ** 0.5:.0f})")
    print(f"selection gain on the other half (best of a run's snapshots on one half): mean "
          f"{statistics.fmean(gains):+.0f} over {len(gains)} picks "
          f"({', '.join(f'{g:+.0f}' for g in gains)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
