"""TorchRL's ClipPPOLoss over masked moves, with the analytic masked entropy."""

from __future__ import annotations

import torch
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.modules import MaskedCategorical, ProbabilisticActor
from torchrl.objectives import ClipPPOLoss

from ...models import masked_entropy, masked_log_softmax


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
        return log_weight, dist, torch.expm1(log_ratio) - log_ratio, log_is_weight

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
