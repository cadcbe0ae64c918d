"""Soak test: train for a long time, sample the trainer's RSS every minute, check the statistics.

    .venv/bin/python experiments/soak.py --minutes 60 [key=value ...]

Runs `keisei-fn train` in a subprocess on the default config (plus overrides), samples its
resident memory from /proc every `--every` seconds, then checks:
- memory growth after warm-up (the first quarter of the samples), floor to floor, stays under
  `--max-growth`;
- the game statistics are consistent: summed over all iterations (from the Aim run), the games
  counted equal the sum over how they ended and Black wins + White wins + draws, and equal the
  checkpoint's game counter.
Writes RUN_DIR/soak.csv and RUN_DIR/soak.md and exits non-zero if a check fails.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
from keisei_fn.run.tracking import read_metrics


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between RSS samples")
    parser.add_argument("--max-growth", type=float, default=0.05)
    parser.add_argument("--run-dir", default=f"runs/soak-{time.strftime('%Y%m%d-%H%M%S')}")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    run = Path(args.run_dir)
    cmd = [sys.executable, "-m", "keisei_fn.cli", "train", f"run_dir={run}",
           f"time_budget_s={args.minutes * 60}", "track.progress=false", *args.overrides]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []
    started = time.time()
    while proc.poll() is None:
        kb = rss_kb(proc.pid)
        if kb is not None:
            samples.append((time.time() - started, kb))
            print(f"{samples[-1][0] / 60:6.1f} min  RSS {kb / 1024:8.1f} MB", flush=True)
        time.sleep(args.every)
    if proc.returncode != 0:
        print(f"training exited with {proc.returncode}", file=sys.stderr)
        return 1
    (run / "soak.csv").write_text(
        "seconds,rss_kb\n" + "".join(f"{t:.0f},{k}\n" for t, k in samples)
    )

    warm = samples[len(samples) // 4:] or samples
    # RSS swings by ~60 MB within an iteration (transient tensors of the update), so compare the
    # floor (minimum) of the first and last five samples after warm-up, not single samples.
    window = max(1, min(5, len(warm) // 2))
    first_floor = min(k for _, k in warm[:window])
    last_floor = min(k for _, k in warm[-window:])
    growth = (last_floor - first_floor) / first_floor
    payload = read_checkpoint(list_checkpoints(run)[-1])
    metrics = read_metrics(str(run / "aim"), payload["aim_hash"])

    def total(name):
        return sum(v for _, v in metrics.get(name, []))
    games = total("games/games")
    ends = sum(total(k) for k in metrics if k.startswith("games/end_"))
    sides = total("games/black_wins") + total("games/white_wins") + total("games/draws")
    checks = {
        f"RSS growth after warm-up {100 * growth:+.1f}% (limit {100 * args.max_growth:.0f}%)":
            growth < args.max_growth,
        f"games {games:.0f} = sum of outcomes {ends:.0f}": games == ends,
        f"games {games:.0f} = Black + White + draws {sides:.0f}": games == sides,
        f"games {games:.0f} = checkpoint counter {payload['counters']['games']}":
            games == payload["counters"]["games"],
    }
    lines = [
        f"soak: {args.minutes:.0f} min, {payload['counters']['iteration']} iterations, "
        f"{payload['counters']['frames']:,} env steps, RSS floor {first_floor / 1024:.0f} -> "
        f"{last_floor / 1024:.0f} MB after warm-up (peak {max(k for _, k in warm) / 1024:.0f})"
    ]
    lines += [f"- {'ok ' if ok else 'FAIL'} {text}" for text, ok in checks.items()]
    (run / "soak.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
