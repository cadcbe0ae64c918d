"""The update step: a pure function (params, optimizer state, minibatch, lr) -> new ones, for any
loss `loss_fn(params, batch) -> (loss, metrics)` (an algorithm's: algos/*/algorithm.py).

Gradients come from `torch.func.grad`: nothing is stored on objects, so the same function can be
vmapped over a population or torch.compiled.
"""

from __future__ import annotations

from typing import Callable

import torch
from tensordict import TensorDict, TensorDictBase

from .optim import adam_step, clip_by_global_norm


def make_update_step(loss_fn: Callable, betas, eps: float, max_grad_norm: float,
                     reduce_grads: Callable | None = None) -> Callable:
    """Build `update(params, opt_state, batch, lr) -> (params, opt_state, metrics TensorDict)`
    from `loss_fn(params, batch) -> (scalar loss, {name: metric})`.

    `reduce_grads` (group.gradient_mean) averages the gradients over a data-parallel group before
    they are applied."""
    grad_fn = torch.func.grad(loss_fn, has_aux=True)
    step = make_apply_gradients(betas, eps, max_grad_norm)

    def update(params: TensorDict, opt_state: TensorDict, batch: TensorDictBase, lr: torch.Tensor):
        grads, metrics = grad_fn(params, batch)
        if reduce_grads is not None:
            grads = reduce_grads(grads)
        params, opt_state, extra = step(params, opt_state, grads, lr)
        metrics = TensorDict(metrics, batch_size=[])
        metrics.update(extra)
        return params, opt_state, metrics

    return update


def make_apply_gradients(betas, eps: float, max_grad_norm: float) -> Callable:
    """`step(params, opt_state, grads, lr) -> (params, opt_state, {grad_norm, skipped})`: clip,
    Adam, and the non-finite guard; pure, so the population update vmaps it over members."""

    def step(params: TensorDict, opt_state: TensorDict, grads: TensorDict, lr: torch.Tensor):
        grads, norm = clip_by_global_norm(grads, max_grad_norm)
        new_params, new_opt = adam_step(params, grads, opt_state, lr, betas=betas, eps=eps)
        # A NaN/Inf loss or gradient must never reach the parameters: such an update is skipped
        # (selected away without a host sync, so the step stays pure and vmappable).
        ok = torch.isfinite(norm)
        params = new_params.apply(lambda new, old: torch.where(ok, new, old), params)
        opt_state = new_opt.apply(lambda new, old: torch.where(ok, new, old), opt_state)
        return params, opt_state, {"grad_norm": norm.detach(), "skipped": (~ok).float()}

    return step
