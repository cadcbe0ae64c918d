"""Gumbel AlphaZero as the trainer sees it: searched self-play, finished games into the replay
buffers, then a fixed number of updates sampled from them.

    state, rollout, _ = ctx.collect(state)               # every move by Gumbel search
    finished = collect_finished(extra.pending, rollout)  # positions of games that ended
    extra.replay[k].extend(member k's finished positions)
    if every rank's buffers hold gumbel_az.min_buffer:   # agreed, so the all-reduces pair
        state, metrics = apply_updates(state, replay minibatches x updates_per_iteration(cfg))

Its own state (`TrainState.extra`, an `AZState`) is the replay buffers, the pending positions and
the members' sampling generators. The buffers and `pending` are mutable holders that collection
changes in place (`ReplayBuffer.extend`, writes into `pending`; docs/architecture.md); learning
only reads them and draws from copies of the generators that the new state carries, so `learn`
twice from one state gives one result (tests/test_gumbel_az.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch
from tensordict import TensorDict

from ...checkpoint import CheckpointError
from ...collect.stats import game_stats
from ...learn.group import all_gather, mean_metrics, merge_game_stats
from ...learn.population import apply_updates, fork_generator, member_config, member_seeds
from ...learn.state import TrainState
from ...models import members_forward, net_spec, precision
from ..base import Algorithm, IterationContext, IterationReport, PolicyInputs, WatchedMetric
from .loss import az_loss
from ...config.sections import GumbelAZConfig
from .replay import (STORED_KEYS, calibration, collect_finished, full_searches, new_buffer,
                     new_pending, sample_minibatch)
from .search_policy import SearchPolicy


@dataclass(frozen=True)
class AZState:
    replay: tuple
    """member k's replay buffer (TorchRL ReplayBuffer, with its sampling generator)"""
    pending: TensorDict
    """the positions of the games in progress [K*B, max_plies], waiting for their outcome"""
    samplers: tuple[torch.Generator, ...]
    """member k's minibatch sampler"""


def updates_per_iteration(cfg) -> int:
    """Every position stored is sampled `replay_ratio` times on average (the same count on every
    rank, so their all-reduces pair): the expected count, as only full searches are stored."""
    az = cfg.gumbel_az
    played = cfg.env.batch_size * az.rollout_steps * az.full_search_prob
    return max(1, round(az.replay_ratio * played / az.minibatch_size))


def make_policy(cfg, inputs: PolicyInputs) -> SearchPolicy:
    return SearchPolicy(inputs.params, None, cfg.gumbel_az, cfg.env.impasse, net_spec(cfg.model),
                        inputs.precision, [member_config(cfg, k).gumbel_az.simulations
                                           for k in range(cfg.population.size)])


def population_loss(cfg, autocast):
    spec = net_spec(cfg.model)
    value_coef = cfg.gumbel_az.value_coef

    def loss(params: TensorDict, batch):
        with autocast():
            logits, value = members_forward(params, batch.get("observation"), spec)
        totals, metrics = az_loss(precision.upcast(logits), precision.upcast(value), batch,
                                  value_coef)
        return totals.sum(), metrics

    return loss


def new_extra(cfg, device) -> AZState:
    """Empty replay buffers, pending games, and member k's sampler seeded seed_k + 3."""
    return AZState(tuple(new_buffer(cfg.gumbel_az) for _ in range(cfg.population.size)),
                   new_pending(cfg.population.size * cfg.env.batch_size, cfg.env.max_plies,
                               device),
                   tuple(torch.Generator().manual_seed(s + 3) for s in member_seeds(cfg)))


def save_extra(extra: AZState) -> dict:
    """The buffers (contents, cursor and sampling stream) and pending positions."""
    return {"buffers": [b.state_dict() for b in extra.replay],
            "pending": extra.pending.cpu().to_dict(),
            "samplers": [g.get_state() for g in extra.samplers]}


def restore_extra(saved: dict | None, cfg, device, source: str) -> AZState:
    """As saved; empty ones for a checkpoint without them (a rank the writing group did not
    have). A checkpoint from before the samplers were the state's continues the buffers' own
    streams."""
    fresh = new_extra(cfg, device)
    if not saved:
        return fresh
    if len(saved["buffers"]) != len(fresh.replay):
        raise CheckpointError(f"{source}: holds {len(saved['buffers'])} replay buffers, the "
                              f"config trains {len(fresh.replay)} members")
    for buffer, state in zip(fresh.replay, saved["buffers"]):
        buffer.load_state_dict(state)
    shape = fresh.pending.batch_size
    rows = saved["pending"]["root_value"].shape
    if rows != shape:
        raise CheckpointError(f"{source}: holds pending positions of {rows[0]} games x "
                              f"{rows[1]} plies, the config plays {shape[0]} x {shape[1]}")
    # before the samplers were the state's, each buffer drew with its own generator (saved in
    # its "_rng"), exactly as sample_minibatch draws: continuing that stream resumes bit for bit
    streams = saved.get("samplers") or [b["_rng"][0] for b in saved["buffers"]
                                        if b.get("_rng") is not None]
    for generator, state in zip(fresh.samplers, streams, strict=False):
        generator.set_state(state)
    pending = TensorDict(saved["pending"], batch_size=shape).to(device)
    if "full_search" not in pending.keys():  # saved before playout cap randomization
        pending.set("full_search", torch.ones(shape, dtype=torch.bool, device=device))
    return AZState(fresh.replay, pending, fresh.samplers)


def learn(state: TrainState, update, cfg, log=print) -> tuple[TrainState, list[dict]]:
    """`updates_per_iteration(cfg)` updates on minibatches drawn from the members' buffers: the
    new state (its samplers advanced in copies) and per-member metrics."""
    extra: AZState = state.extra
    samplers = tuple(fork_generator(g) for g in extra.samplers)
    updates = updates_per_iteration(cfg)
    minibatches = (sample_minibatch(extra.replay, samplers, cfg.gumbel_az.minibatch_size,
                                    cfg.env.max_plies, attacks=cfg.model.attack_planes)
                   for _ in range(updates))
    state, metrics = apply_updates(state, minibatches, update, cfg, updates, log)
    return state.replace(extra=replace(extra, samplers=samplers)), metrics


def _member_rows(td, k: int, rows: int):
    return td[k * rows:(k + 1) * rows]


def iteration(ctx: IterationContext, state: TrainState) -> tuple[TrainState, IterationReport]:
    cfg, group, policy = ctx.cfg, ctx.group, ctx.policy
    members, rows, az = cfg.population.size, cfg.env.batch_size, cfg.gumbel_az
    extra: AZState = state.extra
    t0 = time.perf_counter()
    sims0, search0 = policy.simulations_done, policy.search_seconds
    state, rollout, _ = ctx.collect(state)
    rollout.set(("next", "game_result"), rollout.get(("next", "reward")).clone())
    stats = []
    for k in range(members):
        _, finished = collect_finished(_member_rows(extra.pending, k, rows),
                                       _member_rows(rollout, k, rows), az)
        stats.append(game_stats(_member_rows(rollout, k, rows)))
        full = full_searches(finished) if finished is not None else None
        if full is not None and full.batch_size[0]:  # all of them fast: nothing to store
            extra.replay[k].extend(full.select(*STORED_KEYS))
            # the values of full searches only, as those are what the targets learn from
            stats[k].update({f"search/{n}": v for n, v in calibration(full).items()})
        stats[k]["replay/positions"] = float(len(extra.replay[k]))
    stats = merge_game_stats(group, stats)
    seconds = policy.search_seconds - search0
    sims = (policy.simulations_done - sims0) * group.world
    t1 = time.perf_counter()
    emptiest = min(len(b) for b in extra.replay)
    ready = min(all_gather(group, emptiest)) >= az.min_buffer
    metrics = [{} for _ in range(members)]
    updates = updates_per_iteration(cfg)
    if ready:
        state, metrics = learn(state, ctx.update, cfg, ctx.log)
        metrics = mean_metrics(group, metrics)
    t2 = time.perf_counter()
    frames = rollout.numel() * group.world
    for m in metrics:
        m["collect_steps_per_s"] = frames / (t1 - t0)
        m["simulations_per_s"] = sims / max(seconds, 1e-9)
        if ready:
            m["update_samples_per_s"] = updates * az.minibatch_size * group.world / (t2 - t1)
    # read only at an evaluation: member 0's oldest stored positions (read, not sampled, so
    # that the sampler's stream stays the training's)
    first = extra.replay[0]
    return state, IterationReport(frames, [int(s["games"]) for s in stats], metrics, stats,
                                  insight_batch=lambda: first[:2048] if len(first) else None)


def describe(cfg) -> str:
    az = cfg.gumbel_az
    sims = ("/".join(map(str, cfg.population.simulations)) if cfg.population.simulations
            else az.simulations)
    caps = (f"; {az.full_search_prob:.0%} of moves, else {az.fast_simulations}"
            if az.full_search_prob < 1 else "")
    return (f", each searched ({sims} simulations{caps}, {az.max_considered} considered) "
            f"| gumbel_az: {az.replay_ratio:g} x replay of {az.buffer_size:,}")


def watched(cfg) -> tuple[WatchedMetric, ...]:
    """`keisei-fn watch`'s panel: the losses and how far search moved the policy."""
    return (WatchedMetric("policy loss", "losses/policy_loss", ".3f"),
            WatchedMetric("value loss", "losses/value_loss", ".3f"),
            WatchedMetric("KL improved‖prior", "losses/kl_improved_prior", ".3f"),
            WatchedMetric("entropy", "losses/entropy", ".2f"))


GUMBEL_AZ = Algorithm(name="gumbel_az", section=GumbelAZConfig, make_policy=make_policy,
                      population_loss=population_loss, iteration=iteration,
                      updates_per_iteration=updates_per_iteration, new_extra=new_extra,
                      save_extra=save_extra, restore_extra=restore_extra, describe=describe,
                      ranking_keys=("simulations",), watched=watched)
