"""The insight views: board SVGs checked against the position they draw (every piece of the SFEN
on its square, hands, arrows and drops where the moves say), `keisei-fn analyze` on a position
and on a game record, and the trainer's Aim views (images, figures, distributions, run name)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import cshogi
import pytest
from _tiny import tiny

from keisei_fn.arena.records import GameRecord, parse_sfen, to_json_line
from keisei_fn.insight.board import board_svg, destination_heat, square_center
from keisei_fn.insight.render import RenderUnavailable, png_image

SVG = "{http://www.w3.org/2000/svg}"
MIDGAME = "ln1g3nl/1r2kgs2/p1pppp1pp/1p4p2/7P1/2P6/PP1PPPP1P/1BG4R1/LNS1KGSNL b Bs 15"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _by_class(root, cls):
    return [e for e in root.iter() if e.get("class") == cls]


@pytest.mark.parametrize("flip", [False, True])
def test_every_piece_of_the_position_is_drawn_on_its_square(flip):
    root = _parse(board_svg(MIDGAME, flip=flip, style="letters"))
    board, hands, _ = parse_sfen(MIDGAME)
    drawn = {g.get("data-square"): g.get("data-piece") for g in _by_class(root, "piece")}
    assert drawn == board
    # cshogi agrees on the occupied squares (an independent SFEN reader)
    ref = cshogi.Board(MIDGAME)
    occupied = {f"{sq // 9 + 1}{'abcdefghi'[sq % 9]}" for sq in range(81) if ref.piece(sq)}
    assert set(drawn) == occupied
    # pieces sit inside their squares, White's upside down from Black's side
    for g in _by_class(root, "piece"):
        x, y = square_center(g.get("data-square"), flip)
        [label] = _by_class(g, "label")  # the letter, as glyph outlines
        assert label.get("data-text") == g.get("data-piece").upper()
        assert abs(float(label.get("data-x")) - x) < 1 and label.findall(f"{SVG}path")
        rotated = "rotate(180" in (label.get("transform") or "")
        assert rotated == (g.get("data-piece").islower() != flip)
    in_hand = {(t.get("data-owner"), t.get("data-piece")) for t in _by_class(root, "hand")}
    assert in_hand == {("b", "B"), ("w", "S")}


def test_arrows_drops_heat_and_last_move():
    moves = [("2e2d", 0.5), ("B*5e", 0.3), ("8h7g", 0.2)]
    root = _parse(board_svg(MIDGAME, arrows=moves, heat=destination_heat(moves),
                            last_move="8c8d"))
    [arrow1, arrow2] = _by_class(root, "arrow")
    assert [arrow1.get("data-move"), arrow2.get("data-move")] == ["2e2d", "8h7g"]
    line = arrow1.find(f"{SVG}line")
    assert (float(line.get("x1")), float(line.get("y1"))) == square_center("2e")
    assert (float(line.get("x2")), float(line.get("y2"))) == square_center("2d")
    assert "50%" in [e.get("data-text") for e in arrow1.iter()]
    [drop] = _by_class(root, "drop")
    circle = drop.find(f"{SVG}circle")
    assert (float(circle.get("cx")), float(circle.get("cy"))) == square_center("5e")
    heat = {r.get("data-square"): float(r.get("opacity")) for r in _by_class(root, "heat")}
    assert set(heat) == {"2d", "5e", "7g"} and heat["2d"] == max(heat.values())
    assert len(_by_class(root, "last-move")) == 2


def test_the_board_needs_no_font():
    """Every piece, label and number is drawn as outlines: no text element, no font family."""
    svg = board_svg(MIDGAME, arrows=[("2e2d", 0.5), ("B*5e", 0.3)], last_move="8c8d",
                    title="a title")
    root = _parse(svg)
    assert not list(root.iter(f"{SVG}text")) and "font" not in svg
    said = [e.get("data-text") for e in root.iter() if e.get("data-text")]
    assert {"歩", "王", "玉", "一", "九", "1", "9", "50%", "B*"} <= set(said)
    assert any(t.startswith("a title") for t in said)


def test_bad_style_is_refused():
    with pytest.raises(ValueError, match="style"):
        board_svg(MIDGAME, style="emoji")


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "keisei_fn.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_analyze_a_position_and_a_game(tiny_run, tmp_path):
    out = _cli("analyze", "--checkpoint", str(tiny_run), "--sfen", MIDGAME, "--top", "3",
               "--simulations", "8", "--guard", "3", "--out", str(tmp_path / "pos"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "value" in out.stdout and "search (8 simulations)" in out.stdout
    rows = [ln.split() for ln in out.stdout.splitlines() if ln.strip()[:2] in ("1 ", "2 ", "3 ")]
    assert len(rows) >= 3
    legal = {cshogi.move_to_usi(m) for m in cshogi.Board(MIDGAME).legal_moves}
    assert {r[1] for r in rows[:3]} <= legal
    page = (tmp_path / "pos" / "index.html").read_text()
    assert 'class="shogi-board"' in page and ('class="arrow"' in page or 'class="drop"' in page)
    # what drives the value: a board of signed squares, the same top squares as printed
    assert "What drives the value" in page and page.count('class="driver"') >= 20
    printed = [ln for ln in out.stdout.splitlines() if ln.startswith("what drives the value")]
    assert len(printed) == 1 and all(sq.split()[0] in page for sq in printed[0].split(": ")[1]
                                     .split(", "))
    # a game: legal moves from cshogi, as the arena records it
    board, moves = cshogi.Board(), []
    for _ in range(12):
        move = sorted(board.legal_moves)[len(moves) % 3]
        moves.append(cshogi.move_to_usi(move))
        board.push(move)
    record = GameRecord("a", "b", tuple(moves), "draw", "move_cap")
    games = tmp_path / "games.jsonl"
    games.write_text(to_json_line(record) + "\n")
    out = _cli("analyze", "--checkpoint", str(tiny_run), "--record", f"{games}:0",
               "--out", str(tmp_path / "game"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "12 plies" in out.stdout
    page = (tmp_path / "game" / "index.html").read_text()
    assert page.count("<tr><td>") == 12 and 'class="value-timeline"' in page
    bad = _cli("analyze", "--checkpoint", str(tiny_run), "--record", f"{games}:5")
    assert bad.returncode != 0 and "holds 1 games" in bad.stderr


def test_training_puts_games_boards_and_distributions_in_aim(tmp_path):
    from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
    from keisei_fn.run import tracking
    from keisei_fn.run.train import train

    run = tmp_path / "run"
    train(tiny(run, "total_updates=4", "track.aim=true", "eval.every=2", "eval.max_plies=30",
               "eval.every_games=2"), log=lambda *a: None)
    aim_hash = read_checkpoint(list_checkpoints(run)[-1])["aim_hash"]
    seqs = tracking.read_sequences(str(run / "aim"), aim_hash)
    assert ("insight/value_timeline", {}) in seqs["figures"]
    assert ("insight/advantage", {"normalised": "yes"}) in seqs["distributions"]
    assert any(n == "insight/policy_entropy" for n, _ in seqs["distributions"])
    metrics = tracking.read_metrics(str(run / "aim"), aim_hash)
    assert "charts/learning_rate" not in metrics  # a constant: a param, not a chart
    assert [s for s, _ in metrics["eval/elo"]] == [2, 4]
    import aim

    with tracking._private_repo(str(run / "aim")) as repo:
        tracking._index_run(repo, aim_hash)
        aim_run = aim.Run(aim_hash, repo=repo, read_only=True)
        assert aim_run.name == str(run)
        assert {"ppo", "resnet 1x8"} <= set(aim_run.props.tags)
    try:  # last: everything above holds without the system's libcairo too
        png_image(board_svg(MIDGAME))
    except RenderUnavailable as err:  # like gnushogi: a system library, named in the reason
        pytest.skip(f"board images need libcairo: {err}")
    assert ("insight/boards", {}) in seqs["images"]
