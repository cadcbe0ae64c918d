"""What the trainer's insight views cost at one evaluation (docs/insight.md).

    .venv/bin/python experiments/insight_cost.py RUN_DIR GAMES_JSONL

The longest of the first 20 games of GAMES_JSONL as the sample game (the value timeline figure
and four board PNGs), and the distributions of one default-size PPO batch (4,096 samples, from
a fresh collection); medians of 5, one thread, into a throwaway Aim repository.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import torch

from keisei_fn.agent import load_agent
from keisei_fn.algos.ppo.batch import policy_batch
from keisei_fn.arena.records import from_json_line
from keisei_fn.config import load_config
from keisei_fn.run import insight, tracking
from keisei_fn.run.parts import build
from keisei_fn.run.session import collect_with_restarts
from keisei_fn.run.snapshot import fresh_state


def _median_seconds(fn, repeats: int = 5) -> float:
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    agent, _ = load_agent(argv[0])
    with open(argv[1]) as f:
        records = [from_json_line(line) for line in f if line.strip()]
    record = max(records[:20], key=lambda r: len(r.moves))
    cfg = load_config(None, ["track.aim=false", "distributed.ranks=1", "optim.compile=off",
                             f"run_dir={tempfile.mkdtemp()}/run"])
    parts = build(cfg, log=lambda *a: None)
    state = fresh_state(cfg, parts)
    collect = collect_with_restarts(cfg, parts, None, lambda *a: None)
    state, rollout, after = collect(state)
    batch = policy_batch(rollout, after, parts.policy, cfg)
    run = tracking.open_run(tempfile.mkdtemp(), "insight-cost", {})
    game = _median_seconds(lambda i: insight.track_sample_game(run, agent, record, i))
    dist = _median_seconds(lambda i: insight.track_distributions(run, agent, batch,
                                                                 cfg.env.max_plies, i))
    tracking.close_run(run)
    print(f"sample game of {len(record.moves)} plies: {game:.2f} s; distributions of "
          f"{batch.numel()} samples: {dist:.2f} s (medians of 5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
