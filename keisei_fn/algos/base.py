"""What a training algorithm is to the trainer: one value (`Algorithm`) of a few functions, chosen
once by name from the registry (registry.py). The trainer (run/train.py) knows no algorithm by
name; an algorithm knows the generic machinery below it (learn/: Adam, folding, compile, the
group's collectives; collect/: the games), not the trainer.

    algo = registry.get(cfg.algo)
    policy = algo.make_policy(cfg, PolicyInputs(...))             # what plays the games
    update = make_population_update(cfg, algo.population_loss(cfg, autocast), ...)
    state = TrainState(..., extra=algo.new_extra(cfg, device))    # e.g. replay buffers
    state, report = algo.iteration(ctx, state)                    # collect, then learn

A new algorithm: a folder under algos/ with its options (a dataclass: the contract is in
config/sections.py) and one `Algorithm`, registered (registry.register).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from tensordict import TensorDictBase

from ..collect.stats import pooled_stats
from ..learn.group import SINGLE, Group


@dataclass(frozen=True)
class PolicyInputs:
    """What the trainer gives an algorithm to build its acting policy from."""
    params: TensorDictBase
    """the members' initial parameters [K] (the policy's own copy)"""
    net: torch.nn.Module
    """the architecture as a module (population.backend=loop's template)"""
    precision: str
    """the network's arithmetic (models/precision.py)"""
    learner_side: torch.Tensor | None = None
    """league play: per game row, the colour the learner plays (-1: self-play)"""
    log: Callable = print


@dataclass(frozen=True)
class IterationContext:
    """What an iteration reads and does not change: the run's constants."""
    cfg: Any
    policy: Any
    """the acting policy `make_policy` built"""
    update: Callable
    """update(params[K], opt_state[K], batch[K, M], lr[K]) -> (params, opt_state, metrics[K])"""
    collect: Callable
    """collect(state, opponent=None) -> (state, rollout [K*B, T], games after it)"""
    group: Group = SINGLE
    log: Callable = print


@dataclass(frozen=True)
class IterationReport:
    """What one iteration did, for the whole data-parallel group, per member."""
    frames: int
    member_games: list[int]
    member_metrics: list[dict]
    member_stats: list[dict]
    insight_batch: Callable[[], TensorDictBase | None] = lambda: None
    """member 0's training samples, read only at an evaluation (for its distributions)"""

    @property
    def metrics(self) -> dict:
        """The members' mean of each metric (what the progress line shows)."""
        every = self.member_metrics
        return {key: sum(m.get(key, 0.0) for m in every) / len(every) for key in every[0]}

    @property
    def stats(self) -> dict:
        return self.member_stats[0] if len(self.member_stats) == 1 else pooled_stats(
            self.member_stats)


@dataclass(frozen=True)
class WatchedMetric:
    """One line of `keisei-fn watch`'s training panel: a metric of the run's metrics file."""
    label: str
    key: str
    """its name in RUN_DIR/metrics.jsonl (run/session.py's `namespaced`)"""
    fmt: str = ".3f"
    red_above: float | None = None
    """drawn red above this (the policy moves a lot), green at or below; None: plain"""


def _no_extra(cfg, device) -> None:
    return None


def _save_nothing(extra) -> dict:
    return {}


def _restore_nothing(saved, cfg, device, source: str) -> None:
    return None


def _no_description(cfg) -> str:
    return ""


def _no_watched(cfg) -> tuple[WatchedMetric, ...]:
    return ()


@dataclass(frozen=True)
class Algorithm:
    name: str
    """`algo=` in the config; its options are the config section of this name"""
    section: type
    """the options' dataclass (config.register_section)"""
    make_policy: Callable[[Any, PolicyInputs], Any]
    """(cfg, inputs) -> the acting policy: a TorchRL module over the [K*B] env batch"""
    population_loss: Callable[[Any, Callable], Callable]
    """(cfg, autocast) -> loss(params[K], batch[K, M]) -> (summed loss, {name: [K]})"""
    iteration: Callable[[IterationContext, Any], tuple[Any, IterationReport]]
    """(ctx, state) -> (the new state, what it did): collect, then learn"""
    updates_per_iteration: Callable[[Any], int]
    """(cfg) -> the optimizer updates a full iteration makes (the LR schedule's unit)"""
    member_loss: Callable[[Any, torch.nn.Module, Callable], Callable] | None = None
    """(member k's cfg, net, autocast) -> loss(params, batch) -> (loss, metrics): for
    population.backend=loop (None: the algorithm supports folded only)"""
    new_extra: Callable[[Any, torch.device], Any] = _no_extra
    """(cfg, device) -> the algorithm's own state in a fresh run (TrainState.extra)"""
    save_extra: Callable[[Any], dict] = _save_nothing
    """extra -> what the checkpoint keeps of it (per rank: distributed.RANK_KEYS)"""
    restore_extra: Callable[[dict | None, Any, torch.device, str], Any] = _restore_nothing
    """(saved or None, cfg, device, source) -> extra; None: a rank the writer did not have"""
    describe: Callable[[Any], str] = _no_description
    """(cfg) -> what the run's first line adds about it"""
    ranking_keys: tuple[str, ...] = field(default=())
    """options of its section a population's ranking table shows per member"""
    watched: Callable[[Any], tuple[WatchedMetric, ...]] = _no_watched
    """(cfg) -> the metrics `keisei-fn watch` shows in its training panel"""
