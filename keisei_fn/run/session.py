"""What a training run does around its loop: process set-up, start or resume, tracking,
checkpoint writing, collection with worker restarts."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

from .._errors import TrainingStopped
from .._errors import first_line
from .._runtime import tune_allocator
from ..checkpoint import (list_checkpoints, load_latest, read_checkpoint, remove_stale_temporaries,
                          save_checkpoint)

from ..collect.errors import CollectorWorkerDied
from ..collect.policy import bind
from ..config import rollout_steps, to_yaml
from ..config.run_dir import check_new_run_dir
from ..learn.state import TrainState
from . import distributed
from .snapshot import seed_everything


class CheckpointWriteError(TrainingStopped):
    """A checkpoint could not be written and the config says to stop."""


def prepare_process(cfg) -> None:
    """Threads, allocator and seeds: what every training run sets first."""
    if cfg.device == "cpu":
        torch.set_num_threads(cfg.threads)
        tune_allocator()
    seed_everything(cfg.seed)


def start_or_resume(cfg, resume: bool, restore_fn, fresh_fn, log,
                    group=distributed.SINGLE) -> TrainState:
    """The train state: restored from RUN_DIR's newest good checkpoint (`restore_fn(payload,
    source)`),
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
        state = restore_fn(distributed.rank_payload(group, payload, log=log), str(path))
        log(f"resumed from {path} (iteration {state.counters.iteration})")
    else:
        if group.main:
            check_new_run_dir(run_dir)
        state = fresh_fn()
    for tensors in (state.params, state.opt_state, *state.league):
        distributed.broadcast_tensors(group, tensors)
    if group.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(to_yaml(cfg))
    return state


def open_tracking(cfg, state: TrainState, group=distributed.SINGLE):
    """(Aim run or None, the state with the run's hash). Only rank 0 of a data-parallel group
    tracks."""
    if not cfg.track.aim or not group.main:
        return None, state
    from . import tracking  # Aim is heavy to import; only when used

    repo = cfg.track.aim_repo or str(Path(cfg.run_dir) / "aim")
    aim_run = tracking.open_run(repo, cfg.track.experiment,
                                OmegaConf.to_container(cfg, resolve=True), state.aim_hash)
    if state.aim_hash is None:  # a readable name and tags in Aim's Runs explorer, not a hash
        tracking.describe_run(aim_run, str(cfg.run_dir),
                              [cfg.algo, f"{cfg.model.arch} {cfg.model.blocks}x"
                                         f"{cfg.model.channels}"]
                              + ([f"population {cfg.population.size}"]
                                 if cfg.population.size > 1 else []))
    return aim_run, state.replace(aim_hash=aim_run.hash)


def make_checkpointer(cfg, payload_fn, log, group=distributed.SINGLE, also=None):
    """`checkpoint(state)`: `payload_fn(state)` saved in RUN_DIR (then `also(state, iteration)`,
    e.g. member exports), with disk errors handled per `on_checkpoint_error`. In a data-parallel
    group every rank calls it: the ranks check they are in sync, and rank 0 writes every rank's
    games."""
    run_dir = Path(cfg.run_dir)

    def write(state: TrainState, iteration: int) -> None:
        distributed.check_in_sync(group, state.params)
        payload = distributed.group_payload(group, payload_fn(state))
        if payload is not None:
            save_checkpoint(payload, run_dir, iteration, keep=cfg.keep_checkpoints)
            if also is not None:
                also(state, iteration)

    def checkpoint(state: TrainState) -> None:
        iteration = state.counters.iteration
        try:
            write(state, iteration)
        except OSError as err:  # disk full, read-only or vanished directory, quota, ...
            previous = list_checkpoints(run_dir)
            kept = f"{previous[-1].name} is intact" if previous else "no earlier checkpoint"
            message = (f"checkpoint at iteration {iteration} failed in {run_dir}: "
                       f"{err.strerror or err} ({kept})")
            if cfg.on_checkpoint_error == "stop":
                raise CheckpointWriteError(message) from None
            log(f"warning: {message}; training continues (on_checkpoint_error=continue)")

    return checkpoint


class RestartingCollection:
    """`collect(state, opponent=None) -> (state, rollout, after)`: the next stored rollout as
    [B, T] rows (the backend's `next_rollout`), played by the state's parameters (and samplers,
    and a league opponent's parameters), which are bound to the policy and pushed to the workers
    (process and ray backends) first; the state comes back with its games moved on.

    A dead collector worker means new workers (`collector.on_worker_death=restart`, up to
    `max_restarts`) or a checkpoint and CollectorWorkerDied (`stop`). The one mutable holder of
    the run's loop: `restarts` counts the restarts, and `parts.collector` is replaced by the
    new backend."""

    def __init__(self, cfg, parts, checkpoint, log):
        self.cfg, self.parts, self.checkpoint, self.log = cfg, parts, checkpoint, log
        self.restarts = 0

    def __call__(self, state: TrainState, opponent=None):
        cfg, parts = self.cfg, self.parts
        while True:
            collector = parts.collector
            try:
                bind(parts.policy, state.params,
                     list(state.policy) if collector.in_process else None, opponent)
                collector.sync_weights(parts.policy)
                games, rollout, after = collector.next_rollout(parts.policy, state.games,
                                                               rollout_steps(cfg))
                return state.replace(games=games), rollout, after
            except Exception as err:
                if not collector.dead_workers():
                    raise
                what = first_line(err, 200).removeprefix("collector worker(s) died: ")
                if (cfg.collector.on_worker_death == "restart"
                        and self.restarts < cfg.collector.max_restarts):
                    self.restarts += 1
                    self.log(f"warning: collector worker(s) died ({what}); starting new workers "
                             f"({self.restarts} of {cfg.collector.max_restarts} restarts; their "
                             f"games in progress are lost, training state is not)")
                    parts.collector = collector.restart(cfg, parts.policy, parts.device,
                                                        self.restarts)
                    continue
                self.checkpoint(state)  # the last completed iteration's state is intact
                raise CollectorWorkerDied(
                    f"collector worker(s) died ({what}); checkpoint written at iteration "
                    f"{state.counters.iteration}; continue with: keisei-fn train --resume "
                    f"{cfg.run_dir}") from None


def collect_with_restarts(cfg, parts, checkpoint, log) -> RestartingCollection:
    return RestartingCollection(cfg, parts, checkpoint, log)


def namespaced(metrics: dict, stats: dict) -> dict:
    names = {"loss_objective": "losses/policy", "loss_critic": "losses/value",
             "loss_entropy": "losses/entropy_bonus", "entropy": "losses/entropy",
             "kl_approx": "losses/approx_kl", "clip_fraction": "losses/clip_fraction",
             "explained_variance": "losses/explained_variance", "grad_norm": "losses/grad_norm",
             "lr": "charts/learning_rate", "collect_steps_per_s": "charts/collect_steps_per_s",
             "update_samples_per_s": "charts/update_samples_per_s",
             "simulations_per_s": "charts/simulations_per_s",
             "epochs": "charts/epochs"}  # epochs run (ppo.target_kl may stop them early)
    out = {names.get(k, f"losses/{k}"): v for k, v in metrics.items()}
    # gumbel_az's search/ and replay/ statistics keep their own namespace
    out.update({(k if "/" in k else f"games/{k}"): v for k, v in stats.items()})
    return out
