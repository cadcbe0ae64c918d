"""Two ladder rows on the same games, game by game: did A score more than B?

    .venv/bin/python experiments/rows_paired.py A/games.jsonl B/games.jsonl [--json OUT]

Two ladders of different agents at the same `--seed` and `--openings` play game g of a rung
from the same opening with the same colours (`meta.game`: opening g // 2, the agent Black when
g is even), so the difference of their scores in game g has the opening's own difficulty taken
out. Per rung and over all rungs both rows played in full: the games where A scored more, the
same, less; the mean difference of score with a 95% interval (normal, from the differences'
spread). Separate ladder placements of the two rows (each with its interval) answer "where is
each"; this answers "is A ahead of B on these games", which is what a control row asks.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from keisei_fn.arena.ladder import RUNGS
from keisei_fn.arena.records import from_json_line

Z95 = 1.959964


def _games(path: Path) -> tuple[str, dict[str, dict[int, float]]]:
    """(the agent's name, {rung: {game: the agent's score}}) of a ladder's games.jsonl."""
    records = [from_json_line(x) for x in path.read_text().splitlines() if x.strip()]
    if not records:
        raise SystemExit(f"{path}: no games")
    agent = set.intersection(*[{r.black, r.white} for r in records]) - set(RUNGS)
    if len(agent) != 1:
        raise SystemExit(f"{path}: no one player but the rungs in every game")
    (agent,) = agent
    out: dict[str, dict[int, float]] = {}
    for r in records:
        rung = r.white if r.black == agent else r.black
        out.setdefault(rung, {})[r.meta["game"]] = r.score_for(agent)
    return agent, out


def _summary(diffs: list[float]) -> dict:
    n = len(diffs)
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1)) if n > 1 else 0.0
    half = Z95 * sd / math.sqrt(n)
    return {"games": n, "a_more": sum(d > 0 for d in diffs), "same": sum(d == 0 for d in diffs),
            "b_more": sum(d < 0 for d in diffs), "mean": round(mean, 4),
            "low": round(mean - half, 4), "high": round(mean + half, 4)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--json", type=Path, help="write the table here too")
    args = p.parse_args(argv)
    (name_a, a), (name_b, b) = _games(args.a), _games(args.b)
    rows, pooled = [], []
    for rung in a:
        if rung not in b:
            continue
        shared = sorted(set(a[rung]) & set(b[rung]))
        if not shared:
            continue
        diffs = [a[rung][g] - b[rung][g] for g in shared]
        pooled += diffs
        rows.append({"rung": rung, "score_a": round(sum(a[rung][g] for g in shared) / len(shared),
                                                      4),
                     "score_b": round(sum(b[rung][g] for g in shared) / len(shared), 4),
                     **_summary(diffs)})
    if not rows:
        raise SystemExit("the two rows share no rung's games")
    total = {"rung": "all", **_summary(pooled)}
    print(f"A = {name_a}\nB = {name_b}")
    print(f"{'rung':<28} {'games':>5} {'A':>6} {'B':>6} {'A more':>6} {'same':>5} "
          f"{'B more':>6}  mean A - B [95%]")
    for r in [*rows, total]:
        scores = (f"{100 * r['score_a']:5.1f}% {100 * r['score_b']:5.1f}%" if "score_a" in r
                  else f"{'':>6} {'':>6}")
        print(f"{r['rung']:<28} {r['games']:>5} {scores} {r['a_more']:>6} {r['same']:>5} "
              f"{r['b_more']:>6}  {r['mean']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]",
              file=sys.stdout)
    if args.json:
        args.json.write_text(json.dumps({"a": name_a, "b": name_b, "rungs": rows,
                                         "all": total}, indent=1) + "\n")


if __name__ == "__main__":
    main()
