"""What `keisei-fn watch` costs a training run beside it: `make run`'s set-up (every core, the
default config) trained for `--seconds`, alone and with `keisei-fn watch RUN_DIR` (no search,
its default pace) in another process, interleaved (alone, watched, alone, watched, ...), each
run's env steps/s the median of its status lines after the first `--skip` (compilation, warm-up).

    .venv/bin/python experiments/watch_cost.py --seconds 150 --pairs 2 --out /tmp/watch_cost

Issue 31 asks for at most 5% fewer env steps/s with the view running.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

CLI = [sys.executable, "-m", "keisei_fn.cli"]
STATUS = re.compile(r"steps ([\d,]+)/s")


def _run(out: Path, name: str, seconds: float, watched: bool, skip: int) -> dict:
    run = out / name
    train = subprocess.Popen([*CLI, "train", f"run_dir={run}", f"time_budget_s={seconds}",
                              "eval.every=0", "eval.games=2", "track.aim=false"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watcher = None
    lines = []
    for line in train.stdout:
        lines.append(line)
        if watched and watcher is None and list(run.glob("ckpt_*.pt")):
            # the view needs a checkpoint: it starts with the run's first one
            watcher = subprocess.Popen([*CLI, "watch", str(run)], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
    train.wait()
    if watcher is not None:
        watcher.terminate()
        watcher.wait(timeout=30)
    rates = [float(m.group(1).replace(",", "")) for line in lines
             if (m := STATUS.search(line))]
    if watched and watcher is None:
        raise SystemExit(f"{name}: no checkpoint appeared, so nothing watched it")
    return {"name": name, "watched": watched, "status_lines": len(rates),
            "steps_per_s": statistics.median(rates[skip:]) if len(rates) > skip else None}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=150)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--skip", type=int, default=3, help="status lines left out at the start")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for pair in range(args.pairs):
        for watched in (False, True):
            name = f"{'watched' if watched else 'alone'}_{pair}"
            started = time.monotonic()
            results.append(_run(args.out, name, args.seconds, watched, args.skip))
            print(f"{name}: {results[-1]['steps_per_s']} env steps/s "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
    alone = statistics.median(r["steps_per_s"] for r in results if not r["watched"])
    watched = statistics.median(r["steps_per_s"] for r in results if r["watched"])
    summary = {"runs": results, "alone": alone, "watched": watched,
               "cost": 1 - watched / alone}
    (args.out / "watch_cost.json").write_text(json.dumps(summary, indent=1))
    print(f"alone {alone:.0f} env steps/s, watched {watched:.0f}: "
          f"{100 * summary['cost']:+.1f}% cost")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
