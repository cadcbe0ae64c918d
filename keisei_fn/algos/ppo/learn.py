"""PPO's learning step: epochs of shuffled minibatches over each member's own samples, with the
KL early stop (ppo.target_kl)."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase

from ...learn.population import apply_updates, fork_generator, gather_minibatch
from ...learn.state import TrainState


def updates_per_iteration(cfg) -> int:
    samples = cfg.env.batch_size * cfg.ppo.rollout_steps
    return cfg.ppo.epochs * max(1, samples // cfg.ppo.minibatch_size)


def learn(state: TrainState, batch: TensorDictBase, update, cfg, log=print,
          agree=None) -> tuple[TrainState, list[dict]]:
    """PPO epochs for every member over its own [N] samples of batch [K, N]: the new state and
    per-member metrics.

    Member k shuffles with its own generator exactly as a single run would, so the loop backend
    replays K single runs. With `ppo.target_kl`, a member stops its epochs once an epoch's
    approximate KL reaches it (`agree` averages that KL over a data-parallel group, so every rank
    stops together). Non-finite updates are handled as `apply_updates` says.
    """
    members, n = batch.batch_size
    size = min(cfg.ppo.minibatch_size, n)
    # the shuffle streams advance in copies that the new state carries: the state passed in is
    # left as it was, so learning twice from it gives the same result
    state = state.replace(shuffle=tuple(fork_generator(g) for g in state.shuffle))

    def minibatches():
        for _ in range(cfg.ppo.epochs):
            orders = torch.stack([torch.randperm(n, generator=g) for g in state.shuffle])
            orders = orders.to(batch.device)
            for start in range(0, n - size + 1, size):
                yield gather_minibatch(batch, orders[:, start:start + size], cfg.env.max_plies,
                                       attacks=cfg.model.attack_planes)

    per_epoch = len(range(0, n - size + 1, size))
    return apply_updates(state, minibatches(), update, cfg, updates_per_iteration(cfg), log,
                         kl_stop=(per_epoch, cfg.ppo.target_kl, agree)
                         if cfg.ppo.target_kl > 0 else None)
