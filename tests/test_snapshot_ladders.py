"""experiments/snapshot_ladders.py, the tool behind every screen's pooled Elo since screen 28
(docs/training.md, "Snapshots"): which checkpoints it places, and how it pools their games."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from keisei_fn.agent import load_agent
from keisei_fn.checkpoint import read_checkpoint, save_checkpoint

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))
import snapshot_ladders  # noqa: E402

SCREEN28 = EXPERIMENTS / "results" / "strength_screen28"


def _ladder(name: str) -> dict:
    return json.loads((SCREEN28 / name).read_text())


def test_one_ladder_pooled_is_that_ladder():
    for name in ("ladder_argmax_base_s0.json", "ladder_argmax_reply_s1.json"):
        summary = _ladder(name)
        assert snapshot_ladders.pooled([summary]) == pytest.approx(
            (summary["elo"], summary["low"], summary["high"]), abs=1e-6)


def test_pooling_weighs_every_game_once():
    a, b = _ladder("ladder_argmax_base_s0.json"), _ladder("ladder_argmax_reply_s0.json")
    elo, low, high = snapshot_ladders.pooled([a, a])
    # the same games twice: the same estimate, from twice the games (an interval about 1/sqrt 2)
    assert elo == pytest.approx(a["elo"], abs=1e-6)
    assert 0.6 < (high - low) / (a["high"] - a["low"]) < 0.8
    # two players' games: an Elo between theirs
    elo, _, _ = snapshot_ladders.pooled([a, b])
    assert min(a["elo"], b["elo"]) < elo < max(a["elo"], b["elo"])


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A run directory holding four checkpoints of a kept network (iterations 10 to 40)."""
    run = tmp_path_factory.mktemp("run")
    payload = read_checkpoint(SCREEN28 / "base_s0.pt")
    for iteration in (10, 20, 30, 40):
        counters = {**payload["counters"], "iteration": iteration}
        save_checkpoint({**payload, "counters": counters}, run, iteration, keep=4)
    return run


def test_plan_places_the_last_n_checkpoints_as_loadable_networks(run):
    jobs, snapshots = snapshot_ladders.plan(run, 3)
    assert [name for name, _ in snapshots] == ["ckpt_00000020", "ckpt_00000030",
                                               "ckpt_00000040"]
    assert list(jobs) == [name for name, _ in snapshots]
    for name, (network, out) in jobs.items():
        assert out == run / "ladders" / "snapshots" / name
        assert load_agent(network) is not None
        assert read_checkpoint(network)["counters"]["iteration"] == int(name.split("_")[1])


def test_plan_reuses_the_final_ladder_and_refuses_a_missing_one(run, tmp_path):
    final = tmp_path / "argmax_1200s"
    with pytest.raises(SystemExit, match="no ladder.json in"):
        snapshot_ladders.plan(run, 2, final=final)
    final.mkdir()
    (final / "ladder.json").write_text("{}")
    jobs, snapshots = snapshot_ladders.plan(run, 2, final=final)
    assert list(jobs) == ["ckpt_00000030"]  # the final network is not played again
    assert snapshots[-1] == ("ckpt_00000040", final)


def test_summary_names_each_snapshot_and_the_pooled_elo(run, tmp_path):
    ladders = {"ckpt_00000030": "ladder_argmax_base_s0_ckpt_00000240.json",
               "ckpt_00000040": "ladder_argmax_base_s0.json"}
    snapshots = []
    for name, source in ladders.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "ladder.json").write_text((SCREEN28 / source).read_text())
        snapshots.append((name, tmp_path / name))
    summary = snapshot_ladders.summarize(run, snapshots)
    assert summary == json.loads((run / "ladders" / "snapshots" / "summary.json").read_text())
    assert snapshot_ladders.describe(summary) == "30: +2172, 40: +2229"
    # screen 28's base_s0 as the docs quote it (its last two snapshots pooled)
    assert round(summary["pooled"]["elo"]) == 2195
