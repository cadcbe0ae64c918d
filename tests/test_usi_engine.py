"""USI engine: a scripted session over a pipe, complete games driven by cshogi's USI client, and
the pure helpers (position parsing, `go` limits, the 1-ply search's exact terminal scores).

Every test uses its own tiny checkpoint (one PPO update of a 1x8 network), never a real run,
except the compiled search's, which plays the packaged agent (why: its docstring).
"""

from __future__ import annotations

import math
import os
import queue
import random
import re
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keisei_fn.agent.decision as decide_module
from keisei_fn.agent import load_agent, one_ply_scores
from keisei_fn.apps import usi_engine as ue
from keisei_fn.apps import usi_clock
from keisei_fn.cli import main as cli_main
from keisei_fn.shogi import STARTPOS_SFEN, Reason, to_sfen, usi_to_action
from keisei_fn.config import load_config
from keisei_fn.run.train import train
from _tiny import TINY as _TINY

cshogi = pytest.importorskip("cshogi")
from cshogi import usi as cshogi_usi  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = [*_TINY, "ppo.epochs=1", "total_updates=1"]
MATE_IN_ONE = "4k4/9/4P4/9/9/9/9/9/4K4 b G 1"  # G*5b mates: the pawn on 5c guards the gold
MATED = "4k4/4G4/4P4/9/9/9/9/9/4K4 w - 1"     # the position after it: White has no move
# Kings step out and back: the start position recurs at plies 4, 8 and 12 (the 4th time).
KING_SHUFFLE = ["5i5h", "5a5b", "5h5i", "5b5a"] * 2 + ["5i5h", "5a5b", "5h5i"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("usi") / "run"
    train(load_config(None, TINY + [f"run_dir={run}"]), log=lambda *a: None)
    return run


@pytest.fixture(scope="module")
def net(run_dir):
    return load_agent(run_dir)[0]


@pytest.fixture
def session(run_dir):
    options = ue.Options(checkpoint=str(run_dir))
    return ue.new_session(options, ue.load_engine_agent(options))


def cshogi_legal(board) -> set[str]:
    return {cshogi.move_to_usi(m) for m in board.legal_moves}


def board_after(moves, sfen=None):
    board = cshogi.Board(sfen) if sfen else cshogi.Board()
    for m in moves:
        board.push_usi(m)
    return board


def feed(session, *lines):
    """(next session, output lines) of feeding `lines` to the engine in-process."""
    out = []
    return ue.run_engine(lines, session, out.append), out


# ---------------------------------------------------------------------------------------------
# (1) A scripted session through a pipe, as a GUI would drive it.


def _engine_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _start(run_dir, *flags):
    proc = subprocess.Popen(
        [sys.executable, "-m", "keisei_fn.cli", "usi", "--checkpoint", str(run_dir), *flags],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        bufsize=1, env=_engine_env())
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def _send(proc, line: str) -> float:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    return time.monotonic()


def _read_until(lines: queue.Queue, prefix: str, timeout: float = 30.0) -> list[str]:
    got, end = [], time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(end - time.monotonic(), 0.01))
        except queue.Empty:
            raise AssertionError(f"no {prefix!r} within {timeout} s; got {got}") from None
        assert line is not None, f"engine exited while waiting for {prefix!r}; got {got}"
        got.append(line)
        if line.startswith(prefix):
            return got


def _silent_for(lines: queue.Queue, seconds: float) -> list[str]:
    time.sleep(seconds)
    got = []
    while not lines.empty():
        got.append(lines.get())
    return got


def test_scripted_session_over_a_pipe(run_dir):
    proc, lines = _start(run_dir)
    try:
        _send(proc, "usi")
        hello = _read_until(lines, "usiok")
        assert re.fullmatch(r"id name keisei_fn \S+", hello[0])
        assert hello[1] == "id author keisei_fn developers"
        declared = {m[1] for line in hello if (m := re.match(r"option name (\S+) type ", line))}
        assert {"USI_Ponder", "Temperature", "Search", "Device"} <= declared
        assert "option name Search type combo default none var none var 1ply var gumbel" in hello

        _send(proc, "isready")
        assert _read_until(lines, "readyok")[-1] == "readyok"
        _send(proc, "usinewgame")
        _send(proc, "setoption name USI_Hash value 256")  # every GUI sends it: silently accepted
        _send(proc, "position startpos moves 7g7f 3c3d")
        sent = _send(proc, "go btime 10000 wtime 10000 byoyomi 1000")
        answer = _read_until(lines, "bestmove")
        assert time.monotonic() - sent < 1.0
        move = answer[-1].split()[1]
        assert move in cshogi_legal(board_after(["7g7f", "3c3d"]))
        assert "info depth 1 score cp" in answer[-2] and answer[-2].endswith(f"pv {move}")

        # An illegal move (no pawn on 7g any more): reported, and no move for an old position.
        moved = "lnsgkgsnl/1r5b1/ppppppppp/9/9/2P6/PP1PPPPPP/1B5R1/LNSGKGSNL b - 1"
        _send(proc, f"position sfen {moved} moves 7g7f")
        assert "illegal USI move '7g7f'" in _read_until(lines, "info string error")[-1]
        _send(proc, "position sfen not/a/board b - 1")
        assert "info string error" in _read_until(lines, "info string")[-1]
        _send(proc, "frobnicate now")
        assert "unknown command 'frobnicate'" in _read_until(lines, "info string")[-1]
        _send(proc, "go byoyomi 1000")
        assert _read_until(lines, "bestmove")[-1] == "bestmove resign"
        _send(proc, "position startpos moves 7g7f 3c3d")
        _send(proc, "setoption name Search value 1ply")
        _send(proc, "go byoyomi 1000")
        move = _read_until(lines, "bestmove")[-1].split()[1]
        assert move in cshogi_legal(board_after(["7g7f", "3c3d"]))

        # infinite / ponder: the answer waits for stop / ponderhit.
        _send(proc, "go infinite")
        assert not any(line.startswith("bestmove") for line in _silent_for(lines, 0.5))
        _send(proc, "stop")
        assert _read_until(lines, "bestmove", timeout=2.0)[-1].split()[1] in cshogi_legal(
            board_after(["7g7f", "3c3d"]))
        _send(proc, "go ponder btime 1000 wtime 1000 byoyomi 1000")
        _send(proc, "isready")  # allowed while pondering
        assert not any(line.startswith("bestmove") for line in _read_until(lines, "readyok"))
        _send(proc, "ponderhit")
        _read_until(lines, "bestmove", timeout=2.0)
        _send(proc, "gameover win")
        _send(proc, "quit")
        assert proc.wait(timeout=15) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _compiled_session(session, **changes):

    options = replace(session.options, search="gumbel", simulations=8, compiled=True, **changes)
    return replace(session, options=options)


def test_the_warm_up_logic_without_compiling(session, monkeypatch):
    """When the engine compiles, when it plays compiled, and what it does when compiling or
    the compiled search fails (the warm-up and the compiled search faked: nothing compiles)."""

    from keisei_fn.apps import usi_warmup

    release, calls, seen = threading.Event(), [], []
    monkeypatch.setattr(usi_warmup, "warm_compiled_search",
                        lambda *a: (calls.append(a), release.wait(30)))
    real = ue.decide_move

    def decide(*args, compiled=False):
        seen.append(compiled)
        if compiled and broken:
            raise RuntimeError("inductor said no")
        return real(*args, compiled=False)
    monkeypatch.setattr(ue, "decide_move", decide)
    broken = False

    s, out = feed(_compiled_session(session), "isready", "go nodes 8")
    assert out[:2] == ["info string compiling the search in the background; the eager search "
                       "plays until it is ready", "readyok"]
    assert seen == [False] and len(calls) == 1 and usi_warmup.compiling()
    release.set()
    s.warmup.done.wait(30)
    s, out = feed(s, "go nodes 8", "go nodes 8", "go nodes 1")
    assert out[0].startswith("info string compiled search ready (compiled in ")
    assert seen[1:] == [True, True, False]  # one simulation stays eager
    assert len(calls) == 1 and not usi_warmup.compiling()
    # the compiled search raises: said once, this move and the next ones eager
    broken = True
    s, out = feed(s, "go nodes 8", "go nodes 8")
    assert sum("the compiled search failed (inductor said no)" in line for line in out) == 1
    assert seen[4:] == [True, False, False] and len(calls) == 1
    assert sum(line.startswith("bestmove") for line in out) == 2

    # a warm-up that fails: reported once, never retried for the same network and shape
    monkeypatch.setattr(usi_warmup, "warm_compiled_search",
                        lambda *a: (calls.append(a), 1 / 0))
    s, out = feed(_compiled_session(session), "isready")
    s.warmup.done.wait(30)
    s, out = feed(s, "go nodes 8", "go nodes 8")
    assert [line for line in out if "compil" in line] == [
        "info string error: compiling the search failed (ZeroDivisionError: division by zero); "
        "the eager search plays"]
    assert len(calls) == 2 and seen[-2:] == [False, False]

    # batched rounds compile too (a warm-up of their own), then play compiled; more considered
    # moves than the warm-up's (wider waves) play eager while a new warm-up compiles
    gate = threading.Event()
    monkeypatch.setattr(usi_warmup, "warm_compiled_search",
                        lambda *a: (calls.append(a), gate.wait(30)))
    broken = False
    gate.set()
    s, out = feed(_compiled_session(session, rounds="batched"), "isready")
    assert len(calls) == 3 and calls[-1][2].batched_rounds
    s.warmup.done.wait(30)
    s, out = feed(s, "go nodes 8")
    assert out[0].startswith("info string compiled search ready") and seen[-1] is True
    gate.clear()
    wider = replace(s.options, considered=s.options.considered * 2)
    s, out = feed(replace(s, options=wider), "go nodes 8")
    assert seen[-1] is False and len(calls) == 4 and calls[-1][2].considered == wider.considered
    gate.set()
    s.warmup.done.wait(30)


COMPILED_POSITIONS = ("startpos", "startpos moves 7g7f 3c3d 8h2b+ 3a2b",
                      "startpos moves 2g2f 8c8d 2f2e 8d8e 6i7h 4a3b 2e2d 2c2d 2h2d")


def _compiled_engine():
    proc = subprocess.Popen(
        [sys.executable, "-m", "keisei_fn.cli", "usi", "--checkpoint", "reference",
         "--simulations", "32", "--compiled"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        bufsize=1, env=_engine_env())
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x.rstrip("\n")) for x in proc.stdout]
                     + [lines.put(None)], daemon=True).start()
    return proc, lines


@pytest.mark.slow
def test_the_compiled_search_compiles_behind_readyok_then_plays_the_eager_moves():
    """`--compiled`: `readyok` at once (the arena allows 10 s), the eager search answering while
    the search compiles in the background, then the compiled one, which plays the same moves
    and compiles nothing more for another number of simulations. The packaged network, so that
    inductor's cache holds what the search benchmark compiles (bench/test_search_bench.py, the
    same network at one game, the same state shape) when it runs after the suite."""
    proc, lines = _compiled_engine()

    def moves() -> list[str]:
        out = []
        for position in COMPILED_POSITIONS:
            _send(proc, f"position {position}")
            _send(proc, "go nodes 32")
            answer = _read_until(lines, "bestmove", timeout=60)
            assert not any("error" in line or "compiled search" in line for line in answer), answer
            out.append(answer[-1].split()[1])
        return out

    try:
        _send(proc, "usi")
        assert "option name Compiled type check default true" in _read_until(lines, "usiok")
        sent = _send(proc, "isready")
        answer = _read_until(lines, "readyok", timeout=60)
        assert time.monotonic() - sent < 10, "readyok waited for the compilation"
        assert any("compiling the search in the background" in line for line in answer)
        eager = moves()
        deadline, ready = time.monotonic() + 900, []
        while not ready:
            assert time.monotonic() < deadline, "the compiled search was never ready"
            time.sleep(2)
            _send(proc, "position startpos")
            _send(proc, "go nodes 32")
            answer = _read_until(lines, "bestmove", timeout=60)
            assert not any("error" in line for line in answer), answer
            ready = [line for line in answer if "compiled search" in line]
        assert re.fullmatch(r"info string compiled search ready \(compiled in \d+ s\)",
                            ready[0]), ready
        assert moves() == eager
        # another simulation count compiles nothing: answered within the arena's 10 s
        _send(proc, "go nodes 7")
        answer = _read_until(lines, "bestmove", timeout=10)
        assert any(" nodes 7 " in line for line in answer), answer
        _send(proc, "quit")
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_quit_does_not_wait_for_the_compilation():
    proc, lines = _compiled_engine()
    try:
        _send(proc, "isready")
        _read_until(lines, "readyok", timeout=60)
        _send(proc, "quit")  # the compile thread has just started
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_reports_a_bad_checkpoint_in_one_line(tmp_path, capsys):
    assert cli_main(["usi", "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err
    assert "checkpoint not found" in err and err.count("\n") == 1
    corrupt = tmp_path / "ckpt_00000001.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    assert cli_main(["usi", "--checkpoint", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a keisei_fn checkpoint" in err and err.count("\n") == 1
    assert cli_main(["usi", "--checkpoint", str(corrupt), "--search", "2ply"]) == 2
    assert "option Search" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# (2) Complete games driven by cshogi's own USI client.


@pytest.fixture
def cshogi_engines(monkeypatch):
    """cshogi's `Engine` started under a watchdog; yields a factory `start(cmd) -> Engine`.

    cshogi 1.1.0 detects EOF by comparing the bytes it read with '' (never true), so an engine
    that dies would make it spin forever: its pipe raises EOFError on EOF instead, and a watchdog
    kills engines still running after 80 s. The protocol traffic is untouched.
    """
    started = []
    real_popen = subprocess.Popen

    def popen(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        raw = proc.stdout

        def readline():
            line = raw.readline()
            if not line:
                raise EOFError("the engine closed its output")
            return line

        proc.stdout = SimpleNamespace(readline=readline, flush=lambda: None, close=raw.close)
        started.append(proc)
        return proc

    monkeypatch.setattr(sys.modules["cshogi.usi.Engine"], "subprocess",
                        SimpleNamespace(Popen=popen, PIPE=subprocess.PIPE))
    watchdog = threading.Timer(80.0, lambda: [p.kill() for p in started if p.poll() is None])
    watchdog.start()
    yield cshogi_usi.Engine
    watchdog.cancel()
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _engine_script(path: Path, run_dir, *flags) -> str:
    """cshogi runs an engine from one executable path: a shell script starting ours."""
    path.write_text("#!/bin/sh\n"
                    f"PYTHONPATH={shlex.quote(str(ROOT))}${{PYTHONPATH:+:$PYTHONPATH}}\n"
                    "export PYTHONPATH\n"
                    f"exec {shlex.quote(sys.executable)} -m keisei_fn.cli usi "
                    f"--checkpoint {shlex.quote(str(run_dir))} {' '.join(flags)}\n")
    path.chmod(0o755)
    return str(path)


_REPETITION_ENDS = (cshogi.REPETITION_DRAW, cshogi.REPETITION_WIN, cshogi.REPETITION_LOSE)
BYOYOMI_MS = 2000


def play_game(black, white, rng: random.Random, max_plies: int) -> tuple[str, list[str]]:
    """(how it ended, moves): cshogi engines or None (a random mover) on each side."""
    board, moves = cshogi.Board(), []
    for engine in {id(e): e for e in (black, white) if e is not None}.values():
        engine.usinewgame()
    while True:
        player = black if board.turn == cshogi.BLACK else white
        if board.is_game_over():
            if player is not None:  # the mated engine must resign, not move
                player.position(moves)
                assert player.go(byoyomi=BYOYOMI_MS)[0] == "resign"
            return "mate", moves
        if board.is_draw() in _REPETITION_ENDS:
            return "repetition", moves
        if len(moves) >= max_plies:
            return "move cap", moves
        if player is None:
            move = rng.choice(sorted(cshogi_legal(board)))
        else:
            player.position(moves)
            sent = time.monotonic()
            # Main time spent: the byoyomi alone is the limit, the strictest clock.
            move, _ = player.go(btime=0, wtime=0, byoyomi=BYOYOMI_MS)
            assert time.monotonic() - sent < BYOYOMI_MS / 1000, "lost on time"
        assert move in cshogi_legal(board), (board.sfen(), move)
        board.push_usi(move)
        moves.append(move)


def test_complete_games_driven_by_cshogi(run_dir, tmp_path, cshogi_engines):
    sampler = cshogi_engines(_engine_script(tmp_path / "sampler.sh", run_dir,
                                            "--temperature", "1", "--seed", "7"))
    searcher = cshogi_engines(_engine_script(tmp_path / "searcher.sh", run_dir,
                                             "--search", "1ply"))
    assert sampler.name.startswith("keisei_fn ")
    for engine in (sampler, searcher):
        engine.isready()
    rng = random.Random(0)
    pairings = [(sampler, None), (None, searcher), (sampler, searcher), (searcher, sampler),
                (sampler, sampler)]
    endings = []
    for black, white in pairings:
        ending, moves = play_game(black, white, rng, max_plies=150)
        endings.append(ending)
        assert moves, "no move was played"
        for engine in {id(e): e for e in (black, white) if e is not None}.values():
            engine.gameover("draw" if ending != "mate" else None)
    assert set(endings) <= {"mate", "repetition", "move cap"}
    for engine in (sampler, searcher):
        engine.quit()  # waits for the process to exit


def test_engine_resigns_when_mated(run_dir, tmp_path, cshogi_engines):
    engine = cshogi_engines(_engine_script(tmp_path / "engine.sh", run_dir))
    engine.isready()
    engine.position(sfen=f"sfen {MATED}")
    assert engine.go(byoyomi=1000)[0] == "resign"
    engine.position(sfen=f"sfen {MATE_IN_ONE}")
    engine.setoption("Search", "1ply")
    move, _ = engine.go(byoyomi=1000)
    board = board_after([move], MATE_IN_ONE)
    assert board.is_game_over()
    engine.quit()


# ---------------------------------------------------------------------------------------------
# (3) Pure helpers.


def test_position_startpos_with_moves_matches_cshogi():
    moves = ["7g7f", "3c3d", "8h2b+", "3a2b", "B*4e"]
    pos = ue.parse_position(["startpos", "moves", *moves])
    assert pos.moves == tuple(moves)
    assert to_sfen(pos.state) == [board_after(moves).sfen()]
    assert to_sfen(ue.parse_position(["startpos"]).state) == [STARTPOS_SFEN]
    assert to_sfen(ue.parse_position(["startpos", "moves"]).state) == [STARTPOS_SFEN]


def test_position_sfen_with_moves_matches_cshogi():
    pos = ue.parse_position(["sfen", *MATE_IN_ONE.split(), "moves", "G*5b"])
    assert to_sfen(pos.state) == [board_after(["G*5b"], MATE_IN_ONE).sfen()]
    assert not pos.state["legal_mask"].any()  # mated
    assert pos.state["termination_reason"].item() == Reason.MATE


@pytest.mark.parametrize("args, message", [
    ([], "expected 'startpos' or 'sfen"),
    (["startfen"], "expected 'startpos' or 'sfen"),
    (["sfen"], "SFEN is missing"),
    (["sfen", "moves", "7g7f"], "SFEN is missing"),
    (["startpos", "7g7f"], "expected 'moves'"),
    (["sfen", "lnsgkgsnl/9/9", "b", "-", "1"], "invalid SFEN"),
    (["startpos", "moves", "7g7f", "7g7f"], "move 2: illegal USI move '7g7f'"),
    (["startpos", "moves", "7g7x"], "move 1: malformed USI move"),
    (["sfen", *MATED.split(), "moves", "5a4a"], "move 1: illegal"),
])
def test_position_errors(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ue.parse_position(args)


def test_position_extends_the_previous_game_and_equals_a_fresh_parse(monkeypatch):
    opening = ["7g7f", "3c3d", "2g2f", "4c4d"]
    before = ue.parse_position(["startpos", "moves", *opening[:2]])
    after = ue.parse_position(["startpos", "moves", *opening], before)
    fresh = ue.parse_position(["startpos", "moves", *opening])
    assert after.state["hash_history"].shape == before.state["hash_history"].shape  # extended
    ply = len(opening)
    for key in ("board", "hands", "side_to_move", "legal_mask", "check_streak"):
        assert torch.equal(after.state[key], fresh.state[key]), key
    assert torch.equal(after.state["hash_history"][:, :ply + 1],
                       fresh.state["hash_history"][:, :ply + 1])
    # A different game, or one longer than the history room, is parsed afresh.
    other = ue.parse_position(["startpos", "moves", "2g2f"], after)
    assert to_sfen(other.state) == [board_after(["2g2f"]).sfen()]
    monkeypatch.setattr("keisei_fn.apps.usi_position.HISTORY_SLACK", 1)
    short = ue.parse_position(["startpos", "moves", *opening[:2]])
    longer = ue.parse_position(["startpos", "moves", *opening], short)
    assert to_sfen(longer.state) == to_sfen(fresh.state)
    assert longer.state["hash_history"].shape[1] - 1 > len(opening)  # room for the search's move


def test_history_room_comes_in_a_few_shapes():
    """Room for the moves given plus HISTORY_SLACK, rounded up to a multiple of it and at least
    twice it: the compiled search compiles once per shape, so every game shorter than
    HISTORY_SLACK plies has one shape, however a GUI sends its positions."""
    from keisei_fn.apps.usi_position import HISTORY_SLACK

    opening = ["7g7f", "3c3d", "2g2f", "8c8d"]
    for k in range(len(opening) + 1):
        room = ue.parse_position(["startpos", "moves", *opening[:k]]).state[
            "hash_history"].shape[1] - 1
        assert room == 2 * HISTORY_SLACK, (k, room)
    for plies in (HISTORY_SLACK, HISTORY_SLACK + 1, 3 * HISTORY_SLACK):
        room = ue.start_position(plies=plies).state["hash_history"].shape[1] - 1
        assert room % HISTORY_SLACK == 0 and plies + HISTORY_SLACK <= room, (plies, room)
        assert room < plies + 2 * HISTORY_SLACK, (plies, room)


def test_parse_go_and_time_budget():
    go = ue.parse_go("btime 30000 wtime 60000 byoyomi 1000".split())
    assert (go.btime, go.wtime, go.byoyomi, go.infinite) == (30000, 60000, 1000, False)
    share = usi_clock.CLOCK_SHARE
    assert 0.5 <= share < 1
    # Black: 30000/30 + 1000 = 2000 ms, less a 100 ms delay, CLOCK_SHARE of it.
    assert ue.move_budget_s(go, 0, 100) == pytest.approx(share * 1.9)
    assert ue.move_budget_s(go, 1, 100) == pytest.approx(share * (2000 + 1000 - 100) / 1000)
    assert ue.move_budget_s(ue.parse_go("movetime 500".split()), 0, 100) == pytest.approx(
        share * 0.4)
    assert ue.move_budget_s(ue.parse_go("btime 0 wtime 0 byoyomi 0".split()), 0, 100) == 0
    assert ue.move_budget_s(ue.parse_go(["infinite"]), 0, 100) is None
    assert ue.move_budget_s(ue.parse_go([]), 0, 100) is None
    fischer = ue.parse_go("btime 60000 wtime 60000 binc 3000 winc 3000".split())
    assert ue.move_budget_s(fischer, 1, 0) == pytest.approx(share * (2000 + 3000) / 1000)
    assert ue.parse_go("ponder btime 1 wtime 2 byoyomi 3".split()).ponder
    assert ue.parse_go("nodes 100 depth 3".split()) == ue.GoParams(nodes=100)
    for bad in (["btime"], ["btime", "x"], ["sideways"]):
        with pytest.raises(ValueError, match="go: "):
            ue.parse_go(bad)


def test_options_parse_and_reject():
    o = ue.Options(checkpoint="x")
    o = ue.set_option(o, "temperature", "0.5")  # names match in any case
    o = ue.set_option(o, "Search", "1ply")
    o = ue.set_option(o, "USI_Ponder", "true")
    o = ue.set_option(o, "USI_Hash", "1024")
    o = ue.set_option(o, "rounds", "batched")
    o = ue.set_option(o, "QRange", "1")
    assert (o.temperature, o.search, o.ponder, o.rounds) == (0.5, "1ply", True, "batched")
    assert o.q_range == 1.0 and ue.settings_of(o).gumbel.q_range == 1.0  # what the search reads
    assert ue.settings_of(o).gumbel.mate_depth == 0
    assert ue.settings_of(ue.set_option(o, "MateDepth", "2")).gumbel.mate_depth == 2
    for name, value, message in [("Temperature", "-1", ">= 0"), ("Temperature", "nan", ">= 0"),
                                 ("Search", "2ply", "none, 1ply"), ("Seed", "-3", "0.."),
                                 ("Device", "", "non-empty"), ("NoSuch", "1", "unknown option"),
                                 ("Rounds", "parallel", "sequential, batched"),
                                 ("QRange", "2.5", "from 0 to 2"), ("QRange", "x", "from 0 to 2"),
                                 ("QRange", "nan", "from 0 to 2"), ("MateDepth", "-1", "0..64"),
                                 ("CaptureFloor", "0.6", "from 0 to 0.5"),
                                 ("CaptureFloor", "-0.1", "from 0 to 0.5")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            ue.set_option(o, name, value)


def test_capture_floor_reaches_the_network_the_search_reads(session):
    """`setoption name CaptureFloor value F` is declared, and from the next `isready` or `go`
    the engine's network carries the floor (Agent.capture_floor, which `evaluate` applies): a new
    network object, so that a compiled warm-up keyed by it compiles for it; 0 restores the
    network's own prior; the checkpoint is not reloaded for it."""
    _, out = feed(session, "usi")
    assert "option name CaptureFloor type string default 0" in out
    loaded = session.agent.network
    s, out = feed(session, "setoption name Search value gumbel",
                  "setoption name CaptureFloor value 0.1", "isready")
    assert out[-1] == "readyok" and s.agent.network.capture_floor == 0.1
    assert s.agent.network.params is loaded.params and s.agent.network is not loaded
    s, out = feed(s, "position startpos moves 7g7f", "go nodes 8")
    assert out[-1].startswith("bestmove ") and s.agent.network.capture_floor == 0.1
    s, _ = feed(s, "setoption name CaptureFloor value 0", "isready")
    assert s.agent.network.capture_floor == 0.0
    _, out = feed(s, "setoption name CaptureFloor value 0.7")
    assert any("CaptureFloor" in line and "from 0 to 0.5" in line for line in out)


def one_ply(net, state, generator, temperature=0.0, out_of_time=lambda: False):
    """The engine's 1-ply search (Search=1ply) in `state` [1]."""
    options = ue.Options(checkpoint="-", search="1ply", temperature=temperature)
    return ue.decide_move(net, state, options, generator, out_of_time)


def test_1ply_search_takes_a_mate_in_one(net):
    state = ue.parse_position(["sfen", *MATE_IN_ONE.split()]).state
    board = cshogi.Board(MATE_IN_ONE)
    assert board.mate_move_in_1ply()  # cshogi agrees that one exists
    for temperature in (0.0, 5.0):  # sampling never passes up a mate
        decision = one_ply(net, state, torch.Generator().manual_seed(0), temperature)
        assert decision.mate and decision.score == 1.0
        after = board_after([decision.move], MATE_IN_ONE)
        assert after.is_game_over(), decision.move
    assert ue.info_line(decision) == f"info depth 1 score mate 1 pv {decision.move}"


def test_score_moves_counts_repetition_and_mate_exactly(net):
    state = ue.parse_position(["startpos", "moves", *KING_SHUFFLE]).state
    legal = state["legal_mask"][0].nonzero().squeeze(1)
    scores, wins = one_ply_scores(net, state, legal)
    back = usi_to_action(state, ["5b5a"]).item()
    row = (legal == back).nonzero().item()
    assert scores[row].item() == 0.0 and not wins[row]  # 4th occurrence: an exact draw
    others = torch.cat([scores[:row], scores[row + 1:]])
    assert bool((others.abs() <= 1).all()) and not wins.any()

    mate_state = ue.parse_position(["sfen", *MATE_IN_ONE.split()]).state
    gold = usi_to_action(mate_state, ["G*5b"])
    scores, wins = one_ply_scores(net, mate_state, gold)
    assert scores.tolist() == [1.0] and wins.tolist() == [True]


def test_1ply_search_respects_the_deadline(net, monkeypatch):
    state = ue.parse_position(["startpos"]).state
    board = cshogi.Board()
    at_once = one_ply(net, state, None, out_of_time=lambda: True)
    assert at_once.evaluated == 0 and at_once.move in cshogi_legal(board)
    policy = ue.decide_move(net, state, ue.Options(checkpoint="-"), None)
    assert at_once.move == policy.move  # out of time: the policy's favourite
    monkeypatch.setattr(decide_module, "ONE_PLY_CHUNK", 8)
    calls = iter([False, True])
    one_batch = one_ply(net, state, None, out_of_time=lambda: next(calls))
    assert one_batch.evaluated == 8 and one_batch.candidates == 30
    assert one_batch.move in cshogi_legal(board)
    full = one_ply(net, state, None)
    assert full.evaluated == full.candidates == 30


def test_session_protocol_in_process(session):
    s, out = feed(session, "position startpos moves 7g7f", "position startpos moves 7g7f 7g7f",
                  "go byoyomi 1000")
    assert out[0].startswith("info string error: move 2: illegal USI move '7g7f'")
    # no answer for the previous position, which the GUI has left: a resignation, said why
    assert "the last position command was rejected" in out[1] and out[-1] == "bestmove resign"
    s, out = feed(s, "position startpos moves 7g7f", "go byoyomi 1000")  # a good one clears it
    assert out[-1].split()[1] in cshogi_legal(board_after(["7g7f"]))

    s, out = feed(s, "go infinite", "isready")
    assert out[-1] == "readyok" and s.pending is not None
    assert not any(line.startswith("bestmove") for line in out)
    s, out = feed(s, "stop", "stop")  # a second stop has nothing to stop
    assert len(out) == 1 and out[0].split()[1] in cshogi_legal(board_after(["7g7f"]))
    assert s.pending is None

    s, out = feed(s, "go ponder", "position startpos")  # any other command ends the wait
    assert out[-1].startswith("bestmove") and s.position.moves == ()

    s, out = feed(s, f"position sfen {MATED}", "go btime 0 wtime 0 byoyomi 100", "go mate 1000")
    assert out == ["bestmove resign", "checkmate notimplemented"]

    s, out = feed(s, "setoption name Temperature value hot", "setoption name Nope value 1",
                  "setoption", "go sideways", "")
    assert out[0] == "info string error: option Temperature: expected a number >= 0, got 'hot'"
    assert out[1] == "info string error: unknown option 'Nope' (ignored)"
    assert out[2].startswith("info string error: setoption: expected")
    assert out[3].startswith("info string error: go: unknown parameter 'sideways'")
    assert out[-1] == "bestmove resign"

    # A checkpoint or device that cannot be loaded: reported, the loaded agent kept, readyok.
    s, out = feed(s, "setoption name Device value cuda:97", "isready",
                  "setoption name Checkpoint value /no/such/run", "isready", "quit",
                  "usi")  # nothing after quit is read
    assert out[0].startswith("info string error: cannot load") and out[1] == "readyok"
    assert "checkpoint not found" in out[2] and out[3] == "readyok" and len(out) == 4 and s.quit
    assert s.options == session.options and s.agent is session.agent


# Black's king in the promotion zone with 11 pieces there, 27 points on the board and a pawn in
# hand: 28, the CSA rule's minimum for Black (cshogi agrees: Board.is_nyugyoku()).
DECLARABLE = "RBSG1GSBR/4K4/PPP6/9/9/9/9/9/4k4 b P 1"


def test_the_engine_declares_an_entering_king_win_with_bestmove_win(session):
    assert cshogi.Board(DECLARABLE).is_nyugyoku()
    _, out = feed(session, f"position sfen {DECLARABLE}", "go btime 0 wtime 0 byoyomi 100")
    assert out[-1] == "bestmove win"
    short = DECLARABLE.replace(" b P 1", " b - 1")  # 27 points: one short
    assert not cshogi.Board(short).is_nyugyoku()
    _, out = feed(session, f"position sfen {short}", "go btime 0 wtime 0 byoyomi 100")
    assert out[-1].startswith("bestmove ") and out[-1] != "bestmove win"


def test_sampling_is_reproducible_with_the_seed(session):
    opts = ["setoption name Temperature value 2", "setoption name Seed value 11"]
    plays = ["position startpos", "go", "position startpos moves 7g7f", "go"]
    _, first = feed(session, *opts, *plays)
    _, again = feed(session, *opts, *plays)
    assert [line for line in first if line.startswith("bestmove")] == [
        line for line in again if line.startswith("bestmove")]


def test_cshogi_drives_our_engine_against_gnushogi_through_our_adapter(run_dir, tmp_path,
                                                                        cshogi_engines):
    """The arena's gnushogi-as-USI adapter and our USI engine, both driven by cshogi's client,
    play complete games (both colours); every move legal in cshogi."""
    from keisei_fn.arena.engines import find_gnushogi

    if find_gnushogi() is None:
        pytest.skip("gnushogi is not installed (apt-get install gnushogi; .ci/run installs it)")
    adapter = tmp_path / "gnushogi.sh"
    adapter.write_text("#!/bin/sh\n"
                       f"PYTHONPATH={shlex.quote(str(ROOT))}${{PYTHONPATH:+:$PYTHONPATH}}\n"
                       "export PYTHONPATH\n"
                       f"exec {shlex.quote(sys.executable)} -m keisei_fn.arena.gnushogi_usi "
                       "--depth 1\n")
    adapter.chmod(0o755)
    gnu = cshogi_engines(str(adapter))
    ours = cshogi_engines(_engine_script(tmp_path / "ours.sh", run_dir))
    for engine in (gnu, ours):
        engine.isready()
    rng = random.Random(0)
    for black, white in ((ours, gnu), (gnu, ours)):
        ending, moves = play_game(black, white, rng, max_plies=200)
        assert ending in {"mate", "repetition", "move cap"} and moves
        for engine in (gnu, ours):
            engine.gameover("draw" if ending != "mate" else None)
    for engine in (gnu, ours):
        engine.quit()


_USI_WORDS = st.sampled_from([
    "usi", "isready", "usinewgame", "position", "startpos", "sfen", "moves", "go", "btime",
    "wtime", "byoyomi", "binc", "winc", "movetime", "infinite", "ponder", "stop", "ponderhit",
    "setoption", "name", "value", "Temperature", "Search", "Seed", "Device", "USI_Hash",
    "gameover", "win", "lose", "7g7f", "P*5e", "8h2b+", "5i5h", "-1", "0", "1e9", "nan",
    "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL", "b", "w", "-", "1", "\t", "é"])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # sessions are immutable
@given(st.lists(st.one_of(st.lists(_USI_WORDS, max_size=8).map(" ".join),
                          st.text(max_size=40)), max_size=6))
def test_fuzzed_command_lines_never_crash_the_engine(session, lines):
    """Random command lines (protocol words in random order, and arbitrary text): the engine
    answers only with protocol lines (errors as `info string`), never raises, keeps a legal
    position; `quit` is excluded so every line is processed."""
    lines = [line for line in lines if "quit" not in line and "\n" not in line and "\r" not in line]
    s, out = feed(session, *lines, "stop", "isready")
    assert out and out[-1] == "readyok"
    allowed = ("info ", "bestmove ", "readyok", "usiok", "id ", "option ", "checkmate ")
    assert all(line.startswith(allowed) for line in out), out
    # The position the engine holds is a legal game: cshogi replays it to the same SFEN.
    board = cshogi.Board(s.position.base)
    for move in s.position.moves:
        assert move in cshogi_legal(board)
        board.push_usi(move)
    assert to_sfen(s.position.state)[0].split()[:3] == board.sfen().split()[:3]


# ---------------------------------------------------------------------------------------------
# Gumbel search in the engine


def _info_fields(line: str) -> dict:
    words = line.split()
    fields = {}
    for key in ("depth", "seldepth", "multipv", "nodes", "nps", "time"):
        if key in words:
            fields[key] = int(words[words.index(key) + 1])
    i = words.index("score")
    fields["score"] = (words[i + 1], int(words[i + 2]))
    fields["pv"] = words[words.index("pv") + 1:]
    return fields


@pytest.mark.parametrize("rounds", ["sequential", "batched"])
def test_gumbel_search_reports_lines_a_gui_can_show(session, rounds):
    moves = ["7g7f", "3c3d"]
    s, out = feed(
        session,
        "setoption name Search value gumbel",
        f"setoption name Rounds value {rounds}",
        "setoption name Simulations value 48",
        "setoption name MultiPV value 3",
        "position startpos moves " + " ".join(moves),
        "go btime 0 wtime 0 byoyomi 60000",
    )
    infos = [_info_fields(line) for line in out if line.startswith("info depth")]
    assert [f["multipv"] for f in infos] == [1, 2, 3]
    best = out[-1].split()[1]
    assert infos[0]["pv"][0] == best and len({f["pv"][0] for f in infos}) == 3
    for f in infos:
        assert f["nodes"] == 48 and f["depth"] == len(f["pv"]) <= f["seldepth"]
        assert f["score"][0] == "cp" and f["time"] >= 1 and f["nps"] > 0
        board = board_after(moves)
        for move in f["pv"]:  # every variation is a legal line, by cshogi
            assert move in cshogi_legal(board), (f["pv"], move)
            board.push_usi(move)
    s, out = feed(s, "go nodes 5")
    assert _info_fields(out[0])["nodes"] == 5


def test_gumbel_search_proves_a_mate_in_one(session):
    s, out = feed(session, "setoption name Search value gumbel",
                  "setoption name Simulations value 32", f"position sfen {MATE_IN_ONE}",
                  "go byoyomi 60000")
    assert "score mate 1" in out[0]
    assert board_after([out[-1].split()[1]], MATE_IN_ONE).is_game_over()


def test_gumbel_search_reports_a_proven_mate_in_three_and_plays_it(session, monkeypatch):
    # cshogi: a mate in 3 and none in 1; the search proves it by the rules (docs/search.md).
    # A network that knows nothing (uniform policy, value 0), so that only the proof can tell.
    def know_nothing(state):
        return torch.zeros(state["legal_mask"].shape), torch.zeros(state.batch_size[0])

    monkeypatch.setattr(decide_module, "evaluator", lambda agent: know_nothing)
    mate3 = "9/8k/5l+P2/7L1/9/9/9/9/K8 b - 1"
    assert cshogi.Board(mate3).mate_move(3) and not cshogi.Board(mate3).mate_move_in_1ply()
    # with Gumbel noise (Temperature > 0): without it, the ties of a know-nothing network are
    # broken by label order, and the mating move is halved away before its subtree is searched
    s, out = feed(
        session,
        "setoption name Search value gumbel",
        "setoption name Temperature value 1",
        "setoption name Simulations value 128",
        "setoption name ConsideredMoves value 600",
        "setoption name MultiPV value 2",
        f"position sfen {mate3}",
        "go byoyomi 60000",
    )
    infos = [_info_fields(line) for line in out if line.startswith("info depth")]
    assert infos[0]["score"] == ("mate", 3), out
    board = board_after([out[-1].split()[1]], mate3)
    for reply in list(board.legal_moves):  # every defence is mated next move (cshogi)
        board.push(reply)
        assert board.mate_move_in_1ply(), cshogi.move_to_usi(reply)
        board.pop()
    # from the defender's side: mated in 2 whatever it plays
    mated = "9/8k/5l+P+L1/9/9/9/9/9/K8 w - 2"
    s, out = feed(s, "setoption name MultiPV value 1", "setoption name Temperature value 0",
                  f"position sfen {mated}", "go byoyomi 60000")
    assert _info_fields(out[0])["score"] == ("mate", -2), out


def test_mate_plies_three_plays_the_mate_in_three_without_search(session, monkeypatch):
    """`MatePlies 3`: the policy alone (no search) plays the first move of a mate in three and
    reports `score mate 3`; with the default (1) a know-nothing network does not."""
    def know_nothing(state):
        return torch.zeros(state["legal_mask"].shape), torch.zeros(state.batch_size[0])

    monkeypatch.setattr(decide_module, "evaluate", lambda agent, state: know_nothing(state))
    mate3 = "9/8k/5l+P2/7L1/9/9/9/9/K8 b - 1"
    s, out = feed(session, f"position sfen {mate3}", "go byoyomi 60000")
    assert "score mate" not in out[0]
    s, out = feed(s, "setoption name MatePlies value 3", f"position sfen {mate3}",
                  "go byoyomi 60000")
    assert _info_fields(out[0])["score"] == ("mate", 3), out
    board = board_after([out[-1].split()[1]], mate3)
    for reply in list(board.legal_moves):  # every defence is mated next move (cshogi)
        board.push(reply)
        assert board.mate_move_in_1ply(), cshogi.move_to_usi(reply)
        board.pop()
    s, out = feed(s, "setoption name MatePlies value 2")
    assert "MatePlies" in out[0] and "expected one of 1, 3" in out[0]


def _policy_wants(monkeypatch, sfen: str, usi: str) -> None:
    """Every position's policy puts all its weight on `usi` (legal at `sfen`), value 0."""
    from keisei_fn.shogi import from_sfen

    wanted = int(usi_to_action(from_sfen([sfen]), [usi])[0])

    def evaluate(agent, state):
        logits = torch.zeros(state["legal_mask"].shape)
        logits[:, wanted] = 10.0
        return logits, torch.zeros(state.batch_size[0])

    monkeypatch.setattr(decide_module, "evaluate", evaluate)


def test_the_material_margin_vetoes_a_hanging_rook_unless_turned_off(session, monkeypatch):
    """`MaterialMargin` (default 3, `PLAY_MATERIAL_MARGIN`): a policy that wants to put its rook
    where a pawn takes it plays another move; `MaterialMargin 0` lets it; bad values are refused
    in one line. The 2-ply search that vetoes is the `minimax` player's (tests/test_minimax.py)."""
    sfen = "4k4/9/4p4/9/9/9/9/4R4/4K4 b - 1"
    _policy_wants(monkeypatch, sfen, "5h5d")
    s, out = feed(session, f"position sfen {sfen}", "go byoyomi 60000")
    assert out[-1].startswith("bestmove ") and out[-1].split()[1] != "5h5d", out
    s, out = feed(s, "setoption name MaterialMargin value 0", f"position sfen {sfen}",
                  "go byoyomi 60000")
    assert out[-1] == "bestmove 5h5d", out
    s, out = feed(s, "setoption name MaterialMargin value -1")
    assert "MaterialMargin" in out[0] and "expected an integer in 0..100" in out[0]


def test_the_material_quiet_lets_a_pawn_be_offered_for_exchange(session, monkeypatch):
    """`MaterialQuiet` (default 2, `PLAY_MATERIAL_QUIET`): the veto's search plays captures out,
    so P-2d, which White's pawn takes and Black's rook retakes, is level and kept at a 1-pawn
    margin; `MaterialQuiet 0` (the static last ply) sees the pawn lost and vetoes it; bad values
    are refused in one line."""
    sfen = "lnsgkgsnl/1r5b1/ppppppppp/9/7P1/9/PPPPPPP1P/1B5R1/LNSGKGSNL b - 1"
    _policy_wants(monkeypatch, sfen, "2e2d")
    s, out = feed(session, "setoption name MaterialMargin value 1", f"position sfen {sfen}",
                  "go byoyomi 60000")
    assert out[-1] == "bestmove 2e2d", out
    s, out = feed(s, "setoption name MaterialQuiet value 0", f"position sfen {sfen}",
                  "go byoyomi 60000")
    assert out[-1].startswith("bestmove ") and out[-1].split()[1] != "2e2d", out
    s, out = feed(s, "setoption name MaterialQuiet value 5")
    assert "MaterialQuiet" in out[0] and "expected an integer in 0..4" in out[0]


def test_simulations_follow_the_clock():
    options = ue.Options(checkpoint="x", search="gumbel", simulations=800)
    assert ue.simulations_for(options, ue.GoParams(), None, 300.0) == 800
    assert ue.simulations_for(options, ue.GoParams(nodes=100), None, 300.0) == 100
    assert ue.simulations_for(options, ue.GoParams(byoyomi=1000), 0.5, 300.0) == 150
    assert ue.simulations_for(options, ue.GoParams(byoyomi=1), 0.0, 300.0) == 1


def test_the_time_beyond_a_search_comes_off_the_next_deadline(session, monkeypatch):
    """An answer's mate checks and guard run after its search stops: what they took is kept off
    the next search's deadline, so that the answer, not only the search, fits the clock."""
    now = [0.0]
    monkeypatch.setattr(ue, "time", SimpleNamespace(monotonic=lambda: now[0]))
    searched = []

    def fake_decide(network, state, options, generator, out_of_time, compiled=False):
        begun = now[0]
        while not out_of_time():  # the search: to its deadline, in 1 ms steps
            now[0] += 0.001
        searched.append(now[0] - begun)
        now[0] += 0.1  # what follows the search
        return ue.Decision("7g7f", 0.0, nodes=100, seconds=searched[-1])

    monkeypatch.setattr(ue, "decide_move", fake_decide)
    s = replace(session, options=replace(session.options, search="gumbel", network_delay_ms=0))
    s, _ = feed(s, "position startpos", "go movetime 1000", "go movetime 1000")
    budget = usi_clock.CLOCK_SHARE * 1.0
    assert searched[0] == pytest.approx(budget, abs=0.002)
    assert searched[1] == pytest.approx(budget - 0.1, abs=0.002)  # the answer: the budget
    assert s.overhead_s == pytest.approx(0.1, abs=1e-6)


def test_value_to_centipawns():
    assert ue.value_to_cp(0.0) == 0
    assert ue.value_to_cp(0.5) == round(756 * math.log(3)) == -ue.value_to_cp(-0.5)
    assert ue.value_to_cp(1.0) == 30000 and ue.value_to_cp(-1.0) == -30000
    values = [-0.99, -0.5, -0.1, 0.0, 0.2, 0.7, 0.999]
    assert [ue.value_to_cp(v) for v in values] == sorted(ue.value_to_cp(v) for v in values)


def test_guard_refuses_a_move_that_lets_the_opponent_mate(session, monkeypatch):
    """`Guard 1` (default 0, off): a policy that wants 1g1f, after which White mates with G*5h
    (cshogi confirms), plays it without the guard and, with it, a move after which White has no
    mate in one (cshogi), for the policy's move and the 1-ply search alike; bad values refused
    in one line."""
    sfen = "4k4/9/9/9/9/9/4p3P/9/4K4 b g 1"
    from keisei_fn.shogi import from_sfen

    blunder = int(usi_to_action(from_sfen([sfen]), ["1g1f"])[0])
    assert board_after(["1g1f"], sfen).mate_move_in_1ply()

    def wants_the_blunder(state):
        logits = torch.zeros(state["legal_mask"].shape)
        logits[:, blunder] = 10.0
        return logits, torch.zeros(state.batch_size[0])

    monkeypatch.setattr(decide_module, "evaluate", lambda agent, state: wants_the_blunder(state))
    for search in ("none", "1ply"):
        s, out = feed(session, f"setoption name Search value {search}",
                      f"position sfen {sfen}", "go byoyomi 60000")
        assert out[-1] == "bestmove 1g1f", (search, out)
        s, out = feed(s, "setoption name Guard value 1", f"position sfen {sfen}",
                      "go byoyomi 60000")
        move = out[-1].split()[1]
        assert move != "1g1f", (search, out)
        assert not board_after([move], sfen).mate_move_in_1ply(), (search, move)
    s, out = feed(s, "setoption name Guard value maybe")
    assert "Guard" in out[0] and "expected one of 0, 1, 3" in out[0]


def test_guard_three_refuses_a_move_that_lets_the_opponent_mate_in_three(session, monkeypatch):
    """`Guard 3`: a policy that wants 7g8f, after which White mates in three by checks (G*8e
    first) but not in one (cshogi), plays it with `Guard 1` and, with `Guard 3`, a move after
    which White has no mate within three (cshogi), for the policy's move and the 1-ply search."""
    sfen = "9/k8/9/9/9/2b6/2K6/1GR6/9 b 2g 1"
    from keisei_fn.shogi import from_sfen

    blunder = int(usi_to_action(from_sfen([sfen]), ["7g8f"])[0])
    after = board_after(["7g8f"], sfen)
    assert not after.mate_move_in_1ply() and after.mate_move(3)

    def wants_the_blunder(state):
        logits = torch.zeros(state["legal_mask"].shape)
        logits[:, blunder] = 10.0
        return logits, torch.zeros(state.batch_size[0])

    monkeypatch.setattr(decide_module, "evaluate", lambda agent, state: wants_the_blunder(state))
    # the king may take the bishop on 7f: the material veto would refuse 7g8f itself
    s, _ = feed(session, "setoption name MaterialMargin value 0")
    for search in ("none", "1ply"):
        s, out = feed(s, f"setoption name Search value {search}", "setoption name Guard value 1",
                      f"position sfen {sfen}", "go byoyomi 60000")
        assert out[-1] == "bestmove 7g8f", (search, out)
        s, out = feed(s, "setoption name Guard value 3", f"position sfen {sfen}",
                      "go byoyomi 60000")
        move = out[-1].split()[1]
        board = board_after([move], sfen)
        assert move != "7g8f" and not board.mate_move_in_1ply() and not board.mate_move(3), \
            (search, out)


def test_a_mate_depth_is_a_compiled_shape_of_its_own():
    """With MateDepth, one game's simulations near the root leave the fused program: a warm-up
    without it has not compiled what they run, so a change of it warms up again."""
    from keisei_fn.agent import SearchConfig
    from keisei_fn.apps.usi_warmup import shape_of

    assert shape_of(SearchConfig(mate_depth=2)) != shape_of(SearchConfig())
    assert shape_of(SearchConfig(mate_depth=2)) == shape_of(SearchConfig(mate_depth=1))
