"""The algorithm interface (keisei_fn/algos/base.py) carries an algorithm the package does not
know: REINFORCE with a baseline, defined in tests/_reinforce.py and registered here, trains,
checkpoints, resumes bit for bit and plays, with no edit to keisei_fn."""

from __future__ import annotations

import pytest
import torch
from _reinforce import REINFORCE, returns
from _tiny import assert_resumes_exactly, tiny

from keisei_fn.agent import load_agent
from keisei_fn.algos import registry
from keisei_fn.config import ConfigError
from keisei_fn.learn import init_members
from keisei_fn.run.train import train

ALGO = ["algo=reinforce", "reinforce.rollout_steps=8"]


@pytest.fixture
def reinforce():
    registry.register(REINFORCE)
    yield REINFORCE
    registry.unregister(REINFORCE.name)


def test_returns_are_each_movers_result_within_the_window():
    # one row: a game ends at t=2 (the mover wins), the next game ends at t=4 (a draw), t=5 open
    reward = torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0, 0.0]])
    done = torch.tensor([[False, False, True, False, True, False]])
    ret, known = returns(reward, done)
    assert ret.tolist() == [[1.0, -1.0, 1.0, 0.0, 0.0, 0.0]]
    assert known.tolist() == [[True, True, True, True, True, False]]


def test_unknown_algorithm_is_refused_naming_the_registered_ones(tmp_path):
    with pytest.raises(ConfigError, match="algo: 'reinforce' is not one of ppo, gumbel_az"):
        tiny(tmp_path, "algo=reinforce")
    with pytest.raises(ConfigError, match="Key 'reinforce' not in"):
        tiny(tmp_path, *ALGO)
    with pytest.raises(ValueError, match="unknown algorithm 'nope'"):
        registry.get("nope")


def test_a_registered_algorithm_trains_checkpoints_resumes_exactly_and_plays(tmp_path, reinforce):
    summary, _, _ = assert_resumes_exactly(tmp_path, *ALGO, total=4, split=2)
    assert summary["counters"]["optimizer_updates"] == 4
    agent, cfg = load_agent(tmp_path / "parted")
    assert cfg.algo == "reinforce" and agent.value_prior == 0.0
    result = summary["eval"][0]
    assert result["wins"] + result["draws"] + result["losses"] == 2


def test_a_registered_algorithm_learns(tmp_path, reinforce):
    """Its loss reaches the parameters: they move from the initial network's."""
    run = tmp_path / "run"
    cfg = tiny(run, *ALGO, "total_updates=3", "env.max_plies=8")
    out = train(cfg, log=lambda *a: None)
    agent, _ = load_agent(run)
    start = init_members(cfg, torch.device("cpu"))[0]
    moved = [k for k, v in agent.params[0].items(True, True) if not torch.equal(v, start.get(k))]
    assert moved and out["counters"]["frames"] == 3 * 4 * 8
