"""What every training run does around its loop: process set-up, start or resume, tracking,
checkpoint writing, collection with worker restarts, evaluation and its ratings."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

from .._errors import first_line
from .._runtime import tune_allocator
from ..checkpoint import (list_checkpoints, load_latest, read_checkpoint, remove_stale_temporaries,
                          save_checkpoint)
from ..collect.collectors import as_rows, dead_workers, restart_collector, sync_weights
from ..collect.errors import CollectorWorkerDied
from ..config import to_yaml
from ..ratings.elo import fit, format_ratings
from . import distributed
from .evaluate import format_match, match_progress, play_match
from .single import seed_everything


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written and the config says to stop."""


def evaluate_all(cfg, net, iteration: int, console) -> list[dict]:
    results = []
    for i, opponent in enumerate(cfg.eval.opponents):
        r = play_match(net, opponent, cfg.eval.games, max_plies=cfg.eval.max_plies,
                       impasse=cfg.eval.impasse, seed=cfg.seed * 1000 + i,
                       greedy=cfg.eval.greedy_policy,
                       device=cfg.device, progress=match_progress(
                           console.print, f"eval @ it {iteration} vs {opponent}", cfg.eval.games))
        r["iteration"] = iteration
        results.append(r)
        console.print(f"eval @ it {iteration}: {format_match(r)}")
    return results


def ratings_over_training(evals: list[dict]):
    """Bradley-Terry Elo of every evaluated snapshot ("it N") and the fixed opponents, from all
    evaluation games so far, anchored at random = 0 (see keisei_fn/arena/elo.py)."""
    results = []
    for r in evals:
        me = f"it {r['iteration']}"
        results += [(me, r["opponent"], 1.0)] * r["wins"] + [(me, r["opponent"], 0.5)] * r["draws"]
        results += [(me, r["opponent"], 0.0)] * r["losses"]
    return fit(results) if results else None


def record_evaluation(cfg, net, carry, run_dir: Path, aim_run, console) -> list[dict]:
    """Evaluate, keep the results in the carry, refit the ratings, write and log them."""
    import json

    iteration = carry["counters"]["iteration"]
    results = evaluate_all(cfg, net, iteration, console)
    carry["evals"].extend(results)
    ratings = ratings_over_training(carry["evals"])
    table = [{"player": n, "elo": e, "low": lo, "high": hi}
             for n, e, lo, hi in zip(ratings.names, ratings.elo, ratings.low, ratings.high)]
    (run_dir / "ratings.json").write_text(json.dumps(
        {"anchor": ratings.anchor, "regularized": ratings.regularized, "ratings": table},
        indent=1))
    elo, low, high = ratings.of(f"it {iteration}")
    console.print(f"eval @ it {iteration}: Elo {elo:+.0f} [{low:+.0f}, {high:+.0f}] "
                  f"(random = 0{', regularised' if ratings.regularized else ''})")
    if aim_run is not None:
        from . import tracking

        for r in results:
            tracking.track_metrics(aim_run, _eval_metrics(r), iteration)
        tracking.track_metrics(aim_run, {"eval/elo": elo, "eval/elo_low": low,
                                         "eval/elo_high": high}, iteration)
        tracking.track_text(aim_run, "eval/ratings", format_ratings(ratings), iteration)
    return results


def prepare_process(cfg) -> None:
    """Threads, allocator and seeds: what every training run sets first."""
    if cfg.device == "cpu":
        torch.set_num_threads(cfg.threads)
        tune_allocator()
    seed_everything(cfg.seed)


def start_or_resume(cfg, resume: bool, restore_fn, fresh_fn, log,
                    group=distributed.SINGLE) -> dict:
    """The carry: restored from RUN_DIR's newest good checkpoint (`restore_fn(payload, source)`),
    or fresh (`fresh_fn()`) in a run directory that holds no run yet; the config is saved.

    In a data-parallel group, rank 0 picks the checkpoint and every rank restores its own games
    and streams from it; the parameters and optimizer state are then rank 0's on every rank.
    """
    run_dir = Path(cfg.run_dir)
    if resume:
        path, payload = None, None
        if group.main:
            remove_stale_temporaries(run_dir)
            path, payload = load_latest(run_dir, log=log)
        path = distributed.from_main(group, None if path is None else str(path))
        if payload is None:
            payload = read_checkpoint(path)
        carry = restore_fn(distributed.rank_payload(group, payload, log=log), str(path))
        log(f"resumed from {path} (iteration {carry['counters']['iteration']})")
    else:
        if group.main and any(run_dir.glob("ckpt_*.pt")):
            raise ValueError(f"{run_dir} already holds a run; use --resume {run_dir} or another "
                             f"run_dir=...")
        carry = fresh_fn()
    for state in (carry["params"], carry["opt_state"], *carry.get("league_pool", ())):
        distributed.broadcast_tensors(group, state)
    if group.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(to_yaml(cfg))
    return carry


def open_tracking(cfg, carry: dict, group=distributed.SINGLE):
    """(Aim run or None, the tracking module or None); the run's hash goes into the carry.
    Only rank 0 of a data-parallel group tracks."""
    if not cfg.track.aim or not group.main:
        return None, None
    from . import tracking  # Aim is heavy to import; only when used

    repo = cfg.track.aim_repo or str(Path(cfg.run_dir) / "aim")
    aim_run = tracking.open_run(repo, cfg.track.experiment,
                                OmegaConf.to_container(cfg, resolve=True), carry["aim_hash"])
    carry["aim_hash"] = aim_run.hash
    return aim_run, tracking


def make_checkpointer(cfg, carry: dict, payload_fn, log, group=distributed.SINGLE,
                      also=None):
    """`checkpoint()`: `payload_fn()` saved in RUN_DIR (then `also(iteration)`, e.g. member
    exports), with disk errors handled per `on_checkpoint_error`. In a data-parallel group every
    rank calls it: the ranks check they are in sync, and rank 0 writes every rank's games."""
    run_dir = Path(cfg.run_dir)

    def write(iteration: int) -> None:
        distributed.check_in_sync(group, carry["params"])
        payload = distributed.group_payload(group, payload_fn())
        if payload is not None:
            save_checkpoint(payload, run_dir, iteration, keep=cfg.keep_checkpoints)
            if also is not None:
                also(iteration)

    def checkpoint():
        iteration = carry["counters"]["iteration"]
        try:
            write(iteration)
        except OSError as err:  # disk full, read-only or vanished directory, quota, ...
            previous = list_checkpoints(run_dir)
            kept = f"{previous[-1].name} is intact" if previous else "no earlier checkpoint"
            message = (f"checkpoint at iteration {iteration} failed in {run_dir}: "
                       f"{err.strerror or err} ({kept})")
            if cfg.on_checkpoint_error == "stop":
                raise CheckpointWriteError(message) from None
            log(f"warning: {message}; training continues (on_checkpoint_error=continue)")

    return checkpoint


def collect_with_restarts(cfg, parts: dict, checkpoint, counters: dict, log):
    """`collect()`: the next rollout as [B, T] rows, weights pushed first (process backend).

    A dead collector worker means new workers (`collector.on_worker_death=restart`, up to
    `max_restarts`) or a checkpoint and CollectorWorkerDied (`stop`)."""
    state = {"iterator": iter(parts["collector"]), "restarts": 0}

    def collect():
        while True:
            collector = parts["collector"]
            try:
                sync_weights(collector, parts["policy"])
                return as_rows(next(state["iterator"]))
            except Exception as err:
                dead = dead_workers(collector)
                if not dead:
                    raise
                what = first_line(err, 200).removeprefix("collector worker(s) died: ")
                if (cfg.collector.on_worker_death == "restart"
                        and state["restarts"] < cfg.collector.max_restarts):
                    state["restarts"] += 1
                    log(f"warning: collector worker(s) died ({what}); starting new workers "
                        f"({state['restarts']} of {cfg.collector.max_restarts} restarts; their "
                        f"games in progress are lost, training state is not)")
                    state["iterator"] = iter(restart_collector(collector, cfg, parts,
                                                               state["restarts"]))
                    continue
                checkpoint()  # the last completed iteration's state is intact
                raise CollectorWorkerDied(
                    f"collector worker(s) died ({what}); checkpoint written at iteration "
                    f"{counters['iteration']}; continue with: keisei-fn train --resume "
                    f"{cfg.run_dir}") from None

    return collect


def namespaced(metrics: dict, stats: dict) -> dict:
    names = {"loss_objective": "losses/policy", "loss_critic": "losses/value",
             "loss_entropy": "losses/entropy_bonus", "entropy": "losses/entropy",
             "kl_approx": "losses/approx_kl", "clip_fraction": "losses/clip_fraction",
             "explained_variance": "losses/explained_variance", "grad_norm": "losses/grad_norm",
             "lr": "charts/learning_rate", "collect_steps_per_s": "charts/collect_steps_per_s",
             "update_samples_per_s": "charts/update_samples_per_s"}
    out = {names.get(k, f"losses/{k}"): v for k, v in metrics.items()}
    out.update({f"games/{k}": v for k, v in stats.items()})
    return out


def _eval_metrics(r: dict) -> dict:
    return {f"eval_{r['opponent']}/{k}": r[k] for k in ("win_rate", "score", "wins", "draws",
                                                        "losses", "mean_length")}
