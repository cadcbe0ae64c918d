"""A run written by the code before the package was restructured (train/ split into collect/,
algos/, learn/ and run/; tests/data/run_before_restructure, made by commit d170020 with a tiny
config) still loads as it is: in `train --resume`, `eval`, `usi` and `play`."""

from __future__ import annotations

import shutil

import pytest
from pathlib import Path

from keisei_fn.agent import load_agent
from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
from keisei_fn.cli import main as cli_main
from keisei_fn.run.train import resume_config, train

OLD_RUN = Path(__file__).parent / "data" / "run_before_restructure"


def test_old_run_resumes(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(OLD_RUN, run)
    # Its config predates opening suites: an 8-ply evaluation cap leaves no room for the default
    # suite, which the resumed run is told in one line; without openings it goes on.
    with pytest.raises(ValueError, match="eval.max_plies=8 leaves no room"):
        train(resume_config(run, ["total_updates=3"]), resume=True, log=lambda *a: None)
    summary = train(resume_config(run, ["total_updates=3", "eval.openings=none"]), resume=True,
                    log=lambda *a: None)
    assert summary["counters"]["iteration"] == 3
    assert read_checkpoint(list_checkpoints(run)[-1])["counters"]["iteration"] == 3


def test_old_checkpoint_plays_in_eval_usi_and_play(tmp_path, capsys):
    from keisei_fn.apps.usi_engine import Options, load_engine_agent

    agent, cfg = load_agent(OLD_RUN)  # what `play` loads
    assert cfg.model.channels == 8 and agent.params["stem", "weight"].shape[:2] == (1, 8)
    loaded = load_engine_agent(Options(checkpoint=str(OLD_RUN)))  # what `usi` loads
    assert loaded.checkpoint == str(OLD_RUN)
    assert cli_main(["eval", "--agent", str(OLD_RUN), "--opponent", "random", "--games", "2",
                     "--max-plies", "60", "--out", str(tmp_path / "eval")]) == 0
    assert "random" in capsys.readouterr().out


# Runs written by commit cb5f785, before the second restructuring (tests/data/*_before_restructure,
# the tiny config of tests/_tiny.py): a Gumbel AlphaZero run (its replay buffer and pending
# positions in the checkpoint), a population of 2 and a run collected by worker processes.
FIXTURES = Path(__file__).parent / "data"


@pytest.mark.parametrize("name, extra", [
    ("az_before_restructure", []),
    ("population_before_restructure", []),
    pytest.param("process_before_restructure", [], marks=pytest.mark.slow),
])
def test_runs_before_the_second_restructuring_resume(tmp_path, name, extra):
    run = tmp_path / name
    shutil.copytree(FIXTURES / name, run)
    before = read_checkpoint(list_checkpoints(run)[-1])["counters"]["iteration"]
    summary = train(resume_config(run, [f"total_updates={before + 2}", *extra]), resume=True,
                    log=lambda *a: None)
    assert summary["counters"]["iteration"] == before + 2
    assert read_checkpoint(list_checkpoints(run)[-1])["counters"]["iteration"] == before + 2


@pytest.mark.parametrize("agent", ["az_before_restructure",
                                   "population_before_restructure/members/member_1",
                                   "process_before_restructure"])
def test_runs_before_the_second_restructuring_play(tmp_path, capsys, agent):
    from keisei_fn.apps.usi_engine import Options, load_engine_agent

    path = FIXTURES / agent
    loaded, cfg = load_agent(path)
    assert loaded.params["stem", "weight"].shape[:2] == (1, cfg.model.channels)
    assert load_engine_agent(Options(checkpoint=str(path))).checkpoint == str(path)
    assert cli_main(["eval", "--agent", f"{path}@sims=4", "--opponent", "greedy", "--games", "2",
                     "--max-plies", "40", "--out", str(tmp_path / "eval")]) == 0
    assert "greedy" in capsys.readouterr().out
