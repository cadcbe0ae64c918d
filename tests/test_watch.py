"""`keisei-fn watch`: the live view of a run (apps/watch.py, apps/watch_view.py), driven as a
function with its output captured, and in a real terminal (tmux) as a person runs it."""

from __future__ import annotations

import io
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from _need import need
from rich.console import Console

from keisei_fn.algos import registry
from keisei_fn.apps.watch import watch
from keisei_fn.apps.watch_view import bar, sparkline, training_panel
from keisei_fn.checkpoint import list_checkpoints
from keisei_fn.cli import main
from keisei_fn.config import load_config

ROOT = Path(__file__).resolve().parents[1]
BOARD_FILES = " 9  8  7  6  5  4  3  2  1"


def _bars(text: str) -> bool:
    """Probability bars drawn (a near-uniform policy's are eighths of a column)."""
    return bool(re.search(r"\d[a-i][1-9][a-i]\+?\s+[▏▎▍▌▋▊▉█]+\s+\d+%", text))


def _capture(run, **kwargs) -> str:
    out = io.StringIO()
    console = Console(file=out, width=80, height=24, force_terminal=False, color_system=None)
    kwargs.setdefault("sleep", lambda s: None)
    watch(str(run), pace=0, openings="none", console=console, **kwargs)
    return out.getvalue()


def test_sparkline_and_bars_span_their_range():
    assert sparkline([-1.0, 0.0, 1.0], 10) == "▁▅█"
    assert sparkline([0.5] * 20, 4) == "▇▇▇▇"
    assert bar(0.0, 8) == " " * 8 and bar(1.0, 8) == "█" * 8
    assert bar(0.5, 8) == "████    " and bar(1 / 16, 8) == "▌       "


def test_training_panel_turns_red_when_the_policy_moves_a_lot():
    def styles(kl, clip, target_kl=0.0):
        record = {"kind": "iteration", "iteration": 3, "member": 0, "losses/approx_kl": kl,
                  "losses/clip_fraction": clip, "losses/entropy": 2.0,
                  "losses/explained_variance": 0.3}
        cfg = load_config(None, [f"ppo.target_kl={target_kl}"])
        cells = list(training_panel([record], 0, registry.get("ppo").watched(cfg))
                     .columns[1].cells)
        return [getattr(c, "style", "") for c in cells[1:3]]

    assert styles(0.001, 0.05) == ["green", "green"]
    assert styles(0.05, 0.3) == ["bold red", "bold red"]  # above 0.02 (no target) and 0.2
    assert styles(0.05, 0.1, target_kl=0.1) == ["green", "green"]


def test_watch_shows_the_board_the_top_moves_and_the_run_s_metrics(tiny_run):
    text = _capture(tiny_run, opponent="greedy", games=1, max_plies=12, saliency=True)
    assert BOARD_FILES in text
    assert "the agent's top 5" in text and _bars(text)
    # the panel from the run's metrics file: its iteration and its final evaluation
    assert "KL (approx.)" in text and "clip fraction" in text and "explained var." in text
    assert "vs random" in text and "vs greedy" in text
    assert "value for Black" in text
    assert re.search(r"drivers (\d[a-i] [+-]\d\.\d\d ){3}", text)  # --saliency
    assert "☖ greedy" in text and "draw (move_cap)" in text or "wins" in text


def test_watch_picks_up_a_newer_checkpoint_between_games(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    newest = list_checkpoints(run)[-1]
    newer = run / f"ckpt_{int(newest.stem.split('_')[1]) + 1:08d}.pt"

    def sleep(_seconds):  # the trainer writes a checkpoint while the first game is shown
        if not newer.exists():
            shutil.copy(newest, newer)

    text = _capture(run, games=2, max_plies=4, sleep=sleep)
    shown = set(re.findall(r"(ckpt_\d+\.pt) of .*\ngame (\d+):", text))
    assert shown == {(newest.name, "1"), (newer.name, "2")}


def test_a_checkpoint_file_shows_its_run_s_metrics_and_a_packaged_agent_its_card(tiny_run):
    text = _capture(list_checkpoints(tiny_run)[0], games=1, max_plies=2)
    assert "KL (approx.)" in text and "vs greedy" in text  # the run's metrics file, found
    text = _capture("reference", games=1, max_plies=2)
    assert "(not a run)" in text and "KL (approx.)" not in text
    assert re.search(r"packaged: [\d.]+M env steps, keisei-fn ladder [+-]\d+ \[", text)


def test_pause_and_predict_tells_the_rank_and_keeps_score(tiny_run):
    guesses = iter(["7g7f", "zz"] * 10)
    text = _capture(tiny_run, games=1, max_plies=6, predict=True,
                    input_fn=lambda prompt: next(guesses))
    assert re.search(r"you said 7g7f: the agent's #\d+ \(\d+%\), it plays \S+", text)
    assert "you said zz: not a legal move here" in text
    assert re.search(r"Score: \d/\d exact, \d/\d in its top 3", text)
    assert "your prediction first" in text  # the moves are hidden until the guess


def test_bad_watch_arguments_get_one_line(tmp_path, capsys):
    assert main(["watch", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip().endswith(
        f"not a run directory, checkpoint file or packaged agent: {tmp_path / 'nowhere'}")
    assert main(["watch", str(tmp_path), "--pace", "-1"]) == 2
    assert "--pace must be >= 0" in capsys.readouterr().err
    assert main(["watch", str(tmp_path)]) == 2
    assert f"no checkpoint in {tmp_path}" in capsys.readouterr().err


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=False, capture_output=True, text=True).stdout


@pytest.mark.slow
def test_watch_in_a_terminal_draws_the_view_and_ctrl_c_leaves_it_clean(tiny_run, tmp_path):
    need(shutil.which("tmux") is not None, "tmux is not installed")
    session, rc = f"watch-{uuid.uuid4().hex[:8]}", tmp_path / "rc"
    command = shlex.join([sys.executable, "-m", "keisei_fn.cli", "watch", str(tiny_run),
                          "--opponent", "greedy", "--pace", "0.3", "--openings", "none"])
    shell = (f"cd {shlex.quote(str(ROOT))} && {command}; echo $? > {rc}; echo WATCH-ENDED; "
             f"sleep 60")
    _tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24",
          f"bash -c {shlex.quote(shell)}")
    try:
        deadline, pane = time.monotonic() + 120, ""
        while time.monotonic() < deadline and "explained var." not in pane:
            time.sleep(0.5)
            pane = _tmux("capture-pane", "-p", "-t", session)
        assert BOARD_FILES in pane, pane
        assert "the agent's top 5" in pane and _bars(pane)
        assert "KL (approx.)" in pane and "vs greedy" in pane, pane
        _tmux("send-keys", "-t", session, "C-c")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "WATCH-ENDED" not in pane:
            time.sleep(0.5)
            pane = _tmux("capture-pane", "-p", "-t", session)
        assert rc.read_text().strip() == "130"
        # the alternate screen is gone: no board left, no traceback
        assert BOARD_FILES not in pane and "Traceback" not in pane, pane
    finally:
        _tmux("kill-session", "-t", session)

