"""What `keisei-fn watch` draws, as pure functions of what is known: the game so far (`Ply`), the
run's metrics file (run/metrics_file.py) and the viewer's score, to rich renderables.

The screen, readable at 80x24 (letters, no CJK font needed), wider when the terminal is:

    header: run, checkpoint, the players, the game's ply
    board (last move highlighted)  | the side to move's top 5: probability bars (visits, q)
    value timeline (sparkline)     | training: KL, clip fraction, entropy, ... coloured
                                   | evaluation: win rates, value quality, 3-rung ladder estimate
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..arena.records import parse_sfen
from .play import render_position
from .predict import Score

SPARK = "▁▂▃▄▅▆▇█"
EIGHTHS = " ▏▎▍▌▋▊▉"
BAR_WIDTH = 12
TOP = 5


@dataclass(frozen=True)
class Candidate:
    move: str      # USI
    prob: float    # the policy's probability
    visits: int = 0
    q: float = math.nan  # the search's value of the move for the side to move (NaN: unvisited)


@dataclass(frozen=True)
class Ply:
    """A position of the game: its SFEN, the move that led to it (None at the start), and the
    watched agent's view of it: its value for Black and its candidates for the side to move."""
    sfen: str
    move: str | None
    value_black: float
    candidates: tuple[Candidate, ...] = ()
    drivers: tuple[tuple[str, float], ...] = ()  # the value's top squares (insight/saliency.py)


@dataclass(frozen=True)
class Header:
    run: str
    checkpoint: str
    black: str
    white: str
    game: int
    result: str = ""  # once the game has ended
    extras: tuple[str, ...] = field(default_factory=tuple)


def sparkline(values: list[float], width: int) -> str:
    """The last `width` values in [-1, 1] as one character each, ▁ for -1 up to █ for +1."""
    out = []
    for v in values[-width:]:
        v = 0.0 if math.isnan(v) else max(-1.0, min(1.0, v))
        out.append(SPARK[min(len(SPARK) - 1, int((v + 1) / 2 * len(SPARK)))])
    return "".join(out)


def bar(p: float, width: int = BAR_WIDTH) -> str:
    """p in [0, 1] as a bar of `width` columns, in eighths of a column."""
    eighths = round(max(0.0, min(1.0, p)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


def candidates_table(ply: Ply, to_move: str, hidden: bool = False) -> Table | Text:
    """The side to move's top moves as probability bars, with visits and q under a search."""
    if hidden:
        return Text(f"{to_move} to move: the agent's top {TOP}\n(hidden: your prediction "
                    f"first)\n\n\n\n", style="italic")
    table = Table(title=f"{to_move} to move: the agent's top {TOP}", title_justify="left",
                  box=None, pad_edge=False, show_header=False)
    table.add_column("move", width=6)
    table.add_column("bar", width=BAR_WIDTH)
    table.add_column("p", justify="right", width=4)
    table.add_column("search", width=12)
    searched = any(c.visits for c in ply.candidates)
    for c in ply.candidates[:TOP]:
        detail = (f"{c.visits:>4} v {c.q:+.2f}" if searched and c.visits else
                  ("   -" if searched else ""))
        table.add_row(c.move, Text(bar(c.prob), style="cyan"), f"{100 * c.prob:.0f}%", detail)
    return table


def value_line(plies: list[Ply], width: int) -> Text:
    """The agent's value for Black over the game (▁ White winning, █ Black winning)."""
    values = [p.value_black for p in plies]
    now = values[-1] if values else 0.0
    text = Text("value for Black ", style="bold")
    text.append(f"{now:+.2f}\n")
    text.append(sparkline(values, max(8, width)), style="green" if now >= 0 else "red")
    return text


def drivers_line(ply: Ply) -> Text:
    """What drives the value (`--saliency`): its top squares, green helping the side to move."""
    text = Text()
    if ply.drivers:
        text.append("drivers ", style="bold")
        for square, a in ply.drivers:
            text.append(f"{square} {a:+.2f} ", style="green" if a >= 0 else "red")
    return text


def _latest(records: list[dict], kind: str, member: int) -> dict | None:
    for record in reversed(records):
        if record.get("kind") != kind:
            continue
        if kind == "iteration" and record.get("member", 0) != member:
            continue
        return record
    return None


def _count(n: int) -> str:
    """12,345 -> '12k', 2,800,000 -> '2.8M': a count in a few columns."""
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    return f"{n / 1e3:.0f}k" if n >= 1e4 else f"{n:,}"


def _number(value, fmt: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else \
        format(value, fmt)


def _panel(title: str) -> Table:
    """A panel of the right column: names and values, no borders."""
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, show_header=False)
    table.add_column("name", width=17)
    table.add_column("value", width=23)
    return table


def training_panel(records: list[dict] | None, member: int, watched) -> Table:
    """The latest iteration's learning metrics (`watched`: the algorithm's WatchedMetric rows),
    green while the policy moves little, red when it moves a lot."""
    table = _panel("training")
    if records is None:
        table.add_row("(not a run)", "")
        return table
    last = _latest(records, "iteration", member)
    if last is None:
        table.add_row("(no iteration yet)", "")
        return table
    table.add_row("iteration", f"{last['iteration']} ({last.get('train_seconds', 0):.0f} s, "
                               f"{_count(last.get('frames', 0))} steps)")
    for row in watched:
        value = last.get(row.key)
        style = ""
        if row.red_above is not None and value is not None:
            style = "bold red" if value > row.red_above else "green"
        table.add_row(row.label, Text(_number(value, row.fmt), style=style))
    return table


def evaluation_panel(records: list[dict] | None, member: int) -> Table:
    """The latest evaluation: win rate per opponent, the value's correlation with the result
    by plies before the end, and the trainer's ladder estimate (labelled as such)."""
    table = _panel("evaluation")
    if records is None:
        table.add_row("(not a run)", "")
        return table
    last = _latest(records, "eval", member)
    if last is None:
        table.add_row("(none yet)", "")
        return table
    results = [r for r in last["results"] if r.get("member") in (None, member)]
    table.add_row("at iteration", f"{last['iteration']}" + ("  (final)" if last.get("final")
                                                            else ""))
    for r in results:
        table.add_row(f"vs {r['opponent']}"[:17],
                      f"{100 * r['win_rate']:.0f}% won ({r['wins']}-{r['draws']}-{r['losses']})")
    quality = next((r.get("value_quality_all") for r in reversed(results)
                    if r.get("value_quality_all")), None)
    if quality:
        # from far (60+ plies before the end) to near (the last 10)
        parts = [_number(quality.get(k, {}).get("corr"), "+.2f").replace("0.", ".")
                 for k in ("to_end_60+", "to_end_30-60", "to_end_10-30", "to_end_0-10")]
        table.add_row("value r far→near", " ".join(parts))
    ladder = next((r for r in results if r.get("ladder_elo") is not None), None)
    if ladder:
        table.add_row("ladder (3 rungs)", f"{ladder['ladder_elo']:+.0f} "
                      f"[{ladder['ladder_low']:+.0f}, {ladder['ladder_high']:+.0f}]")
    return table


def header_text(header: Header) -> Text:
    text = Text(header.checkpoint, style="bold", no_wrap=True, overflow="ellipsis")
    text.append(f" of {header.run}\n")
    text.append(f"game {header.game}: ☗ {header.black} - ☖ {header.white}")
    if header.result:
        text.append(f"  {header.result}", style="bold yellow")
    for extra in header.extras:
        text.append(f"\n{extra}")
    return text


def screen(header: Header, plies: list[Ply], records: list[dict] | None, *, member: int = 0,
           watched=(), letters: str = "western",
           hidden: bool = False, score: Score | None = None, width: int = 80):
    """The whole view for one moment of the game."""
    now = plies[-1]
    names = (header.black, header.white)
    board = render_position(now.sfen, letters, 0, now.move, names=names)
    mover = "Black" if parse_sfen(now.sfen)[2] == "b" else "White"
    left = Group(board, Text(""), value_line(plies, 34), drivers_line(now))
    right = Group(candidates_table(now, mover, hidden) if not header.result else
                  Text("game over", style="bold"),
                  training_panel(records, member, watched),
                  evaluation_panel(records, member))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(width=34)
    grid.add_column(width=max(42, width - 36))
    grid.add_row(left, right)
    parts = [header_text(header), grid]
    if score is not None and score.guesses:
        parts.append(Text(score.line(), style="bold"))
    return Group(*parts)
