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

import json
import time
from pathlib import Path


from ..algos.base import IterationContext, IterationReport
from ..checkpoint import list_checkpoints
from ..collect.collectors import shutdown
from ..config import from_yaml, load_config, rollout_steps
from ..learn.compile import compile_seconds
from ..agent import member_agent
from ..learn.population import member_learning_rates
from ..learn.state import TrainState
from ..models import param_count
from ..ratings.elo import format_ratings
from . import distributed
from .driver import StopFlag, stop_reason
from .evaluate import (evaluate_members, ladder_placement, print_ranking, ranking,
                       ratings_over_training, round_robin)
from .parts import Parts, build
from .progress import make_console, progress_bar, status_line
from .session import (collect_with_restarts, make_checkpointer, namespaced, open_tracking,
                      prepare_process, start_or_resume)
from .snapshot import (checkpoint_payload, export_members, fresh_state, restore,
                       starting_network)


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
    return (f"run dir {cfg.run_dir}{who} | model {cfg.model.arch} {cfg.model.blocks}x"
            f"{cfg.model.channels} ({param_count(parts.net):,} params{each}) | {games} games x "
            f"{rollout_steps(cfg)} steps per iteration{parts.algorithm.describe(cfg)} | device {cfg.device}"
            f"{distributed.describe(group)}")


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
    aim_run, state = open_tracking(cfg, state, group)
    checkpoint = make_checkpointer(
        cfg, lambda s: checkpoint_payload(cfg, s), log, group,
        also=(lambda s, iteration: export_members(cfg, s, run_dir, iteration))
        if members > 1 else None)
    collect = collect_with_restarts(cfg, parts, checkpoint, log)
    evaluate = _evaluator(cfg, parts, run_dir, aim_run, console)
    try:
        state, reason = _loop(cfg, group, state, parts, collect, evaluate, aim_run, checkpoint,
                              log, console)
        checkpoint(state)
        if reason == "signal":
            log(f"interrupted: checkpoint written at iteration {state.counters['iteration']}; "
                f"continue with: {distributed.resume_command(group, cfg.run_dir)}")
            return {"interrupted": True, "counters": dict(state.counters)}
        summary = {"eval": [], **({"ranking": []} if members > 1 else {})}
        if group.main:
            state, final = _final_evaluation(cfg, state, evaluate, run_dir, console, log)
            summary.update(final)
        checkpoint(state)
        return {"interrupted": False, "counters": dict(state.counters), **summary,
                "params_digest": distributed.check_in_sync(group, state.params),
                "rank": group.rank, "world": group.world}
    finally:
        shutdown(parts.collector)
        if aim_run is not None:
            from . import tracking

            tracking.close_run(aim_run)


def _loop(cfg, group, state: TrainState, parts: Parts, collect, evaluate, aim_run, checkpoint,
          log, console) -> tuple[TrainState, str]:
    """Iterate until a stop is agreed by every rank: the state and why it stopped."""
    by_updates = cfg.total_updates > 0
    total = cfg.total_updates if by_updates else cfg.time_budget_s
    with StopFlag() as stop, progress_bar(cfg.track.progress, total, "it" if by_updates else "s",
                                          distributed.rank_console(group, console)) as advance:
        while True:
            reason = distributed.agree_stop(group, stop_reason(cfg, state.counters, stop))
            if reason:
                return state, reason
            start, compiled_before = time.perf_counter(), compile_seconds()
            state, step = parts.algorithm.iteration(
                IterationContext(cfg, parts.policy, parts.update, collect, group, log), state)
            # Compiling is a one-time cost of the machine, not training: the budget leaves it out.
            compiling = compile_seconds() - compiled_before
            elapsed = time.perf_counter() - start - compiling
            state = _grow_league(cfg, _advance(state, step, elapsed, compiling))
            c = state.counters
            if aim_run is not None:
                _track(aim_run, step, c["iteration"], cfg)
            if group.main and cfg.eval.every and c["iteration"] % cfg.eval.every == 0:
                state, _ = evaluate(state, step)
            if c["iteration"] % cfg.checkpoint_every == 0:
                checkpoint(state)
            advance(c["iteration"] if by_updates else c["train_seconds"],
                    status_line(c, step.metrics, step.stats, step.frames / elapsed))


def _advance(state: TrainState, step: IterationReport, elapsed: float, compiling: float
             ) -> TrainState:
    """The counters after an iteration."""
    c = dict(state.counters)
    c["iteration"] += 1
    c["frames"] += step.frames
    c["games"] += sum(step.member_games)
    c["member_games"] = [g + n for g, n in zip(c["member_games"], step.member_games)]
    c["train_seconds"] += elapsed
    c["compile_seconds"] = c.get("compile_seconds", 0.0) + compiling
    return state.replace(counters=c)


def _grow_league(cfg, state: TrainState) -> TrainState:
    if cfg.league.fraction > 0 and state.counters["iteration"] % cfg.league.snapshot_every == 0:
        pool = (*state.league, state.params.detach().cpu().clone())
        return state.replace(league=pool[-cfg.league.pool_size:])
    return state


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


def _evaluator(cfg, parts: Parts, run_dir: Path, aim_run, console):
    """`evaluate(state) -> (state with the results, report)`: every member against the fixed
    opponents; one agent's Elo over training (ratings.json), or the members' ranking with their
    round robin (ranking.json)."""
    from ..arena.openings import load_suite

    members = cfg.population.size
    openings = load_suite(cfg.eval.openings)  # a bad suite fails now, not after training
    if openings is not None and max(map(len, openings)) >= cfg.eval.max_plies:
        raise ValueError(f"eval.max_plies={cfg.eval.max_plies} leaves no room after the "
                         f"{cfg.eval.openings} suite's openings (up to {max(map(len, openings))}"
                         f" plies): raise it, or set eval.openings=none")

    def evaluate(state: TrainState, step: dict | None = None):
        """`step`: the iteration just done (an evaluation during training: eval.every_games
        games, and distributions drawn from its batch); None: the final evaluation."""
        iteration = state.counters["iteration"]

        def agent_of(k: int):
            return member_agent(cfg, state.params, k)

        samples = [] if aim_run is not None and members == 1 else None
        results = evaluate_members(cfg, state.params, agent_of, iteration, console, openings,
                                   samples=samples,
                                   games=cfg.eval.every_games if step is not None else None)
        if samples is not None:
            _track_insight(cfg, aim_run, agent_of(0), samples, step, iteration, console.print)
        for r in results:  # where on the training clock (Elo against time: docs/training.md)
            r["train_seconds"] = round(state.counters["train_seconds"], 1)
            r["frames"] = state.counters["frames"]
        state = state.replace(evals=(*state.evals, *results))
        if members == 1:
            report = _single_ratings(state, run_dir, aim_run, console, results, iteration)
        else:
            rows = ranking(cfg, results, round_robin(cfg, agent_of, members))
            (run_dir / "ranking.json").write_text(json.dumps(rows, indent=1))
            report = rows
            if aim_run is not None:
                _track_ranking(aim_run, results, rows, iteration)
        return state, report

    return evaluate


def _track_insight(cfg, aim_run, agent, samples, step, iteration, log) -> None:
    from . import insight

    if samples:
        insight.track_sample_game(aim_run, agent, samples[0], iteration, log)
    batch = step.insight_batch() if step is not None else None
    if batch is not None:
        insight.track_distributions(aim_run, agent, batch, cfg.env.max_plies, iteration)


def _single_ratings(state, run_dir, aim_run, console, results, iteration):
    ratings = ratings_over_training(state.evals)
    table = [{"player": n, "elo": e, "low": lo, "high": hi}
             for n, e, lo, hi in zip(ratings.names, ratings.elo, ratings.low, ratings.high)]
    (run_dir / "ratings.json").write_text(json.dumps(
        {"anchor": ratings.anchor, "regularized": ratings.regularized, "ratings": table},
        indent=1))
    elo, low, high = ratings.of(f"it {iteration}")
    console.print(f"eval @ it {iteration}: Elo {elo:+.0f} [{low:+.0f}, {high:+.0f}] "
                  f"(this run's snapshots and opponents, random = 0"
                  f"{', regularised' if ratings.regularized else ''})")
    ladder = ladder_placement(results)
    if ladder is not None:
        for r in results:
            r["ladder_elo"], r["ladder_low"], r["ladder_high"] = ladder[:3]
        console.print(f"eval @ it {iteration}: ladder Elo {ladder[0]:+.0f} [{ladder[1]:+.0f}, "
                      f"{ladder[2]:+.0f}] (the fixed scale of `keisei-fn ladder`, random = 0"
                      f"{', regularised' if ladder[3] else ''})")
    if aim_run is not None:
        from . import tracking

        for r in results:
            tracking.track_metrics(aim_run, _eval_metrics(r), iteration)
        tracking.track_metrics(aim_run, {"eval/elo": elo, "eval/elo_low": low,
                                         "eval/elo_high": high}, iteration)
        if ladder is not None:
            tracking.track_metrics(aim_run, {"eval/ladder_elo": ladder[0],
                                             "eval/ladder_elo_low": ladder[1],
                                             "eval/ladder_elo_high": ladder[2]}, iteration)
        tracking.track_text(aim_run, "eval/ratings", format_ratings(ratings), iteration)
    return ratings


def _track_ranking(aim_run, results, rows, iteration) -> None:
    from . import tracking

    for r in results:
        tracking.track_metrics(aim_run, _eval_metrics(r), r["iteration"],
                               context={"member": str(r["member"])})
    for row in rows:
        tracking.track_metrics(aim_run, {"eval/elo": row["elo"]}, iteration,
                               context={"member": str(row["member"])})


def _eval_metrics(r: dict) -> dict:
    metrics = {f"eval_{r['opponent']}/{k}": r[k] for k in ("win_rate", "score", "wins", "draws",
                                                           "losses", "mean_length")}
    # the value's quality over all of the evaluation's games (insight/value_quality.py), by phase
    for phase, stats in r.get("value_quality_all", {}).items():
        for k in ("corr", "brier", "mean_abs"):
            metrics[f"value_quality/{phase}/{k}"] = stats[k]
    return metrics


def _final_evaluation(cfg, state: TrainState, evaluate, run_dir: Path, console, log):
    """The evaluation at the end of a run (unless the last iteration just had one): the state and
    the summary's entries."""
    iteration = state.counters["iteration"]
    done_now = [r for r in state.evals if r["iteration"] == iteration]
    if cfg.population.size == 1:
        if not done_now:
            state, _ = evaluate(state)
            done_now = [r for r in state.evals if r["iteration"] == iteration]
        return state, {"eval": done_now}
    if done_now:
        rows = json.loads((run_dir / "ranking.json").read_text())
    else:
        state, rows = evaluate(state)
        done_now = [r for r in state.evals if r["iteration"] == iteration]
    print_ranking(rows, list(cfg.eval.opponents), console)
    log(f"members exported to {run_dir / 'members'} (load one with keisei-fn eval/usi/play)")
    return state, {"eval": done_now, "ranking": rows}
