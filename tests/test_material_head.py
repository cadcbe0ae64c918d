"""PPO's auxiliary material head (model.material_head, ppo.material_head_coef): options, a run
that trains it and resumes exactly, its gradient, and players that load it. Its target is
checked against a walk through the rollout in tests/test_advantage.py."""

from __future__ import annotations

import json

import pytest
import torch

from keisei_fn.config import ConfigError, load_config

from _tiny import TINY, TINY_AZ, assert_resumes_exactly, flat, tiny


def test_options_are_checked():
    with pytest.raises(ConfigError, match="model.material_head: must be >= 0"):
        load_config(None, ["model.material_head=-1"])
    with pytest.raises(ConfigError, match="ppo.material_head_coef"):
        load_config(None, ["ppo.material_head_coef=-1"])
    with pytest.raises(ConfigError, match="population.backend=loop reference"):
        load_config(None, ["model.material_head=8", "population.backend=loop"])
    with pytest.raises(ConfigError, match="algo=gumbel_az does not support model.material_head"):
        load_config(None, TINY + TINY_AZ + ["model.material_head=2", "total_updates=1"])
    with pytest.raises(ConfigError, match="leaves no position of a 6-step rollout"):
        load_config(None, TINY + ["model.material_head=6", "total_updates=1"])


@pytest.mark.parametrize("head", ["material", "reply"])  # (tests/test_reply_head.py's too)
def test_a_network_with_the_head_starts_as_the_one_without(head):
    """The same seed gives the same network with or without an auxiliary head (its weights come
    from a forked stream), so that screens compare the head on equal starts."""
    from keisei_fn.models import ActorCritic, state_params

    torch.manual_seed(3)
    plain = state_params(ActorCritic(blocks=1, channels=8, value_hidden=8))
    after_plain = torch.rand(3)
    torch.manual_seed(3)
    headed = state_params(ActorCritic(blocks=1, channels=8, value_hidden=8,
                                      **{f"{head}_head": True}))
    assert torch.equal(torch.rand(3), after_plain)
    assert set(headed.keys()) - set(plain.keys()) == {f"{head}_out"}
    for key, value in plain.items(include_nested=True, leaves_only=True):
        assert torch.equal(value, headed[key]), key


def test_a_run_with_the_material_head_trains_it_resumes_exactly_and_plays(tmp_path):
    _, final, _ = assert_resumes_exactly(tmp_path, "model.material_head=4")
    first = read_first(tmp_path / "straight")
    trained = flat(final["params"])["material_out.weight"]
    assert not torch.equal(first["material_out.weight"], trained)
    records = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").open()]
    head = [r["losses/loss_material_head"] for r in records if r["kind"] == "iteration"]
    assert len(head) == 4 and all(0 < h < 4 for h in head)
    # a player loads the network with its head (the head is not used to play)
    from keisei_fn.arena.opponents import make_player
    from keisei_fn.shogi import STARTPOS_SFEN, from_sfen

    player = make_player(str(tmp_path / "straight"))
    move = player.choose(from_sfen([STARTPOS_SFEN]), torch.Generator().manual_seed(0))
    assert 0 <= int(move[0]) < 2187


def read_first(run):
    from keisei_fn.checkpoint import list_checkpoints, read_checkpoint

    return flat(read_checkpoint(list_checkpoints(run)[0])["params"])


def test_the_loss_reaches_the_head_only_where_the_target_is_known(tmp_path):
    from keisei_fn.algos.ppo.loss import material_head_loss, population_loss
    from keisei_fn.models import build_model, state_params
    from contextlib import nullcontext

    cfg = tiny(tmp_path, "model.material_head=4", "total_updates=1", "population.size=2")
    params = torch.stack([state_params(build_model(cfg.model)).detach().clone()
                          for _ in range(2)])
    g = torch.Generator().manual_seed(0)
    from test_compile import _batch

    batch = _batch(8, 2)
    batch["material_ahead"] = torch.rand(2, 8, 1, generator=g) * 2 - 1
    # member 0 knows 4 targets, member 1 knows 3: each member's mean is over its own
    batch["material_ahead_known"] = torch.stack([torch.arange(8) % 2 == 0,
                                                 torch.arange(8) < 3])[..., None]
    loss = population_loss(cfg, nullcontext)
    grads = torch.func.grad(lambda p: loss(p, batch)[0])(params)
    assert (grads["material_out", "weight"].abs().sum((1, 2)) > 0).all()
    # the unknown targets take no part: changing them changes nothing
    other = batch.clone()
    other["material_ahead"][~other["material_ahead_known"]] = 5.0
    assert torch.equal(loss(params, batch)[0], loss(params, other)[0])
    predicted = torch.zeros(2, 8, 1)
    got = material_head_loss(predicted, batch)
    for k in range(2):
        known = batch["material_ahead_known"][k]
        torch.testing.assert_close(got[k], batch["material_ahead"][k][known].square().mean())
