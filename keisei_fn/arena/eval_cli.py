"""`keisei-fn eval` (our agent against any player, records and Elo) and `keisei-fn gnushogi-usi`.

Imports nothing heavy at module level: `cli.build_parser` imports this module on every start.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .referee import MAX_PLIES, describe_referee

_PROGRESS_EVERY_S = 5.0


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="play our agent against another player; records, Elo")
    p.add_argument("--agent", required=True, help="checkpoint file or run directory (newest)")
    p.add_argument("--opponent", required=True,
                   help="random | greedy | gnushogi:DEPTH[:SECONDS] | usi:COMMAND | checkpoint")
    p.add_argument("--games", type=int, default=20, help="games, half with each colour")
    p.add_argument("--max-plies", type=int, default=MAX_PLIES,
                   help="move cap (a draw); the trainer's eval.max_plies default")
    p.add_argument("--no-impasse", dest="impasse", action="store_false",
                   help="turn off the entering-king declaration (on by default, as in the "
                        "trainer's evaluation)")
    p.add_argument("--out", help="output directory (default: RUN_DIR/eval/<date-time>)")
    p.add_argument("--seed", type=int, default=0, help="seeds the random/greedy players")
    p.add_argument("--parallel", type=int, default=None,
                   help="games played side by side (default: all of them when both players "
                        "are batched, else 1, i.e. one engine process at a time)")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds an external engine gets for each reply before it loses")
    p.add_argument("--think-ms", type=int, default=100, help="byoyomi sent to USI engines")
    p.add_argument("--device", default="cpu", help="torch device of the agent's network")
    p.set_defaults(run=_eval)

    from .gnushogi_usi import add_arguments

    p = subparsers.add_parser("gnushogi-usi", help="run gnushogi as a USI engine (stdin/stdout)")
    add_arguments(p)
    p.set_defaults(run=_gnushogi_usi)


def _gnushogi_usi(args) -> None:
    from .gnushogi_usi import serve

    serve(args.depth, args.seconds, args.timeout)


def _eval(args) -> None:
    from .match import play_match, summarize
    from .opponents import make_player

    if args.games < 1:
        raise ValueError(f"--games must be >= 1, got {args.games}")
    opponent = make_player(args.opponent, args.device, timeout=args.timeout,
                           think_ms=args.think_ms)  # cheap checks first: fail before loading
    agent = make_player(args.agent, args.device)
    out = Path(args.out) if args.out else _default_out(agent.name)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{agent.name} vs {opponent.name}: {args.games} games "
          f"({(args.games + 1) // 2} as Black), {describe_referee(args.max_plies, args.impasse)}"
          f" -> {out}",
          file=sys.stderr)
    started = time.monotonic()
    tally = _progress(agent.name, args.games, started)
    with open(out / "games.jsonl", "w") as jsonl:
        def on_game(record):
            from .records import to_json_line

            jsonl.write(to_json_line(record) + "\n")
            jsonl.flush()
            tally(record)

        records = play_match(agent, opponent, args.games, max_plies=args.max_plies,
                             seed=args.seed, parallel=args.parallel, device=args.device,
                             impasse=args.impasse, on_game=on_game)
    # Streamed as games finished (a killed match keeps them); now in game order, line K-1 being
    # csa/game_{K-1:04d}.csa, each line naming its index in meta.game.
    _write_jsonl(records, out / "games.jsonl")
    summary = summarize(records, agent.name, opponent.name)
    summary["referee"] = {"max_plies": args.max_plies, "impasse": args.impasse}
    summary["seconds"] = round(time.monotonic() - started, 2)
    _write_csa(records, out)
    _write_kif(records, out)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(format_summary(summary))
    print(f"records: {out / 'games.jsonl'}, {out / 'games.csa'}, {out / 'csa'}/, "
          f"{out / 'kif'}/")


def format_summary(s: dict) -> str:
    lines = [f"vs {s['opponent']}: W {s['wins']} D {s['draws']} L {s['losses']}  "
             f"score {100 * s['score']:.1f}% [95% {100 * s['score_low']:.1f}, "
             f"{100 * s['score_high']:.1f}]  mean length {s['mean_plies']:.0f} plies",
             "endings: " + ", ".join(f"{k} {v}" for k, v in sorted(s["endings"].items()))
             + f"; distinct games {s['distinct_games']} of {s['games']}"]
    failures = s.get("engine_failures", 0)
    if failures:
        verdict = ("most games were decided by engine failures, not by play: this result does "
                   "not measure strength" if failures * 2 > s["games"] else
                   "those games count as losses of the engine")
        lines.append(f"engine failures: {failures} of {s['games']} games ({verdict}; reasons "
                     f"in games.jsonl)")
    e = s["elo"]
    if e is None:
        lines.append("Elo: n/a (the agent played itself)")
    else:
        note = " (virtual draws added: a 0% or 100% score has no finite estimate)" \
            if e["regularized"] else ""
        lines.append(f"Elo {e['elo']:+.0f} [95% {e['low']:+.0f}, {e['high']:+.0f}] relative to "
                     f"{e['anchor']} = 0{note}")
    return "\n".join(lines)


def _default_out(agent_name: str) -> Path:
    path = Path(agent_name)
    if not path.exists():
        raise ValueError(f"--agent {agent_name!r} is not a checkpoint: give --out")
    run_dir = path if path.is_dir() else path.parent
    return run_dir / "eval" / time.strftime("%Y%m%d-%H%M%S")


def _progress(agent: str, total: int, started: float):
    """A callback counting finished games; prints a line at most every few seconds."""
    counts = {"W": 0, "D": 0, "L": 0}
    last = [started]

    def tally(record) -> None:
        counts["WDL"[2 - int(2 * record.score_for(agent))]] += 1
        done = sum(counts.values())
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_EVERY_S or done == total:
            last[0] = now
            print(f"  {done}/{total} games  W {counts['W']} D {counts['D']} L {counts['L']}  "
                  f"({now - started:.0f} s)", file=sys.stderr)

    return tally


def _write_jsonl(records, path: Path) -> None:
    from .records import to_json_line

    ordered = sorted(records, key=lambda r: r.meta.get("game", 0))
    temporary = path.with_suffix(".jsonl.tmp")
    temporary.write_text("".join(to_json_line(r) + "\n" for r in ordered))
    temporary.replace(path)


def _write_kif(records, out: Path) -> None:
    """One KIF file per game, kif/game_NNNN.kif, in Shift_JIS (cp932) as .kif files are read by
    Shogi GUIs and kifu sites (UTF-8 KIF would be .kifu)."""
    from .records import to_kif

    folder = out / "kif"
    folder.mkdir(exist_ok=True)
    for i, r in enumerate(records):
        path = folder / f"game_{r.meta.get('game', i):04d}.kif"
        path.write_bytes(to_kif(r).encode("cp932", errors="replace"))


def _write_csa(records, out: Path) -> None:
    from .records import to_csa

    folder = out / "csa"
    folder.mkdir(exist_ok=True)
    texts = []
    for r in records:
        text = to_csa(r)
        texts.append(text)
        (folder / f"game_{r.meta.get('game', len(texts) - 1):04d}.csa").write_text(text)
    # One file with every game, separated by CSA's "/" line (cshogi.CSA.Parser.parse_str splits).
    (out / "games.csa").write_text("/\n".join(texts))
