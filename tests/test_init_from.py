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
               "total_updates=1", "population.size=2"), log=notes.append)
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
