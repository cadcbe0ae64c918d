"""`keisei-fn eval` (our agent against any player, records and Elo) and `keisei-fn gnushogi-usi`.

Imports nothing heavy at module level: `cli.build_parser` imports this module on every start.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..arena.referee import MAX_PLIES, describe_referee

_PROGRESS_EVERY_S = 5.0


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="play our agent against another player; records, Elo")
    p.add_argument("--agent", required=True, nargs="+",
                   help="checkpoint file, run directory (newest) or `reference` (the packaged "
                        "agent); several without --opponent: a round robin between them "
                        "(a tournament table)")
    p.add_argument("--opponent",
                   help="random | greedy | minimax | mix:A,B,P | gnushogi:DEPTH[:SECONDS] | "
                        "usi:COMMAND | checkpoint")
    p.add_argument("--games", type=int, default=20,
                   help="games: GAMES/2 openings, each played with both colours (with --sprt: "
                        "the most games before the test gives up)")
    p.add_argument("--openings", default="default",
                   help="opening suite: default (256 balanced openings shipped with keisei-fn), "
                        "a file of 'startpos moves ...' lines, or none (the start position)")
    p.add_argument(
        "--sprt",
        metavar="ELO0,ELO1,ALPHA,BETA",
        help="stop as soon as a sequential probability ratio test decides between "
        "Elo <= ELO0 and Elo >= ELO1, e.g. --sprt=0,50,0.05,0.05 (write it with '=' "
        "when ELO0 is negative)",
    )
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

    p = subparsers.add_parser("openings", help="generate a balanced opening suite (a file of "
                                               "'startpos moves ...' lines)")
    p.add_argument("--out", required=True, help="file to write")
    p.add_argument("--count", type=int, default=256, help="openings to keep")
    p.add_argument("--plies", default="8-24", help="opening length range LOW-HIGH (inclusive)")
    p.add_argument("--seed", type=int, default=0, help="the same seed gives the same suite")
    p.add_argument("--margin", type=float, default=1.0,
                   help="largest |3-ply material minimax| in pawns a kept opening may have")
    p.set_defaults(run=_openings)

    from ..arena.gnushogi_usi import add_arguments

    p = subparsers.add_parser("gnushogi-usi", help="run gnushogi as a USI engine (stdin/stdout)")
    add_arguments(p)
    p.set_defaults(run=_gnushogi_usi)


def _gnushogi_usi(args) -> None:
    from ..arena.gnushogi_usi import serve

    serve(args.depth, args.seconds, args.timeout)


def _openings(args) -> None:
    from ..arena.openings import JUDGE_DEPTH, PLAY_TOLERANCE, format_suite, generate

    low, sep, high = args.plies.partition("-")
    if not (low.isdigit() and (not sep or high.isdigit())):
        raise ValueError(f"--plies must be LOW-HIGH or N, e.g. 8-24, got {args.plies!r}")
    plies = (int(low), int(high if sep else low))
    out = Path(args.out)
    if not out.parent.is_dir():
        raise ValueError(f"--out: no directory {str(out.parent)!r}")
    started = time.monotonic()

    def progress(kept: int, tried: int) -> None:
        print(f"  {kept}/{args.count} kept of {tried} tried ({time.monotonic() - started:.0f} s)",
              file=sys.stderr)

    openings = generate(args.count, plies=plies, seed=args.seed, margin=args.margin,
                        progress=progress)
    header = [f"keisei-fn opening suite: {len(openings)} openings of {plies[0]}-{plies[1]} plies "
              "from the start position",
              f"made by: keisei-fn openings --count {args.count} --plies {plies[0]}-{plies[1]} "
              f"--seed {args.seed} --margin {args.margin:g}",
              f"play: uniformly among the moves within {PLAY_TOLERANCE:g} pawn of the best by a "
              "2-ply material minimax",
              f"judge: level material, side to move not in check, |{JUDGE_DEPTH}-ply material "
              f"minimax| <= {args.margin:g} pawn, every position distinct",
              "each match plays every opening twice, colours swapped"]
    temporary = out.with_name(out.name + ".tmp")
    temporary.write_text(format_suite(openings, header))
    temporary.replace(out)
    print(f"{len(openings)} openings -> {out}")


def _eval(args) -> None:
    from ..arena.match import play_match, summarize
    from ..arena.opponents import make_player

    from ..arena.openings import load_suite

    if args.games < 1:
        raise ValueError(f"--games must be >= 1, got {args.games}")
    if args.opponent is None and len(args.agent) < 2:
        raise ValueError("--opponent is needed with one --agent (several agents without it "
                         "play a round robin)")
    if args.opponent is not None and len(args.agent) > 1:
        raise ValueError("give one --agent with --opponent, or several agents and no --opponent "
                         "for a round robin")
    sprt = _parse_sprt(args.sprt) if args.sprt else None
    openings = load_suite(args.openings)
    if args.opponent is None:
        if sprt is not None:
            raise ValueError("--sprt tests one agent against one opponent, not a round robin")
        return _round_robin(args, openings)
    opponent = make_player(args.opponent, args.device, timeout=args.timeout,
                           think_ms=args.think_ms)  # cheap checks first: fail before loading
    agent = make_player(args.agent[0], args.device)
    out = Path(args.out) if args.out else _default_out(agent.name)
    out.mkdir(parents=True, exist_ok=True)
    suite = ("from the start position" if openings is None else
             f"{(args.games + 1) // 2} pairs from the {args.openings} suite ({len(openings)} "
             f"openings, each with both colours)")
    print(f"{agent.name} vs {opponent.name}: {'up to ' if sprt else ''}{args.games} games "
          f"{suite}, {describe_referee(args.max_plies, args.impasse)} -> {out}", file=sys.stderr)
    if openings is not None and args.games > 2 * len(openings):
        print(f"  note: {args.games} games replay the suite's {len(openings)} openings more "
              "than once", file=sys.stderr)
    started = time.monotonic()
    tally = _progress(agent.name, args.games, started)
    with open(out / "games.jsonl", "w") as jsonl:
        def on_game(record):
            from ..arena.records import to_json_line

            jsonl.write(to_json_line(record) + "\n")
            jsonl.flush()
            tally(record)

        records = play_match(agent, opponent, args.games, openings=openings,
                             max_plies=args.max_plies, seed=args.seed, parallel=args.parallel,
                             device=args.device, impasse=args.impasse, on_game=on_game,
                             stop=None if sprt is None else _sprt_stop(sprt, agent.name))
    # Streamed as games finished (a killed match keeps them); now in game order, line K-1 being
    # csa/game_{K-1:04d}.csa, each line naming its index in meta.game.
    _write_jsonl(records, out / "games.jsonl")
    summary = summarize(records, agent.name, opponent.name)
    summary["referee"] = {"max_plies": args.max_plies, "impasse": args.impasse}
    summary["suite"] = args.openings
    if sprt is not None:
        summary["sprt"] = _sprt_result(sprt, records, agent.name)
    summary["seconds"] = round(time.monotonic() - started, 2)
    _write_csa(records, out)
    _write_kif(records, out)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(format_summary(summary))
    print(f"records: {out / 'games.jsonl'}, {out / 'games.csa'}, {out / 'csa'}/, "
          f"{out / 'kif'}/")


def _round_robin(args, openings) -> None:
    """Every pair of agents plays `--games` games; Bradley-Terry over all of them."""
    from ..ratings.elo import fit, format_ratings
    from ..arena.match import play_match
    from ..arena.opponents import make_player
    from ..arena.records import to_json_line

    players = [make_player(a, args.device, timeout=args.timeout, think_ms=args.think_ms)
               for a in args.agent]
    names = [p.name for p in players]
    if len(set(names)) < len(names):
        raise ValueError("the round robin names the same player twice")
    out = Path(args.out) if args.out else _default_out(names[0]).parent / (
        "round_robin-" + time.strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    pairs = [(i, j) for i in range(len(players)) for j in range(i + 1, len(players))]
    print(f"round robin of {len(players)} players: {len(pairs)} matches of {args.games} games, "
          f"{args.openings} openings, {describe_referee(args.max_plies, args.impasse)} -> {out}",
          file=sys.stderr)
    started = time.monotonic()
    results, table = [], {}
    with open(out / "games.jsonl", "w") as jsonl:
        for i, j in pairs:
            records = play_match(players[i], players[j], args.games, openings=openings,
                                 max_plies=args.max_plies, seed=args.seed,
                                 parallel=args.parallel, device=args.device,
                                 impasse=args.impasse)
            jsonl.writelines(to_json_line(r) + "\n" for r in records)
            scores = [r.score_for(names[i]) for r in records]
            results += [(names[i], names[j], s) for s in scores]
            table[i, j] = sum(scores) / len(scores)
            table[j, i] = 1 - table[i, j]
            print(f"  {names[i]} vs {names[j]}: {100 * table[i, j]:.1f}% "
                  f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    ratings = fit(results)
    labels = [f"{i + 1}. {n}" for i, n in enumerate(names)]
    width = max(len(x) for x in [*labels, "score of row vs column"])
    lines = [f"{'score of row vs column':<{width}}  " + "  ".join(f"{k + 1:>6}"
                                                                 for k in range(len(names)))]
    for i, label in enumerate(labels):
        cells = ["     -" if i == j else f"{100 * table[i, j]:5.1f}%" for j in range(len(names))]
        lines.append(f"{label:<{width}}  " + "  ".join(cells))
    text = "\n".join(lines) + "\n" + format_ratings(ratings)
    (out / "round_robin.json").write_text(json.dumps(
        {"players": names, "score": {f"{i + 1}-{j + 1}": v for (i, j), v in table.items()},
         "elo": dict(zip(ratings.names, ratings.elo)), "anchor": ratings.anchor,
         "games_per_match": args.games, "suite": args.openings}, indent=1) + "\n")
    print(text)
    print(f"records: {out / 'games.jsonl'}")


def _parse_sprt(text: str) -> tuple[float, float, float, float]:
    from ..ratings.pentanomial import sprt_bounds

    parts = text.split(",")
    try:
        elo0, elo1, alpha, beta = (float(x) for x in parts)
    except ValueError:
        raise ValueError(f"--sprt must be ELO0,ELO1,ALPHA,BETA, e.g. 0,50,0.05,0.05, got "
                         f"{text!r}") from None
    if elo1 <= elo0:
        raise ValueError(f"--sprt needs ELO0 < ELO1, got {elo0:g} and {elo1:g}")
    sprt_bounds(alpha, beta)  # checks the error rates
    return elo0, elo1, alpha, beta


def _sprt_result(sprt, records, agent: str) -> dict:
    from ..ratings.pentanomial import pentanomial, sprt_bounds, sprt_decision, sprt_llr
    from ..arena.match import paired_scores

    elo0, elo1, alpha, beta = sprt
    counts = pentanomial([scores for scores, _ in paired_scores(records, agent)])
    lower, upper = sprt_bounds(alpha, beta)
    return {"elo0": elo0, "elo1": elo1, "alpha": alpha, "beta": beta, "pairs": sum(counts),
            "llr": sprt_llr(counts, elo0, elo1) if sum(counts) else 0.0, "lower": lower,
            "upper": upper, "decision": sprt_decision(counts, elo0, elo1, alpha, beta)}


def _sprt_stop(sprt, agent: str):
    def stop(records) -> bool:
        return _sprt_result(sprt, records, agent)["decision"] is not None

    return stop


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
    p = s.get("paired")
    if p is not None:
        from ..ratings.pentanomial import PairedResult, format_paired

        result = PairedResult(tuple(p["counts"]), p["score"], p["score_low"], p["score_high"],
                              p["elo"], p["elo_low"], p["elo_high"])
        lines.append(f"pairs (one opening, both colours; interval from the pair variance): "
                     f"{format_paired(result)}; distinct pairs {p['distinct_pairs']}"
                     + (f", {s['openings']} openings" if s.get("openings") else ""))
    sprt = s.get("sprt")
    if sprt is not None:
        verdict = {"H1": f"H1 accepted: at least {sprt['elo1']:+g} Elo",
                   "H0": f"H0 accepted: at most {sprt['elo0']:+g} Elo",
                   None: "no decision before the game cap"}[sprt["decision"]]
        lines.append(f"SPRT [{sprt['elo0']:+g}, {sprt['elo1']:+g}] alpha {sprt['alpha']:g} beta "
                     f"{sprt['beta']:g}: {verdict} after {sprt['pairs']} pairs (LLR "
                     f"{sprt['llr']:.2f}, bounds [{sprt['lower']:.2f}, {sprt['upper']:.2f}])")
    e = s["elo"]
    if e is None:
        lines.append("Elo: n/a (the agent played itself)")
    else:
        note = " (virtual draws added: a 0% or 100% score has no finite estimate)" \
            if e["regularized"] else ""
        lines.append(f"Elo over games (Bradley-Terry) {e['elo']:+.0f} [95% {e['low']:+.0f}, "
                     f"{e['high']:+.0f}] relative to "
                     f"{e['anchor']} = 0{note}")
    return "\n".join(lines)


def _default_out(agent_name: str) -> Path:
    from ..agent.named import is_agent_spec, results_home  # agent/ imports torch

    if not is_agent_spec(agent_name):
        raise ValueError(f"--agent {agent_name!r} is not a checkpoint: give --out")
    return results_home(agent_name) / "eval" / time.strftime("%Y%m%d-%H%M%S")


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
    from ..arena.records import to_json_line

    ordered = sorted(records, key=lambda r: r.meta.get("game", 0))
    temporary = path.with_suffix(".jsonl.tmp")
    temporary.write_text("".join(to_json_line(r) + "\n" for r in ordered))
    temporary.replace(path)


def _write_kif(records, out: Path) -> None:
    """One KIF file per game, kif/game_NNNN.kif, in Shift_JIS (cp932) as .kif files are read by
    Shogi GUIs and kifu sites (UTF-8 KIF would be .kifu)."""
    from ..arena.records import to_kif

    folder = out / "kif"
    folder.mkdir(exist_ok=True)
    for i, r in enumerate(records):
        path = folder / f"game_{r.meta.get('game', i):04d}.kif"
        path.write_bytes(to_kif(r).encode("cp932", errors="replace"))


def _write_csa(records, out: Path) -> None:
    from ..arena.records import to_csa

    folder = out / "csa"
    folder.mkdir(exist_ok=True)
    texts = []
    for r in records:
        text = to_csa(r)
        texts.append(text)
        (folder / f"game_{r.meta.get('game', len(texts) - 1):04d}.csa").write_text(text)
    # One file with every game, separated by CSA's "/" line (cshogi.CSA.Parser.parse_str splits).
    (out / "games.csa").write_text("/\n".join(texts))
