"""The agent shipped with the package (`reference`): it loads under this build's checkpoint
format, its card describes the file that ships, it plays by name wherever a checkpoint is taken,
and it is the trained network (it beats greedy from the suite's openings), not a placeholder."""

from __future__ import annotations

import hashlib
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from keisei_fn.agent import PLAY_MATERIAL_MARGIN, load_agent, resolve_checkpoint
from keisei_fn.agent.named import HOME, NAMES, card, packaged_checkpoint, results_home
from keisei_fn.arena.match import play_match
from keisei_fn.arena.openings import load_suite
from keisei_fn.arena.opponents import make_player
from keisei_fn.checkpoint import CheckpointError, read_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def test_it_loads_under_the_current_checkpoint_format():
    agent, cfg = load_agent("reference")
    assert resolve_checkpoint("reference") == HOME / "reference.pt"
    n = sum(p.numel() for p in agent.params.values(True, True))
    info = card("reference")
    assert info["model"] == f"{cfg.model.arch} {cfg.model.blocks}x{cfg.model.channels}"
    assert n == info["params"]


def test_the_card_describes_the_file_that_ships():
    info = card("reference")
    path = HOME / "reference.pt"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == info["sha256"]
    payload = read_checkpoint(path)
    assert payload["counters"]["frames"] == info["env_steps"]
    assert payload["counters"]["iteration"] == info["iterations"]
    for key in ("command", "commit", "machine", "wall_clock_s", "train_seconds"):
        assert info[key] not in (None, "", 0), key
    assert isinstance(info["seed"], int)
    assert {"cpu", "isa", "torch", "logical_cores"} <= set(info["machine"])
    for ladder in (info["ladder"], info["player_ladder"]):  # the network alone, as it plays
        assert ladder["low"] <= ladder["elo"] <= ladder["high"]
        assert {r["rung"] for r in ladder["rungs"]} >= {"greedy", "minimax"}
        assert sum(r["wins"] + r["draws"] + r["losses"]
                   for r in ladder["rungs"]) == ladder["games"]
    # the player `reference` names today: the material veto at its default margin and
    # quiescence (a ladder of PATH names no option, the default's; one of PATH@material=3 names
    # the margin); before 2026-12-06 the card's was the static veto's (`PATH@quiet=0`)
    options = Path(info["player_ladder"]["agent"]).name.partition("@")[2]
    assert options in ("", f"material={PLAY_MATERIAL_MARGIN:g}")
    assert path.stat().st_size < 5_000_000  # a few MB at most: it lives in the repository


def test_it_is_declared_as_package_data():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = data["tool"]["setuptools"]["package-data"]["keisei_fn"]
    for name in NAMES:
        for suffix in (".pt", ".card.json"):
            rel = (HOME / f"{name}{suffix}").relative_to(ROOT / "keisei_fn").as_posix()
            assert any(fnmatch(rel, p) for p in patterns), rel


def test_it_plays_by_name_and_beats_greedy():
    """Two openings of the default suite, both colours: the trained network wins all four
    (its card's ladder: every game against greedy won); random weights would not."""
    player = make_player("reference")
    assert player.name == "reference"
    records = play_match(player, make_player("greedy"), 4, openings=load_suite("default")[:2],
                         seed=0)
    assert sum(r.score_for("reference") for r in records) == 4


def test_play_and_usi_say_what_the_agent_is(capsys):
    from keisei_fn.agent.named import describe

    line = describe("reference")
    info = card("reference")
    assert line.startswith("reference: ppo ") and f"{info['ladder']['elo']:+.0f}" in line
    assert f"{info['player_ladder']['elo']:+.0f}" in line
    assert describe("runs/mine") is None


def test_search_options_and_results_directory():
    assert make_player("reference@sims=4").name == "reference@sims=4"
    assert make_player("reference@mate=0").name == "reference@mate=0"
    assert results_home("reference") == Path("runs/reference")
    assert results_home("reference@sims=64") == Path("runs/reference")


def test_an_existing_path_of_the_same_name_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reference").mkdir()
    assert packaged_checkpoint("reference") is None
    with pytest.raises(CheckpointError, match="no checkpoint in reference"):
        resolve_checkpoint("reference")
    assert results_home("reference") == Path("reference")


def test_a_missing_packaged_file_says_so(monkeypatch, tmp_path):
    import keisei_fn.agent.named as named

    monkeypatch.setattr(named, "HOME", tmp_path)
    with pytest.raises(CheckpointError, match="missing from this installation"):
        resolve_checkpoint("reference")
    with pytest.raises(ValueError, match="unknown packaged agent"):
        card("nobody")
