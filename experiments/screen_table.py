"""Gather a screen of training arms (one `compare_algos.py --out OUT` directory, or arms laddered
by hand) into the repository: each arm's config, env steps, training seconds and ladder
placements (`ladder_*/ladder.json`), as JSON and as a markdown table.

    .venv/bin/python experiments/screen_table.py OUT experiments/results/NAME
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from keisei_fn.checkpoint import list_checkpoints, read_checkpoint


def _rung_score(ladder: dict, rung: str) -> str:
    for r in ladder["rungs"]:
        if r["rung"] == rung:
            return f"{100 * r['score']:.1f}%"
    return "-"


def main(out: str, dest: str) -> None:
    out, dest = Path(out), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    rows = []
    for run in sorted(p for p in out.iterdir() if p.is_dir() and list_checkpoints(p)):
        counters = read_checkpoint(list_checkpoints(run)[-1])["counters"]
        arm = {"arm": run.name, "frames": counters["frames"],
               "train_seconds": round(counters["train_seconds"], 1), "ladders": {}}
        (dest / run.name).mkdir(exist_ok=True)
        shutil.copy(run / "config.yaml", dest / run.name / "config.yaml")
        # laddered by hand (RUN/ladder_KIND) or by compare_algos.py (RUN/ladders/ARM/KIND_BUDGETs)
        found = [(p, p.parent.name.removeprefix("ladder_"))
                 for p in sorted(run.glob("ladder_*/ladder.json"))]
        found += [(p, p.parent.name.rsplit("_", 1)[0])
                  for p in sorted(run.glob("ladders/*/*/ladder.json"))]
        for ladder, kind in found:
            data = json.loads(ladder.read_text())
            shutil.copy(ladder, dest / run.name / f"ladder_{kind}.json")
            arm["ladders"][kind] = {k: data[k] for k in ("agent", "elo", "low", "high", "games")}
            arm["ladders"][kind]["vs_minimax"] = _rung_score(data, "minimax")
        for extra in ("value_quality.json",):
            if (run / extra).is_file():
                shutil.copy(run / extra, dest / run.name / extra)
        rows.append(arm)
    (dest / "screen.json").write_text(json.dumps(rows, indent=1))
    lines = ["| arm | env steps | train s | player | ladder Elo [95%] | vs minimax |",
             "|---|---:|---:|---|---|---:|"]
    for arm in rows:
        for kind, lad in arm["ladders"].items():
            lines.append(f"| {arm['arm']} | {arm['frames']:,} | {arm['train_seconds']:.0f} | "
                         f"{kind} | {lad['elo']:+.0f} [{lad['low']:+.0f}, {lad['high']:+.0f}] | "
                         f"{lad['vs_minimax']} |")
    (dest / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(*sys.argv[1:3])
