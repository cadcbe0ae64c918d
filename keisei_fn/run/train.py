"""`train(cfg)`: set up or resume a run directory, loop, checkpoint, evaluate, summarise."""

from __future__ import annotations

import time
from pathlib import Path


from ..algos.ppo.batch import rollout_to_batch
from ..checkpoint import list_checkpoints
from ..collect.collectors import state_after
from ..collect.stats import game_stats, league_stats
from ..config import from_yaml, load_config
from ..learn.population import learn
from ..models import param_count, state_params
from . import distributed
from .driver import Steps, drive
from .progress import make_console
from .session import (collect_with_restarts, make_checkpointer, namespaced, open_tracking,
                      prepare_process, record_evaluation, start_or_resume)
from .single import (build, checkpoint_payload, fresh_carry, grow_league_pool, pick_league_opponent,
                     restore)


def resume_config(run_dir: str | Path, overrides=()):
    """The config saved in a run directory, with `overrides` (e.g. a longer budget) applied.

    The run continues where it is now: `run_dir` wins over the directory recorded in the saved
    config (the run may have been moved or copied).
    """
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ValueError(f"{run_dir} is not a run directory (no config.yaml)")
    saved = from_yaml(path.read_text())
    saved.run_dir = str(run_dir)  # set as a value, not parsed from a dotlist (paths may hold ':')
    return load_config(None, list(overrides), base=saved)


def train_or_continue(cfg, overrides=()) -> dict:
    """Continue the run in `cfg.run_dir` (with `overrides`) if it holds checkpoints, else start
    it: what an experiment script does when it is run again after an interruption."""
    if list_checkpoints(cfg.run_dir):
        return train(resume_config(cfg.run_dir, overrides), resume=True)
    return train(cfg)


def train(cfg, resume: bool = False, log=None) -> dict:
    """Run (or continue) the training described by `cfg`; returns the final summary.

    Under torchrun, every process of the group runs this (distributed.py)."""
    group = distributed.join(cfg)
    try:
        cfg = distributed.rank_config(cfg, group)
        if cfg.population.size > 1:
            from .population import train_population

            return train_population(cfg, resume=resume, log=log, group=group)
        return _train_single(cfg, resume, log, group)
    finally:
        distributed.leave(group)


def _train_single(cfg, resume: bool, log, group) -> dict:
    console = make_console()
    log = distributed.rank_log(group, log or console.print)
    run_dir = Path(cfg.run_dir)
    prepare_process(cfg)
    parts = build(cfg, log=log, group=group)
    net = parts["net"]
    carry = start_or_resume(cfg, resume, lambda payload, source: restore(payload, cfg, parts, source),
                            lambda: fresh_carry(cfg, parts), log, group)
    state_params(net).data.update_(carry["params"])
    log(f"run dir {run_dir} | model {cfg.model.arch} {cfg.model.blocks}x{cfg.model.channels} "
        f"({param_count(net):,} params) | {cfg.env.batch_size} games x "
        f"{cfg.ppo.rollout_steps} steps per iteration | device {cfg.device}"
        f"{distributed.describe(group)}")
    aim_run, tracking = open_tracking(cfg, carry, group)

    checkpoint = make_checkpointer(cfg, carry, lambda: checkpoint_payload(cfg, carry, parts), log,
                                   group)
    c = carry["counters"]
    collect = collect_with_restarts(cfg, parts, checkpoint, c, log)

    def iterate() -> dict:
        t0 = time.perf_counter()
        pick_league_opponent(carry, parts)
        rollout = collect()
        after = state_after(parts["collector"], rollout)
        batch = rollout_to_batch(rollout, after, lambda obs: net(obs)[1], parts["gae"], cfg.ppo)
        stats = game_stats(rollout)
        if parts["learner_side"] is not None:
            stats.update(league_stats(rollout, parts["learner_side"]))
        stats = distributed.merge_game_stats(group, stats)
        t1 = time.perf_counter()
        metrics = distributed.mean_metrics(
            group, learn(carry, batch, parts["update"], cfg, log=log))
        state_params(net).data.update_(carry["params"])
        t2 = time.perf_counter()
        frames = rollout.numel() * group.world
        metrics["collect_steps_per_s"] = frames / (t1 - t0)
        metrics["update_samples_per_s"] = frames * cfg.ppo.epochs / (t2 - t1)
        return {"frames": frames, "games": stats["games"], "metrics": metrics, "stats": stats}

    def record(step: dict) -> None:
        grow_league_pool(carry, cfg)
        if aim_run is not None:
            tracking.track_metrics(aim_run, namespaced(step["metrics"], step["stats"]),
                                   c["iteration"])

    def evaluate():
        return record_evaluation(cfg, net, carry, run_dir, aim_run, console)

    def final() -> dict:
        done_now = [r for r in carry["evals"] if r["iteration"] == c["iteration"]]
        return {"eval": done_now or evaluate()}

    try:
        return drive(cfg, group, carry, Steps(iterate, record, evaluate, final), checkpoint, log,
                     console)
    finally:
        parts["collector"].shutdown()
        if aim_run is not None:
            tracking.close_run(aim_run)


