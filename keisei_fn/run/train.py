"""`train(cfg)`: the one training run, for a single agent (a population of one) or K members.

    parts = build(cfg)                                   # algorithm, policy, collector, update
    state = fresh_state(...) or restore(checkpoint)      # TrainState: params[K], opt[K], ...
    while no stop is agreed:
        state, report = algorithm.iteration(ctx, state)  # collect, then learn (algos/*)
        track; evaluate every eval.every; checkpoint every checkpoint_every
    checkpoint; evaluate; checkpoint

Under torchrun, every rank of the group runs this (distributed.py); rank 0 alone evaluates,
tracks, prints and writes checkpoints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


from ..algos.base import IterationContext, IterationReport
from ..checkpoint import list_checkpoints
from ..config import rollout_steps
from ..config.run_dir import resume_config
from ..learn.compile import compile_seconds
from ..learn.population import member_learning_rates
from ..learn.group import Group
from ..learn.state import TrainState
from ..models import param_count, precision
from . import distributed, metrics_file
from .driver import StopFlag, stop_reason
from .evaluate import evaluator, final_evaluation
from .parts import Parts, build
from .progress import make_console, progress_bar, status_line
from .session import (collect_with_restarts, make_checkpointer, namespaced, open_tracking,
                      prepare_process, start_or_resume)
from .snapshot import (checkpoint_payload, export_members, fresh_state, restore,
                       starting_network)


def train_or_continue(cfg, overrides=()) -> dict:
    """Continue the run in `cfg.run_dir` (with `overrides`) if it holds checkpoints, else start
    it: what an experiment script does when it is run again after an interruption."""
    if list_checkpoints(cfg.run_dir):
        return train(resume_config(cfg.run_dir, overrides), resume=True)
    return train(cfg)


def train(cfg, resume: bool = False, log=None) -> dict:
    """Run (or continue) the training described by `cfg`; returns the final summary."""
    group = distributed.join(cfg)
    try:
        cfg = distributed.rank_config(cfg, group)
        return _train(cfg, resume, log, group)
    finally:
        distributed.leave(group)


def _describe(cfg, parts: Parts, group) -> str:
    members = cfg.population.size
    who = (f" | population of {members} ({cfg.population.backend})" if members > 1 else "")
    each = " each" if members > 1 else ""
    games = f"{members} x {cfg.env.batch_size}" if members > 1 else f"{cfg.env.batch_size}"
    return (
        f"run dir {cfg.run_dir}{who} | model {cfg.model.arch} {cfg.model.blocks}x"
        f"{cfg.model.channels} ({param_count(parts.net):,} params{each}) | {games} games x "
        f"{rollout_steps(cfg)} steps per iteration{parts.algorithm.describe(cfg)} "
        f"| device {cfg.device} {precision.describe(cfg.optim.precision, parts.device)}"
        f"{distributed.describe(group)}"
    )


def _train(cfg, resume: bool, log, group) -> dict:
    console = make_console()
    log = distributed.rank_log(group, log or console.print)
    run_dir = Path(cfg.run_dir)
    members = cfg.population.size
    prepare_process(cfg)
    start = None if resume else starting_network(cfg, log)
    parts = build(cfg, log=log, group=group)
    state = start_or_resume(cfg, resume, lambda payload, source: restore(payload, cfg, parts,
                                                                         source),
                            lambda: fresh_state(cfg, parts, start), log, group)
    log(_describe(cfg, parts, group))
    if group.main:  # a resume replays the iterations after its checkpoint: drop their records
        metrics_file.start(run_dir, state.counters.iteration)
    aim_run, state = open_tracking(cfg, state, group)
    checkpoint = make_checkpointer(
        cfg, lambda s: checkpoint_payload(cfg, s), log, group,
        also=(lambda s, iteration: export_members(cfg, s, run_dir, iteration))
        if members > 1 else None)
    run = Run(cfg, group, parts, collect_with_restarts(cfg, parts, checkpoint, log),
              evaluator(cfg, run_dir, aim_run, console), checkpoint, aim_run, log, console)
    try:
        state, reason = _loop(run, state)
        checkpoint(state)
        if reason == "signal":
            log(f"interrupted: checkpoint written at iteration {state.counters.iteration}; "
                f"continue with: {distributed.resume_command(group, cfg.run_dir)}")
            return {"interrupted": True, "counters": state.counters.as_dict()}
        summary = {"eval": [], **({"ranking": []} if members > 1 else {})}
        if group.main:
            state, final = final_evaluation(cfg, state, run.evaluate, run_dir, console, log)
            summary.update(final)
        checkpoint(state)
        return {"interrupted": False, "counters": state.counters.as_dict(), **summary,
                "params_digest": distributed.check_in_sync(group, state.params),
                "rank": group.rank, "world": group.world}
    finally:
        parts.collector.shutdown()
        if aim_run is not None:
            from . import tracking

            tracking.close_run(aim_run)


@dataclass(frozen=True)
class Run:
    """What a run holds constant while its state changes: built once by `_train`."""
    cfg: Any
    group: Group
    parts: Parts
    collect: Callable
    """collect(state, opponent=None) -> (state, rollout, games after; session.py)"""
    evaluate: Callable
    """evaluate(state, report=None) -> (state with the results, report; evaluate.py)"""
    checkpoint: Callable
    """checkpoint(state) (session.make_checkpointer)"""
    aim_run: Any
    log: Callable
    console: Any


def _loop(run: Run, state: TrainState) -> tuple[TrainState, str]:
    """Iterate until a stop is agreed by every rank: the state and why it stopped."""
    cfg, group, parts = run.cfg, run.group, run.parts
    context = IterationContext(cfg, parts.policy, parts.update, run.collect, group, run.log)
    by_updates = cfg.total_updates > 0
    total = cfg.total_updates if by_updates else cfg.time_budget_s
    with StopFlag() as stop, progress_bar(cfg.track.progress, total, "it" if by_updates else "s",
                                          distributed.rank_console(group, run.console)
                                          ) as advance:
        while True:
            reason = distributed.agree_stop(group, stop_reason(cfg, state.counters, stop))
            if reason:
                return state, reason
            start, compiled_before = time.perf_counter(), compile_seconds()
            state, step = parts.algorithm.iteration(context, state)
            # Compiling is a one-time cost of the machine, not training: the budget leaves it out.
            compiling = compile_seconds() - compiled_before
            elapsed = time.perf_counter() - start - compiling
            state = _grow_league(cfg, _advance(state, step, elapsed, compiling))
            c = state.counters
            if group.main:
                _record(cfg, step, c)
            if run.aim_run is not None:
                _track(run.aim_run, step, c.iteration, cfg)
            if group.main and cfg.eval.every and c.iteration % cfg.eval.every == 0:
                state, _ = run.evaluate(state, step)
            if c.iteration % cfg.checkpoint_every == 0:
                run.checkpoint(state)
            advance(c.iteration if by_updates else c.train_seconds,
                    status_line(c, step.metrics, step.stats, step.frames / elapsed))


def _advance(state: TrainState, step: IterationReport, elapsed: float, compiling: float
             ) -> TrainState:
    """The counters after an iteration."""
    c = state.counters
    return state.replace(counters=c.replace(
        iteration=c.iteration + 1, frames=c.frames + step.frames,
        games=c.games + sum(step.member_games),
        member_games=tuple(g + n for g, n in zip(c.member_games, step.member_games)),
        train_seconds=c.train_seconds + elapsed,
        compile_seconds=c.compile_seconds + compiling))


def _grow_league(cfg, state: TrainState) -> TrainState:
    if cfg.league.fraction > 0 and state.counters.iteration % cfg.league.snapshot_every == 0:
        pool = (*state.league, state.params.detach().cpu().clone())
        return state.replace(league=pool[-cfg.league.pool_size:])
    return state


def _record(cfg, step: IterationReport, c) -> None:
    """The iteration's records in the run's metrics file (metrics_file.py), one per member."""
    for k in range(cfg.population.size):
        metrics_file.append(cfg.run_dir, {
            "kind": "iteration", "iteration": c.iteration, "member": k,
            "train_seconds": round(c.train_seconds, 2), "frames": c.frames, "games": c.games,
            **namespaced(step.member_metrics[k], step.member_stats[k])})


def _track(aim_run, step: IterationReport, iteration: int, cfg) -> None:
    from . import tracking

    members = cfg.population.size
    peaks = member_learning_rates(cfg)
    for k in range(members):
        metrics = dict(step.member_metrics[k])
        # a constant learning rate is a param (in the run's hparams), not a flat chart; it is
        # charted when a schedule or a rollback moves it
        lr = metrics.get("lr")
        if cfg.optim.lr_schedule == "constant" and lr is not None and abs(lr - peaks[k]) <= (
                1e-6 * peaks[k]):  # the lr went through float32
            metrics.pop("lr")
        tracking.track_metrics(aim_run, namespaced(metrics, step.member_stats[k]), iteration,
                               context={"member": str(k)} if members > 1 else None)
