"""The training progress display as a user sees it in an 80-column terminal."""

from __future__ import annotations

import io
import re

from rich.console import Console

from keisei_fn.learn import Counters
from keisei_fn.run.progress import progress_bar, status_line


def _status(games: int, length: float) -> str:
    return status_line(Counters(iteration=3, frames=12_288, games=games),
                       {"entropy": 7.61, "kl_approx": 0.0012, "explained_variance": 0.12},
                       {"games": float(games), "mean_length": length}, 1234.5)


def test_status_line_prints_a_dash_until_a_game_has_ended():
    assert "games 0 len - |" in _status(0, float("nan"))
    assert "games 5 len 87 |" in _status(5, 87.2)
    assert "nan" not in status_line(Counters(iteration=1, frames=1), {}, {}, 1.0)


def test_bar_keeps_percentage_elapsed_eta_and_the_whole_status_at_80_columns():
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)
    status = _status(5, 87.2)
    with progress_bar(True, 600, "s", console) as advance:
        advance(150, status)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "\n", out.getvalue())
    assert "25.0%" in text and "ETA" in text and re.search(r"\d:\d\d:\d\d", text)
    assert status in text, text
    assert all(len(line) <= 80 for line in text.splitlines())
