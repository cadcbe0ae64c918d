"""A learning-rate sweep trained as one population, and its ranking.

    .venv/bin/python experiments/population_lr.py [key=value ...]

Trains with experiments/population_lr.yaml over the embedded defaults (overrides last), or
continues the run if its directory already holds checkpoints, then writes RUN_DIR/ranking.md
(the ranking table of the final evaluation: fixed opponents and the round robin between members).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
from keisei_fn.config import load_config
from keisei_fn.run.train import train_or_continue

HERE = Path(__file__).resolve().parent


def ranking_table(run_dir: Path) -> str:
    rows = json.loads((run_dir / "ranking.json").read_text())
    opponents = [k.removeprefix("score_") for k in rows[0] if k.startswith("score_")]
    lines = ["| rank | member | lr | Elo [95%] | " + " | ".join(f"score vs {o}" for o in opponents)
             + " |", "|---" * (4 + len(opponents)) + "|"]
    for i, r in enumerate(rows, 1):
        cells = [str(i), str(r["member"]), f"{r['lr']:g}",
                 f"{r['elo']:+.0f} [{r['elo_low']:+.0f}, {r['elo_high']:+.0f}]"]
        cells += [f"{100 * r[f'score_{o}']:.1f}%" for o in opponents]
        lines.append("| " + " | ".join(cells) + " |")
    c = read_checkpoint(list_checkpoints(run_dir)[-1])["counters"]
    lines += ["", f"{c['iteration']} iterations, {c['frames']:,} env steps in all "
              f"({c['frames'] // len(rows):,} per member), {c['games']:,} games, "
              f"{c['train_seconds'] / 60:.1f} min of training."]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    cfg = load_config(HERE / "population_lr.yaml", argv)
    run_dir = Path(cfg.run_dir)
    train_or_continue(cfg, argv)
    text = ranking_table(run_dir)
    (run_dir / "ranking.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
