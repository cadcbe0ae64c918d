"""Opening suites, paired matches, mixed players, ladder placement and `keisei-fn ladder`.

Independent references: cshogi replays the shipped suite (legality, distinct positions, level
material, no check); ladder placement is checked against the closed form and a brute-force
maximisation of the likelihood."""

from __future__ import annotations

import json
import math

import cshogi
import numpy as np
import pytest
import torch
from _shogi_ref import STARTPOS
from test_minimax import _material

from keisei_fn.arena.engines import find_gnushogi
from keisei_fn.arena.ladder import BATCHED_RUNGS, RUNGS, load_anchors
from keisei_fn.arena.match import paired_scores, play_match, summarize
from keisei_fn.arena.openings import (DEFAULT_SUITE, format_suite, generate, load_suite,
                                      parse_suite, suite_path)
from keisei_fn.arena.opponents import OPPONENTS, make_player
from keisei_fn.config import SCRIPTED_OPPONENTS
from keisei_fn.ratings.elo import place

needs_gnushogi = pytest.mark.skipif(
    find_gnushogi() is None, reason="gnushogi is not installed (apt-get install gnushogi; "
                                    ".ci/run does)")

# --- opening suites -----------------------------------------------------------------------


def test_the_shipped_suite_is_legal_balanced_and_distinct_by_cshogi():
    openings = load_suite(DEFAULT_SUITE)
    assert len(openings) == 256
    positions = set()
    for moves in openings:
        assert 8 <= len(moves) <= 24
        board = cshogi.Board(STARTPOS)
        for move in moves:
            m = board.move_from_usi(move)
            assert board.is_legal(m), (moves, move)
            board.push(m)
        assert not board.is_game_over() and not board.is_check()
        assert _material(board) == pytest.approx(0.0)  # level material, counted by cshogi
        positions.add(board.sfen().rsplit(" ", 1)[0])  # without the move number
    assert len(positions) == len(openings)


def test_the_shipped_suite_is_what_its_header_command_generates():
    header = [line for line in suite_path(DEFAULT_SUITE).read_text().splitlines()
              if line.startswith("#")]
    assert any("--count 256 --plies 8-24 --seed 0 --margin 1" in line for line in header)
    # candidates are played in fixed batches: a smaller suite is a prefix of the larger one
    assert generate(6, plies=(8, 24), seed=0, margin=1.0) == load_suite(DEFAULT_SUITE)[:6]


def test_suite_files_are_checked(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1\n")
    with pytest.raises(ValueError, match="line 1: expected 'startpos moves"):
        load_suite(str(bad))
    bad.write_text("# comment\nstartpos moves 7g7f 3c3d\nstartpos moves 7g7f 7g7f\n")
    with pytest.raises(ValueError, match="opening 2, move 2"):
        load_suite(str(bad))
    with pytest.raises(ValueError, match="opening suite not found"):
        load_suite(str(tmp_path / "missing.txt"))
    assert load_suite("none") is None
    text = format_suite([("7g7f", "3c3d"), ()], ["made by hand"])
    assert parse_suite(text) == [("7g7f", "3c3d"), ()]


# --- paired matches -----------------------------------------------------------------------


def test_a_match_plays_each_opening_with_both_colours():
    openings = load_suite(DEFAULT_SUITE)
    records = play_match(make_player("random"), make_player("greedy"), 8, openings=openings,
                         max_plies=120, seed=3)
    assert [r.meta["game"] for r in records] == list(range(8))
    for p in range(4):
        first, second = records[2 * p], records[2 * p + 1]
        assert first.meta["opening"] == second.meta["opening"] == p
        assert (first.black, second.black) == ("random", "greedy")
        assert first.moves[:len(openings[p])] == second.moves[:len(openings[p])] == openings[p]
    pairs = paired_scores(records, "random")
    assert [scores for scores, _ in pairs] == [
        (records[2 * p].score_for("random"), records[2 * p + 1].score_for("random"))
        for p in range(4)]
    s = summarize(records, "random", "greedy")
    assert s["paired"]["pairs"] == 4 and s["openings"] == 4
    assert sum(c * k / 2 for k, c in enumerate(s["paired"]["counts"])) == pytest.approx(
        s["score"] * 8)


def _first_legal(state, generator):
    """A player that draws nothing: the first legal move (the generator left untouched)."""
    return state["legal_mask"].int().argmax(-1)


def test_a_match_with_played_games_plays_only_the_others():
    """`played` games come back as they were and are not played again; with players that draw
    nothing the resumed match is the unbroken one, and with ones that draw (random) the missing
    games are still each opening's with the right colours."""
    from keisei_fn.arena.opponents import Player

    openings = load_suite(DEFAULT_SUITE)
    a, b = Player("first", choose=_first_legal), make_player("greedy")
    whole = play_match(a, Player("first-too", choose=_first_legal), 8, openings=openings,
                       max_plies=60, seed=3)
    calls = []
    resumed = play_match(a, Player("first-too", choose=_first_legal), 8, openings=openings,
                         max_plies=60, seed=3, played=[whole[1], whole[4], whole[6]],
                         on_game=calls.append)
    assert resumed == whole
    assert sorted(r.meta["game"] for r in calls) == [0, 2, 3, 5, 7]
    drawn = play_match(a, b, 8, openings=openings, max_plies=60, seed=3)
    again = play_match(a, b, 8, openings=openings, max_plies=60, seed=3, played=drawn[:3])
    assert again[:3] == drawn[:3] and [r.meta["game"] for r in again] == list(range(8))
    for r in again:
        assert r.black == (a.name if r.meta["game"] % 2 == 0 else b.name)
        assert r.moves[:len(openings[r.meta["pair"]])] == openings[r.meta["pair"]]


def test_stop_ends_the_match_between_pairs():
    asked = []

    def stop(records):
        asked.append(len(records))
        return len(records) >= 4

    records = play_match(make_player("random"), make_player("greedy"), 20, openings=None,
                         max_plies=40, stop=stop, pairs_per_check=2)
    assert asked == [4] and len(records) == 4


def test_eval_sprt_stops_when_it_decides(tmp_path, capsys):
    from keisei_fn.cli import main

    code = main(["eval", "--agent", "random", "--opponent", "greedy", "--games", "400",
                 "--sprt=-400,-200,0.05,0.05", "--out", str(tmp_path)])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["sprt"]["decision"] == "H0" and summary["games"] < 400
    assert summary["games"] == 2 * summary["sprt"]["pairs"]
    assert "SPRT [-400, -200]" in capsys.readouterr().out
    assert main(["eval", "--agent", "random", "--opponent", "greedy", "--sprt",
                 "50,0,0.05,0.05", "--out", str(tmp_path)]) == 2
    assert "--sprt needs ELO0 < ELO1" in capsys.readouterr().err


# --- players ------------------------------------------------------------------------------


def test_the_scripted_players_are_the_configs():
    assert tuple(OPPONENTS) == SCRIPTED_OPPONENTS


def test_a_mix_of_batched_players_is_either_part_at_the_ends():
    from keisei_fn.arena.openings import replay
    from keisei_fn.shogi.material import capture_gain

    state = replay(load_suite(DEFAULT_SUITE)[:16])
    g = torch.Generator().manual_seed(0)
    greedy = make_player("greedy").choose(state, torch.Generator().manual_seed(5))
    mixed = make_player("mix:random,greedy,1").choose(state, torch.Generator().manual_seed(5))
    values = capture_gain(state)
    best = values.masked_fill(~state["legal_mask"], -1e9).amax(-1)
    assert torch.equal(values.gather(1, mixed[:, None]).squeeze(1), best)
    assert torch.equal(values.gather(1, greedy[:, None]).squeeze(1), best)
    anywhere = make_player("mix:greedy,random,1").choose(state, g)
    assert state["legal_mask"].gather(1, anywhere[:, None]).all()


@pytest.mark.parametrize("spec, message", [
    ("mix:random,greedy", "expected mix:A,B,P"),
    ("mix:random,greedy,1.5", "expected mix:A,B,P"),
    ("mix:random,nobody,0.5", "unknown player"),
    ("mix:mix:random,greedy,0.5,greedy,0.5", "expected mix:A,B,P|mix of mixes"),
])
def test_bad_mix_specs_say_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message):
        make_player(spec)


@needs_gnushogi
def test_gnushogi_joins_after_an_opening_and_inside_a_mix():
    openings = load_suite(DEFAULT_SUITE)[:2]
    records = play_match(make_player("random"), make_player("mix:random,gnushogi:1,0.5"), 4,
                         openings=openings, max_plies=80, seed=2)
    assert all(r.reason in ("mate", "move_cap", "repetition", "impasse") for r in records), \
        [(r.reason, r.detail) for r in records]


# --- placement on the ladder --------------------------------------------------------------


def test_placement_against_one_rung_is_the_closed_form():
    results = [("greedy", 1.0)] * 30 + [("greedy", 0.5)] * 10 + [("greedy", 0.0)] * 20
    elo, low, high, regularized = place(results, {"greedy": 250.0})
    score = 35 / 60
    assert elo == pytest.approx(250.0 + 400 * math.log10(score / (1 - score)), abs=1e-6)
    # the interval: 1.96 / sqrt(n p (1 - p)) in natural log-odds
    half = 1.959963984540054 / math.sqrt(60 * score * (1 - score)) * 400 / math.log(10)
    assert (low, high) == pytest.approx((elo - half, elo + half), abs=1e-6)
    assert not regularized


def test_placement_maximises_the_likelihood_by_brute_force():
    ratings = {"a": 0.0, "b": 300.0, "c": 700.0}
    results = ([("a", 1.0)] * 9 + [("a", 0.0)] + [("b", 1.0)] * 4 + [("b", 0.5)] * 2
               + [("b", 0.0)] * 4 + [("c", 0.0)] * 7 + [("c", 1.0)])
    elo, *_ = place(results, ratings)
    grid = np.arange(-500.0, 1200.0, 0.05)
    ll = np.zeros_like(grid)
    for name, s in results:
        p = 1 / (1 + 10 ** (-(grid - ratings[name]) / 400))
        ll += s * np.log(p) + (1 - s) * np.log(1 - p)
    assert elo == pytest.approx(float(grid[ll.argmax()]), abs=0.1)


def test_placement_with_every_game_won_adds_virtual_draws():
    elo, low, high, regularized = place([("random", 1.0)] * 10, {"random": 0.0})
    assert regularized and math.isfinite(elo) and elo > 0 and low < elo < high
    with pytest.raises(ValueError, match="no rating on this ladder"):
        place([("nobody", 1.0)], {"random": 0.0})


def test_the_stored_anchors_rate_every_rung_in_order():
    anchors = load_anchors()
    elos = [anchors[r].elo for r in RUNGS]
    assert elos[0] == 0.0 and elos == sorted(elos)
    assert set(BATCHED_RUNGS) <= set(RUNGS)
    assert all(make_player(r).batched for r in BATCHED_RUNGS)


def test_ladder_command_places_a_checkpoint(tmp_path, capsys, monkeypatch, tiny_run):
    from keisei_fn.apps import ladder_cli
    from keisei_fn.cli import main

    monkeypatch.setattr(ladder_cli, "_PROGRESS_EVERY_S", 0.0)  # a line every ply
    out = tmp_path / "ladder"
    code = main(["ladder", str(tiny_run), "--rungs", "random,greedy", "--games", "4",
                 "--max-plies", "60", "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "ladder.json").read_text())
    assert [r["rung"] for r in summary["rungs"]] == ["random", "greedy"]
    assert summary["games"] == 8 and summary["low"] < summary["elo"] < summary["high"]
    captured = capsys.readouterr()
    assert "ladder Elo" in captured.out
    # a long rung says it is alive: games finished and plies played, per rung
    assert "  vs random: 0/4 games finished, ply 1 (" in captured.err
    assert "  vs greedy: 0/4 games finished, ply 1 (" in captured.err
    assert len((out / "games.jsonl").read_text().splitlines()) == 8
    assert main(["ladder", str(tiny_run), "--rungs", "random,nobody", "--out", str(out)]) == 2
    assert "not on the ladder" in capsys.readouterr().err


def test_a_stopped_ladder_resumes_from_its_finished_rungs(tmp_path, capsys, tiny_run):
    """`--resume` takes the rungs games.jsonl holds in full and plays the rest; a mix's commas
    do not split its name in `--rungs`."""
    from keisei_fn.apps.ladder_cli import parse_rungs
    from keisei_fn.cli import main

    assert parse_rungs("minimax,mix:minimax,gnushogi:1,0.3,gnushogi:1", RUNGS) == [
        "minimax", "mix:minimax,gnushogi:1,0.3", "gnushogi:1"]
    with pytest.raises(ValueError, match="random named twice"):
        parse_rungs("random,greedy,random", RUNGS)
    out = tmp_path / "ladder"
    args = ["ladder", str(tiny_run), "--rungs", "random,mix:random,greedy,0.5", "--games", "4",
            "--max-plies", "40", "--out", str(out)]
    assert main(args) == 0
    first = json.loads((out / "ladder.json").read_text())
    lines = (out / "games.jsonl").read_text().splitlines()
    assert len(lines) == 8
    # stopped in the middle of the second rung: two of its four games written, the third cut
    (out / "games.jsonl").write_text("\n".join(lines[:6]) + "\n" + lines[6][:30])
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "vs random" in err and ", from games.jsonl" in err.split("vs random")[1].split("\n")[0]
    assert ", 2 games from games.jsonl" in err.split(
        "vs mix:random,greedy,0.5")[-1].split("\n")[0]
    again = json.loads((out / "ladder.json").read_text())
    assert [r["rung"] for r in again["rungs"]] == [r["rung"] for r in first["rungs"]]
    assert again["rungs"][0] == first["rungs"][0] and again["games"] == 8
    # the play time counts the rung the first process played, not only the resumed one's
    assert again["rungs"][0]["seconds"] is not None  # and equal to the first's (above)
    assert again["seconds"] == pytest.approx(sum(r["seconds"] for r in again["rungs"]), abs=0.11)
    after = (out / "games.jsonl").read_text().splitlines()
    assert after[:6] == lines[:6] and len(after) == 8
    assert [json.loads(x)["meta"]["game"] for x in after] == [0, 1, 2, 3] * 2
    assert main(["ladder", str(tiny_run), "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err
    assert main(["ladder", str(tiny_run), "--resume", "--out", str(tmp_path / "none")]) == 2
    assert "to continue from" in capsys.readouterr().err


def test_a_ladder_stopped_mid_rung_keeps_the_games_that_ended(tmp_path, capsys, monkeypatch,
                                                               tiny_run):
    """Each game is in games.jsonl (and the rung's play time in rung_seconds.json) when it ends:
    a ladder killed in the middle of a rung resumes with only that rung's missing games."""
    from keisei_fn.arena import match
    from keisei_fn.cli import main

    out = tmp_path / "ladder"
    args = ["ladder", str(tiny_run), "--rungs", "random,greedy", "--games", "4",
            "--max-plies", "40", "--out", str(out)]
    real, ended = match.play_match, []

    def stopped_after_two_greedy_games(a, b, games, *, on_game, **kw):
        def then_stop(record):
            on_game(record)
            ended.append(record)
            if b.name == "greedy" and len(ended) == 6:
                raise KeyboardInterrupt  # as a kill would, mid-rung
        return real(a, b, games, on_game=then_stop, **kw)

    monkeypatch.setattr(match, "play_match", stopped_after_two_greedy_games)
    assert main(args) == 130 and "interrupted" in capsys.readouterr().err
    written = (out / "games.jsonl").read_text().splitlines()
    spent = json.loads((out / "rung_seconds.json").read_text())["greedy"]
    assert len(written) == 6 and spent >= 0
    monkeypatch.setattr(match, "play_match", real)
    assert main([*args, "--resume"]) == 0
    assert ", 2 games from games.jsonl" in capsys.readouterr().err
    after = (out / "games.jsonl").read_text().splitlines()
    assert set(written) <= set(after) and len(after) == 8  # the two greedy games kept as were
    assert [json.loads(x)["meta"]["game"] for x in after] == [0, 1, 2, 3] * 2
    summary = json.loads((out / "ladder.json").read_text())
    assert [sum(r[k] for k in ("wins", "draws", "losses")) for r in summary["rungs"]] == [4, 4]
    assert summary["rungs"][1]["seconds"] >= spent  # the stopped process's time counts
    # a damaged line before the last is refused, not taken as the end of the file
    (out / "games.jsonl").write_text("\n".join([after[0], "{garbage", *after[1:]]) + "\n")
    assert main([*args, "--resume"]) == 2
    assert "line 2 of" in capsys.readouterr().err


@pytest.mark.parametrize("change, message", [
    (["--seed", "1"], "played with --seed 0, not 1"),
    (["--openings", "none"], "did not start from this --openings suite's opening"),
    (["--games", "2"], "outside --games 2"),
    (["--max-plies", "40"], "played with --max-plies 30, not 40"),
])
def test_a_ladder_resumed_with_other_settings_is_refused(tmp_path, capsys, tiny_run, change,
                                                          message):
    from keisei_fn.cli import main

    out = tmp_path / "ladder"
    args = ["ladder", str(tiny_run), "--rungs", "random", "--games", "4", "--max-plies", "30",
            "--out", str(out)]
    assert main(args) == 0
    before = (out / "games.jsonl").read_text()
    capsys.readouterr()
    assert main([*args, *change, "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert (out / "games.jsonl").read_text() == before  # nothing mixed in, nothing lost


def test_eval_round_robin_of_several_players(tmp_path, capsys):
    from keisei_fn.cli import main

    code = main(["eval", "--agent", "random", "greedy", "mix:random,greedy,0.5", "--games", "4",
                 "--max-plies", "100", "--out", str(tmp_path)])
    assert code == 0
    table = json.loads((tmp_path / "round_robin.json").read_text())
    assert table["players"] == ["random", "greedy", "mix:random,greedy,0.5"]
    assert table["score"]["1-2"] + table["score"]["2-1"] == pytest.approx(1.0)
    assert len((tmp_path / "games.jsonl").read_text().splitlines()) == 12
    assert "score of row vs column" in capsys.readouterr().out
    assert main(["eval", "--agent", "random", "--out", str(tmp_path)]) == 2
    assert "--opponent is needed" in capsys.readouterr().err
