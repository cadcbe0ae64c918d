"""optim.precision: bf16 autocast for the network in acting and learning, float32 everywhere else.

What must hold in every precision: illegal moves have probability exactly 0, PPO's ratio at the
first epoch is 1 (the acting and the learning forward agree row by row), and a run resumes
exactly."""

from __future__ import annotations

import pytest
import torch

from keisei_fn import _runtime
from keisei_fn.config import ConfigError, load_config
from keisei_fn.env.compact import network_input
from keisei_fn.learn.population import gather_minibatch
from keisei_fn.models import masked_log_softmax, members_forward, net_spec, precision
from keisei_fn.run.parts import build
from keisei_fn.run.snapshot import fresh_state

from _tiny import TINY, assert_resumes_exactly, batch_of, collector_of, flat

CPU = torch.device("cpu")
DEFAULT_NET = ["model.blocks=2", "model.channels=32", "model.value_hidden=64"]


def peaked(params, scale: float = 300.0):
    """Parameters whose policy is far from uniform (logits of size ~2): where precision shows."""
    params = params.clone()
    params["policy_out", "weight"].mul_(scale)
    return params


def collect_batch(*extra):
    """(cfg, parts, state, stored batch [1, N]) from one rollout of the peaked network."""
    torch.manual_seed(0)
    cfg = load_config(None, TINY + ["total_updates=1", "env.batch_size=32", *DEFAULT_NET, *extra])
    parts = build(cfg, log=lambda *a: None)
    state = fresh_state(cfg, parts)
    state = state.replace(params=peaked(state.params))
    try:
        _, rollout, after = collector_of(cfg, parts)(state)
        batch = batch_of(cfg, parts, rollout, after)
    finally:
        parts.collector.shutdown()
    return cfg, parts, state, batch


@pytest.mark.parametrize("mode", ["fp32", "bf16"])
def test_illegal_moves_have_probability_exactly_zero(mode):
    cfg, parts, state, batch = collect_batch(f"optim.precision={mode}")
    batch = network_input(batch, cfg.env.max_plies, attacks=False)
    with torch.no_grad(), precision.autocast(mode, CPU):
        logits, _ = members_forward(state.params, batch["observation"], net_spec(cfg.model))
    assert logits.dtype == (torch.bfloat16 if mode == "bf16" else torch.float32)
    probs = masked_log_softmax(logits, batch["action_mask"]).exp()
    assert probs.dtype == torch.float32
    assert (probs[~batch["action_mask"]] == 0).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(probs.shape[:-1]), rtol=0, atol=1e-5)
    assert batch["action_mask"].gather(-1, batch["action"][..., None]).all()  # sampled legally


@pytest.mark.parametrize("mode", ["fp32", "bf16"])
def test_ppo_ratio_is_one_at_the_first_epoch(mode):
    """The learner's log-probability of each collected move, computed as the update computes it
    (its precision, a shuffled minibatch of other rows), equals the acting policy's: tolerance
    1e-6 on the ratio, in bf16 as in fp32. The same check between a bf16 actor and an fp32
    learner fails it by orders of magnitude, so the tolerance is not vacuous."""
    cfg, parts, state, batch = collect_batch(f"optim.precision={mode}")
    index = torch.randperm(batch.batch_size[1], generator=torch.Generator().manual_seed(1))[None]
    mb = gather_minibatch(batch, index[:, :cfg.ppo.minibatch_size * 4], cfg.env.max_plies,
                          attacks=False)

    def learner_log_prob(learning_precision):
        with torch.no_grad(), precision.autocast(learning_precision, CPU):
            logits, _ = members_forward(state.params, mb["observation"], net_spec(cfg.model))
        return masked_log_softmax(logits, mb["action_mask"]).gather(
            -1, mb["action"][..., None]).squeeze(-1)

    ratio = (learner_log_prob(mode) - mb["action_log_prob"]).exp()
    assert float((ratio - 1).abs().max()) <= 1e-6
    if mode == "bf16":
        mixed = (learner_log_prob("fp32") - mb["action_log_prob"]).exp()
        assert float((mixed - 1).abs().max()) > 1e-4
    # and through the update step itself: no move is clipped, the KL estimate is ~0
    _, _, metrics = parts.update(state.params, state.opt_state, mb, torch.tensor([cfg.optim.lr]))
    assert float(metrics["clip_fraction"][0]) == 0.0
    assert abs(float(metrics["kl_approx"][0])) < 1e-6


def test_bf16_run_resumes_exactly(tmp_path):
    _, a, _ = assert_resumes_exactly(tmp_path, "optim.precision=bf16", "ppo.epochs=1")
    for key, value in flat(a["params"]).items():
        assert value.dtype == torch.float32, key  # parameters stay float32


def test_auto_means_bf16_exactly_where_it_is_faster(monkeypatch):
    real_reader = _runtime.cpu_model_and_flags
    monkeypatch.delenv(precision.PROBE_ENV, raising=False)
    cases = [({"avx2", "avx512f"}, 9.0, "fp32"),  # emulated: never, whatever a probe said
             ({"avx512_bf16"}, 0.84, "fp32"),  # AMX hidden by a VM: measured slower
             ({"avx512_bf16"}, 2.0, "bf16"),  # Zen 4
             ({"amx_bf16", "amx_tile"}, 0.5, "bf16")]  # AMX: no probe
    for flags, speedup, expected in cases:
        monkeypatch.setattr(_runtime, "cpu_model_and_flags",
                            lambda flags=flags: ("test CPU", frozenset(flags)))
        monkeypatch.setattr(precision, "bf16_speedup", lambda speedup=speedup: speedup)
        assert precision.resolve("auto", CPU) == expected, (flags, speedup)
        assert precision.resolve("fp32", CPU) == "fp32"
        assert precision.resolve("bf16", CPU) == "bf16"
    # ranks take their launcher's answer instead of probing side by side
    monkeypatch.setattr(_runtime, "cpu_model_and_flags", lambda: ("test CPU", {"avx512_bf16"}))
    for inherited, expected in [("1", "bf16"), ("0", "fp32")]:
        monkeypatch.setenv(precision.PROBE_ENV, inherited)
        assert precision.resolve("auto", CPU) == expected
    assert real_reader()[0]  # the real reader names some CPU


def test_the_probe_measures_this_cpu():
    # a smaller probe than the launcher's (bf16 is emulated, and slow, on CPUs without it)
    speedup = precision.bf16_speedup(rounds=1, batch=32)
    assert 0.05 < speedup < 20  # a ratio of two real timings, not a constant
    assert precision.bf16_speedup(rounds=1, batch=32) == speedup  # once per process


def test_precision_is_checked():
    with pytest.raises(ConfigError, match="optim.precision: 'fp16' is not one of auto, fp32, bf16"):
        load_config(None, ["optim.precision=fp16"])


def test_auto_is_resolved_when_the_update_is_built_not_inside_it(monkeypatch):
    """Reading the CPU's flags inside the (compiled) update step would break its graph: `auto`
    must be resolved once, when the step is built."""
    cfg, parts, state, batch = collect_batch("optim.precision=auto")

    def no_reads():
        raise AssertionError("the update step read the CPU's flags")

    monkeypatch.setattr(_runtime, "cpu_model_and_flags", no_reads)
    minibatch = network_input(batch[:, :8], cfg.env.max_plies, attacks=False)
    parts.update(state.params, state.opt_state, minibatch, torch.tensor([cfg.optim.lr]))


def test_the_launcher_probes_once_for_its_ranks(monkeypatch):
    from keisei_fn.cli import _precision_for_ranks

    monkeypatch.delenv(precision.PROBE_ENV, raising=False)
    monkeypatch.setattr(_runtime, "cpu_model_and_flags", lambda: ("test CPU", {"avx512_bf16"}))
    for speedup, flag in [(0.84, "0"), (2.0, "1")]:
        monkeypatch.setattr(precision, "bf16_speedup", lambda speedup=speedup: speedup)
        assert _precision_for_ranks(load_config(None, [])) == {precision.PROBE_ENV: flag}
    assert _precision_for_ranks(load_config(None, ["optim.precision=fp32"])) == {}
    # where the flags decide, every rank reads them alike: no probe (and no torch) in the launcher
    monkeypatch.setattr(precision, "bf16_speedup", lambda: pytest.fail("probed"))
    for flags in ({"amx_bf16", "avx512_bf16"}, {"avx2"}):
        monkeypatch.setattr(_runtime, "cpu_model_and_flags", lambda f=flags: ("test CPU", f))
        assert _precision_for_ranks(load_config(None, [])) == {}
