"""TorchRL's ClipPPOLoss over masked moves, with the analytic masked entropy."""

from __future__ import annotations

import torch
from torch import nn
from torchrl.objectives import ClipPPOLoss

from .policy import make_actor_critic, masked_entropy, masked_log_softmax


class MaskedClipPPOLoss(ClipPPOLoss):
    """ClipPPOLoss whose entropy is computed exactly over the legal moves.

    The parent falls back to a Monte-Carlo entropy (always under torch.compile, or whenever the
    analytic value is not finite), which crashes for MaskedCategorical; the masked analytic
    entropy is exact, cheap and finite (a single legal move gives 0).
    """

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
