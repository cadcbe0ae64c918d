"""Arena: players, engine processes (gnushogi, USI, broken fakes), records, Elo, the eval CLI."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cshogi
import numpy as np
import pytest
import torch
from cshogi import CSA

from keisei_fn import cli
from keisei_fn.arena import engines
from keisei_fn.ratings.elo import expected_score, fit, score_interval
from keisei_fn.arena.gnushogi_usi import parse_position
from keisei_fn.arena.match import play_match
from keisei_fn.agent import PLAY_BATCHED_ROUNDS
from keisei_fn.arena.opponents import make_player
from keisei_fn.arena.records import (ENGINE_REASONS, RULE_REASONS, GameRecord, from_json_line,
                                     to_csa, to_json_line, usi_position)
from keisei_fn.shogi import STARTPOS_SFEN

GNUSHOGI = engines.find_gnushogi()
needs_gnushogi = pytest.mark.skipif(
    GNUSHOGI is None, reason="gnushogi is not installed (apt-get install gnushogi; .ci/run does)")


# --- helpers ----------------------------------------------------------------------------------

def legal_in_cshogi(record: GameRecord) -> bool:
    board = cshogi.Board(record.start_sfen)
    for move in record.moves:
        m = board.move_from_usi(move)
        if not board.is_legal(m):
            return False
        board.push(m)
    return True


def assert_csa_round_trip(record: GameRecord) -> None:
    [parsed] = CSA.Parser.parse_str(to_csa(record))
    assert [cshogi.move_to_usi(m) for m in parsed.moves] == list(record.moves)
    # CSA has no move counter: compare board, side to move and hands.
    assert (cshogi.Board(parsed.sfen).sfen().split()[:3]
            == cshogi.Board(record.start_sfen).sfen().split()[:3])
    assert parsed.names == [record.black, record.white]
    expected = {"black": cshogi.BLACK_WIN, "white": cshogi.WHITE_WIN, "draw": cshogi.DRAW}
    assert parsed.win == expected[record.winner], (record.reason, parsed.endgame)


def gone(pid: int, wait: float = 3.0) -> bool:
    """The process has exited (absent, or a zombie its new parent has yet to reap)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


# A USI engine that misbehaves on purpose. It appends its pid (and its helper's) to a file so
# the test can check that nothing outlives the match.
FAKE_ENGINE = r"""
import os, signal, subprocess, sys, time
mode, pidfile = sys.argv[1], sys.argv[2]
with open(pidfile, "a") as f:
    f.write(f"{os.getpid()}\n")
if mode == "hang":  # a helper process that a careless shutdown would leave behind
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    with open(pidfile, "a") as f:
        f.write(f"{child.pid}\n")
if mode == "stubborn":  # ignores quit (busy) and SIGTERM: needs SIGKILL
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode == "mute":  # never finishes the handshake
    time.sleep(300)
for line in sys.stdin:
    cmd = (line.split() or [""])[0]
    if cmd == "usi":
        print("id name fake\nusiok", flush=True)
    elif cmd == "isready":
        print("readyok", flush=True)
    elif cmd == "go":
        if mode in ("hang", "stubborn"):
            time.sleep(300)
        elif mode == "crash":
            sys.exit(3)
        elif mode == "garbage":
            print("info string thinking hard\nbestmove zzzz", flush=True)
        elif mode == "illegal":
            print("bestmove 5e5d", flush=True)
        elif mode == "resign":
            print("bestmove resign", flush=True)
        elif mode == "win":
            print("bestmove win", flush=True)
    elif cmd == "quit":
        break
"""


# --- players ----------------------------------------------------------------------------------

def test_player_specs_and_one_line_errors(tmp_path):
    assert make_player("random").batched and make_player("greedy").batched
    usi = make_player(f"usi:{sys.executable} -c pass")
    assert not usi.batched and usi.engine.protocol == "usi"
    assert usi.engine.argv == (sys.executable, "-c", "pass")
    for bad, words in [("nonsense", "unknown player"), ("usi:", "needs a command"),
                       ("usi:/no/such/engine --x", "not found"), ("gnushogi:", "bad gnushogi"),
                       ("gnushogi:one", "bad gnushogi"), ("gnushogi:1:2:3", "bad gnushogi"),
                       (str(tmp_path), "no checkpoint"), ("", "empty")]:
        with pytest.raises(ValueError, match=words):
            make_player(bad)


@needs_gnushogi
def test_gnushogi_plays_without_its_opening_book(tmp_path):
    """After 7g7f, gnushogi's depth-1 search answers 3c3d, every time; with its book loaded it
    answers from the book, at random among the book's moves (mostly 8c8d). The ladder's gnushogi
    is the book-less one on every machine (engines.NO_BOOK), whether or not its build would find
    the book (Debian's would not: experiments/gnushogi_book.py)."""
    from dataclasses import replace

    def reply(spec) -> str:
        session = engines.open_session(spec)
        try:
            engines.request_move(session, ["7g7f"])
            return engines.await_move(session)
        finally:
            engines.close_session(session)

    spec = engines.gnushogi_spec(1)
    assert [reply(spec) for _ in range(3)] == ["3c3d"] * 3
    book = Path("/usr/lib/games/gnushogi/gnushogi.bbk")
    if book.is_file():  # the control: the same gnushogi with its book loaded leaves 3c3d
        booked = replace(spec, argv=(spec.argv[0], "-B", str(book)))
        replies = []
        for _ in range(6):  # its book draws from a stream seeded by the clock's second
            replies.append(reply(booked))
            if replies[-1] != "3c3d":
                break
            time.sleep(1.1)
        assert replies[-1] != "3c3d", replies


@needs_gnushogi
def test_gnushogi_spec_bounds():
    player = make_player("gnushogi:2:3")
    assert player.engine.protocol == "gnushogi"
    assert (player.engine.depth, player.engine.seconds) == (2, 3)
    with pytest.raises(ValueError, match="depth must be 1..29"):
        make_player("gnushogi:0")


def test_agent_player_is_batched(tiny_run):
    player = make_player(str(tiny_run))
    assert player.batched and player.name.endswith(".pt")
    searcher = make_player(f"{tiny_run}@sims=4,rounds=batched")
    other = "sequential" if PLAY_BATCHED_ROUNDS else "batched"
    assert searcher.batched and searcher.name.endswith(("@sims=4", f",rounds={other}"))
    with pytest.raises(ValueError, match="rounds must be one of sequential, batched"):
        make_player(f"{tiny_run}@sims=4,rounds=side")
    from keisei_fn.shogi import initial_state

    state = initial_state(3)
    labels = player.choose(state, torch.Generator().manual_seed(0))
    assert labels.shape == (3,) and bool(state["legal_mask"].gather(1, labels[:, None]).all())


def test_notation_and_start_position_agree_with_the_engine():
    assert engines.STARTPOS_SFEN == STARTPOS_SFEN
    for move in ("7g7f", "2b8h+", "P*5e", "G*1i"):
        assert engines.usi_to_gnushogi(move) == move
        assert engines.gnushogi_to_usi(move) == move
    assert engines.gnushogi_to_usi("...") is None
    with pytest.raises(ValueError):
        engines.usi_to_gnushogi("7g7f=")
    assert parse_position(["startpos"]) == (STARTPOS_SFEN, [])
    assert parse_position(["startpos", "moves", "7g7f", "3c3d"]) == (STARTPOS_SFEN,
                                                                     ["7g7f", "3c3d"])
    assert parse_position(["sfen", *STARTPOS_SFEN.split(), "moves", "7g7f"]) == (
        STARTPOS_SFEN, ["7g7f"])


# --- gnushogi ---------------------------------------------------------------------------------

@needs_gnushogi
def test_gnushogi_plays_complete_legal_games_with_both_colours():
    random_player, gnu = make_player("random"), make_player("gnushogi:1")
    started = time.monotonic()
    records = play_match(random_player, gnu, 2, max_plies=60, seed=3)
    seconds = time.monotonic() - started
    assert [r.black for r in records] == ["random", "gnushogi:1"]
    for r in records:
        assert r.reason in RULE_REASONS, (r.reason, r.detail)  # no engine failure
        assert r.reason != "move_cap" or len(r.moves) == 60
        assert legal_in_cshogi(r)
        assert_csa_round_trip(r)
    assert seconds < 30, f"two depth-1 games took {seconds:.1f} s"


@needs_gnushogi
def test_gnushogi_replays_any_position_and_leaves_no_process():
    spec = make_player("gnushogi:1").engine
    session = engines.open_session(spec)
    pids = [session.proc.popen.pid]
    try:
        engines.request_move(session, [])  # gnushogi as Black from the start
        first = engines.await_move(session)
        engines.request_move(session, [first, "3c3d"])  # the usual incremental reply
        second = engines.await_move(session)
        # A take-back: not a continuation, so gnushogi restarts and replays in force mode.
        engines.request_move(session, ["7g7f", "3c3d", "2g2f", "8c8d"])
        pids.append(session.proc.popen.pid)
        third = engines.await_move(session)
    finally:
        engines.close_session(session)
    board = cshogi.Board()
    for move in (first, "3c3d", second):
        assert board.is_legal(board.move_from_usi(move))
        board.push_usi(move)
    board = cshogi.Board()
    for move in ("7g7f", "3c3d", "2g2f", "8c8d"):
        board.push_usi(move)
    assert board.is_legal(board.move_from_usi(third))
    assert all(gone(pid) for pid in pids)


@needs_gnushogi
def test_gnushogi_usi_wrapper_plays_through_the_usi_client():
    wrapper = make_player(f"usi:{sys.executable} -m keisei_fn.arena.gnushogi_usi --depth 1",
                          timeout=20.0)
    records = play_match(wrapper, make_player("random"), 2, max_plies=40, seed=1)
    for r in records:
        assert r.reason in RULE_REASONS, (r.reason, r.detail)
        assert legal_in_cshogi(r)


# --- broken engines ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode, reason, games", [
    ("hang", "engine_timeout", 2), ("stubborn", "engine_timeout", 1), ("crash", "engine_crash", 2),
    ("garbage", "garbage_move", 2), ("illegal", "illegal_move", 2), ("resign", "resign", 1),
    ("win", "illegal_move", 2)])  # a declaration the rules do not grant
def test_broken_engine_loses_with_reason_and_leaves_no_process(tmp_path, mode, reason, games):
    script, pidfile = tmp_path / "fake.py", tmp_path / "pids"
    script.write_text(FAKE_ENGINE)
    fake = make_player(f"usi:{sys.executable} {script} {mode} {pidfile}", timeout=1.0)
    records = play_match(make_player("random"), fake, games, max_plies=20, seed=0)
    assert len(records) == games  # the match went on after every failure
    for r in records:
        assert r.reason == reason, (r.reason, r.detail)
        assert r.winner == ("black" if r.black == "random" else "white")
        assert r.reason in ENGINE_REASONS and r.detail
        assert_csa_round_trip(r)
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) >= games
    assert all(gone(pid) for pid in pids), "an engine process (or its helper) survived"


@pytest.mark.parametrize("command, why", [
    ("{python} {script} mute {pidfile}", "died while|did not answer|timed out|within"),
    # /bin/false may be gone before `usi` is written (a broken pipe) or after (end of output)
    ("/bin/false", r"died (while we waited for usiok )?\(exit code 1\)")])
def test_an_engine_that_cannot_start_stops_the_match_it_is_not_a_win(tmp_path, command, why):
    """A handshake that fails (an engine that never answers, or exits at once: /bin/false, or a
    program that does not speak USI) is not a game the engine lost: the match stops with one line
    naming the engine."""
    import re

    from keisei_fn.arena.match import EngineStartError

    script, pidfile = tmp_path / "fake.py", tmp_path / "pids"
    script.write_text(FAKE_ENGINE)
    spec = command.format(python=sys.executable, script=script, pidfile=pidfile)
    with pytest.raises(EngineStartError, match="failed to start") as err:
        play_match(make_player("random"), make_player(f"usi:{spec}", timeout=1.0), 2,
                   max_plies=20)
    assert "\n" not in str(err.value) and re.search(why, str(err.value)), str(err.value)
    if pidfile.exists():
        assert all(gone(int(p)) for p in pidfile.read_text().split())


def test_eval_cli_refuses_an_engine_that_cannot_start(tiny_run, tmp_path, capsys):
    code = cli.main(["eval", "--agent", str(tiny_run), "--opponent", "usi:/bin/false",
                     "--games", "2", "--out", str(tmp_path / "ev")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("keisei-fn eval: error: usi:/bin/false failed to start: ")
    assert not (tmp_path / "ev" / "summary.json").exists()


def test_engine_failures_are_counted_apart_and_flag_the_match(tiny_run, tmp_path, capsys):
    script, pidfile = tmp_path / "fake.py", tmp_path / "pids"
    script.write_text(FAKE_ENGINE)
    code = cli.main(["eval", "--agent", str(tiny_run), "--opponent",
                     f"usi:{sys.executable} {script} garbage {pidfile}", "--games", "2",
                     "--timeout", "5", "--out", str(tmp_path / "ev")])
    assert code == 0
    out = capsys.readouterr().out
    assert "engine failures: 2 of 2 games (most games were decided by engine failures, not by " \
           "play: this result does not measure strength" in out
    assert json.loads((tmp_path / "ev" / "summary.json").read_text())["engine_failures"] == 2


# --- records ----------------------------------------------------------------------------------

def test_records_of_random_games_parse_in_cshogi():
    records = play_match(make_player("random"), make_player("greedy"), 4, max_plies=160, seed=7)
    moves = [m for r in records for m in r.moves]
    assert any("*" in m for m in moves) and any(m.endswith("+") for m in moves)
    for r in records:
        assert_csa_round_trip(r)
        assert from_json_line(to_json_line(r)) == r
    assert usi_position(records[0]).startswith("startpos moves ")


def test_a_usi_declaration_is_granted_by_the_rules_only():
    """`bestmove win` from an engine: the declarer wins where the CSA 27-point rule holds
    (cshogi's is_nyugyoku agrees), and loses by an illegal move elsewhere."""
    from keisei_fn.arena import match
    from keisei_fn.arena.match import EngineFailure
    from keisei_fn.shogi import from_sfen

    declarable = "RBSG1GSBR/4K4/PPP6/9/9/9/9/9/4k4 b P 1"
    assert cshogi.Board(declarable).is_nyugyoku()
    assert match._label(from_sfen(declarable), "win") == match._DECLARED
    with pytest.raises(EngineFailure, match="does not grant") as err:
        match._label(from_sfen(declarable.replace(" b P 1", " b - 1")), "win")
    assert err.value.kind == "illegal_move"


def kif_round_trip(record: GameRecord, tmp_path) -> None:
    """KIF of the record read back by cshogi's KIF parser (from a Shift_JIS .kif file, as
    eval writes it): the same players, moves and winner."""
    from cshogi import KIF

    from keisei_fn.arena.records import to_kif

    path = tmp_path / "game.kif"
    path.write_bytes(to_kif(record).encode("cp932"))
    parsed = KIF.Parser.parse_file(str(path))
    assert parsed.names == [record.black, record.white]
    assert [cshogi.move_to_usi(m) for m in parsed.moves] == list(record.moves)
    assert parsed.win == {"black": KIF.BLACK_WIN, "white": KIF.WHITE_WIN,
                          "draw": KIF.DRAW}[record.winner], (record.reason, record.winner)


def test_kif_records_read_back_in_cshogi(tmp_path):
    records = play_match(make_player("random"), make_player("greedy"), 6, max_plies=200, seed=3)
    moves = [m for r in records for m in r.moves]
    assert any("*" in m for m in moves) and any(m.endswith("+") for m in moves)
    for r in records:
        kif_round_trip(r, tmp_path)
    # every ending, with the loser to move and having just moved
    some = records[0].moves[:6]
    for winner, why in [("white", "mate"), ("draw", "repetition"), ("draw", "move_cap"),
                        ("black", "impasse"), ("white", "perpetual_check"),
                        ("white", "engine_timeout"), ("black", "engine_timeout"),
                        ("white", "resign"), ("black", "illegal_move"),
                        ("white", "engine_crash")]:
        kif_round_trip(GameRecord("a", "b", some, winner, why), tmp_path)


def test_kif_from_a_middle_game_position_is_a_board_diagram():
    from keisei_fn.arena.records import to_kif

    sfen = "8l/1l+R2P3/p2pBG1pp/kps1p4/Nn1P2G2/P1P1P2PP/1PS6/1KSG3+r1/LN2+p3L w Sbgn3p 124"
    text = to_kif(GameRecord("a", "b", ("8d8e",), "draw", "move_cap", start_sfen=sfen))
    lines = text.splitlines()
    assert "後手の持駒：角　金　桂　歩三" in lines and "先手の持駒：銀" in lines
    assert "| ・ ・ ・ ・ ・ ・ ・ ・v香|一" in lines and "後手番" in lines
    assert "| ・v香 龍 ・ ・ 歩 ・ ・ ・|二" in lines
    assert "   1 ８五歩(84)" in lines


def test_csa_from_a_middle_game_position_with_hands():
    sfen = "8l/1l+R2P3/p2pBG1pp/kps1p4/Nn1P2G2/P1P1P2PP/1PS6/1KSG3+r1/LN2+p3L w Sbgn3p 124"
    board, rng, moves = cshogi.Board(sfen), np.random.default_rng(0), []
    for _ in range(60):
        legal = list(board.legal_moves)
        if not legal:
            break
        m = legal[rng.integers(len(legal))]
        moves.append(cshogi.move_to_usi(m))
        board.push(m)
    record = GameRecord("a", "b", tuple(moves), "draw", "move_cap", start_sfen=sfen)
    assert_csa_round_trip(record)
    for winner, why in [("white", "perpetual_check"), ("black", "impasse"),
                        ("black", "engine_timeout"), ("white", "resign")]:
        assert_csa_round_trip(GameRecord("a", "b", tuple(moves[:2]), winner, why,
                                         start_sfen=sfen))


# --- Elo ----------------------------------------------------------------------------------------

TRUE_ELO = {"random": 0.0, "a": 150.0, "b": 400.0, "c": -120.0}


def simulate(rng, games_per_pair: int, draw_rate: float = 0.0):
    """Round robin from TRUE_ELO; a draw with probability draw_rate (mean score kept)."""
    names, results = list(TRUE_ELO), []
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            p = float(expected_score(TRUE_ELO[x] - TRUE_ELO[y]))
            d = min(draw_rate, 2 * min(p, 1 - p))
            u = rng.random(games_per_pair)
            score = np.where(u < p - d / 2, 1.0, np.where(u < p + d / 2, 0.5, 0.0))
            results += [(x, y, float(s)) for s in score]
    return results


@pytest.mark.parametrize("draw_rate", [0.0, 0.3])
def test_elo_recovers_known_ratings(draw_rate):
    ratings = fit(simulate(np.random.default_rng(1), 400, draw_rate))
    assert ratings.anchor == "random" and ratings.of("random") == (0.0, 0.0, 0.0)
    assert not ratings.regularized and ratings.games == 6 * 400
    for name, true in TRUE_ELO.items():
        elo, low, high = ratings.of(name)
        assert low <= true <= high, (name, elo, low, high)
        assert abs(elo - true) < 50
        assert high - low < 120 or name == "random"


def test_elo_intervals_cover_the_truth_about_95_percent():
    rng = np.random.default_rng(2)
    hits = []
    for _ in range(100):
        ratings = fit(simulate(rng, 40))
        hits += [lo <= TRUE_ELO[n] <= hi for n, lo, hi in
                 zip(ratings.names, ratings.low, ratings.high) if n != "random"]
    assert 0.90 <= np.mean(hits) <= 0.99


def test_elo_edge_cases():
    # A 100% score has no finite maximum: virtual draws keep it finite, and say so.
    perfect = fit([("x", "random", 1.0)] * 8)
    elo, low, high = perfect.of("x")
    assert perfect.regularized and 0 < elo < 1000 and low < elo < high
    # Two wins in three games, no prior: exactly 400 log10(2) above.
    r = fit([("x", "y", 1.0), ("x", "y", 1.0), ("x", "y", 0.0)], anchor="y")
    assert r.of("x")[0] == pytest.approx(400 * np.log10(2.0), abs=1e-6)
    with pytest.raises(ValueError, match="connect"):
        fit([("a", "random", 1.0), ("b", "c", 0.5)])
    with pytest.raises(ValueError, match="itself"):
        fit([("a", "a", 0.5)])
    # Wilson 95% intervals as tabulated (e.g. 5 of 10: 0.2366-0.7634)
    for p, n, low, high in [(0.5, 10, 0.2366, 0.7634), (1.0, 4, 0.5101, 1.0),
                            (0.0, 7, 0.0, 0.3543), (0.3, 100, 0.2189, 0.3958)]:
        assert score_interval(p, n) == pytest.approx((low, high), abs=1e-4)


# --- the eval command ---------------------------------------------------------------------------

def test_eval_cli_end_to_end(tiny_run, tmp_path, capsys):
    out = tmp_path / "ev"
    code = cli.main(["eval", "--agent", str(tiny_run), "--opponent", "random", "--games", "4",
                     "--max-plies", "40", "--openings", "none", "--out", str(out), "--seed", "1"])
    assert code == 0
    text = capsys.readouterr()
    assert "vs random: W" in text.out and "relative to random = 0" in text.out
    assert "4/4 games" in text.err  # progress
    records = [from_json_line(line) for line in (out / "games.jsonl").read_text().splitlines()]
    assert len(records) == 4
    # line K of games.jsonl is game K, csa/game_000K.csa
    assert [r.meta["game"] for r in records] == [0, 1, 2, 3]
    for r in records:
        single = CSA.Parser.parse_str((out / "csa" / f"game_{r.meta['game']:04d}.csa")
                                      .read_text())[0]
        assert [cshogi.move_to_usi(m) for m in single.moves] == list(r.moves)
    agent = records[0].black
    assert [r.black == agent for r in records] == [True, False, True, False]  # pairs
    parsed = CSA.Parser.parse_str((out / "games.csa").read_text())
    assert len(parsed) == 4 and len(list((out / "csa").glob("*.csa"))) == 4
    assert len(list((out / "kif").glob("game_*.kif"))) == 4
    for r, p in zip(sorted(records, key=lambda r: r.meta["game"]), parsed):
        assert [cshogi.move_to_usi(m) for m in p.moves] == list(r.moves)
        assert legal_in_cshogi(r)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["wins"] + summary["draws"] + summary["losses"] == 4
    assert summary["elo"]["anchor"] == "random"
    assert summary["score_low"] <= summary["score"] <= summary["score_high"]

    # Default output directory: the agent's run dir / eval / <date-time>.
    assert cli.main(["eval", "--agent", str(tiny_run), "--opponent", "greedy", "--games", "2",
                     "--max-plies", "8", "--openings", "none"]) == 0
    assert len(list((tiny_run / "eval").glob("*/games.jsonl"))) == 1


@pytest.mark.parametrize("command", [["eval", "--agent", "/nonexistent/run", "--opponent",
                                      "random"],
                                     ["eval", "--agent", "AGENT", "--opponent", "/nonexistent/run"],
                                     ["play", "--checkpoint", "/nonexistent/run"],
                                     ["usi", "--checkpoint", "/nonexistent/run"]])
def test_a_missing_checkpoint_is_said_the_same_way_everywhere(tiny_run, capsys, command):
    command = [str(tiny_run) if c == "AGENT" else c for c in command]
    assert cli.main(command) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"keisei-fn {command[0]}: error: checkpoint not found: /nonexistent/run"


def test_eval_cli_bad_spec_is_one_line(tiny_run, capsys):
    assert cli.main(["eval", "--agent", str(tiny_run), "--opponent", "gnushogi:x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("keisei-fn eval: error: bad gnushogi spec") and "\n" not in err
    assert cli.main(["eval", "--agent", str(tiny_run), "--opponent", "random",
                     "--games", "0"]) == 2


def test_trainer_evaluation_is_the_arena_referee():
    """One referee: the trainer's evaluation of a network gives the numbers `keisei-fn eval`'s
    match runner gives for the same network, seed and rules (impasse on, 512-ply cap)."""
    from keisei_fn.arena.match import summarize
    from keisei_fn.arena.opponents import network_player
    from keisei_fn.config import load_config
    from keisei_fn.agent import member_agent
    from keisei_fn.models import build_model, state_params
    from keisei_fn.run.evaluate import play_match as trainer_match

    torch.manual_seed(5)
    cfg = load_config(None, [])
    net = member_agent(cfg, state_params(build_model(cfg.model)).detach()[None])
    trainer = trainer_match(net, "greedy", 4, seed=11)
    records = play_match(network_player("agent", net), make_player("greedy"), 4, seed=11)
    arena = summarize(records, "agent", "greedy")
    assert (trainer.wins, trainer.draws, trainer.losses) == \
        (arena["wins"], arena["draws"], arena["losses"])
    assert trainer.mean_length == arena["mean_plies"]
    assert trainer.referee == "512-ply cap, impasse on"
