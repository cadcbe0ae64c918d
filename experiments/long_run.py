"""A longer training run and its learning curve (win rate vs random and greedy over time).

    .venv/bin/python experiments/long_run.py [key=value ...]

Trains with experiments/long_run.yaml over the embedded defaults (overrides last), or continues
the run if its directory already holds checkpoints, then writes RUN_DIR/learning_curve.md from
the evaluations stored in the final checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
from keisei_fn.config import load_config
from keisei_fn.run.train import train_or_continue

HERE = Path(__file__).resolve().parent


def learning_curve(run_dir: Path) -> str:
    payload = read_checkpoint(list_checkpoints(run_dir)[-1])
    rows = {}
    for r in payload["evals"]:
        rows.setdefault(r["iteration"], {})[r["opponent"]] = r
    frames_per_it = payload["counters"]["frames"] / max(payload["counters"]["iteration"], 1)
    lines = ["| iteration | env steps | vs random W/D/L | win % | vs greedy W/D/L | win % |",
             "|---|---|---|---|---|---|"]
    for it in sorted(rows):
        cells = [str(it), f"{int(it * frames_per_it):,}"]
        for opp in ("random", "greedy"):
            r = rows[it].get(opp)
            cells += ([f"{r['wins']}/{r['draws']}/{r['losses']}", f"{100 * r['win_rate']:.1f}"]
                      if r else ["-", "-"])
        lines.append("| " + " | ".join(cells) + " |")
    c = payload["counters"]
    lines.append("")
    lines.append(f"{c['iteration']} iterations, {c['frames']:,} env steps, {c['games']:,} games, "
                 f"{c['train_seconds'] / 60:.1f} min of training.")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    cfg = load_config(HERE / "long_run.yaml", argv)
    run_dir = Path(cfg.run_dir)
    train_or_continue(cfg, argv)
    text = learning_curve(run_dir)
    (run_dir / "learning_curve.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
