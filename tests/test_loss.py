"""The PPO loss (TorchRL ClipPPOLoss + masked entropy + shared-trunk critic) against a hand-written
PPO objective, and the policy helpers (masked log-softmax, Gumbel-max sampling).

TorchRL conventions the reference follows (torchrl/objectives/ppo.py, objectives/utils.py):
  loss_objective = -mean(min(r A, clip(r, 1-eps, 1+eps) A)), r = exp(log pi - log pi_old)
                   (with dual clip: at least c A where A < 0)
  loss_critic    = critic_coeff * mean((V - target)^2)   ("l2" is F.mse_loss, no 1/2 factor)
  loss_entropy   = -entropy_coeff * mean(H)
  advantage normalisation: (A - mean) / std (unbiased std), over the minibatch.
"""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

from _shogi_ref import flip_sfen
from keisei_fn.env import ShogiEnv
from keisei_fn.env import env_view
from keisei_fn.models import ActorCritic
from keisei_fn.shogi import from_sfen, initial_state
from keisei_fn.config import load_config
from keisei_fn.algos.ppo.loss import DUAL_CLIP, make_loss
from keisei_fn.models import gumbel_sample, masked_entropy, masked_log_softmax
from keisei_fn.algos.ppo.loss import make_actor_critic

torch.set_num_threads(1)

# White king 1a in check from the rook on 1i; 2b is covered by the pawn on 2c: only K1a-2a.
ONE_MOVE = "8k/9/7P1/9/9/9/9/9/4K3R w - 1"
ONE_MOVE_BLACK = flip_sfen(ONE_MOVE)


def _net(dtype=torch.float64, seed=0) -> ActorCritic:
    torch.manual_seed(seed)
    # policy_gain=1 gives a policy far from uniform, so ratios, clipping and entropy all matter.
    return ActorCritic(blocks=1, channels=8, value_hidden=16, policy_gain=1.0).to(dtype)


def _positions():
    """Observations and masks of real games: a random rollout plus single-legal-move positions."""
    env = ShogiEnv(4, max_plies=40)
    env.set_seed(1)
    ro = env.rollout(8, break_when_any_done=False).reshape(-1)
    special = env_view(from_sfen([ONE_MOVE, ONE_MOVE_BLACK, ONE_MOVE], max_plies=40),
                       attacks=False)
    obs = torch.cat([ro["observation"], special["observation"]])
    mask = torch.cat([ro["action_mask"], special["action_mask"]])
    return obs, mask


def _batch(net, dtype=torch.float64, seed=0, logp_noise=0.3) -> TensorDict:
    obs, mask = _positions()
    obs = obs.to(dtype)
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
        # behaviour log-probs off from the current ones, so some ratios leave [1-eps, 1+eps]
        action_log_prob=logp + logp_noise * torch.randn(n, generator=g, dtype=dtype),
        state_value=value + 0.1 * torch.randn(n, 1, generator=g, dtype=dtype),  # stale values
        advantage=torch.randn(n, 1, generator=g, dtype=dtype) + 0.3,
        value_target=torch.randn(n, 1, generator=g, dtype=dtype).clamp(-1, 1),
        batch_size=[n])


def hand_loss(net, batch, ppo):
    """The PPO terms from scratch: -inf masking, no TorchRL distribution or loss code."""
    logits, value = net(batch["observation"])
    mask = batch["action_mask"]
    logp_all = logits.masked_fill(~mask, float("-inf")).log_softmax(-1)
    p = logp_all.exp()
    # log p zeroed on illegal labels *before* the product (0 * -inf would poison the gradient)
    entropy = -(p * torch.where(mask, logp_all, torch.zeros_like(logp_all))).sum(-1)
    logp = logp_all.gather(-1, batch["action"][:, None])[:, 0]
    adv = batch["advantage"][:, 0]
    if ppo.normalize_advantage:
        adv = (adv - adv.mean()) / adv.std()
    ratio = (logp - batch["action_log_prob"]).exp()
    eps = ppo.clip_epsilon
    surrogate = torch.minimum(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv)
    # dual clip (Ye et al. 2020, eq. 4): a negative advantage's objective is at least c A
    surrogate = torch.where(adv < 0, torch.maximum(surrogate, DUAL_CLIP * adv), surrogate)
    objective = -surrogate.mean()
    err = (value - batch["value_target"]) ** 2
    if ppo.clip_value:
        old = batch["state_value"]
        clipped = old + (value - old).clamp(-eps, eps)
        err = torch.maximum(err, (clipped - batch["value_target"]) ** 2)
    critic = ppo.value_coef * err.mean()
    bonus = -ppo.entropy_coef * entropy.mean()
    return {"loss_objective": objective, "loss_critic": critic, "loss_entropy": bonus}, entropy


LOSS_KEYS = ("loss_objective", "loss_critic", "loss_entropy")


def run_loss(loss, batch):
    """The loss module's output with its per-sample loss terms averaged, as the update step does
    (the module is built with reduction="none" so that it vmaps over a population)."""
    out = loss(batch)
    for key in LOSS_KEYS:
        if key in out.keys():
            out[key] = out[key].mean()
    return out
# TorchRL keeps clip_epsilon / coefficients as float32 buffers: ~1e-8 relative in float64.
TOL = {"rtol": 1e-6, "atol": 1e-9}


def test_batch_has_single_move_rows():
    obs, mask = _positions()
    counts = mask.sum(-1)
    assert (counts == 1).sum() == 3 and (counts > 1).sum() >= 30


@pytest.mark.parametrize("overrides", [
    [],                                                  # defaults: normalised advantages
    ["ppo.normalize_advantage=false"],
    ["ppo.clip_value=true", "ppo.entropy_coef=0.05", "ppo.value_coef=1.0", "ppo.clip_epsilon=0.1"],
])
def test_loss_matches_hand_written_ppo(overrides):
    ppo = load_config(None, overrides).ppo
    net = _net()
    batch = _batch(net)
    out = run_loss(make_loss(net, ppo), batch.clone())
    want, entropy = hand_loss(net, batch, ppo)
    for key in LOSS_KEYS:
        torch.testing.assert_close(out[key], want[key], **TOL, msg=f"{key} ({overrides})")
    torch.testing.assert_close(out["entropy"], entropy.mean(), **TOL)
    assert 0 < float(out["clip_fraction"]) < 1, "the batch should exercise the ratio clip"


def test_a_forced_moves_huge_ratio_keeps_the_loss_bounded_and_out_of_the_kl():
    """A move the mate search played carries the policy's own log-probability, often tiny: after
    one update its ratio can reach 1e30. With a negative advantage PPO's clip leaves that term
    unbounded; the dual clip bounds it (against the paper's formula, written out above), and the
    KL early stop reads the sampled moves alone."""
    ppo = load_config().ppo
    net = _net()
    batch = _batch(net, logp_noise=0.05)
    forced = torch.zeros(batch.batch_size, dtype=torch.bool)
    forced[::7] = True
    batch["action_log_prob"] = torch.where(forced, batch["action_log_prob"] - 70.0,
                                           batch["action_log_prob"])
    batch["advantage"] = torch.where(forced[:, None], -1.5, batch["advantage"])
    out = run_loss(make_loss(net, ppo), batch.clone().set("forced", forced))
    want, _ = hand_loss(net, batch, ppo)
    torch.testing.assert_close(out["loss_objective"], want["loss_objective"], **TOL)
    params = [p for p in net.parameters()]
    grads = torch.autograd.grad(out["loss_objective"], params, allow_unused=True)
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads if g is not None))
    assert torch.isfinite(norm) and norm < 100, norm
    # the KL: of the sampled rows alone, the same as a batch of those rows only
    sampled = run_loss(make_loss(net, ppo), batch[~forced].clone())
    torch.testing.assert_close(out["kl_approx"], sampled["kl_approx"], **TOL)
    assert float(out["kl_approx"]) < 0.1
    without_flag = run_loss(make_loss(net, ppo), batch.clone())
    assert float(without_flag["kl_approx"]) > 1e20  # what the early stop read before


def test_loss_uses_the_current_value_not_the_stored_one():
    """The critic reuses the actor pass's "value_now"; the stale "state_value" in the batch must
    not be what the value loss is computed from."""
    ppo = load_config().ppo
    net = _net()
    batch = _batch(net)
    out = run_loss(make_loss(net, ppo), batch.clone())
    stale = ppo.value_coef * ((batch["state_value"] - batch["value_target"]) ** 2).mean()
    assert abs(float(out["loss_critic"].detach() - stale)) > 1e-4


def test_gradients_match_hand_written_loss_and_reach_the_trunk():
    ppo = load_config().ppo
    net = _net()
    batch = _batch(net)
    params = [p for _, p in net.named_parameters()]
    names = [n for n, _ in net.named_parameters()]
    out = run_loss(make_loss(net, ppo), batch.clone())
    want, _ = hand_loss(net, batch, ppo)

    total = sum(out[k] for k in LOSS_KEYS)
    total_ref = sum(want[k] for k in LOSS_KEYS)
    g = torch.autograd.grad(total, params, retain_graph=True, allow_unused=True)
    g_ref = torch.autograd.grad(total_ref, params, retain_graph=True)
    for name, a, b in zip(names, g, g_ref):
        assert a is not None, f"no gradient reaches {name}"
        assert torch.isfinite(a).all(), name
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-10, msg=f"total-loss grad of {name}")

    # The value loss alone: its gradient reaches the shared trunk (stem) and equals the reference.
    gc = torch.autograd.grad(out["loss_critic"], params, retain_graph=True, allow_unused=True)
    gc_ref = torch.autograd.grad(want["loss_critic"], params, retain_graph=True, allow_unused=True)
    by_name = dict(zip(names, zip(gc, gc_ref)))
    stem, stem_ref = by_name["stem.weight"]
    assert stem is not None and stem.abs().sum() > 0, "value gradient does not reach the trunk"
    for name, (a, b) in by_name.items():
        if b is None or not b.abs().sum() > 0:
            assert a is None or a.abs().sum() == 0, f"critic grad on {name} should be 0"
            continue
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13, msg=f"critic grad of {name}")
    # and the policy head gets none of it
    assert (
        by_name["policy_out.weight"][0] is None or by_name["policy_out.weight"][0].abs().sum() == 0
    )


def test_loss_finite_in_float32_with_single_move_rows():
    ppo = load_config().ppo
    net = _net(torch.float32)
    batch = _batch(net, torch.float32)
    out = run_loss(make_loss(net, ppo), batch.clone())
    for key in LOSS_KEYS + ("entropy", "kl_approx", "clip_fraction"):
        assert torch.isfinite(out[key]).all(), key
    total = sum(out[k] for k in LOSS_KEYS)
    total.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_single_move_rows_have_zero_entropy():
    ppo = load_config().ppo
    net = _net(torch.float32)
    batch = _batch(net, torch.float32)
    single = batch["action_mask"].sum(-1) == 1
    # Per-row entropy through the loss module's own distribution and entropy hook.
    loss = make_loss(net, ppo)
    actor, _ = make_actor_critic(net)
    dist = actor.get_dist(batch.clone())
    ent = loss._get_entropy(dist, batch.batch_size)[..., 0]
    assert torch.isfinite(ent).all()
    assert (ent[single] == 0).all(), ent[single]
    assert (ent[~single] > 0).all()
    _, hand_ent = hand_loss(net, batch, ppo)
    torch.testing.assert_close(ent, hand_ent, rtol=1e-5, atol=1e-6)
    # The single legal move has log-probability exactly 0.
    logits, _ = net(batch["observation"])
    lp = masked_log_softmax(logits, batch["action_mask"])
    assert (lp[single].gather(-1, batch["action"][single][:, None]) == 0).all()
    # A batch of only single-move rows: reported entropy 0, loss still finite.
    out = run_loss(loss, batch[single].clone())
    assert float(out["entropy"]) == 0.0
    assert all(torch.isfinite(out[k]) for k in LOSS_KEYS)


# ------------------------------------------------------------------------- policy helpers
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("scale", [1.0, 8.0])
def test_masked_log_softmax_low_precision(dtype, scale):
    _, mask = _positions()
    g = torch.Generator().manual_seed(0)
    logits32 = torch.randn(mask.shape, generator=g) * scale
    lp = masked_log_softmax(logits32.to(dtype), mask)
    assert lp.dtype == torch.float32  # computed in float32 whatever the input dtype
    legal = lp[mask]
    assert torch.isfinite(legal).all(), f"NaN/inf on legal labels in {dtype}"
    assert (legal <= 0).all()
    ref = logits32.masked_fill(~mask, float("-inf")).log_softmax(-1)
    tol = 0.05 if dtype == torch.float16 else 0.2
    assert (lp.float()[mask] - ref[mask]).abs().max() < tol * max(1.0, scale / 4)
    probs = lp.float().exp() * mask
    torch.testing.assert_close(probs.sum(-1), torch.ones(mask.shape[0]), rtol=0, atol=0.03)
    ent = masked_entropy(lp, mask)
    assert torch.isfinite(ent).all()
    assert (ent[mask.sum(-1) == 1] == 0).all()


def test_masked_log_softmax_float16_large_logits_stay_finite():
    logits = torch.zeros(1, 8, dtype=torch.float16)
    logits[0, 0] = 16.0
    logits.requires_grad_()
    mask = torch.zeros(1, 8, dtype=torch.bool)
    mask[0, :2] = True
    lp = masked_log_softmax(logits, mask)
    masked_entropy(lp, mask).sum().backward()
    assert torch.isfinite(lp).all(), lp
    assert torch.isfinite(logits.grad).all(), logits.grad


def test_gumbel_sample_legal_and_distributed_as_softmax():
    mask = initial_state(1)["legal_mask"][0]
    legal = mask.nonzero()[:, 0]
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2187, generator=g)
    lp = masked_log_softmax(logits[None], mask[None])[0]
    p = lp.exp()[legal].double()
    gen = torch.Generator().manual_seed(123)
    counts = torch.zeros(2187, dtype=torch.float64)
    rows, reps = 4096, 8
    for _ in range(reps):
        s = gumbel_sample(lp.expand(rows, -1), gen)
        assert s.shape == (rows,) and mask[s].all(), "sampled an illegal label"
        counts += torch.bincount(s, minlength=2187).double()
    n = rows * reps
    freq = counts[legal] / n
    assert (freq - p).abs().max() < 0.012  # > 4 standard errors at n = 32768
    chi2 = float(((counts[legal] - n * p) ** 2 / (n * p)).sum())
    assert chi2 < 58.3, f"chi-square {chi2:.1f} over {len(legal) - 1} dof (p < 0.001)"
    # deterministic for a given generator state
    a = gumbel_sample(lp.expand(16, -1), torch.Generator().manual_seed(5))
    b = gumbel_sample(lp.expand(16, -1), torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_gumbel_sample_batch_of_masks():
    """Different masks per row (real positions): every sample legal, single-move rows forced."""
    _, mask = _positions()
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(mask.shape, generator=g) * 3
    lp = masked_log_softmax(logits, mask)
    for _ in range(20):
        s = gumbel_sample(lp, g)
        assert mask.gather(-1, s[:, None]).all()
    single = mask.sum(-1) == 1
    assert torch.equal(s[single], mask[single].float().argmax(-1))
