"""What a run is made of, built once from the config: the acting policy, the collector, the
compiled update and GAE. A single agent is a population of one; the data-parallel group and the
collector backend are parts, not separate trainers."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchrl.collectors import BaseCollector

from ..algos.gumbel_az.search_policy import SearchPolicy
from ..algos.ppo.advantage import make_gae
from ..collect.collectors import make_collector
from ..collect.policy import CollectPolicy, act
from ..learn.compile import acting_compile_mode, compile_mode, compile_update
from ..learn.population import init_members, make_population_update, member_config
from ..models import build_model, net_spec, precision
from .distributed import SINGLE, gradient_mean


@dataclass
class Parts:
    device: torch.device
    net: torch.nn.Module
    """the architecture as a module: initialiser, the loop backend's template, evaluation player"""
    initial_params: object
    """the members' initial parameters [K] (a fresh run's)"""
    policy: CollectPolicy | SearchPolicy
    collector: BaseCollector
    """replaced when collector workers are restarted (session.collect_with_restarts)"""
    update: object
    """update(params[K], opt_state[K], batch[K, M], lr[K]) -> (params, opt_state, metrics[K])"""
    gae: object
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
    if cfg.algo == "gumbel_az":
        policy = SearchPolicy(params.clone(), None, cfg.gumbel_az, cfg.env.impasse,
                              net_spec(cfg.model), arithmetic,
                              [member_config(cfg, k).gumbel_az.simulations
                               for k in range(members)])
    else:
        policy = CollectPolicy(params.clone(), None, net_spec(cfg.model), cfg.population.backend,
                               net=net if cfg.population.backend == "loop" else None,
                               learner_side=learner_side,
                               act_fn=compile_update(act, acting_compile_mode(cfg), log=log,
                                                     what="the acting policy"),
                               precision=arithmetic, mate_in_one=cfg.ppo.mate_in_one)
    # direct only for populations (config.py): member k's rows k*B ... must stay in one batch
    collector = make_collector(cfg, policy, device, games=members * cfg.env.batch_size)
    update = compile_update(make_population_update(cfg, net, gradient_mean(group)),
                            compile_mode(cfg), log=log)
    return Parts(device, net, params, policy, collector, update,
                 make_gae(cfg.ppo.gamma, cfg.ppo.gae_lambda), learner_side)
