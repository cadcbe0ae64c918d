"""TorchRL's ClipPPOLoss over masked moves, with the analytic masked entropy; the loss of one member
and of a folded population."""

from __future__ import annotations

import math
from typing import Callable

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.modules import MaskedCategorical, ProbabilisticActor
from torchrl.objectives import ClipPPOLoss

from ...learn.population import member_config
from ...models import masked_entropy, masked_log_softmax, members_forward, net_spec, precision
from ...env.compact import unpack_mask
from .batch import MATERIAL_AHEAD_KEYS, REPLY_KEYS
from .tactics import tactics_terms


# The most a sample's probability ratio pi_new / pi_old counts in the surrogate (dual-clip PPO's
# c, 3 in its paper): far above PPO's own clip (1 + clip_epsilon, which config holds below it).
# Under the KL early stop a sampled move rarely triples its probability in an iteration; a move
# the mate search played, recorded with a tiny probability, does at once.
DUAL_CLIP = 3.0


class MaskedClipPPOLoss(ClipPPOLoss):
    """ClipPPOLoss whose entropy is computed exactly over the legal moves, and whose
    `kl_approx` is the non-negative k3 estimator.

    The parent falls back to a Monte-Carlo entropy (always under torch.compile, or whenever the
    analytic value is not finite), which crashes for MaskedCategorical; the masked analytic
    entropy is exact, cheap and finite (a single legal move gives 0).
    """

    def _log_weight(self, tensordict, adv_shape: torch.Size):
        log_weight, dist, k1, log_is_weight = super()._log_weight(tensordict, adv_shape)
        # TorchRL's diagnostic is k1 = log(pi_old / pi_new): unbiased but noisy, and negative on
        # a minibatch whose sampled moves gained probability. The KL early stop
        # (ppo.target_kl) reads k3 = (r - 1) - log r, r = pi_new / pi_old: also unbiased, never
        # negative and of lower variance (Schulman, "Approximating KL divergence"; cleanrl's).
        log_ratio = -k1
        k3 = torch.expm1(log_ratio) - log_ratio
        forced = tensordict.get("forced", None)
        if forced is not None:
            # A move the mate search played (ppo.mate_in_one) was not drawn from pi_old: its
            # ratio starts from the policy's own, often tiny, probability and soon reaches 1e30.
            # The KL is the sampled moves' alone.
            sampled = ~forced.reshape(k3.shape)
            k3 = torch.where(sampled, k3, 0.0) * (sampled.numel() / sampled.sum().clamp(min=1))
        # Dual clip (Ye et al. 2020): the ratio the surrogate sees is capped at DUAL_CLIP, with
        # no gradient above it. PPO's clip bounds a positive advantage's objective, not a
        # negative one's: a forced move with a negative (normalised) advantage had an unbounded
        # one, gradient norms up to 1e16 and skipped (non-finite) updates. Below the cap nothing
        # changes.
        return log_weight.clamp(max=math.log(DUAL_CLIP)), dist, k3, log_is_weight

    def _get_entropy(self, dist, adv_shape: torch.Size) -> torch.Tensor:
        log_probs = masked_log_softmax(dist.logits, dist.mask)
        return masked_entropy(log_probs, dist.mask).unsqueeze(-1)


def make_loss(net: nn.Module | None, ppo_cfg, entropy_coef: float | None = None
              ) -> MaskedClipPPOLoss:
    """The PPO loss over `net` (None: over precomputed outputs, see make_actor_critic).

    `entropy_coef` overrides ppo_cfg's; the population update passes 1.0 and weights each
    member's entropy term by its own coefficient.
    """
    actor, critic = make_actor_critic(net)
    entropy_coef = ppo_cfg.entropy_coef if entropy_coef is None else entropy_coef
    loss = MaskedClipPPOLoss(
        actor, critic,
        clip_epsilon=ppo_cfg.clip_epsilon,
        entropy_bonus=entropy_coef > 0,
        entropy_coeff=entropy_coef,
        critic_coeff=ppo_cfg.value_coef,
        loss_critic_type="l2",
        normalize_advantage=ppo_cfg.normalize_advantage,
        clip_value=ppo_cfg.clip_epsilon if ppo_cfg.clip_value else None,
        functional=False,
        # Per-sample losses, averaged by the update step: the "mean" reduction squeezes a 0-d
        # tensor, which fails under torch.func.vmap (the population update).
        reduction="none",
    )
    loss.set_keys(action="action", sample_log_prob="action_log_prob", value="state_value",
                  advantage="advantage", value_target="value_target")
    return loss


class _ValueFromActorPass(nn.Module):
    """Critic for ClipPPOLoss that reuses the value the actor's forward just computed.

    The actor and critic share one trunk; running it twice per minibatch would cost a third of
    the update. ClipPPOLoss evaluates the actor (log-weight, entropy) before the critic, on the
    same TensorDict, so "value_now" is there and carries the gradient to the shared trunk.
    """

    def forward(self, value_now):
        return value_now


class _Precomputed(nn.Module):
    """Trunk for a loss whose network outputs were computed beforehand (the population update
    evaluates all members' networks as one folded network, then the loss per member)."""

    def forward(self, logits, value):
        return logits, value


# Where the population update puts each member's network outputs for the loss to read.
PRECOMPUTED_KEYS = ("net_logits", "net_value")


def make_actor_critic(net: nn.Module | None):
    """(actor, critic) TensorDict modules for TorchRL's ClipPPOLoss, both backed by `net`
    (None: by the outputs already in the TensorDict under PRECOMPUTED_KEYS)."""
    if net is None:
        trunk = TensorDictModule(_Precomputed(), in_keys=list(PRECOMPUTED_KEYS),
                                 out_keys=["logits", "value_now"])
    else:
        trunk = TensorDictModule(net, in_keys=["observation"], out_keys=["logits", "value_now"])
    actor = ProbabilisticActor(
        trunk, in_keys={"logits": "logits", "mask": "action_mask"}, out_keys=["action"],
        distribution_class=MaskedCategorical, return_log_prob=True,
        log_prob_key="action_log_prob",
    )
    critic = TensorDictModule(_ValueFromActorPass(), in_keys=["value_now"],
                              out_keys=["state_value"])
    return actor, critic


LOSS_KEYS = ("loss_objective", "loss_critic", "loss_entropy")
METRIC_KEYS = ("entropy", "kl_approx", "clip_fraction", "explained_variance")


def total_loss(out: TensorDictBase, entropy_coef: torch.Tensor | None = None):
    """(the sum of ClipPPOLoss's per-sample losses averaged, its metrics): the loss averages
    here, not in TorchRL (`reduction="none"`, make_loss), so that it vmaps over members;
    `entropy_coef` weighs the entropy bonus when the loss was built with weight 1."""
    losses = {k: out[k].mean() for k in LOSS_KEYS if k in out.keys()}
    if entropy_coef is not None and "loss_entropy" in losses:
        losses["loss_entropy"] = losses["loss_entropy"] * entropy_coef
    metrics = {k: v.detach() for k, v in losses.items()}
    metrics.update({k: out[k].detach() for k in METRIC_KEYS if k in out.keys()})
    return sum(losses.values()), metrics


def member_loss(cfg, net: nn.Module, autocast: Callable) -> Callable:
    """One member's `loss(params, batch) -> (loss, metrics)` with its own `cfg.ppo`: the loss
    module over `net`, whose parameters are swapped in functionally (`TensorDict.to_module`)."""
    loss_module = make_loss(net, cfg.ppo)

    def loss_fn(params: TensorDict, batch: TensorDictBase):
        with params.to_module(net), autocast():
            return total_loss(loss_module(batch))

    return loss_fn


def material_head_loss(predicted: torch.Tensor, batch: TensorDictBase) -> torch.Tensor:
    """[K]: each member's mean squared error of its material head [K, M, 1] against
    "material_ahead" (algos/ppo/batch.py), over the samples whose target is known."""
    known = batch.get(MATERIAL_AHEAD_KEYS[1]).float()
    error = (predicted - batch.get(MATERIAL_AHEAD_KEYS[0])).square() * known
    return error.sum((1, 2)) / known.sum((1, 2)).clamp_min(1)


def reply_loss(reply_logits: torch.Tensor, batch: TensorDictBase) -> torch.Tensor:
    """[K]: each member's mean cross-entropy of its reply head [K, M, 2187] (destinations in the
    mover's frame) against the opponent's next move ("reply_action", algos/ppo/batch.py), over
    its legal moves, on the samples where it is known. The opponent's frame is the mover's
    turned half a turn: square s is 80 - s there, the 81 squares' order reversed."""
    k, m = reply_logits.shape[:2]
    theirs = reply_logits.view(k, m, -1, 81).flip(-1).reshape(k, m, -1)
    log_probs = masked_log_softmax(theirs, unpack_mask(batch.get(REPLY_KEYS[1])))
    known = batch.get(REPLY_KEYS[2]).float()
    nll = -log_probs.gather(-1, batch.get(REPLY_KEYS[0])[..., None]).squeeze(-1)
    return torch.where(known > 0, nll, 0.0).sum(1) / known.sum(1).clamp_min(1)


def population_loss(cfg, autocast: Callable) -> Callable:
    """`loss(params[K], batch[K, M]) -> (the members' summed loss, metrics [K])`: the members'
    folded network once, then ClipPPOLoss vmapped over members, each with its own entropy
    coefficient (population.entropy_coef)."""
    entropy = torch.tensor([member_config(cfg, k).ppo.entropy_coef
                            for k in range(cfg.population.size)])
    spec = net_spec(cfg.model)
    # Entropy weight 1 in the loss; each member's own coefficient is applied below.
    loss_module = make_loss(None, cfg.ppo, entropy_coef=1.0 if entropy.gt(0).any() else 0.0)
    per_member_loss = torch.func.vmap(
        lambda batch, entropy_coef: total_loss(loss_module(batch), entropy_coef))
    tactics_coef = cfg.ppo.tactics_coef
    material_coef = cfg.ppo.material_head_coef if cfg.model.material_head else 0.0
    reply_coef = cfg.ppo.reply_coef if cfg.model.reply_head else 0.0

    def loss(params: TensorDict, batch: TensorDictBase):
        with autocast():  # the network only: the loss and its reductions stay float32
            outputs = members_forward(params, batch.get("observation"), spec,
                                      material=material_coef > 0, reply=reply_coef > 0)
        logits, value = precision.upcast(outputs[0]), outputs[1]
        batch = batch.clone(False)
        batch.set(PRECOMPUTED_KEYS[0], logits)
        batch.set(PRECOMPUTED_KEYS[1], precision.upcast(value))
        totals, metrics = per_member_loss(batch, entropy.to(logits.device))
        if tactics_coef > 0:
            tactics, rejected = tactics_terms(logits, batch)
            totals = totals + tactics_coef * tactics
            metrics = {**metrics, "loss_tactics": tactics.detach(),
                       "rejected_mass": rejected.detach()}
        if material_coef > 0:
            material = material_head_loss(precision.upcast(outputs[2]), batch)
            totals = totals + material_coef * material
            metrics = {**metrics, "loss_material_head": material.detach()}
        if reply_coef > 0:
            reply = reply_loss(precision.upcast(outputs[-1]), batch)
            totals = totals + reply_coef * reply
            metrics = {**metrics, "loss_reply": reply.detach()}
        # Members are independent: d(sum)/d(member k's params) is member k's own gradient.
        return totals.sum(), metrics

    return loss
