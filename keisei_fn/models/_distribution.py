"""The policy head's distribution over the 2187 labels: masked log-probabilities, Gumbel-max
sampling, entropy. One home for acting, learning, evaluation and the players."""

from __future__ import annotations

import torch


def masked_log_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log pi over the legal labels; illegal labels get the most negative finite value.

    fp16/bf16 logits (autocast) are upcast to float32: in fp16 the shift by the max logit
    overflows the fill to -inf and its gradient to NaN. A finite fill (not -inf) keeps
    0 * fill = 0 in the entropy.
    """
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return torch.where(mask, logits, torch.finfo(logits.dtype).min).log_softmax(-1)


def gumbel_sample(log_probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One label per row distributed as softmax(log_probs): argmax(log p + Gumbel noise).

    Equivalent to `torch.multinomial(p, 1)` but about twice as fast on CPU for 2187 labels.
    """
    u = torch.rand(log_probs.shape, generator=generator, device=log_probs.device,
                   dtype=log_probs.dtype)
    gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(u.dtype).tiny)))
    return (log_probs + gumbel).argmax(-1)


def gumbel_max(log_probs: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """`gumbel_sample` with its uniform noise drawn by the caller (so a compiled caller fuses the
    noise transform, while the generator stays outside the graph)."""
    gumbel = -torch.log(-torch.log(uniform.clamp_min(torch.finfo(uniform.dtype).tiny)))
    return (log_probs + gumbel).argmax(-1)


def masked_entropy(log_probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Analytic entropy of the masked categorical (0 * log 0 counted as 0)."""
    return -torch.where(mask, log_probs.exp() * log_probs, 0.0).sum(-1)
