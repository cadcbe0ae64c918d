"""`init_from`: a new run starts from another run's network (e.g. Gumbel AlphaZero from a PPO
network); a resumed run ignores it; a network that does not fit fails before anything is built."""

from __future__ import annotations

import shutil

import pytest
import torch
from _tiny import TINY_AZ, final_params, flat, tiny

from keisei_fn.checkpoint import CheckpointError
from keisei_fn.run.train import resume_config, train


def test_a_gumbel_az_run_starts_from_a_ppo_network_and_resume_ignores_it(tiny_run, tmp_path):
    source = tmp_path / "ppo"
    shutil.copytree(tiny_run, source)
    before = flat(final_params(source))
    run = tmp_path / "az"
    notes = []
    # a buffer that never fills: the iteration plays but does not learn, so the run's
    # parameters are still the starting network's at its checkpoint
    train(tiny(run, *TINY_AZ, f"init_from={source}", "gumbel_az.min_buffer=512",
               "total_updates=1", "population.size=2", "eval.max_plies=8"), log=notes.append)
    assert any(f"initial network: {source} (ppo)" in n for n in notes)
    # the PPO run shaped with 0.05 per pawn (TINY), Gumbel AZ's prior is 0.02: said, not fatal
    assert any("material prior of 0.05" in n for n in notes)
    after = final_params(run)
    for k in range(2):
        member = flat({n: v[k] for n, v in flat(after).items()})
        assert member.keys() == before.keys()
        for name in before:
            assert torch.equal(member[name], before[name]), (k, name)
    # resuming reads the run's own checkpoint, not init_from (gone by now)
    shutil.rmtree(source)
    summary = train(resume_config(run, ["total_updates=2"]), resume=True, log=lambda *a: None)
    assert summary["counters"]["iteration"] == 2


def test_a_network_that_does_not_fit_is_refused_before_the_run_builds(tiny_run, tmp_path):
    with pytest.raises(CheckpointError, match=r"model\.channels=8 here 16"):
        train(tiny(tmp_path / "wide", f"init_from={tiny_run}", "model.channels=16",
                   "total_updates=1"), log=lambda *a: None)
    assert not (tmp_path / "wide").exists()
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        train(tiny(tmp_path / "none", f"init_from={tmp_path / 'missing.pt'}",
                   "total_updates=1"), log=lambda *a: None)


def test_a_network_without_attack_planes_starts_one_with_them_as_the_same_function(tiny_run,
                                                                                   tmp_path):
    """`model.attack_planes=true` from a network without them: its stem's weights on the two
    planes (which only ever read zeros) start at zero, so the new network computes what the
    source did, whatever the planes hold; the reverse is refused."""
    import dataclasses

    from keisei_fn.agent import load_agent
    from keisei_fn.models import members_forward
    from keisei_fn.run.snapshot import starting_network
    from keisei_fn.shogi import ATTACK_PLANES, from_sfen, observe, step

    source, _ = load_agent(tiny_run)
    assert source.spec.attacks is False
    notes = []
    start = starting_network(tiny(tmp_path / "planes", f"init_from={tiny_run}",
                                  "model.attack_planes=true", "total_updates=1"),
                             log=notes.append)
    assert any("its first layer starts without them" in n for n in notes)
    before = flat(source.params[0].cpu().to_dict())
    after = flat(start.to_dict())
    assert before.keys() == after.keys()
    stem = "stem.weight"
    for name in before:
        if name != stem:
            assert torch.equal(before[name], after[name]), name
    assert before[stem][:, ATTACK_PLANES].abs().sum() > 0  # the source's were not zero
    assert after[stem][:, ATTACK_PLANES].eq(0).all()
    assert torch.equal(after[stem][:, :44], before[stem][:, :44])
    state = from_sfen(["lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"] * 4)
    state = step(state, state["legal_mask"].float().argmax(1))
    theirs = members_forward(source.params.cpu(), observe(state)[None], source.spec)
    ours = members_forward(start[None], observe(state, attacks=True)[None],
                           dataclasses.replace(source.spec, attacks=True))
    for a, b in zip(theirs, ours, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

    planes = tmp_path / "with"
    train(tiny(planes, "model.attack_planes=true", "total_updates=1"), log=lambda *a: None)
    with pytest.raises(CheckpointError, match=r"model\.attack_planes=True here False"):
        starting_network(tiny(tmp_path / "without", f"init_from={planes}", "total_updates=1"))
