"""Gumbel AlphaZero's loss over K members' network outputs: the cross-entropy to the search's
improved policy plus the value's squared error, per member, with the metrics that say whether
search is improving on the network."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase

from ...models import masked_log_softmax


def az_loss(logits: torch.Tensor, value: torch.Tensor, batch: TensorDictBase, value_coef: float):
    """(total loss per member [K], metrics {name: [K]}) of outputs logits [K, M, 2187], value
    [K, M, 1] on minibatch [K, M] ("action_mask", "target_policy", "target_value")."""
    mask = batch.get("action_mask")
    target = batch.get("target_policy")
    log_probs = masked_log_softmax(logits.float(), mask)
    # 0 x the finite fill of illegal labels is 0: the target is exactly 0 there
    cross_entropy = -(target * torch.where(mask, log_probs, 0.0)).sum(-1)
    target_entropy = -torch.where(target > 0, target * target.clamp(min=1e-30).log(), 0.0).sum(-1)
    value_error = (value.float().squeeze(-1) - batch.get("target_value")).pow(2)
    policy_loss = cross_entropy.mean(-1)
    value_loss = value_error.mean(-1)
    metrics = {"policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(),
               # KL(improved || prior) = cross-entropy - entropy of the improved policy
               "kl_improved_prior": (cross_entropy - target_entropy).mean(-1).detach(),
               "improved_entropy": target_entropy.mean(-1).detach(),
               "entropy": -torch.where(mask, log_probs.exp() * log_probs, 0.0).sum(-1)
               .mean(-1).detach()}
    return policy_loss + value_coef * value_loss, metrics
