"""Training set-ups side by side at equal wall clock, placed on the ladder with and without search.

    .venv/bin/python experiments/compare_algos.py --budget 1800 --out /tmp/cmp \\
        --arm "ppo=eval.every=90" --arm "az=algo=gumbel_az eval.every=40" [--sims 64]

Every arm is one `keisei-fn train` process (one rank, one thread), all started at once, so each
trains with the other cores busy, for `--budget` seconds of training (compilation and the
evaluations along the way are not counted). With `--sequential` the arms train one after
another, each alone with `make run`'s ranks (one per core): the set-up a user's `make run` has.
Each arm's evaluations along the run give its Elo against the training clock (the trainer's
three rungs, `eval/ladder_elo`); at the end `keisei-fn ladder` places each final network on the
whole ladder playing its policy's argmax, and again with `--sims` simulations of Gumbel search
per move (the ladders one per core). With `--snapshots N` each arm's last N checkpoints are
placed too (argmax) and their games pooled (snapshot_ladders.py): one network's Elo moves between
checkpoints a minute apart by more than its interval. Prints a markdown table and writes
OUT/compare.json. Runs
already finished in OUT are reused (an interrupted comparison continues), and a larger
`--budget` resumes them to it: the 120-minute comparison is the 30-minute one continued.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
from keisei_fn.learn.state import EvalResult
from keisei_fn.run.evaluate import ladder_placement

import snapshot_ladders

CLI = [sys.executable, "-m", "keisei_fn.cli"]


def _train(out: Path, arms: dict[str, list[str]], budget: float, sequential: bool = False
           ) -> None:
    procs = {}
    for name, overrides in arms.items():
        run = out / name
        if list_checkpoints(run):
            payload = read_checkpoint(list_checkpoints(run)[-1])
            trained, iteration = (payload["counters"][k] for k in ("train_seconds", "iteration"))
            # A finished run's last checkpoint holds its final evaluation (of its last
            # iteration); a run stopped before that, even past its budget, is resumed to it.
            evaluated = any(e["iteration"] == iteration for e in payload["evals"])
            if trained >= budget - 1 and evaluated:
                print(f"{name}: already trained in {run}", file=sys.stderr)
                continue
            # A stopped run, or a longer budget, continues from the last checkpoint: resume is
            # exact, so 30 minutes then 90 more train the same network as 120 minutes at once
            # (compilation is not counted).
            cmd = [*CLI, "train", "--resume", str(run), f"time_budget_s={budget}"]
        else:
            # together: one rank each, sharing the machine; in turn: `make run`'s ranks (auto)
            ranks = [] if sequential else ["distributed.ranks=1"]
            cmd = [*CLI, "train", f"run_dir={run}", *ranks, "track.progress=false",
                   f"time_budget_s={budget}", *overrides]
        log = open(out / f"{name}.log", "a")
        print(f"{name}: {shlex.join(cmd[2:])}", file=sys.stderr)
        procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        if sequential and procs[name].wait() != 0:
            raise SystemExit(f"{name} failed: see {out / (name + '.log')}")
    for name, proc in procs.items():
        if proc.wait() != 0:
            raise SystemExit(f"{name} failed: see {out / (name + '.log')}")


def _ladder(agent: str, out: Path) -> dict:
    summary = out / "ladder.json"
    if not summary.is_file():
        # a ladder stopped part way keeps its finished games: continue it
        again = ["--resume"] if (out / "games.jsonl").is_file() else []
        subprocess.run([*CLI, "ladder", agent, "--out", str(out), "--parallel", "1", *again],
                       check=True, stdout=subprocess.DEVNULL)
    return json.loads(summary.read_text())


def _agents(run: Path) -> dict[str, Path]:
    """The arm's networks to place on the ladder: the run itself, or each member of a population
    (named ARM/member_K)."""
    members = sorted((run / "members").glob("member_*"), key=lambda p: int(p.name.split("_")[1]))
    if not members:
        return {run.name: run}
    return {f"{run.name}/{m.name}": m for m in members}


def _curve(run: Path, member: int | None = None) -> list[tuple[float, float, float, float]]:
    """(training seconds, ladder Elo, low, high) of every evaluation along the run (of one
    member's, for a population: placed here from its matches, as the trainer does for one agent)."""
    payload = read_checkpoint(list_checkpoints(run)[-1])
    by_iteration = {}
    for r in map(EvalResult.from_dict, payload["evals"]):
        if r.member == member:
            by_iteration.setdefault(r.iteration, []).append(r)
    points = []
    for iteration in sorted(by_iteration):
        results = by_iteration[iteration]
        placed = ladder_placement(results)
        if placed is not None:
            seconds = results[0].train_seconds
            points.append((float("nan") if seconds is None else seconds, *placed[:3]))
    return points


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", action="append", required=True,
                        help="NAME=OVERRIDES (space-separated key=value)")
    parser.add_argument("--budget", type=float, default=1800)
    parser.add_argument("--sims", type=int, default=64,
                        help="simulations of the searched ladder (0: argmax only)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--snapshots", type=int, default=1,
                        help="also place each arm's last N checkpoints (argmax) and pool their "
                             "games (1: the final network alone)")
    parser.add_argument("--sequential", action="store_true",
                        help="train the arms one after another, each alone on the machine with "
                             "the default ranks (make run's set-up), instead of all at once")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    arms = {}
    for arm in args.arm:
        name, _, overrides = arm.partition("=")
        arms[name] = overrides.split()
    started = time.time()
    _train(out, arms, args.budget, args.sequential)
    tag = f"{args.budget:.0f}s"
    jobs = {}
    for name in arms:
        for entry, agent in _agents(out / name).items():
            ladders = out / name / "ladders" / entry
            # the network's own strength: no material veto (a mate in one is still played)
            jobs[entry, "plain"] = (f"{agent}@material=0", ladders / f"argmax_{tag}")
            if args.sims:
                jobs[entry, "search"] = (f"{agent}@sims={args.sims}",
                                         ladders / f"sims{args.sims}_{tag}")
    # one ladder per core: each is one process and one thread
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        ladders = dict(zip(jobs, pool.map(lambda job: _ladder(*job), jobs.values())))
    pooled = {}
    if args.snapshots > 1:
        # (single agents: a population's members keep no checkpoints of their own)
        plans = {entry: snapshot_ladders.plan(out / entry, args.snapshots, final=job[1])
                 for (entry, kind), job in jobs.items() if kind == "plain" and "/" not in entry}
        earlier = [job for run_jobs, _ in plans.values() for job in run_jobs.values()]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(lambda job: snapshot_ladders.ladder(*job), earlier))
        pooled = {entry: snapshot_ladders.summarize(out / entry, snapshots)
                  for entry, (_, snapshots) in plans.items()}
    nan = {"elo": float("nan"), "low": float("nan"), "high": float("nan")}
    rows = []
    for name in arms:
        run = out / name
        counters = read_checkpoint(list_checkpoints(run)[-1])["counters"]
        for entry in _agents(run):
            plain, searched = ladders[entry, "plain"], ladders.get((entry, "search"), nan)
            # a population's members share its frames (each played 1/K of them)
            rows.append({"arm": entry, "overrides": arms[name], "frames": counters["frames"],
                         "train_seconds": counters["train_seconds"],
                         "iterations": counters["iteration"],
                         "curve": _curve(run, None if entry == name
                                         else int(entry.rsplit("_", 1)[1])),
                         "ladder": {k: plain[k] for k in ("elo", "low", "high")},
                         "ladder_search": {k: searched[k] for k in ("elo", "low", "high")},
                         **({"snapshots": pooled[entry]} if entry in pooled else {})})
    how = ("one arm after another, make run's ranks" if args.sequential
           else "one rank and one thread per arm, all arms at once")
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
               f"torch {torch.__version__}, {how}")
    (out / "compare.json").write_text(json.dumps(
        {"machine": machine, "budget": args.budget, "sims": args.sims,
         "snapshots": args.snapshots, "rows": rows,
         "seconds": round(time.time() - started)}, indent=1))
    print(f"{machine}; {args.budget:.0f} s of training each\n")
    search = f" ladder Elo (@sims={args.sims}) |" if args.sims else ""
    snaps = (f" last {args.snapshots} snapshots (argmax) | pooled [95%] |" if pooled else "")
    print(f"| arm | env steps | ladder Elo (argmax) |{search}{snaps} "
          f"Elo along the run (training s: Elo) |")
    print("|---|---|---|" + ("---|" if args.sims else "") + ("---|---|" if pooled else "")
          + "---|")
    for r in rows:
        curve = ", ".join(f"{s:.0f}: {e:+.0f}" for s, e, _, _ in r["curve"])
        p, q = r["ladder"], r["ladder_search"]
        searched = (f" {q['elo']:+.0f} [{q['low']:+.0f}, {q['high']:+.0f}] |" if args.sims
                    else "")
        snap = ""
        if "snapshots" in r:
            t = r["snapshots"]["pooled"]
            snap = (f" {snapshot_ladders.describe(r['snapshots'])} | {t['elo']:+.0f} "
                    f"[{t['low']:+.0f}, {t['high']:+.0f}] |")
        print(f"| {r['arm']} | {r['frames']:,} | {p['elo']:+.0f} [{p['low']:+.0f}, "
              f"{p['high']:+.0f}] |{searched}{snap} {curve} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
