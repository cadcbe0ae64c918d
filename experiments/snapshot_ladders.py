"""A run's strength at its end from its last N networks, not its last one alone: each of the
run's last N checkpoints placed on the ladder (the network's argmax with a mate in one, as
compare_algos.py's "argmax" ladder), then all their games pooled into one Elo.

Why: one network's ladder Elo moves between checkpoints a minute of training apart by more
than the ladder's own interval (screen 25's `material_shaping=0.05` seed 0: +2086, +2086 and
+2264 at iterations 180, 200 and 214; docs/training.md, "Snapshots"), so a comparison of two
final networks measures which run stopped on a good snapshot as much as which trained better.
The pooled Elo averages that out and has the interval of N times the games.

    .venv/bin/python experiments/snapshot_ladders.py RUN_DIR [RUN_DIR ...] [--last 3]
        [--reuse-final LADDER_DIR ...]

The checkpoints a run keeps (`keep_checkpoints`, 3 by default) are the ones there are.
`--reuse-final` (one per run, in order) takes an existing ladder of the final network (e.g.
compare_algos's `RUN/ladders/NAME/argmax_1200s`) instead of playing it again: the same
network on the same seed plays the same games. Ladders run one per core, each resumable; the
summary goes to RUN/ladders/snapshots/summary.json and a table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from keisei_fn.arena.ladder import ladder_elo
from keisei_fn.checkpoint import list_checkpoints, read_checkpoint

from keep_network import slim_copy

CLI = [sys.executable, "-m", "keisei_fn.cli"]


def ladder(agent: Path, out: Path) -> dict:
    if not (out / "ladder.json").is_file():
        again = ["--resume"] if (out / "games.jsonl").is_file() else []
        subprocess.run([*CLI, "ladder", f"{agent}@material=0", "--out", str(out),
                        "--parallel", "1", *again], check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "ladder.json").read_text())


def pooled(ladders: list[dict]) -> tuple[float, float, float]:
    """(Elo, low, high) of every game of `ladders` (their summaries' W/D/L per rung) as one
    player's."""
    results = []
    for summary in ladders:
        for row in summary["rungs"]:
            results += [(row["rung"], 1.0)] * row["wins"] + [(row["rung"], 0.5)] * row["draws"]
            results += [(row["rung"], 0.0)] * row["losses"]
    return ladder_elo(results)[:3]


def plan(run: Path, last: int, final: Path | None = None):
    """(ladders to play {checkpoint: (network file, ladder dir)}, every snapshot's (checkpoint,
    ladder dir) in order) of `run`'s last `last` checkpoints; `final`: an existing ladder of the
    last one, played already."""
    checkpoints = list_checkpoints(run)[-last:]
    if not checkpoints:
        raise SystemExit(f"{run}: no checkpoint")
    base = run / "ladders" / "snapshots"
    jobs, snapshots = {}, []
    for j, ckpt in enumerate(checkpoints):
        out = base / ckpt.stem
        if j == len(checkpoints) - 1 and final is not None:
            out = final
            if not (out / "ladder.json").is_file():
                raise SystemExit(f"no ladder.json in {out}")
        else:
            net = base / f"{ckpt.stem}.pt"
            if not net.is_file():
                slim_copy(read_checkpoint(ckpt), net)
            jobs[ckpt.stem] = (net, out)
        snapshots.append((ckpt.stem, out))
    return jobs, snapshots


def summarize(run: Path, snapshots) -> dict:
    """Each snapshot's ladder and all their games pooled, written to
    RUN/ladders/snapshots/summary.json."""
    ladders = [json.loads((out / "ladder.json").read_text()) for _, out in snapshots]
    elo, low, high = pooled(ladders)
    summary = {"snapshots": [{"checkpoint": name, "elo": s["elo"], "low": s["low"],
                              "high": s["high"], "ladder": str(out)}
                             for (name, out), s in zip(snapshots, ladders)],
               "pooled": {"elo": elo, "low": low, "high": high}}
    (run / "ladders" / "snapshots").mkdir(parents=True, exist_ok=True)
    (run / "ladders" / "snapshots" / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def describe(summary: dict) -> str:
    """'180: +2086, 200: +2086, 214: +2264' (iteration: Elo of each snapshot)."""
    return ", ".join(f"{s['checkpoint'].removeprefix('ckpt_').lstrip('0')}: {s['elo']:+.0f}"
                     for s in summary["snapshots"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--last", type=int, default=3)
    parser.add_argument("--reuse-final", nargs="*", type=Path, default=[])
    args = parser.parse_args()
    if args.reuse_final and len(args.reuse_final) != len(args.runs):
        raise SystemExit(f"--reuse-final: {len(args.reuse_final)} ladders for "
                         f"{len(args.runs)} runs (one per run, in order)")
    finals = args.reuse_final or [None] * len(args.runs)
    plans = {run: plan(run, args.last, final) for run, final in zip(args.runs, finals)}
    jobs = [job for run_jobs, _ in plans.values() for job in run_jobs.values()]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(lambda job: ladder(*job), jobs))
    print("| run | snapshots: ladder Elo (argmax) | pooled [95%] | spread |")
    print("|---|---|---|---:|")
    for run, (_, snapshots) in plans.items():
        summary = summarize(run, snapshots)
        each = [s["elo"] for s in summary["snapshots"]]
        p = summary["pooled"]
        print(f"| {run} | {describe(summary)} | {p['elo']:+.0f} [{p['low']:+.0f}, "
              f"{p['high']:+.0f}] | {max(each) - min(each):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
