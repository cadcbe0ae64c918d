"""How well a network's value predicts the results of recorded games, by phase.

    .venv/bin/python experiments/value_quality.py RUN_OR_CHECKPOINT GAMES.jsonl [--json OUT]

GAMES.jsonl is any record file of the arena (`keisei-fn ladder --out DIR` writes DIR/games.jsonl,
`keisei-fn eval --out DIR` too); the player is the checkpoint's name in those records (the
resolved checkpoint path, as the ladder writes it). The value is read as search reads it
(insight/value_quality.py): undiscounted, the value prior added, for the side to move; beside
it, a material count's (tanh(balance / 10 pawns)) on the same positions.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from keisei_fn.agent import load_agent, resolve_checkpoint
from keisei_fn.arena.records import from_json_line
from keisei_fn.insight.value_quality import agent_values, format_quality, value_quality


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("agent")
    parser.add_argument("games")
    parser.add_argument("--name", help="the player's name in the records (default: the "
                                       "resolved checkpoint path)")
    parser.add_argument("--json", help="write the report here")
    args = parser.parse_args()
    ckpt = resolve_checkpoint(args.agent)
    agent, _ = load_agent(ckpt)
    records = [from_json_line(line) for line in Path(args.games).read_text().splitlines()
               if line.strip()]
    name = args.name or str(ckpt)
    values = agent_values(agent, records, name)
    if not values["v"].numel():
        raise SystemExit(f"no game of {name!r} in {args.games}")
    report = value_quality(values)
    print(format_quality(report))
    for phase, s in report.items():
        print(f"  {phase:<18} n {s['n']:>6}  r {s['corr']:+.3f}  Brier {s['brier']:.3f}  "
              f"mean|v| {s['mean_abs']:.3f}  |  material count: r {s['material_corr']:+.3f}  "
              f"Brier {s['material_brier']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
