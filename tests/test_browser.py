"""The views in a real browser: `aim up` on a small tracked run, driven by headless Chromium
through Playwright (Debian's chromium, launched by path: `playwright install` needs the
internet), and the page `keisei-fn analyze` writes.

Marked `browser`; CI installs chromium (.ci/run) and runs them. Without chromium or Playwright
they skip, saying which is missing.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from _need import need
from _tiny import tiny

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser():
    need(CHROMIUM is not None, "no chromium on PATH (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "Playwright for Python is not installed (pip install playwright)")
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
    from keisei_fn.run.train import train

    run = tmp_path_factory.mktemp("browser") / "run"
    train(tiny(run, "total_updates=4", "track.aim=true", "eval.every=2", "eval.max_plies=30"),
          log=lambda *a: None)
    return run, read_checkpoint(list_checkpoints(run)[-1])["aim_hash"]


@pytest.fixture(scope="module")
def aim_ui(tracked_run):
    run, _ = tracked_run
    port = _free_port()
    aim = Path(sys.executable).parent / "aim"
    proc = subprocess.Popen([str(aim), "up", "--repo", str(run / "aim"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(base, timeout=2)
            break
        except OSError:
            assert proc.poll() is None, "aim up exited"
            assert time.monotonic() < deadline, "aim up did not answer in 90 s"
            time.sleep(0.5)
    yield base
    # `aim up` serves through uvicorn workers of its own: end the whole group, or they outlive it
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _group_alive(proc.pid):
        time.sleep(0.2)
    if _group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def playwright():
    """One Playwright for the module: its sync API allows one running instance at a time."""
    sync_playwright = _browser()
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def page(playwright):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox"])
    yield browser.new_page(viewport={"width": 1400, "height": 1000})
    browser.close()


def _wait_for_count(page, selector: str, at_least: int, timeout_s: float = 30) -> int:
    """Charts draw after their data arrives: poll rather than capture once."""
    deadline = time.monotonic() + timeout_s
    while True:
        count = page.locator(selector).count()
        if count >= at_least or time.monotonic() > deadline:
            return count
        page.wait_for_timeout(250)


def test_aim_shows_the_loss_curves_the_boards_and_the_value_timeline(aim_ui, tracked_run, page):
    run, aim_hash = tracked_run
    page.goto(f"{aim_ui}/runs/{aim_hash}/metrics")
    page.get_by_text("losses/policy", exact=True).first.wait_for(timeout=30_000)
    # every chart is an SVG whose curve is a path with a drawn line
    assert _wait_for_count(page, "svg path[d^='M']", 10) >= 10
    assert page.get_by_text("charts/learning_rate").count() == 0  # a param, not a chart
    page.goto(f"{aim_ui}/runs/{aim_hash}/images")
    page.get_by_text("insight/boards").first.wait_for(timeout=30_000)
    assert _wait_for_count(page, "img[src^='data:image'], img[src^='blob:']", 4) >= 4
    page.goto(f"{aim_ui}/runs/{aim_hash}/figures")
    page.get_by_text("insight/value_timeline").first.wait_for(timeout=30_000)
    assert _wait_for_count(page, "svg.main-svg", 1) >= 1
    page.get_by_text("value for Black").first.wait_for(timeout=30_000)
    # the Runs explorer names the run after its directory
    page.goto(f"{aim_ui}/runs")
    page.get_by_text(str(run)).first.wait_for(timeout=30_000)


def test_the_analyze_page_shows_the_board_and_the_arrows(tiny_run, tmp_path, page):
    out = subprocess.run([sys.executable, "-m", "keisei_fn.cli", "analyze", "--checkpoint",
                          str(tiny_run), "--sfen", "startpos", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((tmp_path / "index.html").as_uri())
    boards = page.locator("svg.shogi-board")
    assert boards.count() == 2  # the policy's moves, then what drives the value
    board, drivers = boards.nth(0), boards.nth(1)
    assert board.bounding_box()["width"] > 300
    assert board.locator("g.piece").count() == 40 and drivers.locator("g.piece").count() == 40
    assert board.locator("g.arrow").count() == 5
    assert drivers.locator("rect.driver").count() >= 40  # every occupied square, at least
    assert page.locator("p.value").inner_text().startswith("Value ")
    assert "Top squares:" in page.locator("p.drivers").inner_text()
    assert errors == []


# ------------------------------------------------------- boards legible on a machine with no font

MIDGAME = "ln1g3nl/1r2kgs2/p1pppp1pp/1p4p2/7P1/2P6/PP1PPPP1P/1BG4R1/LNS1KGSNL b Bs 15"
# How the board wrote a piece before its text became outlines: a font's glyph, which a machine
# without a CJK font (or without any font) cannot draw.
_TEXT_PIECE = ('<svg xmlns="http://www.w3.org/2000/svg" width="44" height="44" class="{cls}">'
               '<polygon points="22,3 35,8 39,41 5,41 9,8" fill="#f6dfae" stroke="#7a5a2a"/>'
               '<text x="22" y="30" font-size="22" text-anchor="middle" font-family="serif">'
               '{label}</text></svg>')


@pytest.fixture(scope="module")
def fontless_page(playwright, tmp_path_factory):
    """Chromium under a fontconfig that lists no font directory: no font at all."""
    root = tmp_path_factory.mktemp("nofonts")
    config = root / "fonts.conf"
    config.write_text('<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd">'
                      f"<fontconfig><cachedir>{root / 'cache'}</cachedir></fontconfig>")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox"],
                                         env={**os.environ, "FONTCONFIG_FILE": str(config)})
    yield browser.new_page(viewport={"width": 1000, "height": 700})
    browser.close()


def _pixels(page, locator) -> bytes:
    from PIL import Image

    return Image.open(io.BytesIO(locator.screenshot())).convert("RGB").tobytes()


def test_the_board_reads_the_same_with_no_font_installed(fontless_page, tmp_path):
    from keisei_fn.insight.board import board_svg

    html = tmp_path / "board.html"
    html.write_text("<!doctype html><html><body>"
                    + _TEXT_PIECE.format(cls="old pawn", label="歩")
                    + _TEXT_PIECE.format(cls="old rook", label="飛")
                    + board_svg(MIDGAME) + "</body></html>", encoding="utf-8")
    page = fontless_page
    page.goto(html.as_uri())
    # the old way: with no font, a pawn and a rook look the same (nothing, or the same box)
    old_pawn, old_rook = (_pixels(page, page.locator(f"svg.old.{p}")) for p in ("pawn", "rook"))
    assert old_pawn == old_rook
    board = page.locator("svg.shogi-board")
    pawn = _pixels(page, board.locator('g.piece[data-square="9g"]'))
    rook = _pixels(page, board.locator('g.piece[data-square="2h"]'))
    bishop = _pixels(page, board.locator('g.piece[data-square="8h"]'))
    assert len({pawn, rook, bishop}) == 3  # three pieces, three drawings
    # the label is ink on the piece: its box is not one colour
    label = board.locator('g.piece[data-square="9g"] g.label')
    assert len(set(_pixel_values(page, label))) > 2
    # and the file numbers and rank names are drawn too
    assert len(set(_pixel_values(page, board.locator('g.text[data-text="5"]').first))) > 2


def _pixel_values(page, locator) -> list[tuple[int, int, int]]:
    from PIL import Image

    return list(Image.open(io.BytesIO(locator.screenshot())).convert("RGB").getdata())
