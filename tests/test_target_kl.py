"""PPO's KL early stop (`ppo.target_kl`): a member whose epoch reached the target makes no more
updates that iteration, and ends where a run with fewer epochs ends, to the bit; the others go on
as if there were no target."""

from __future__ import annotations

import pytest
import torch
from _tiny import first_batch
from omegaconf import OmegaConf

from keisei_fn.algos.ppo.learn import learn
from keisei_fn.learn.population import gather_minibatch
from keisei_fn.models import masked_log_softmax, members_forward, net_spec


def _with(cfg, **ppo):
    return OmegaConf.merge(cfg, {"ppo": ppo})


def _learn(cfg, state, batch, parts, **ppo):
    """learn() from the same start every time (it leaves the state passed in as it was)."""
    return learn(state, batch, parts.update, _with(cfg, **ppo), log=lambda *a: None)


def _equal(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.values(True, True), b.values(True, True)))


@pytest.fixture(scope="module")
def two_members():
    # member 0 barely moves (KL ~0), member 1 moves a lot in one epoch
    return first_batch("population.size=2", "population.lr=[1e-7,0.05]", "ppo.epochs=3")


def test_a_member_past_the_target_stops_where_a_shorter_run_ends(two_members):
    cfg, parts, state, batch = two_members
    per_epoch = batch.batch_size[1] // cfg.ppo.minibatch_size
    one, _ = _learn(cfg, state, batch, parts, epochs=1)
    three, _ = _learn(cfg, state, batch, parts, epochs=3)
    stopped, metrics = _learn(cfg, state, batch, parts, epochs=3, target_kl=1e-4)
    assert [m["epochs"] for m in metrics] == [3.0, 1.0]
    assert _equal(stopped.params[1], one.params[1])
    assert _equal(stopped.opt_state[1], one.opt_state[1])
    assert _equal(stopped.params[0], three.params[0])
    assert not _equal(stopped.params[1], three.params[1])
    # every minibatch was still computed for member 0
    assert stopped.counters.optimizer_updates == 3 * per_epoch


def test_the_iteration_ends_when_every_member_stopped(two_members):
    cfg, parts, state, batch = two_members
    per_epoch = batch.batch_size[1] // cfg.ppo.minibatch_size
    one, _ = _learn(cfg, state, batch, parts, epochs=1)
    # a target nobody stays under: one epoch, then nothing more is computed
    stopped, metrics = _learn(cfg, state, batch, parts, epochs=3, target_kl=1e-30)
    assert [m["epochs"] for m in metrics] == [1.0, 1.0]
    assert stopped.counters.optimizer_updates == per_epoch
    assert _equal(stopped.params, one.params)
    # the shuffle streams moved as far as a one-epoch run's
    assert all(torch.equal(a.get_state(), b.get_state())
               for a, b in zip(stopped.shuffle, one.shuffle))
    # without a target, no "epochs" metric and every epoch runs
    _, plain = _learn(cfg, state, batch, parts, epochs=3)
    assert "epochs" not in plain[0]


def test_kl_approx_is_the_k3_estimator_by_hand():
    """The KL the stop reads: mean of (r - 1) - log r over the minibatch, r = pi_new / pi_old,
    computed here from the masked log-softmax, never negative (TorchRL's k1 can be)."""
    cfg, parts, state, batch = first_batch()
    mb = gather_minibatch(batch, torch.arange(cfg.ppo.minibatch_size)[None], cfg.env.max_plies,
                          attacks=False)
    moved = state.params.apply(lambda p: p + 0.05 * torch.randn_like(p))
    with torch.no_grad():
        logits, _ = members_forward(moved, mb["observation"], net_spec(cfg.model))
    new = masked_log_softmax(logits, mb["action_mask"]).gather(
        -1, mb["action"][..., None]).squeeze(-1)
    log_ratio = new - mb["action_log_prob"]
    k3 = (log_ratio.exp() - 1 - log_ratio).mean()
    _, _, metrics = parts.update(moved, state.opt_state, mb, torch.tensor([0.0]))
    assert float(k3) > 1e-4 and float(log_ratio.mean()) != 0
    torch.testing.assert_close(metrics["kl_approx"][0], k3, rtol=1e-4, atol=1e-7)


def test_learning_twice_from_one_state_gives_one_result():
    """learn() leaves the state it is given as it was (its shuffle streams advance in copies):
    two calls on the same state, nothing copied by hand, end equal, and the state's streams
    have not moved."""
    cfg, parts, state, batch = first_batch()
    before = [g.get_state() for g in state.shuffle]
    a, _ = learn(state, batch, parts.update, cfg, log=lambda *a: None)
    b, _ = learn(state, batch, parts.update, cfg, log=lambda *a: None)
    assert _equal(a.params, b.params) and _equal(a.opt_state, b.opt_state)
    assert not _equal(a.params, state.params)
    assert all(torch.equal(g.get_state(), s) for g, s in zip(state.shuffle, before))
    assert all(torch.equal(x.get_state(), y.get_state()) for x, y in zip(a.shuffle, b.shuffle))
    assert not torch.equal(a.shuffle[0].get_state(), before[0])
