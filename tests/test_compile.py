"""torch.compile: zero graph breaks in the policy forward, the loss forward and the whole update
step; a compiled run matches an eager one; a failing compile falls back to eager with a warning."""

from __future__ import annotations

import warnings

import pytest
import torch
from tensordict import TensorDict

from keisei_fn.models import ActorCritic, state_params
from keisei_fn.models import NetSpec, members_forward
from keisei_fn.env.compact import pack_mask
from keisei_fn.learn import compile as compile_module
from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
from keisei_fn.config import ConfigError, load_config
from keisei_fn.algos.ppo.loss import make_loss
from keisei_fn.learn.optim import adam_init
from keisei_fn.algos.registry import make_update
from keisei_fn.run.train import train

from _tiny import TINY, flat, tiny


def _explain(fn, *args):
    torch._dynamo.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = torch._dynamo.explain(fn)(*args)
    reasons = [str(r.reason).splitlines()[0] for r in out.break_reasons]
    return out.graph_count, out.graph_break_count, reasons


def _net(material_head: bool = False, reply_head: bool = False):
    torch.manual_seed(0)
    return ActorCritic(blocks=1, channels=8, value_hidden=8, material_head=material_head,
                       reply_head=reply_head)


def _batch(n: int, members: int | None = None) -> TensorDict:
    shape = (n,) if members is None else (members, n)
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(*shape, 2187, generator=g) < 0.03
    mask[..., 5] = True
    return TensorDict({
        "observation": torch.randn(*shape, 46, 9, 9, generator=g), "action_mask": mask,
        "action": torch.full(shape, 5), "action_log_prob": torch.full(shape, -3.0),
        "state_value": torch.zeros(*shape, 1), "advantage": torch.randn(*shape, 1, generator=g),
        "value_target": torch.rand(*shape, 1, generator=g)}, batch_size=list(shape))


def test_policy_forward_has_no_graph_breaks():
    graphs, breaks, reasons = _explain(_net(), torch.randn(4, 46, 9, 9))
    assert (graphs, breaks) == (1, 0), reasons


def test_folded_members_forward_has_no_graph_breaks():
    params = torch.stack([state_params(_net()).detach().clone() for _ in range(3)])
    graphs, breaks, reasons = _explain(members_forward, params, torch.randn(3, 4, 46, 9, 9),
                                       NetSpec(blocks=1))
    assert (graphs, breaks) == (1, 0), reasons


def test_loss_forward_has_no_graph_breaks():
    cfg = load_config(None, ["total_updates=1"])
    batch = _batch(6)
    logits, value = _net()(batch["observation"])
    batch["net_logits"], batch["net_value"] = logits.detach(), value.detach()
    graphs, breaks, reasons = _explain(make_loss(None, cfg.ppo), batch)
    assert (graphs, breaks) == (1, 0), reasons


# ("auto" is one of these two on any machine); the fp32 case with the tactics loss
# (ppo.tactics_coef), the material head (model.material_head) and the reply head
# (model.reply_head) too, and their targets
@pytest.mark.parametrize("mode", ["fp32", "bf16"])
def test_whole_update_step_has_no_graph_breaks(mode):
    tactics = (["ppo.tactics_coef=1", "model.material_head=4", "model.reply_head=true"]
               if mode == "fp32" else [])
    cfg = load_config(None, TINY + ["total_updates=1", "population.size=2",
                                    f"optim.precision={mode}", *tactics])
    net = _net(material_head=bool(tactics), reply_head=bool(tactics))
    update = make_update(cfg, net)
    params = torch.stack([state_params(net).detach().clone() for _ in range(2)])
    opt = torch.stack([adam_init(p) for p in params.unbind(0)])
    batch = _batch(8, 2)
    if tactics:
        batch["tactics_bits"] = pack_mask(batch["action_mask"] & (torch.arange(2187) % 2 == 0))
        batch["labelled"] = torch.arange(8).expand(2, 8) % 3 == 0
        batch["material_ahead"] = torch.rand(2, 8, 1) * 2 - 1
        batch["material_ahead_known"] = torch.arange(8).expand(2, 8)[..., None] % 4 != 0
        batch["reply_action"] = torch.full((2, 8), 7)
        batch["reply_mask_bits"] = pack_mask(batch["action_mask"] | (torch.arange(2187) == 7))
        batch["reply_known"] = torch.arange(8).expand(2, 8) % 3 != 0
    graphs, breaks, reasons = _explain(update, params, opt, batch, torch.tensor([1e-3, 2e-3]))
    assert breaks == 0 and graphs == 1, reasons


def test_compiled_run_matches_eager_run(tmp_path):
    train(tiny(tmp_path / "eager", "total_updates=2"), log=lambda *a: None)
    messages = []
    train(tiny(tmp_path / "compiled", "total_updates=2", "optim.compile=default"),
          log=messages.append)
    assert any("compiled the update step in" in m for m in messages), messages
    import psutil

    children = [c.cmdline() for c in psutil.Process().children(recursive=True)]
    # multiprocessing's resource tracker stays until exit in any process that used a pool
    assert [c for c in children if "resource_tracker" not in " ".join(c)] == [], children
    a = flat(read_checkpoint(list_checkpoints(tmp_path / "eager")[-1])["params"])
    b = flat(read_checkpoint(list_checkpoints(tmp_path / "compiled")[-1])["params"])
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)


def test_compile_failure_falls_back_to_eager(monkeypatch):
    def broken_compile(fn, **kwargs):
        def raise_(*args):
            raise RuntimeError("no C++ compiler found\nmore detail")
        return raise_

    monkeypatch.setattr(torch, "compile", broken_compile)
    calls = []

    def update(x):
        calls.append(x)
        return x + 1

    messages = []
    step = compile_module.compile_update(update, "default", log=messages.append)
    assert step(1) == 2 and step(2) == 3
    # the announcement, then one warning: no "compiled ... in" line, no second try
    assert len(messages) == 2 and messages[0].startswith("compiling the update step"), messages
    assert "failed (RuntimeError: no C++ compiler found)" in messages[1]
    assert "continuing eagerly" in messages[1]


@pytest.mark.parametrize("value, mode", [("off", "off"), ("false", "off"), ("true", "default"),
                                         ("default", "default"), ("max-autotune", "max-autotune")])
def test_compile_mode_spellings(value, mode):
    assert load_config(None, [f"optim.compile={value}"]).optim.compile == mode


@pytest.mark.parametrize("value", ["fast", "max_autotune", "1"])
def test_compile_mode_is_checked(value):
    with pytest.raises(ConfigError, match="optim.compile: .* is not one of off, default, "
                                          "max-autotune"):
        load_config(None, [f"optim.compile={value}"])


def test_acting_policy_has_no_graph_breaks_and_compiled_matches_eager():
    from keisei_fn.collect.policy import act

    net = _net()
    with torch.no_grad():
        for k in (1, 2):  # a single agent (a population of one) and two members
            params = torch.stack([state_params(net).detach().clone() for _ in range(k)])
            members = _batch(16, k)
            u = torch.rand(k, 16, 2187, generator=torch.Generator().manual_seed(4))
            graphs, breaks, reasons = _explain(act, params, members["observation"],
                                               members["action_mask"], u, NetSpec(blocks=1))
            assert (graphs, breaks) == (1, 0), reasons
        torch._dynamo.reset()
        eager = act(params, members["observation"], members["action_mask"], u, NetSpec(blocks=1))
        compiled = torch.compile(act, dynamic=False)(params, members["observation"],
                                                     members["action_mask"], u,
                                                     NetSpec(blocks=1))
    assert torch.equal(eager[0], compiled[0])  # the same moves from the same noise
    torch.testing.assert_close(eager[1], compiled[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(eager[2], compiled[2], rtol=1e-5, atol=1e-5)


def test_compiled_acting_policy_pickles_for_worker_processes():
    """The process collector sends the policy to spawned workers: the compiled acting function
    must pickle (each worker compiles its own copy, quietly)."""
    import pickle

    from keisei_fn.collect.policy import act

    step = compile_module.compile_update(act, "default", log=print, what="the acting policy")
    clone = pickle.loads(pickle.dumps(step))
    assert clone.fn is act and clone.mode == "default" and clone.log is not print


def test_compiled_step_does_not_recompile_when_tensordict_meets_a_new_class():
    """tensordict memoises which classes are tensorclasses; code run between two updates (the
    collector) adds to that memo, which must not recompile the update."""
    from tensordict.utils import _TENSORCLASS_MEMO, is_tensorclass
    from torch._dynamo.utils import counters

    def step(td):
        return td.apply(lambda x: x * 2 + 1)

    torch._dynamo.reset()
    counters.clear()
    compiled = compile_module.compile_update(step, "default", log=lambda *a: None)
    td = TensorDict({"a": torch.ones(3), "b": torch.zeros(2)}, batch_size=[])
    compiled(td)
    frames = counters["stats"]["unique_graphs"]
    size = len(_TENSORCLASS_MEMO)
    is_tensorclass(type("NewToTensordict", (), {}))
    assert len(_TENSORCLASS_MEMO) == size + 1
    assert torch.equal(compiled(td)["a"], torch.full((3,), 3.0))
    assert counters["stats"]["unique_graphs"] == frames >= 1, dict(counters["recompiles"])
