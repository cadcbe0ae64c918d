"""What a run is made of, built once from the config: the algorithm, its acting policy, the
collector and the compiled update. A single agent is a population of one; the data-parallel group
and the collector backend are parts, not separate trainers."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..algos import registry
from ..algos.base import Algorithm, PolicyInputs
from ..collect.collectors import DirectBackend, WorkerBackend, make_collector
from ..learn.compile import compile_mode, compile_update
from ..learn.population import init_members
from ..models import build_model, precision
from .distributed import SINGLE, gradient_mean


@dataclass
class Parts:
    algorithm: Algorithm
    """cfg.algo's (algos/registry.py)"""
    device: torch.device
    net: torch.nn.Module
    """the architecture as a module: initialiser, the loop backend's template, evaluation player"""
    initial_params: object
    """the members' initial parameters [K] (a fresh run's)"""
    policy: object
    """the algorithm's acting policy (a TorchRL module over the [K*B] env batch)"""
    collector: DirectBackend | WorkerBackend
    """the collector backend (collect/collectors.py); replaced when its workers are restarted
    (session.collect_with_restarts)"""
    update: object
    """update(params[K], opt_state[K], batch[K, M], lr[K]) -> (params, opt_state, metrics[K])"""
    learner_side: torch.Tensor | None
    """league play: per game row, the colour the learner plays (-1: self-play)"""


def build(cfg, log=print, group=SINGLE) -> Parts:
    """Everything the loop needs, built from the config (no state yet); `group` is the
    data-parallel group whose gradients the update averages (distributed.py)."""
    device = torch.device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {cfg.device!r} requested but CUDA is not available")
    members = cfg.population.size
    with torch.random.fork_rng(devices=[]):  # initialisation leaves the global stream alone
        params = init_members(cfg, device)
        net = build_model(cfg.model).to(device)
    learner_side = None
    league_games = round(cfg.league.fraction * cfg.env.batch_size)
    if league_games:
        # The first rows play past snapshots, the learner taking Black and White alternately.
        rows = torch.arange(cfg.env.batch_size, device=device)
        learner_side = torch.where(rows < league_games, rows % 2, -1).to(torch.int8)
    arithmetic = precision.resolve(cfg.optim.precision, device)
    algorithm = registry.get(cfg.algo)
    policy = algorithm.make_policy(cfg, PolicyInputs(params.clone(), net, arithmetic,
                                                     learner_side, log))
    # direct only for populations (config/__init__.py): member k's rows k*B ... must stay in one
    # batch
    collector = make_collector(cfg, policy, device, games=members * cfg.env.batch_size)
    update = compile_update(registry.make_update(cfg, net, gradient_mean(group)),
                            compile_mode(cfg), log=log)
    return Parts(algorithm, device, net, params, policy, collector, update, learner_side)
