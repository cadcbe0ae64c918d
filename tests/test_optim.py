"""keisei_fn.learn.optim (pure Adam, global-norm clipping, LR schedules) and the pure update step.

References are torch.optim.Adam, torch.nn.utils.clip_grad_norm_ and closed-form schedules; the
update step is checked for purity and against autograd + clip_grad_norm_ + torch.optim.Adam.
"""

from __future__ import annotations

import math

import pytest
import contextlib

import torch
from tensordict import TensorDict

from keisei_fn.env import env_view
from keisei_fn.models import ActorCritic, state_params
from keisei_fn.shogi import from_sfen
from keisei_fn.config import load_config
from keisei_fn.algos.ppo.loss import make_loss
from keisei_fn.learn.optim import (adam_init, adam_step, clip_by_global_norm, global_norm,
                                   scheduled)
from keisei_fn.algos.ppo.loss import LOSS_KEYS, member_loss
from keisei_fn.learn.update import make_update_step

torch.set_num_threads(1)


def _params(seed: int, dtype=torch.float64) -> TensorDict:
    g = torch.Generator().manual_seed(seed)
    return TensorDict({
        "w": torch.randn(4, 3, generator=g, dtype=dtype),
        "b": torch.randn(3, generator=g, dtype=dtype),
        "head": {"w": torch.randn(2, 5, generator=g, dtype=dtype)},
    }, batch_size=[])


def _grads_like(params: TensorDict, seed: int, scale: float = 1.0) -> TensorDict:
    g = torch.Generator().manual_seed(seed)
    return params.apply(lambda p: scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


# ------------------------------------------------------------------------------------- Adam
def _run_adam(betas, eps, lr, steps, dtype=torch.float64):
    """(ours, reference) parameter trajectories and final states over `steps` Adam steps."""
    params = _params(0, dtype)
    leaves = [p.clone().requires_grad_() for p in params.values(True, True)]
    ref = torch.optim.Adam(leaves, lr=lr, betas=betas, eps=eps)
    state = adam_init(params)
    ours = params.clone()
    traj = []
    for k in range(steps):
        # Gradients of varying scale (and a zero one at step 4) exercise the bias corrections.
        grads = _grads_like(params, 100 + k, scale=0.0 if k == 3 else 10.0 ** (k % 3 - 1))
        for leaf, g in zip(leaves, grads.values(True, True)):
            leaf.grad = g.clone()
        ref.step()
        ours, state = adam_step(ours, grads, state, torch.tensor(lr, dtype=dtype),
                                betas=betas, eps=eps)
        traj.append((ours.clone(), [leaf.detach().clone() for leaf in leaves], state))
    return params, traj, ref, leaves


@pytest.mark.parametrize("betas,eps,lr", [((0.9, 0.999), 1e-8, 1e-2), ((0.8, 0.95), 1e-5, 3e-2),
                                          ((0.0, 0.5), 1e-3, 0.1)])
def test_adam_step_matches_torch_optim_adam(betas, eps, lr):
    params, traj, ref, leaves = _run_adam(betas, eps, lr, steps=6)
    for k, (ours, theirs, state) in enumerate(traj):
        assert float(state["step"]) == k + 1
        for p0, p, q in zip(params.values(True, True), ours.values(True, True), theirs):
            # Compared as displacement from the start, relative to its size: the float32 step
            # counter (see test_adam_bias_correction_precision) costs up to ~1e-5 relative.
            want = q - p0
            err = ((p - p0) - want).abs().max() / want.abs().max()
            assert err < 1e-4, (
                f"Adam step {k + 1}: relative error {float(err):.2e} vs torch.optim.Adam"
            )
    # The moments agree exactly (they do not involve the step counter).
    _, state = traj[-1][0], traj[-1][2]
    for leaf, m, v in zip(leaves, state["exp_avg"].values(True, True),
                          state["exp_avg_sq"].values(True, True)):
        torch.testing.assert_close(m, ref.state[leaf]["exp_avg"], rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(v, ref.state[leaf]["exp_avg_sq"], rtol=1e-12, atol=1e-15)


def test_adam_bias_correction_precision():
    params, traj, _, _ = _run_adam((0.9, 0.999), 1e-8, 1e-2, steps=3)
    for ours, theirs, _ in traj:
        for p0, p, q in zip(params.values(True, True), ours.values(True, True), theirs):
            want = q - p0
            err = ((p - p0) - want).abs().max() / want.abs().max()
            assert err < 1e-9, f"float64 Adam update off by {float(err):.2e} relative"


def test_adam_step_is_pure():
    params = _params(1)
    grads = _grads_like(params, 2)
    state = adam_init(params)
    p0, g0, s0 = params.clone(), grads.clone(), state.clone()
    new_p, new_s = adam_step(params, grads, state, torch.tensor(1e-3, dtype=torch.float64))
    assert (params == p0).all() and (grads == g0).all() and (state == s0).all()
    assert not (new_p == p0).all()
    assert float(new_s["step"]) == 1.0 and float(state["step"]) == 0.0


# ------------------------------------------------------------------------------ clipping
@pytest.mark.parametrize("max_norm", [0.05, 1.0, 1e6])
def test_clip_by_global_norm_matches_clip_grad_norm(max_norm):
    params = _params(3)
    grads = _grads_like(params, 4)
    leaves = [p.clone().requires_grad_() for p in params.values(True, True)]
    for leaf, g in zip(leaves, grads.values(True, True)):
        leaf.grad = g.clone()
    ref_norm = torch.nn.utils.clip_grad_norm_(leaves, max_norm)
    clipped, norm = clip_by_global_norm(grads, max_norm)
    torch.testing.assert_close(norm, ref_norm, rtol=1e-12, atol=0)
    for leaf, g in zip(leaves, clipped.values(True, True)):
        torch.testing.assert_close(g, leaf.grad, rtol=1e-12, atol=1e-15)
    # The hand-computed norm, as a third opinion.
    want = math.sqrt(sum(float((g ** 2).sum()) for g in grads.values(True, True)))
    assert abs(float(global_norm(grads)) - want) < 1e-9 * want
    if max_norm < want:
        assert abs(float(global_norm(clipped)) - max_norm) < 1e-5 * max_norm
    else:
        assert all(
            (a == b).all() for a, b in zip(clipped.values(True, True), grads.values(True, True))
        )


def test_clip_disabled_with_zero_max_norm():
    grads = _grads_like(_params(5), 6, scale=100.0)
    clipped, norm = clip_by_global_norm(grads, 0.0)
    assert all((a == b).all() for a, b in zip(clipped.values(True, True), grads.values(True, True)))
    assert float(norm) > 100.0


# ----------------------------------------------------------------------------- schedules
@pytest.mark.parametrize("schedule,expected", [
    ("constant", (0.3, 0.3, 0.3, 0.3)),
    ("linear", (0.3, 0.15, 0.075, 0.0)),
    ("cosine", (0.3, 0.15, 0.3 * 0.5 * (1 + math.cos(math.pi * 0.75)), 0.0)),
])
def test_learning_rate_schedules(schedule, expected):
    got = [scheduled(schedule, 0.3, progress) for progress in (0.0, 0.5, 0.75, 1.0)]
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # past the end: stays at the final value; unknown progress: constant peak
    assert scheduled(schedule, 0.3, 2.5) == pytest.approx(expected[-1], abs=1e-15)
    assert scheduled(schedule, 0.3, None) == 0.3


def test_learning_rate_unknown_schedule():
    with pytest.raises(ValueError, match="warmup"):
        scheduled("warmup", 0.1, 0.1)


# --------------------------------------------------------------------------- update step
def _batch(net: ActorCritic, seed: int = 0) -> TensorDict:
    """A small PPO minibatch with real engine observations and masks."""
    sfens = ["lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1",
             "lnsgkgsnl/1r5b1/ppppppppp/9/9/2P6/PP1PPPPPP/1B5R1/LNSGKGSNL w - 2",
             "8k/9/7P1/9/9/9/9/9/4K3R w - 1",
             "4k4/9/4P4/9/9/9/9/9/4K4 b G 1"]
    st = env_view(from_sfen(sfens, max_plies=32), attacks=False)
    obs, mask = st["observation"].double(), st["action_mask"]
    n = obs.shape[0]
    g = torch.Generator().manual_seed(seed)
    action = torch.where(mask, torch.rand(mask.shape, generator=g), -1.0).argmax(-1)
    with torch.no_grad():
        logits, value = net(obs)
    logp = (
        logits.masked_fill(~mask, float("-inf")).log_softmax(-1).gather(-1, action[:, None])[:, 0]
    )
    return TensorDict(
        observation=obs, action_mask=mask, action=action,
        action_log_prob=logp + 0.2 * torch.randn(n, generator=g, dtype=torch.float64),
        state_value=value, advantage=torch.randn(n, 1, generator=g, dtype=torch.float64),
        value_target=torch.randn(n, 1, generator=g, dtype=torch.float64), batch_size=[n])


def test_update_step_is_pure_and_matches_reference():
    torch.manual_seed(0)
    cfg = load_config()
    net = ActorCritic(blocks=1, channels=8, value_hidden=16).double()
    net_before = state_params(net).detach().clone()
    betas, eps, max_norm, lr = (0.9, 0.999), 1e-8, 0.5, 1e-2
    update = make_update_step(member_loss(cfg, net, contextlib.nullcontext), betas=betas, eps=eps,
                              max_grad_norm=max_norm)

    params = state_params(net).detach().clone()
    # A mid-training optimizer state, so the update depends on the gradient's magnitude (at the
    # first step from zero moments Adam moves every parameter by exactly lr * sign(grad)).
    g = torch.Generator().manual_seed(7)
    opt = adam_init(params)
    opt["exp_avg"] = opt["exp_avg"].apply(
        lambda m: 0.01 * torch.randn(m.shape, generator=g, dtype=m.dtype)
    )
    opt["exp_avg_sq"] = opt["exp_avg_sq"].apply(
        lambda v: 1e-3 * torch.rand(v.shape, generator=g, dtype=v.dtype)
    )
    opt["step"] = torch.tensor(9.0)
    batch = _batch(net)
    p0, o0, b0 = params.clone(), opt.clone(), batch.clone()

    new_params, new_opt, metrics = update(params, opt, batch, torch.tensor(lr, dtype=torch.float64))

    # Purity: inputs unchanged (values), the module's own parameters unchanged.
    assert (params == p0).all(), "update modified its input params"
    assert (opt == o0).all(), "update modified its input optimizer state"
    assert (batch == b0).all(), "update modified its input batch"
    assert (state_params(net).detach() == net_before).all(), (
        "update modified the module's parameters"
    )
    changed = [k for k, v in new_params.items(True, True) if not torch.equal(v, p0.get(k))]
    assert changed, "update returned unchanged parameters"
    assert float(new_opt["step"]) == 10.0
    for key in ("loss_objective", "loss_critic", "loss_entropy", "grad_norm"):
        assert key in metrics.keys() and torch.isfinite(metrics[key]).all(), key

    # Reference: autograd on the module + clip_grad_norm_ + torch.optim.Adam.
    ref_net = ActorCritic(blocks=1, channels=8, value_hidden=16).double()
    state_params(ref_net).data.update_(p0)
    ref_loss = make_loss(ref_net, cfg.ppo)
    out = ref_loss(b0.clone())
    total = sum(out[k].mean() for k in LOSS_KEYS)  # per-sample terms (reduction="none")
    ref_params = [p for _, p in ref_net.named_parameters()]
    grads = torch.autograd.grad(total, ref_params)
    for p, g in zip(ref_params, grads):
        p.grad = g
    ref_norm = torch.nn.utils.clip_grad_norm_(ref_params, max_norm)
    ref_opt = torch.optim.Adam(ref_params, lr=lr, betas=betas, eps=eps)
    for name, p in ref_net.named_parameters():
        key = tuple(name.split("."))
        ref_opt.state[p] = {"step": torch.tensor(9.0), "exp_avg": o0["exp_avg"].get(key).clone(),
                            "exp_avg_sq": o0["exp_avg_sq"].get(key).clone()}
    ref_opt.step()
    torch.testing.assert_close(metrics["grad_norm"], ref_norm.detach(), rtol=1e-10, atol=0)
    for name, p in ref_net.named_parameters():
        key = tuple(name.split("."))
        want = p.detach() - p0.get(key)
        got = new_params.get(key) - p0.get(key)
        # Relative to the update: the float32 step counter costs ~7e-6 here (see
        # test_adam_bias_correction_precision); a wrong gradient is off by far more.
        err = (got - want).abs().max() / want.abs().max()
        assert err < 3e-5, f"parameter {name}: update differs by {float(err):.2e} relative"


def test_run_progress_follows_updates_or_the_time_budget():
    from types import SimpleNamespace

    from keisei_fn.learn import Counters
    from keisei_fn.learn.optim import run_progress

    def cfg(total_updates, time_budget_s):
        return SimpleNamespace(total_updates=total_updates, time_budget_s=time_budget_s)

    counters = Counters(iteration=4, train_seconds=150.0)
    # 4 iterations and 6 of the fifth's 6 updates, of 10 iterations
    assert run_progress(cfg(10, 0), counters, 6, 6) == pytest.approx(0.5)
    assert run_progress(cfg(10, 0), counters, 3, 6) == pytest.approx(0.45)
    assert run_progress(cfg(0, 600), counters, 6, 6) == pytest.approx(0.25)  # 150 of 600 s
    assert run_progress(cfg(10, 600), counters, 6, 6) == pytest.approx(0.5)  # nearer its end
    assert run_progress(cfg(0, 0), counters, 6, 6) is None  # no limit: constant LR


def test_a_time_budgeted_run_schedules_its_learning_rate():
    """Half of time_budget_s trained: a linear schedule's LR is half the peak in every update
    of the iteration (before, a time-budgeted run kept every schedule constant)."""
    from _tiny import first_batch
    from keisei_fn.algos.ppo.learn import learn

    cfg, parts, state, batch = first_batch("time_budget_s=10", "total_updates=0",
                                           "optim.lr_schedule=linear", "optim.lr=1e-3")
    state = state.replace(counters=state.counters.replace(train_seconds=5.0))
    _, metrics = learn(state, batch, parts.update, cfg)
    assert metrics[0]["lr"] == pytest.approx(5e-4)
