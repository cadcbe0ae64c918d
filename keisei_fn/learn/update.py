"""The PPO update step: a pure function (params, optimizer state, minibatch, lr) -> new ones.

The loss module is TorchRL's ClipPPOLoss built on one `net` whose parameters are swapped in
functionally (`TensorDict.to_module`) under `torch.func.grad`: nothing is stored on objects, so
the same function can be vmapped over a population or torch.compiled.
"""

from __future__ import annotations

import contextlib
from typing import Callable

import torch
from tensordict import TensorDict, TensorDictBase

from .optim import adam_step, clip_by_global_norm

LOSS_KEYS = ("loss_objective", "loss_critic", "loss_entropy")
METRIC_KEYS = ("entropy", "kl_approx", "clip_fraction", "explained_variance")


def total_loss(out: TensorDictBase, entropy_coef: torch.Tensor | None = None):
    """(the sum of ClipPPOLoss's per-sample losses averaged, its metrics): the loss averages
    here, not in TorchRL (`reduction="none"`, loss.py), so that it vmaps over members;
    `entropy_coef` weighs the entropy bonus when the loss was built with weight 1."""
    losses = {k: out[k].mean() for k in LOSS_KEYS if k in out.keys()}
    if entropy_coef is not None and "loss_entropy" in losses:
        losses["loss_entropy"] = losses["loss_entropy"] * entropy_coef
    metrics = {k: v.detach() for k, v in losses.items()}
    metrics.update({k: out[k].detach() for k in METRIC_KEYS if k in out.keys()})
    return sum(losses.values()), metrics


def make_update_step(net, loss_module, betas, eps: float, max_grad_norm: float,
                     autocast: Callable = contextlib.nullcontext,
                     reduce_grads: Callable | None = None) -> Callable:
    """Build `update(params, opt_state, batch, lr) -> (params, opt_state, metrics TensorDict)`.

    `autocast()` is the context the loss runs in (precision.autocast); `reduce_grads`
    (distributed.gradient_mean) averages the gradients over a data-parallel group before they are
    applied."""

    def loss_fn(params: TensorDict, batch: TensorDictBase):
        with params.to_module(net), autocast():
            return total_loss(loss_module(batch))

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
