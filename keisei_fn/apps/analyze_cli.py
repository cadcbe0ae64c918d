"""`keisei-fn analyze`: what a checkpoint thinks of a position (--sfen) or a recorded game
(--record FILE:K), printed and written as an HTML page with the board views.

Imports nothing heavy at module level: `cli.build_parser` imports this module on every start.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .search_args import add_player_options, player_options


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze", help="the agent's view of a position or a game: top moves, value, HTML page",
        description="Print a checkpoint's top moves with probabilities and its value for a "
                    "position (--sfen) or for every ply of a recorded game (--record), and "
                    "write an HTML page with the board views and the value timeline.")
    p.add_argument("--checkpoint", required=True, metavar="CKPT",
                   help="a checkpoint file, a run directory (its newest checkpoint), or "
                        "`reference`, the agent shipped with the package")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--sfen", help="a position: SFEN text, or 'startpos'")
    what.add_argument("--record", metavar="FILE:K",
                      help="game K (from 0) of a games.jsonl written by eval, ladder or play")
    p.add_argument("--top", type=int, default=5, help="candidate moves shown")
    p.add_argument("--simulations", type=int, default=0,
                   help="also search the position (Gumbel search of N simulations)")
    add_player_options(p)
    p.add_argument("--style", choices=("kanji", "letters"), default="kanji",
                   help="pieces drawn as kanji or as letters (P, +R, ...)")
    p.add_argument("--out", help="directory of the HTML page (default: a new folder under the "
                                 "checkpoint's run directory, analysis/<date-time>)")
    p.add_argument("--device", default="cpu", help="torch device of the network")
    p.set_defaults(run=_analyze)


def _record(spec: str):
    from ..arena.records import from_json_line

    path, _, index = spec.rpartition(":")
    if not path or not index.isdigit():
        raise ValueError(f"--record: expected FILE:K (e.g. games.jsonl:0), got {spec!r}")
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()] \
        if Path(path).is_file() else None
    if lines is None:
        raise ValueError(f"--record: no such file: {path}")
    k = int(index)
    if k >= len(lines):
        raise ValueError(f"--record: {path} holds {len(lines)} games (0 ... {len(lines) - 1}), "
                         f"not game {k}")
    return from_json_line(lines[k])


def _out_dir(args) -> Path:
    if args.out:
        return Path(args.out)
    from ..agent.named import results_home

    return results_home(args.checkpoint) / "analysis" / time.strftime("%Y%m%d-%H%M%S")


def _analyze(args) -> None:
    from ..agent import load_agent
    from ..shogi import STARTPOS_SFEN
    from ..insight.analyze import (VALUE_MEANING, expected_score, game_page, game_report,
                          position_page, position_report, swings, write_page)
    from ..insight.saliency import top_squares

    if args.top < 1:
        raise ValueError(f"--top must be >= 1, got {args.top}")
    if args.simulations < 0:
        raise ValueError(f"--simulations must be >= 0, got {args.simulations}")
    options = player_options(args)
    if (args.guard or args.q_range) and (not args.simulations or args.record):
        raise ValueError("--guard and --q-range set the search of a position: give --sfen and "
                         "--simulations N too")
    agent, _ = load_agent(args.checkpoint, args.device)
    out = _out_dir(args)
    if args.sfen is not None:
        sfen = STARTPOS_SFEN if args.sfen.strip() == "startpos" else args.sfen
        report = position_report(agent, sfen, top=args.top, simulations=args.simulations,
                                 **options)
        side = report["side_to_move"]
        print(f"{report['sfen']}\n{side} to move; value {report['value']:+.3f} for {side}: "
              f"{VALUE_MEANING} (expected score {100 * expected_score(report['value']):.0f}%)")
        print(f"{'#':>3} {'move':<7} {'policy':>7}")
        for i, m in enumerate(report["moves"][:args.top]):
            print(f"{i + 1:>3} {m['move']:<7} {100 * m['prob']:>6.1f}%")
        drivers = report["saliency"]["squares"]
        print("what drives the value (integrated gradients, docs/insight.md): " + ", ".join(
            f"{sq} {drivers[sq]:+.3f}" for sq in top_squares(report["saliency"], 3)))
        if "search" in report:
            s = report["search"]
            from .play import forced_words

            print(f"search ({s['simulations']} simulations): plays {s['move']}"
                  f"{forced_words(s['forced'])}, root value "
                  f"{s['value']:+.3f}, principal variation {' '.join(s['pv'])}")
            print(f"    {'move':<7} {'visits':>6} {'q':>7} {'prior':>7} {'improved':>8}")
            for c in s["candidates"]:
                q = "-" if c["q"] is None else f"{c['q']:+.3f}"
                print(f"    {c['move']:<7} {c['visits']:>6} {q:>7} {100 * c['prior']:>6.1f}% "
                      f"{100 * c['improved']:>7.1f}%")
        page = position_page(report, f"keisei-fn analyze: {report['sfen']}", args.style)
    else:
        record = _record(args.record)
        report = game_report(agent, record)
        plies = report["plies"]
        if not plies:
            raise ValueError(f"--record {args.record}: the game has no moves")
        top1 = sum(p["rank"] == 1 for p in plies)
        print(f"{record.black} (Black) vs {record.white} (White): {record.winner} "
              f"({record.reason}), {len(plies)} plies; the policy's first choice was played "
              f"at {top1} of them, mean probability of the move played "
              f"{100 * sum(p['prob'] for p in plies) / len(plies):.1f}%")
        print(f"value: {VALUE_MEANING}; biggest swings (value for Black before -> after):")
        for i in swings(plies):
            if i < len(plies):
                before = plies[i - 1]
                print(f"  ply {i - 1} {before['move']:<7} ({before['mover']}, policy "
                      f"{100 * before['prob']:.0f}%, rank {before['rank']}): "
                      f"{before['value_black']:+.2f} -> {plies[i]['value_black']:+.2f}")
        page = game_page(report, agent, f"keisei-fn analyze: {args.record}", args.style)
    path = write_page(page, out)
    print(f"page: {path}", file=sys.stderr)
