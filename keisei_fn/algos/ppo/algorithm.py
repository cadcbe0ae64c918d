"""PPO as the trainer sees it: the sampling policy, one iteration (collect a rollout, turn it into
zero-sum GAE samples, learn epochs over them), and its losses.

    state, rollout, after = ctx.collect(state, league opponent)   # [K*B, T]
    batch = policy_batch(rollout, after, policy, cfg)             # shaping + GAE, [K, B*T]
    state, metrics = learn(state, batch, update)                  # epochs x minibatches
"""

from __future__ import annotations

import time

from ...collect.policy import CollectPolicy, act
from ...collect.stats import game_stats, league_stats
from ...learn.compile import acting_compile_mode, compile_update
from ...learn.group import group_mean, mean_metrics, merge_game_stats
from ...learn.state import TrainState, pick_league_opponent
from ...models import net_spec
from ..base import Algorithm, IterationContext, IterationReport, PolicyInputs, WatchedMetric
from .batch import policy_batch
from .learn import learn, updates_per_iteration
from .loss import member_loss, population_loss
from ...config.sections import PPOConfig


def make_policy(cfg, inputs: PolicyInputs) -> CollectPolicy:
    loop = cfg.population.backend == "loop"
    return CollectPolicy(inputs.params, None, net_spec(cfg.model), cfg.population.backend,
                         net=inputs.net if loop else None, learner_side=inputs.learner_side,
                         act_fn=compile_update(act, acting_compile_mode(cfg), log=inputs.log,
                                               what="the acting policy"),
                         precision=inputs.precision, mate_in_one=cfg.ppo.mate_in_one)


def iteration(ctx: IterationContext, state: TrainState) -> tuple[TrainState, IterationReport]:
    cfg, group = ctx.cfg, ctx.group
    members, rows = cfg.population.size, cfg.env.batch_size
    t0 = time.perf_counter()
    state, rollout, after = ctx.collect(state, pick_league_opponent(state))
    batch = policy_batch(rollout, after, ctx.policy, cfg)
    stats = [game_stats(rollout[k * rows:(k + 1) * rows]) for k in range(members)]
    learner_side = ctx.policy.learner_side
    if learner_side is not None:
        stats[0].update(league_stats(rollout, learner_side))
    stats = merge_game_stats(group, stats)
    t1 = time.perf_counter()
    state, metrics = learn(state, batch, ctx.update, cfg, log=ctx.log, agree=group_mean(group))
    metrics = mean_metrics(group, metrics)
    t2 = time.perf_counter()
    frames = rollout.numel() * group.world
    for m in metrics:
        m["collect_steps_per_s"] = frames / (t1 - t0)
        m["update_samples_per_s"] = frames * m.get("epochs", cfg.ppo.epochs) / (t2 - t1)
    return state, IterationReport(frames, [int(s["games"]) for s in stats], metrics, stats,
                                  insight_batch=lambda: batch[0])


# `keisei-fn watch`: the policy moves a lot when its KL from the collecting policy passes
# ppo.target_kl (KL_WHEN_NO_TARGET when the run sets none) or a fifth of the samples are clipped.
KL_WHEN_NO_TARGET = 0.02
CLIP_FRACTION_RED = 0.2


def watched(cfg) -> tuple[WatchedMetric, ...]:
    kl = cfg.ppo.target_kl if cfg.ppo.target_kl > 0 else KL_WHEN_NO_TARGET
    return (WatchedMetric("KL (approx.)", "losses/approx_kl", ".4f", kl),
            WatchedMetric("clip fraction", "losses/clip_fraction", ".3f", CLIP_FRACTION_RED),
            WatchedMetric("entropy", "losses/entropy", ".2f"),
            WatchedMetric("explained var.", "losses/explained_variance", "+.2f"))


PPO = Algorithm(name="ppo", section=PPOConfig, make_policy=make_policy,
                population_loss=population_loss, iteration=iteration,
                updates_per_iteration=updates_per_iteration, member_loss=member_loss,
                ranking_keys=("entropy_coef",), watched=watched)
