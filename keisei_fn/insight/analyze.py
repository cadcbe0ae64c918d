"""What a trained network thinks of a position or a whole game, as data and as an HTML page.

`position_report(agent, sfen)`: every legal move with the policy's probability, the value for the
side to move (and, with `simulations`, the search's visits, q values, improved policy and
principal variation). `game_report(agent, record)`: for every ply, the value from both sides and
the policy's probability and rank of the move that was played. `write_page` turns either into a
self-contained HTML page (inline SVG boards and timeline, no script, no network).
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

import torch

from ..agent import SearchConfig, Settings, decide, evaluate, usi_moves, variation_moves
from ..arena.records import GameRecord
from ..shogi import action_to_usi, from_sfen, step, to_sfen, usi_to_action
from .board import board_svg, destination_heat
from .saliency import top_squares, value_saliency

# What the value means, said once: every report and page uses it.
VALUE_MEANING = ("the network's estimate of the game's result for that side, from -1 (a loss) "
                 "through 0 (even) to +1 (a win)")


def expected_score(value: float) -> float:
    """The value as the side's expected score in [0, 1] (0.5: even)."""
    return (value + 1.0) / 2.0


@torch.no_grad()
def position_report(agent, sfen: str, top: int = 5, simulations: int = 0, seed: int = 0,
                    max_plies: int = 512, saliency: bool = True, q_range: float = 0.0,
                    guard: int = 0, compiled: bool = False) -> dict:
    """The network's (and optionally the search's) view of one position; with `saliency`, which
    squares drive its value (insight/saliency.py: up to a few seconds). `q_range`, `guard` and
    `compiled` as in `agent.player_settings`."""
    state = from_sfen([sfen], max_plies=max_plies)
    if bool((state["terminated"] | state["truncated"]).any()):
        raise ValueError(f"the game is over in this position: {sfen}")
    policy = decide(agent, state, Settings(top=0))
    labels = policy.candidates[0]
    side = "black" if int(state["side_to_move"][0]) == 0 else "white"
    report = {"sfen": to_sfen(state)[0], "side_to_move": side, "value": float(policy.value[0]),
              "moves": [{"move": m, "prob": float(p)}
                        for m, p in zip(usi_moves(state, labels), policy.prior[0])],
              "top": top, "saliency": value_saliency(agent, state) if saliency else None}
    if simulations:
        # with the root's Gumbel noise (seeded by `seed`), as the improved policy is sampled
        found = decide(agent, state, Settings(search="gumbel", top=top, guard=guard,
                                              gumbel=SearchConfig(simulations, gumbel_scale=1.0,
                                                                  q_range=q_range,
                                                                  compiled=compiled)),
                       torch.Generator().manual_seed(seed))
        shown = found.candidates[0][found.candidates[0] >= 0]
        q = found.q[0]
        report["search"] = {
            "simulations": simulations, "value": float(found.value[0]),
            "move": usi_moves(state, found.action)[0], "forced": int(found.mate[0]),
            "candidates": [{"move": m, "visits": int(found.visits[0, i]),
                            "prior": float(found.prior[0, i]),
                            "improved": float(found.improved[0, i]),
                            "forced": int(found.forced[0, i]),
                            "q": None if math.isnan(float(q[i])) else float(q[i])}
                           for i, m in enumerate(usi_moves(state, shown))],
            "pv": variation_moves(state, found)}
    return report


@torch.no_grad()
def game_report(agent, record: GameRecord, max_plies: int = 512) -> dict:
    """Every position of a recorded game: value from Black's side and the side to move's, and
    the policy's probability and rank of the move played there."""
    state = from_sfen([record.start_sfen], max_plies=max_plies)
    states, sfens, labels = [], [], []
    for usi in record.moves:
        label = usi_to_action(state, [usi])
        states.append(state)
        sfens.append(to_sfen(state)[0])
        labels.append(int(label[0]))
        state = step(state, label)
    plies = []
    if states:
        batch = torch.cat(states)
        log_probs, value = evaluate(agent, batch)
        played = torch.tensor(labels)
        chosen = log_probs.gather(1, played[:, None]).squeeze(1)
        ranks = (log_probs > chosen[:, None]).sum(1) + 1
        best = log_probs.argmax(1)
        for i, usi in enumerate(record.moves):
            black = int(batch["side_to_move"][i]) == 0
            v = float(value[i])
            plies.append({"ply": i, "sfen": sfens[i], "move": usi, "mover": "black" if black
                          else "white", "value": v, "value_black": v if black else -v,
                          "prob": float(chosen[i].exp()), "rank": int(ranks[i]),
                          "best": action_to_usi(batch[i:i + 1], best[i:i + 1])[0],
                          "best_prob": float(log_probs[i, best[i]].exp())})
    return {"black": record.black, "white": record.white, "winner": record.winner,
            "reason": record.reason, "plies": plies, "final_sfen": to_sfen(state)[0]}


def timeline_svg(plies: list[dict], marks: list[int] = (), width: int = 720,
                 height: int = 220) -> str:
    """The value over the game from Black's side (solid) and White's (dashed), plies marked."""
    left, top, right, bottom = 44, 14, 12, 28
    w, h = width - left - right, height - top - bottom
    n = max(len(plies) - 1, 1)

    def xy(i, v):
        return left + w * i / n, top + h * (1 - v) / 2

    def path(key, sign):
        return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, p in enumerate(plies)
                        for x, y in [xy(i, sign * p[key])])

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="value-timeline" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11">',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#fafafa" '
             f'stroke="#999"/>']
    for v in (1, 0.5, 0, -0.5, -1):
        _, y = xy(0, v)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + w}" y2="{y:.1f}" '
                     f'stroke="#ddd"/><text x="{left - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{v:+g}</text>')
    for i in marks:
        x, _ = xy(i, 0)
        parts.append(f'<line class="mark" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" '
                     f'y2="{top + h}" stroke="#f2a33a"/><text x="{x:.1f}" y="{top + h + 22}" '
                     f'text-anchor="middle">{i}</text>')
    if plies:
        parts.append(f'<path class="value-black" d="{path("value_black", 1)}" fill="none" '
                     f'stroke="#111" stroke-width="2"/>')
        parts.append(f'<path class="value-white" d="{path("value_black", -1)}" fill="none" '
                     f'stroke="#888" stroke-width="1.5" stroke-dasharray="5,4"/>')
    parts.append(f'<text x="{left + 4}" y="{top + 12}">value for Black (solid) and White '
                 f'(dashed), by ply</text></svg>')
    return "".join(parts)


def swings(plies: list[dict], count: int = 4) -> list[int]:
    """The plies after which the value (Black's side) moved most, in game order."""
    deltas = [(abs(b["value_black"] - a["value_black"]), i + 1)
              for i, (a, b) in enumerate(zip(plies, plies[1:]))]
    return sorted(i for _, i in sorted(deltas, reverse=True)[:count])


_STYLE = ("body{font-family:sans-serif;margin:24px;max-width:980px}table{border-collapse:"
          "collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
          "th{background:#f0f0f0}.boards{display:flex;flex-wrap:wrap;gap:16px}")


def _page(title: str, body: list[str]) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>'
            f'{escape(title)}</title><style>{_STYLE}</style></head><body><h1>{escape(title)}'
            f'</h1>{"".join(body)}</body></html>\n')


def position_page(report: dict, title: str, style: str = "kanji") -> str:
    top = report["moves"][:report["top"]]
    arrows = [(m["move"], m["prob"]) for m in top]
    side = report["side_to_move"]
    body = [board_svg(report["sfen"], style=style, arrows=arrows, flip=side == "white",
                      heat=destination_heat([(m["move"], m["prob"]) for m in report["moves"]]),
                      title="policy's top moves; blue: its mass per destination square"),
            f'<p class="value">Value {report["value"]:+.3f} for {side} (to move): '
            f'{VALUE_MEANING}; as an expected score {100 * expected_score(report["value"]):.0f}'
            f'%.</p>',
            "<table><tr><th>#</th><th>move</th><th>policy</th></tr>"
            + "".join(f"<tr><td>{i + 1}</td><td>{escape(m['move'])}</td>"
                      f"<td>{100 * m['prob']:.1f}%</td></tr>" for i, m in enumerate(top))
            + "</table>"]
    body += _drivers(report, style)
    search = report.get("search")
    if search:
        body.append(f"<h2>Search: {search['simulations']} simulations</h2><p>plays "
                    f"{escape(search['move'])}; root value {search['value']:+.3f}; principal "
                    f"variation {escape(' '.join(search['pv']))}</p><table><tr><th>move</th>"
                    "<th>visits</th><th>q</th><th>prior</th><th>improved</th></tr>"
                    + "".join(f"<tr><td>{escape(c['move'])}</td><td>{c['visits']}</td><td>"
                              f"{'-' if c['q'] is None else format(c['q'], '+.3f')}</td><td>"
                              f"{100 * c['prior']:.1f}%</td><td>{100 * c['improved']:.1f}%"
                              f"</td></tr>" for c in search["candidates"]) + "</table>")
    body.append(f"<p><code>{escape(report['sfen'])}</code></p>")
    return _page(title, body)


def _drivers(report: dict, style: str) -> list[str]:
    """The value's saliency (insight/saliency.py) as a board and a line on the hands."""
    saliency = report.get("saliency")
    if not saliency:
        return []
    squares = saliency["squares"]
    scale = max(max(map(abs, squares.values()), default=0.0),
                *(abs(a) for h in saliency["hands"].values() for a in h.values()), 1e-9)
    hands = "; ".join(f"{'Black' if owner == 'b' else 'White'}'s " + ", ".join(
        f"{kind} {a:+.3f}" for kind, a in pieces.items() if a) for owner, pieces
        in saliency["hands"].items() if any(pieces.values()))
    return ["<h2>What drives the value</h2>",
            board_svg(report["sfen"], style=style, flip=report["side_to_move"] == "white",
                      drivers={sq: a / scale for sq, a in squares.items() if a},
                      title="green helps the side to move, red hurts it"),
            f'<p class="drivers">Integrated gradients of the value as search reads it, from '
            f'the same position with an empty board and empty hands (value '
            f'{saliency["baseline"]:+.3f}) to this one ({saliency["value"]:+.3f}), the '
            f'material prior included; {saliency["steps"]} steps, the attributions sum to the '
            f'difference within {abs(saliency["completeness"]):.4f}. Top squares: '
            + ", ".join(f"{sq} {squares[sq]:+.3f}" for sq in top_squares(saliency, 3))
            + (f". In hand: {escape(hands)}" if hands else "") + ".</p>"]


def game_page(report: dict, agent, title: str, style: str = "kanji", top: int = 3) -> str:
    plies = report["plies"]
    marks = swings(plies)
    body = [f"<p>{escape(report['black'])} (Black) vs {escape(report['white'])} (White): "
            f"{escape(report['winner'])} ({escape(report['reason'])}), {len(plies)} plies. "
            f"Value: {VALUE_MEANING}.</p>", timeline_svg(plies, marks), '<div class="boards">']
    for i in marks:
        if i >= len(plies):
            continue
        p = plies[i]
        pos = position_report(agent, p["sfen"], top=top, saliency=False)
        arrows = [(m["move"], m["prob"]) for m in pos["moves"][:top]]
        body.append(board_svg(p["sfen"], style=style, arrows=arrows,
                              last_move=plies[i - 1]["move"] if i else None,
                              title=f"ply {i}: played {p['move']} ({100 * p['prob']:.0f}%, "
                                    f"rank {p['rank']})"))
    body.append("</div><table><tr><th>ply</th><th>mover</th><th>move</th><th>policy</th>"
                "<th>rank</th><th>policy's best</th><th>value (mover)</th><th>value (Black)"
                "</th></tr>")
    body += [f"<tr><td>{p['ply']}</td><td>{p['mover']}</td><td>{escape(p['move'])}</td><td>"
             f"{100 * p['prob']:.1f}%</td><td>{p['rank']}</td><td>{escape(p['best'])} "
             f"({100 * p['best_prob']:.0f}%)</td><td>{p['value']:+.2f}</td><td>"
             f"{p['value_black']:+.2f}</td></tr>" for p in plies]
    body.append("</table>")
    return _page(title, body)


def write_page(html: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(html, encoding="utf-8")
    return path
