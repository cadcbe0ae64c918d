"""A third algorithm, defined outside the package, to prove the algorithm interface: REINFORCE with
a learned baseline. Each iteration collects a [K*B, T] window of self-play, takes the Monte Carlo
return (the game's result from the mover's side) of every move whose game ended inside the window,
and makes one update over them. Nothing in keisei_fn knows it: it is registered at run time."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDict

from keisei_fn.algos.base import Algorithm, IterationContext, IterationReport, PolicyInputs
from keisei_fn.collect import CollectPolicy, game_stats
from keisei_fn.learn import apply_updates, gather_minibatch
from keisei_fn.learn.group import mean_metrics, merge_game_stats
from keisei_fn.models import masked_log_softmax, members_forward, net_spec


@dataclass
class ReinforceConfig:
    rollout_steps: int = 8
    """moves per game per iteration"""
    value_coef: float = 0.5
    """baseline loss weight"""

    VALUE_PRIOR = None

    @staticmethod
    def check(cfg) -> None:
        if cfg.algo == "reinforce" and cfg.population.backend != "folded":
            from keisei_fn.config import ConfigError
            raise ConfigError("algo=reinforce needs population.backend=folded")


def make_policy(cfg, inputs: PolicyInputs) -> CollectPolicy:
    return CollectPolicy(inputs.params, None, net_spec(cfg.model), precision=inputs.precision)


def returns(reward: torch.Tensor, done: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(return, known) [N, T] from the mover's rewards and game ends [N, T]: a move's return is its
    game's result for its mover, the negative of the next move's (the other player moves
    next); known where the game ended inside the window."""
    ret, known = torch.zeros_like(reward), torch.zeros_like(done)
    later_ret = torch.zeros_like(reward[:, 0])
    later_known = torch.zeros_like(done[:, 0])
    for t in reversed(range(reward.shape[1])):
        later_ret = torch.where(done[:, t], reward[:, t], -later_ret)
        later_known = done[:, t] | later_known
        ret[:, t], known[:, t] = later_ret, later_known
    return ret, known


def population_loss(cfg, autocast):
    spec, value_coef = net_spec(cfg.model), cfg.reinforce.value_coef

    def loss(params, batch):
        with autocast():
            logits, value = members_forward(params, batch.get("observation"), spec)
        log_probs = masked_log_softmax(logits.float(), batch.get("action_mask"))
        taken = log_probs.gather(-1, batch.get("action")[..., None]).squeeze(-1)
        value = value.float().squeeze(-1)
        weight = batch.get("known").float()
        count = weight.sum(-1).clamp(min=1)
        ret = batch.get("return")
        policy_loss = -(taken * (ret - value.detach()) * weight).sum(-1) / count
        value_loss = ((value - ret).pow(2) * weight).sum(-1) / count
        totals = policy_loss + value_coef * value_loss
        return totals.sum(), {"policy_loss": policy_loss.detach(),
                              "value_loss": value_loss.detach()}

    return loss


def iteration(ctx: IterationContext, state):
    cfg, members = ctx.cfg, ctx.cfg.population.size
    state, rollout, _ = ctx.collect(state)
    ret, known = returns(rollout.get(("next", "reward")).squeeze(-1).float(),
                         rollout.get(("next", "done")).squeeze(-1))
    batch = TensorDict(game=rollout.get("game"), mask_bits=rollout.get("mask_bits"),
                       action=rollout.get("action"), known=known, batch_size=ret.shape)
    batch.set("return", ret)
    batch = batch.reshape(members, -1)
    everything = torch.arange(batch.shape[1]).expand(members, -1)
    minibatch = gather_minibatch(batch, everything, cfg.env.max_plies, attacks=False)
    state, metrics = apply_updates(state, iter([minibatch]), ctx.update, cfg, 1, ctx.log)
    rows = cfg.env.batch_size
    stats = merge_game_stats(ctx.group, [game_stats(rollout[k * rows:(k + 1) * rows])
                                         for k in range(members)])
    return state, IterationReport(rollout.numel() * ctx.group.world,
                                  [int(s["games"]) for s in stats],
                                  mean_metrics(ctx.group, metrics), stats)


REINFORCE = Algorithm(name="reinforce", section=ReinforceConfig, make_policy=make_policy,
                      population_loss=population_loss, iteration=iteration,
                      updates_per_iteration=lambda cfg: 1)
