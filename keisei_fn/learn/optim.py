"""Adam, learning-rate schedules and gradient clipping as pure functions over TensorDicts.

State goes in and comes out (no torch.optim object holding it), so the update step is a pure
function that vmaps over a population of agents. tests/test_optim.py checks it against
torch.optim.Adam and torch.nn.utils.clip_grad_norm_.
"""

from __future__ import annotations

import math

import torch
from tensordict import TensorDict


def adam_init(params: TensorDict) -> TensorDict:
    zeros = params.detach().apply(torch.zeros_like)
    return TensorDict(exp_avg=zeros, exp_avg_sq=zeros.clone(),
                      # float64: Adam's bias corrections lose ~1e-5 relative in float32.
                      step=torch.zeros((), dtype=torch.float64, device=params.device))


def global_norm(grads: TensorDict) -> torch.Tensor:
    return torch.stack([g.pow(2).sum() for g in grads.values(True, True)]).sum().sqrt()


def clip_by_global_norm(grads: TensorDict, max_norm: float):
    """(clipped grads, norm before clipping), like torch.nn.utils.clip_grad_norm_."""
    norm = global_norm(grads)
    if max_norm <= 0:
        return grads, norm
    scale = (max_norm / (norm + 1e-6)).clamp(max=1.0)
    return grads.apply(lambda g: g * scale), norm


def adam_step(params: TensorDict, grads: TensorDict, state: TensorDict, lr: torch.Tensor,
              betas=(0.9, 0.999), eps: float = 1e-8):
    """One Adam update (torch.optim.Adam semantics, no weight decay) -> (params, state)."""
    b1, b2 = betas
    step = state["step"] + 1
    exp_avg = state["exp_avg"].apply(lambda m, g: m * b1 + g * (1 - b1), grads)
    exp_avg_sq = state["exp_avg_sq"].apply(lambda v, g: v * b2 + g * g * (1 - b2), grads)
    bias1 = (1 - b1 ** step).to(lr.dtype if torch.is_tensor(lr) else torch.float32)
    bias2_sqrt = (1 - b2 ** step).sqrt().to(bias1.dtype)
    step_size = lr / bias1
    new_params = params.apply(
        lambda p, m, v: p - step_size * m / (v.sqrt() / bias2_sqrt + eps), exp_avg, exp_avg_sq)
    return new_params, TensorDict(exp_avg=exp_avg, exp_avg_sq=exp_avg_sq, step=step)


def scheduled(schedule: str, peak: float, progress: float | None) -> float:
    """LR at `progress` (0 at the start of the run, 1 at its end; None: unknown, so constant)."""
    if schedule not in ("constant", "linear", "cosine"):
        raise ValueError(f"unknown lr schedule {schedule!r}")
    if schedule == "constant" or progress is None:
        return peak
    frac = min(max(progress, 0.0), 1.0)
    if schedule == "linear":
        return peak * (1.0 - frac)
    return peak * 0.5 * (1.0 + math.cos(math.pi * frac))  # cosine


def run_progress(cfg, counters, done: int, updates_per_iteration: int) -> float | None:
    """How far the run is, 0 to 1, for the LR schedule: iterations of `total_updates` (with the
    `done` updates of the current one's `updates_per_iteration`), or training seconds of
    `time_budget_s` (at the iteration's start), whichever is nearer its end; None when the run
    has neither limit. Counted in iterations, not updates: an iteration may make fewer updates
    (PPO's KL early stop, Gumbel AlphaZero before its buffer fills)."""
    fractions = []
    if cfg.total_updates:
        fractions.append((counters.iteration + done / updates_per_iteration)
                         / cfg.total_updates)
    if cfg.time_budget_s:
        fractions.append(counters.train_seconds / cfg.time_budget_s)
    return max(fractions) if fractions else None
