"""A Shogi position as SVG: pieces (kanji or letters), hands, the last move, and what the agent
thinks drawn over it: its top moves as arrows (a drop as a ring on its square) labelled with
their probabilities, and a 9x9 heatmap (e.g. the policy's mass per destination square).

Pure text in, text out: the position is an SFEN and moves are USI, so any position or game
record can be drawn without the engine. Squares are USI's: files 9..1 left to right and ranks
a..i top to bottom from Black's side (`flip=True` draws White's side at the bottom). Every element
carries a class (`piece`, `hand`, `arrow`, `drop`, `heat`, `last-move`) so that a page, a test or
a style sheet can find it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from html import escape
from importlib import resources

from ..arena.records import HAND_ORDER, KANJI, RANKS, parse_sfen

CELL = 44
LEFT, TOP = 64, 34  # room for White's hand on the left and the file numbers on top
WIDTH, HEIGHT = LEFT + 9 * CELL + 64, TOP + 9 * CELL + 12
_KANJI_NUMBERS = "一二三四五六七八九"
ARROW_COLORS = ("#c0001a", "#d2541b", "#8a3fb8", "#1f7a4a", "#2a5db0")  # first move first


@lru_cache(maxsize=1)
def _glyphs() -> dict:
    """Glyph outlines of the board's characters (experiments/make_glyphs.py; Noto Serif CJK JP,
    SIL OFL 1.1: glyphs-OFL.txt)."""
    return json.loads(resources.files("keisei_fn.insight").joinpath("glyphs.json")
                      .read_text(encoding="utf-8"))


def text_svg(text: str, x: float, y: float, size: float, *, anchor: str = "start",
             fill: str = "#111", rotate: tuple[float, float] | None = None, cls: str = "text",
             attrs: str = "", bold: bool = False) -> str:
    """`text` drawn as glyph outlines, so that it reads the same with no font installed: the
    baseline at `y`, starting at, centred on or ending at `x` (`anchor` start, middle, end);
    `rotate`: turned by 180 degrees about that point. The group carries `data-text` (what it
    says) and `data-x`/`data-y` (where), for tests and style sheets. Characters without an
    outline are drawn as '?'."""
    table = _glyphs()
    glyphs, scale = table["glyphs"], size / table["units_per_em"]
    shapes = [glyphs.get(ch, glyphs["?"]) for ch in text]
    width = sum(g["a"] for g in shapes)
    start = {"start": 0.0, "middle": -width / 2, "end": -width}[anchor]
    paths, pen = [], start
    for g in shapes:
        if g["d"]:
            paths.append(f'<path transform="translate({pen:.0f} 0)" d="{g["d"]}"/>')
        pen += g["a"]
    turn = f"rotate(180 {rotate[0]:.1f} {rotate[1]:.1f}) " if rotate else ""
    stroke = f' stroke="{fill}" stroke-width="{30 if bold else 0}"' if bold else ""
    return (f'<g class="{cls}" data-text="{escape(text)}" data-x="{x:.1f}" data-y="{y:.1f}" '
            f'{attrs}transform="{turn}translate({x:.1f} {y:.1f}) scale({scale:.5f} {-scale:.5f})" '
            f'fill="{fill}"{stroke}>{"".join(paths)}</g>')


def square_center(square: str, flip: bool = False) -> tuple[float, float]:
    """Pixel centre of a USI square such as '7g'."""
    file, rank = int(square[0]), RANKS.index(square[1])
    col, row = (9 - file, rank) if not flip else (file - 1, 8 - rank)
    return LEFT + (col + 0.5) * CELL, TOP + (row + 0.5) * CELL


def piece_label(piece: str, style: str) -> str:
    """'P', '+r', ... -> what is written on the piece: kanji (White's king 王) or letters."""
    name = piece.upper()
    if style == "letters":
        return name
    return "王" if piece == "k" else KANJI[name]


def _piece(square: str, piece: str, style: str, flip: bool) -> str:
    x, y = square_center(square, flip)
    white = piece.islower()
    upside_down = white != flip  # the far side's pieces point at the viewer
    half, top = CELL * 0.38, CELL * 0.44
    points = [(0, -top), (half * 0.75, -top * 0.65), (half, top), (-half, top),
              (-half * 0.75, -top * 0.65)]
    if upside_down:
        points = [(-dx, -dy) for dx, dy in points]
    poly = " ".join(f"{x + dx:.1f},{y + dy:.1f}" for dx, dy in points)
    label = piece_label(piece, style)
    size = CELL * (0.5 if len(label) == 1 else 0.36)
    promoted = piece.startswith("+")
    return (f'<g class="piece" data-square="{square}" data-piece="{escape(piece)}">'
            f'<polygon points="{poly}" fill="#f6dfae" stroke="#7a5a2a" stroke-width="1"/>'
            + text_svg(label, x, y + size * 0.36, size, anchor="middle",
                       fill="#b00000" if promoted else "#111", cls="label",
                       rotate=(x, y) if upside_down else None) + '</g>')


def _hand(hands: dict, owner: str, style: str, flip: bool) -> str:
    """The pieces in hand of `owner` ('b'/'w'), as a column beside the board on its side."""
    bottom = (owner == "b") != flip
    x = LEFT + 9 * CELL + 34 if bottom else LEFT - 34
    mark = "▲" if owner == "b" else "△"  # KIF's marks of Black and White
    items = [text_svg(mark, x, TOP + (9 * CELL - 12 if bottom else 14), 18, anchor="middle")]
    pieces = [(p, hands[owner].get(p, 0)) for p in HAND_ORDER if hands[owner].get(p, 0)]
    for i, (p, n) in enumerate(pieces):
        y = TOP + 9 * CELL - 40 - 26 * i if bottom else TOP + 40 + 26 * i
        label = piece_label(p if owner == "b" else p.lower(), style)
        items.append(text_svg(f'{label}{"" if n == 1 else n}', x, y, 18, anchor="middle",
                              cls="hand", attrs=f'data-owner="{owner}" data-piece="{p}" '))
    return "".join(items)


def _arrow(move: str, weight: float, label: str, flip: bool, color: str) -> str:
    to = move[2:4]
    tx, ty = square_center(to, flip)
    width = 2 + 8 * max(0.0, min(1.0, weight))
    if move[1] == "*":  # a drop: a ring on the square with the piece letter
        return (f'<g class="drop" data-move="{escape(move)}"><circle cx="{tx:.1f}" '
                f'cy="{ty:.1f}" r="{CELL * 0.42:.1f}" fill="none" stroke="{color}" '
                f'stroke-width="{width / 2 + 1:.1f}" opacity="0.8"/>'
                + text_svg(f"{move[0]}*", tx - CELL * 0.3, ty + CELL * 0.42, 12, fill=color)
                + f'{_label(tx + 12, ty - 12, label, color)}'
                f'</g>')
    fx, fy = square_center(move[:2], flip)
    # the label sits along the arrow, so that arrows into one square keep theirs apart
    lx, ly = fx + 0.55 * (tx - fx), fy + 0.55 * (ty - fy)
    return (f'<g class="arrow" data-move="{escape(move)}"><line x1="{fx:.1f}" y1="{fy:.1f}" '
            f'x2="{tx:.1f}" y2="{ty:.1f}" stroke="{color}" stroke-width="{width:.1f}" '
            f'stroke-linecap="round" opacity="0.75" marker-end="url(#head-{color[1:]})"/>'
            f'{_label(lx, ly, label, color)}</g>')


def _label(x: float, y: float, text: str, color: str) -> str:
    return (f'<rect x="{x - 15:.1f}" y="{y - 9:.1f}" width="30" height="14" rx="3" '
            f'fill="white" opacity="0.85"/>'
            + text_svg(text, x, y + 2, 11, anchor="middle", fill=color, bold=True))


def board_svg(sfen: str, *, style: str = "kanji", flip: bool = False,
              last_move: str | None = None, arrows: list[tuple[str, float]] = (),
              heat: dict[str, float] | None = None,
              drivers: dict[str, float] | None = None, title: str = "") -> str:
    """The SVG text of the position `sfen`.

    `arrows`: (USI move, probability) pairs, drawn with width by probability and labelled in %;
    `heat`: weight per USI square in [0, 1] (e.g. policy mass per destination), a blue overlay;
    `drivers`: signed weight per USI square in [-1, 1] (e.g. a value saliency scaled by its
    largest size), green where positive, red where negative;
    `last_move`: USI, its squares highlighted."""
    if style not in ("kanji", "letters"):
        raise ValueError(f"style must be 'kanji' or 'letters', got {style!r}")
    board, hands, side = parse_sfen(sfen)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="shogi-board" '
             f'viewBox="0 0 {WIDTH} {HEIGHT + (22 if title else 0)}" width="{WIDTH}" '
             f'height="{HEIGHT + (22 if title else 0)}">',
             "<defs>" + "".join(
                 f'<marker id="head-{c[1:]}" viewBox="0 0 10 10" refX="6" refY="5" '
                 f'markerWidth="3" markerHeight="3" orient="auto"><path d="M0,0 L10,5 L0,10 z" '
                 f'fill="{c}"/></marker>' for c in ARROW_COLORS) + "</defs>",
             f'<rect x="{LEFT}" y="{TOP}" width="{9 * CELL}" height="{9 * CELL}" '
             f'fill="#e9c887" stroke="#333" stroke-width="2"/>']
    for i in range(1, 9):
        parts.append(f'<line x1="{LEFT + i * CELL}" y1="{TOP}" x2="{LEFT + i * CELL}" '
                     f'y2="{TOP + 9 * CELL}" stroke="#333"/>')
        parts.append(f'<line x1="{LEFT}" y1="{TOP + i * CELL}" x2="{LEFT + 9 * CELL}" '
                     f'y2="{TOP + i * CELL}" stroke="#333"/>')
    for i in range(9):
        file = 9 - i if not flip else i + 1
        rank = i if not flip else 8 - i
        parts.append(text_svg(str(file), LEFT + (i + 0.5) * CELL, TOP - 8, 13,
                              anchor="middle"))
        name = RANKS[rank] if style == "letters" else _KANJI_NUMBERS[rank]
        parts.append(text_svg(name, LEFT + 9 * CELL + 9, TOP + (i + 0.6) * CELL, 12))
    if last_move:
        squares = [last_move[2:4]] + ([] if last_move[1] == "*" else [last_move[:2]])
        for sq in squares:
            x, y = square_center(sq, flip)
            parts.append(f'<rect class="last-move" x="{x - CELL / 2:.1f}" y="{y - CELL / 2:.1f}" '
                         f'width="{CELL}" height="{CELL}" fill="#f2a33a" opacity="0.45"/>')
    for sq, w in (heat or {}).items():
        x, y = square_center(sq, flip)
        parts.append(f'<rect class="heat" data-square="{sq}" x="{x - CELL / 2:.1f}" '
                     f'y="{y - CELL / 2:.1f}" width="{CELL}" height="{CELL}" fill="#2060ff" '
                     f'opacity="{0.6 * max(0.0, min(1.0, w)):.3f}"/>')
    for sq, w in (drivers or {}).items():
        x, y = square_center(sq, flip)
        parts.append(f'<rect class="driver" data-square="{sq}" data-weight="{w:.4f}" '
                     f'x="{x - CELL / 2:.1f}" y="{y - CELL / 2:.1f}" width="{CELL}" '
                     f'height="{CELL}" fill="{"#1f9a4a" if w >= 0 else "#d0202a"}" '
                     f'opacity="{0.7 * min(1.0, abs(w)):.3f}"/>')
    parts += [_piece(sq, p, style, flip) for sq, p in sorted(board.items())]
    parts += [_hand(hands, owner, style, flip) for owner in ("b", "w")]
    for i, (move, p) in enumerate(arrows):
        parts.append(_arrow(move, p, f"{100 * p:.0f}%", flip,
                            ARROW_COLORS[i % len(ARROW_COLORS)]))
    mover = "Black (▲)" if side == "b" else "White (△)"
    if title:
        parts.append(text_svg(f"{title} — {mover} to move", LEFT, HEIGHT + 14, 11,
                              cls="title"))
    parts.append("</svg>")
    return "".join(parts)


def destination_heat(moves: list[tuple[str, float]]) -> dict[str, float]:
    """Policy mass per destination square, scaled so the largest is 1."""
    heat: dict[str, float] = {}
    for move, p in moves:
        heat[move[2:4]] = heat.get(move[2:4], 0.0) + p
    top = max(heat.values(), default=0.0)
    return {sq: w / top for sq, w in heat.items()} if top > 0 else {}
