"""Population training: the folded network and update equal K single agents; runs, resume, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import contextlib

import torch
from tensordict import TensorDict

from keisei_fn.agent import load_agent
from keisei_fn.models import ActorCritic, NetSpec, members_forward, state_params
from keisei_fn.checkpoint import CheckpointError, list_checkpoints, read_checkpoint
from keisei_fn.config import ConfigError, load_config
from keisei_fn.algos.ppo.loss import member_loss
from keisei_fn.algos.registry import make_update
from keisei_fn.learn.population import member_config
from keisei_fn.run.train import resume_config, train
from keisei_fn.learn.update import make_update_step

from _tiny import TINY, assert_resumes_exactly, flat, tiny

QUIET = dict(log=lambda *a: None)
NETS = {
    "resnet-se": dict(arch="resnet", blocks=2, channels=8, se_ratio=4, value_hidden=8),
    "resnet-no-se": dict(arch="resnet", blocks=1, channels=6, se_ratio=0, value_hidden=5),
    "cnn": dict(arch="cnn", blocks=2, channels=8, value_hidden=8),
    "no-tower": dict(arch="resnet", blocks=0, channels=4, value_hidden=4),
}


def random_members(spec: dict, k: int, dtype=torch.float64) -> list[ActorCritic]:
    nets = []
    for i in range(k):
        torch.manual_seed(100 + i)
        net = ActorCritic(**spec).to(dtype)
        for p in net.parameters():  # away from the zero-initialised residual branches
            p.data.add_(0.05 * torch.randn_like(p))
        nets.append(net)
    return nets


@pytest.mark.parametrize("name", list(NETS))
def test_folded_network_equals_each_member_network(name):
    nets = random_members(NETS[name], 3)
    params = torch.stack([state_params(n).detach().clone() for n in nets])
    obs = torch.randn(3, 5, 46, 9, 9, dtype=torch.float64)
    spec = NETS[name]
    logits, value = members_forward(params, obs, NetSpec(spec.get("arch", "resnet"), spec["blocks"],
                                                         spec.get("se_ratio", 4) > 0))
    assert logits.shape == (3, 5, 2187) and value.shape == (3, 5, 1)
    for k, net in enumerate(nets):
        want_logits, want_value = net(obs[k])
        torch.testing.assert_close(logits[k], want_logits, rtol=0, atol=1e-12)
        torch.testing.assert_close(value[k], want_value, rtol=0, atol=1e-12)


def test_the_folded_material_head_equals_each_member_s():
    """model.material_head: the folded forward's third output is each member's own."""
    spec = dict(NETS["resnet-se"], material_head=True)
    nets = random_members(spec, 2)
    params = torch.stack([state_params(n).detach().clone() for n in nets])
    obs = torch.randn(2, 5, 46, 9, 9, dtype=torch.float64)
    logits, value, material = members_forward(params, obs, NetSpec("resnet", 2, True),
                                              material=True)
    assert material.shape == (2, 5, 1)
    for k, net in enumerate(nets):
        want = net(obs[k], material=True)
        for got, expected in zip((logits[k], value[k], material[k]), want):
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    assert not torch.allclose(material, value)  # its own output layer


def _ppo_batch(k: int, n: int, generator) -> TensorDict:
    """Member minibatches [k, n] with random legal masks (some rows with one legal move)."""
    mask = torch.rand(k, n, 2187, generator=generator) < 0.02
    mask[..., 0] = True
    mask[:, 0] = False
    mask[:, 0, 7] = True  # a single legal move
    action = torch.stack([torch.multinomial(m.double(), 1).squeeze(-1)
                          for m in mask.reshape(-1, 2187)]).reshape(k, n)
    return TensorDict({
        "observation": torch.randn(k, n, 46, 9, 9, generator=generator, dtype=torch.float64),
        "action_mask": mask, "action": action,
        "action_log_prob": -3 + torch.rand(k, n, generator=generator, dtype=torch.float64),
        "state_value": torch.rand(k, n, 1, generator=generator, dtype=torch.float64) * 2 - 1,
        "advantage": torch.randn(k, n, 1, generator=generator, dtype=torch.float64),
        "value_target": torch.rand(k, n, 1, generator=generator, dtype=torch.float64) * 2 - 1,
    }, batch_size=[k, n])


def test_vmapped_update_equals_separate_single_agent_updates_float64():
    """Same parameters, Adam state and metrics as K single-agent steps (each with its own lr and
    entropy coefficient), three steps in a row, float64, tolerance 1e-10."""
    k = 3
    cfg = load_config(
        None,
        TINY
        + [
            "total_updates=1",
            "population.size=3",
            "population.lr=[1e-3,3e-3,1e-2]",
            "population.entropy_coef=[0.0,0.01,0.05]",
            "ppo.clip_value=true",
        ],
    )
    spec = dict(arch="resnet", blocks=1, channels=8, se_ratio=4, value_hidden=8)
    nets = random_members(spec, k)
    template = nets[0]
    folded = make_update(cfg, template)
    singles = [
        make_update_step(
            member_loss(member_config(cfg, i), template, contextlib.nullcontext),
            betas=(0.9, 0.999),
            eps=cfg.optim.eps,
            max_grad_norm=cfg.optim.max_grad_norm,
        )
        for i in range(k)
    ]
    from keisei_fn.learn.optim import adam_init

    params = torch.stack([state_params(n).detach().clone() for n in nets])
    opt = torch.stack([adam_init(p) for p in params.unbind(0)])
    lr = torch.tensor([member_config(cfg, i).optim.lr for i in range(k)], dtype=torch.float64)
    single = [(params[i].clone(), opt[i].clone()) for i in range(k)]
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        batch = _ppo_batch(k, 16, generator)
        params, opt, metrics = folded(params, opt, batch, lr)
        for i in range(k):
            p, o, m = singles[i](single[i][0], single[i][1], batch[i], lr[i])
            single[i] = (p, o)
            for key in m.keys():
                torch.testing.assert_close(metrics[i][key], m[key].to(metrics[i][key].dtype),
                                           rtol=1e-10, atol=1e-10, msg=key)
    moved = 0
    for i in range(k):
        for key, value in single[i][0].items(True, True):
            torch.testing.assert_close(params[i][key], value, rtol=1e-10, atol=1e-10)
            moved += int(not torch.equal(value, state_params(nets[i])[key]))
        torch.testing.assert_close(opt[i]["exp_avg_sq"], single[i][1]["exp_avg_sq"],
                                   rtol=1e-10, atol=1e-12)
    assert moved > 10  # the updates did something


def test_nonfinite_member_is_skipped_alone():
    # the update's forward follows the config's model, not the parameters' names
    cfg = load_config(None, TINY + ["total_updates=1", "population.size=2", "model.arch=cnn",
                                    "model.blocks=1", "model.channels=4", "model.value_hidden=4"])
    nets = random_members(dict(arch="cnn", blocks=1, channels=4, value_hidden=4), 2)
    update = make_update(cfg, nets[0])
    from keisei_fn.learn.optim import adam_init

    params = torch.stack([state_params(n).detach().clone() for n in nets])
    opt = torch.stack([adam_init(p) for p in params.unbind(0)])
    batch = _ppo_batch(2, 8, torch.Generator().manual_seed(1))
    batch["advantage"][1, 3] = float("nan")
    new, _, metrics = update(params, opt, batch, torch.tensor([1e-3, 1e-3], dtype=torch.float64))
    assert metrics["skipped"].tolist() == [0.0, 1.0]
    assert all(torch.equal(a, b) for a, b in zip(new[1].values(True, True),
                                                 params[1].values(True, True)))
    assert not all(torch.equal(a, b) for a, b in zip(new[0].values(True, True),
                                                     params[0].values(True, True)))


def _member_params(run_dir, k) -> dict:
    return flat(
        read_checkpoint(list_checkpoints(run_dir / "members" / f"member_{k}")[-1])["params"]
    )


def test_loop_population_reproduces_single_runs_bit_for_bit(tmp_path):
    """The population machinery (env rows, sampler and shuffle streams, per-member batches) replays
    single runs exactly when both use the same update arithmetic (the module-swapping step)."""
    seeds = [5, 9]
    for s in seeds:
        train(tiny(tmp_path / f"single{s}", "total_updates=3", f"seed={s}", "ppo.epochs=1",
                   "population.backend=loop"), **QUIET)
    summary = train(tiny(tmp_path / "pop", "total_updates=3", "population.size=2",
                         f"population.seeds={seeds}", "population.backend=loop", "ppo.epochs=1"),
                    **QUIET)
    assert summary["counters"]["iteration"] == 3
    for k, s in enumerate(seeds):
        single = flat(read_checkpoint(list_checkpoints(tmp_path / f"single{s}")[-1])["params"])
        member = _member_params(tmp_path / "pop", k)
        assert single.keys() == member.keys()
        for key in single:
            assert torch.equal(single[key], member[key]), (k, key)
    # the members differ from each other (different seeds), so the check above is not vacuous
    a, b = _member_params(tmp_path / "pop", 0), _member_params(tmp_path / "pop", 1)
    assert any(not torch.equal(a[key], b[key]) for key in a)


def test_folded_population_tracks_the_loop_population(tmp_path):
    """Same run with both backends: float32 rounding differs (grouped vs separate convolutions),
    so parameters agree to a tolerance, not bit for bit. Adam moves an element by up to about its
    learning rate a step whatever the gradient's size, so a rounding difference in a near-zero
    gradient shows as a fraction of that: the tolerance is 5% of one step at the member's rate,
    an empirical margin (seen: 1.9e-5 at 4e-3, 0.5%, on an AVX2 AMD EPYC, 2026-12-07), where a
    real difference between the backends moves elements by whole steps."""
    rates = (1e-3, 2e-3, 4e-3)
    common = ["total_updates=2", "population.size=3",
              f"population.lr=[{','.join(map(str, rates))}]"]
    train(tiny(tmp_path / "loop", *common, "population.backend=loop"), **QUIET)
    train(tiny(tmp_path / "folded", *common, "population.backend=folded"), **QUIET)
    for k, lr in enumerate(rates):
        a, b = _member_params(tmp_path / "loop", k), _member_params(tmp_path / "folded", k)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=0.05 * lr)


def test_population_resume_is_exact_and_members_load_as_agents(tmp_path):
    _, ca, cb = assert_resumes_exactly(tmp_path, "population.size=2",
                                       "population.entropy_coef=[0.0,0.02]")
    b = flat(cb["params"])
    assert all(value.shape[0] == 2 for value in b.values())
    agent, cfg = load_agent(tmp_path / "parted" / "members" / "member_1")
    assert cfg.ppo.entropy_coef == 0.02 and cfg.population.size == 1 and cfg.seed == 1
    assert torch.equal(agent.params["stem", "weight"][0], b["stem.weight"][1])
    with pytest.raises(CheckpointError, match="population of 2 agents; load one member"):
        load_agent(tmp_path / "parted")
    ranking = json.loads((tmp_path / "parted" / "ranking.json").read_text())
    assert sorted(r["member"] for r in ranking) == [0, 1]
    # the round robin between members: member 0's score is 1 - member 1's
    assert sum(r["score_members"] for r in ranking) == pytest.approx(1.0)


def test_resume_with_another_population_size_is_refused(tmp_path):
    train(tiny(tmp_path / "run", "population.size=2", "total_updates=1"), **QUIET)
    cfg = resume_config(tmp_path / "run", ["population.size=3", "total_updates=2"])
    with pytest.raises(CheckpointError, match="population of 2, the config asks for .*=3"):
        train(cfg, resume=True, **QUIET)


@pytest.mark.parametrize("override, message", [
    (["population.size=2", "population.lr=[1e-3]"], "population.lr: 1 values for"),
    (["population.size=2", "population.seeds=[1,2,3]"], "population.seeds: 3 values for"),
    (["population.size=2", "population.lr=[1e-3,-1]"], "population.lr: every value must be > 0"),
    (["population.backend=vmap"], "population.backend: 'vmap' is not one of folded, loop"),
    (["population.size=0"], "population.size: must be >= 1"),
    (["population.size=2", "league.fraction=0.5"], "league.fraction > 0 is not supported"),
    (["population.size=2", "population.simulations=[4,8]"],
     "population.simulations: algo=ppo has no simulations setting"),
    (["algo=gumbel_az", "population.size=2", "population.simulations=[4]"],
     "population.simulations: 1 values for"),
    (["algo=gumbel_az", "population.size=2", "population.simulations=[4,0]"],
     "population.simulations: every value must be >= 1"),
])
def test_population_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, override)


def test_cli_population_run_with_aim_member_context(tmp_path):
    from keisei_fn.run.tracking import read_metrics

    run_dir = tmp_path / "cli"
    overrides = [o for o in TINY if not o.startswith("track.aim")] + [
        f"run_dir={run_dir}", "total_updates=1", "population.size=2"]
    proc = subprocess.run([sys.executable, "-m", "keisei_fn.cli", "train", *overrides],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "population ranking" in proc.stdout and "vs members" in proc.stdout
    assert "member 1 vs random" in proc.stdout
    payload = read_checkpoint(list_checkpoints(run_dir)[-1])
    metrics = read_metrics(str(run_dir / "aim"), payload["aim_hash"])
    for k in (0, 1):
        assert f'losses/policy|{{"member":"{k}"}}' in metrics
        assert f'eval_random/score|{{"member":"{k}"}}' in metrics
