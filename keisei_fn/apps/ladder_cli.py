"""`keisei-fn ladder RUN`: place an agent on the engine ladder, one Elo on a fixed scale.

Imports nothing heavy at module level: `cli.build_parser` imports this module on every start.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from ..arena.referee import MAX_PLIES, describe_referee

_STOP_BELOW = 0.10  # climbing stops after a rung the agent scored less than this against
_STRIDE_ABOVE = 0.90  # after a rung the agent scored at least this against, the next is skipped


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ladder", help="place an agent on the engine ladder: its Elo on a fixed scale")
    p.add_argument("agent", help="checkpoint file, run directory (newest checkpoint) or "
                        "`reference` (the packaged agent), with options: PATH@sims=64")
    p.add_argument("--games", type=int, default=64,
                   help="games against each rung (GAMES/2 openings, both colours)")
    p.add_argument("--rungs", default="all",
                   help="comma-separated rung names to play, e.g. "
                        "minimax,mix:minimax,gnushogi:1,0.3,gnushogi:1 (default: climb from the "
                        "weakest, skipping a rung after a score of 90%% or more, and stopping "
                        "after a score under 10%%)")
    p.add_argument("--openings", default="default", help="opening suite (see keisei-fn eval)")
    p.add_argument("--max-plies", type=int, default=MAX_PLIES, help="move cap (a draw)")
    p.add_argument("--parallel", type=int, default=None,
                   help="engine games side by side (default: the machine's CPU count)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the rungs' random choices and the search's noise")
    p.add_argument("--out", help="output directory (default: RUN_DIR/ladder/<date-time>)")
    p.add_argument("--resume", action="store_true",
                   help="continue a ladder that stopped: take the games already in --out "
                        "DIR's games.jsonl (the same agent, seed and openings; each game is "
                        "written when it ends) and play only the missing ones")
    p.add_argument("--device", default="cpu", help="torch device of the agent's network")
    p.set_defaults(run=_ladder)


def parse_rungs(text: str, known) -> list[str]:
    """Rung names from a comma-separated list whose mixes hold commas themselves
    (`mix:A,B,P`): a `mix:` item takes the next two items with it."""
    items, rungs = [t.strip() for t in text.split(",")], []
    while items:
        name = items.pop(0)
        if name.startswith("mix:"):
            name = ",".join([name, *items[:2]])
            del items[:2]
        rungs.append(name)
    twice = sorted({r for r in rungs if rungs.count(r) > 1})
    if twice:
        raise ValueError(f"--rungs: {', '.join(twice)} named twice")
    unknown = [r for r in rungs if r not in known]
    if unknown:
        raise ValueError(f"--rungs: {', '.join(unknown)} not on the ladder ({', '.join(known)})")
    return rungs


def played_rungs(path: Path, agent: str, args, openings) -> dict[str, dict]:
    """The records of each rung's games in a ladder's games.jsonl, finished rungs and the games
    of one cut short (each game is written when it ends): what `--resume` takes instead of
    playing again, as {rung: {game index: record}}. A ladder of another agent, seed, opening
    suite, move cap or a larger --games than `args` (the parsed command line) says is refused in
    one line, not mixed in."""
    from ..arena.records import from_json_line

    if not path.is_file():
        raise ValueError(f"--resume: no {path} to continue from")
    by_rung: dict[str, dict] = {}
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    for number, line in enumerate(lines, 1):
        try:
            record = from_json_line(line)
        except (ValueError, KeyError, TypeError):
            if number == len(lines):
                break  # the last line, cut off when the ladder stopped: dropped
            raise ValueError(f"--resume: line {number} of {path} is not a game record "
                             "(only the last line may be cut off)") from None
        if agent not in (record.black, record.white):
            raise ValueError(f"--resume: {path} holds games of {record.black} and "
                             f"{record.white}, not of {agent}")
        rung = record.white if record.black == agent else record.black
        game = record.meta.get("game", -1)
        _check_resumable(path, rung, record, game, args, openings)
        if game in by_rung.setdefault(rung, {}):
            raise ValueError(f"--resume: {path} holds game {game} against {rung} twice")
        by_rung[rung][game] = record
    return by_rung


def _check_resumable(path: Path, rung: str, record, game: int, args, openings) -> None:
    games, seed, max_plies = args.games, args.seed, args.max_plies
    if not 0 <= game < games:
        raise ValueError(f"--resume: {path} holds game {game} against {rung}, outside "
                         f"--games {games}")
    if record.meta.get("seed") != seed:
        raise ValueError(f"--resume: {path}'s games were played with --seed "
                         f"{record.meta.get('seed')}, not {seed}")
    # (records written before the cap was recorded, 2026-12-07, carry none: taken as this one)
    if record.meta.get("max_plies", max_plies) != max_plies:
        raise ValueError(f"--resume: {path}'s games were played with --max-plies "
                         f"{record.meta['max_plies']}, not {max_plies}")
    opening = None if openings is None else (game // 2) % len(openings)
    start = () if openings is None else openings[opening]
    if record.meta.get("opening") != opening or tuple(record.moves[:len(start)]) != start:
        raise ValueError(f"--resume: game {game} against {rung} in {path} did not start from "
                         "this --openings suite's opening")


def _ladder(args) -> None:
    from ..arena.ladder import RUNGS, load_anchors
    from ..arena.match import game_index, summarize
    from ..arena.openings import load_suite
    from ..arena.opponents import make_player

    if args.games < 2:
        raise ValueError(f"--games must be >= 2 (one opening, both colours), got {args.games}")
    rungs = list(RUNGS) if args.rungs == "all" else parse_rungs(args.rungs, RUNGS)
    if args.resume and not args.out:
        raise ValueError("--resume needs --out DIR, the directory of the ladder to continue")
    anchors = load_anchors()
    openings = load_suite(args.openings)
    players = _rung_players(rungs, args.device)
    agent = make_player(args.agent, args.device)
    if not agent.batched or agent.mix is not None:
        raise ValueError(f"the ladder places a checkpoint, got {args.agent!r}")
    out = Path(args.out) if args.out else _default_out(agent.name)
    done = played_rungs(out / "games.jsonl", agent.name, args, openings) if args.resume else {}
    out.mkdir(parents=True, exist_ok=True)
    parallel = args.parallel or os.cpu_count() or 1
    print(f"{agent.name} on the ladder: {args.games} games a rung, "
          f"{describe_referee(args.max_plies, True)}, {args.openings} openings -> {out}",
          file=sys.stderr)
    rows, results = [], []
    # each rung's own play time, kept beside the games (also a cut-short rung's, so that its
    # resumed process adds to it) so that a resumed ladder counts what earlier processes played
    seconds = _rung_seconds(out) if args.resume else {}
    games = dict(done)  # rung -> {game: record}, all that games.jsonl holds and will hold
    _rewrite_games(out / "games.jsonl", games)  # without a line cut off by a stop
    index = 0
    while index < len(players):
        rung = players[index]
        earlier = done.get(rung.name, {})
        if len(earlier) < args.games:
            records = _play_rung(args, agent, rung, openings, parallel, out, seconds, earlier)
            games[rung.name] = {game_index(r): r for r in records}
            _rewrite_games(out / "games.jsonl", games)  # in rung and game order again
        else:
            records = sorted(earlier.values(), key=game_index)
        s = summarize(records, agent.name, rung.name)
        results += [(rung.name, r.score_for(agent.name)) for r in records]
        rows.append({"rung": rung.name, "rung_elo": anchors[rung.name].elo,
                     "wins": s["wins"], "draws": s["draws"], "losses": s["losses"],
                     "score": s["score"], "paired": s["paired"],
                     "distinct_games": s["distinct_games"],
                     "seconds": seconds.get(rung.name)})
        resumed = (", from games.jsonl" if len(earlier) == args.games else
                   f", {len(earlier)} games from games.jsonl" if earlier else "")
        print(f"  vs {rung.name:<28} ({anchors[rung.name].elo:+6.0f})  W {s['wins']:>3} "
              f"D {s['draws']:>3} L {s['losses']:>3}  score {100 * s['score']:5.1f}%  "
              f"({seconds.get(rung.name) or 0:.0f} s{resumed})", file=sys.stderr)
        index += 1
        if args.rungs == "all":
            if s["score"] < _STOP_BELOW:
                break
            if s["score"] >= _STRIDE_ABOVE and index + 1 < len(players):
                index += 1  # far below the agent: the next rung says little more
    from ..arena.ladder import ladder_elo

    _write_summary(args, agent.name, out, rows, ladder_elo(results, anchors),
                   sum(r["seconds"] or 0 for r in rows))


RUNG_SECONDS = "rung_seconds.json"
# A rung of 64 searching games runs half an hour with all its games finishing near the end: a
# line a minute says it is alive without burying the results.
_PROGRESS_EVERY_S = 60.0


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _rung_players(rungs: list[str], device) -> list:
    """The rungs as players, up to the first that cannot be made here."""
    from ..arena.opponents import make_player

    players = []
    for r in rungs:
        try:
            players.append(make_player(r, device))
        except ValueError as err:  # e.g. gnushogi not installed: the ladder stops below it
            print(f"skipping {r}: {err}", file=sys.stderr)
            break
    return players


def _play_rung(args, agent, rung, openings, parallel, out: Path, seconds: dict,
               earlier: dict) -> list:
    """The rung's games, those in `earlier` taken as played; each game is appended to
    games.jsonl and the rung's play time to rung_seconds.json as it ends, so a stop loses
    only the games in progress."""
    from ..arena.match import match_progress, play_match
    from ..arena.records import to_json_line

    started, before = time.monotonic(), seconds.get(rung.name, 0.0)  # {} unless resuming
    with open(out / "games.jsonl", "a") as jsonl:
        def on_game(record) -> None:
            jsonl.write(to_json_line(record) + "\n")
            jsonl.flush()
            seconds[rung.name] = round(before + time.monotonic() - started, 1)
            _write_json(out / RUNG_SECONDS, seconds)

        records = play_match(agent, rung, args.games, openings=openings,
                             max_plies=args.max_plies, seed=args.seed,
                             parallel=None if rung.batched else parallel, device=args.device,
                             on_game=on_game, played=list(earlier.values()),
                             progress=match_progress(_stderr, f"vs {rung.name}", args.games,
                                                     _PROGRESS_EVERY_S))
    seconds[rung.name] = round(before + time.monotonic() - started, 1)
    _write_json(out / RUNG_SECONDS, seconds)
    return records


def _rewrite_games(path: Path, games: dict[str, dict]) -> None:
    """games.jsonl as `games` ({rung: {game: record}}) in rung and game order, replaced
    atomically so that a stop now loses none."""
    from ..arena.records import to_json_line

    part = path.with_name(path.name + ".tmp")
    part.write_text("".join(to_json_line(by_game[g]) + "\n"
                            for by_game in games.values() for g in sorted(by_game)))
    os.replace(part, path)


def _rung_seconds(out: Path) -> dict[str, float]:
    """Each finished rung's play time, as earlier processes of this ladder wrote it ({} for a
    ladder from before the file, whose resumed rungs then count 0)."""
    try:
        found = json.loads((out / RUNG_SECONDS).read_text())
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _write_json(path: Path, data) -> None:
    part = path.with_name(path.name + ".tmp")
    part.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(part, path)


def _write_summary(args, agent: str, out: Path, rows: list, placement, seconds: float) -> None:
    elo, low, high, regularized = placement
    summary = {"agent": agent, "elo": elo, "low": low, "high": high,
               "regularized": regularized, "rungs": rows,
               "games": sum(r["wins"] + r["draws"] + r["losses"] for r in rows),
               "referee": {"max_plies": args.max_plies, "impasse": True},
               "suite": args.openings, "seconds": round(seconds, 1)}
    (out / "ladder.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(format_ladder(summary))
    print(f"records: {out / 'games.jsonl'}; summary: {out / 'ladder.json'}")


def format_ladder(s: dict) -> str:
    lines = [f"{'rung':<30} {'rung Elo':>8} {'W':>4} {'D':>4} {'L':>4} {'score':>7}  pairs "
             "(LL LD DD/WL WD WW)"]
    for r in s["rungs"]:
        pairs = " ".join(str(c) for c in r["paired"]["counts"]) if r["paired"] else "-"
        lines.append(f"{r['rung']:<30} {r['rung_elo']:>+8.0f} {r['wins']:>4} {r['draws']:>4} "
                     f"{r['losses']:>4} {100 * r['score']:>6.1f}%  {pairs}")
    note = " (virtual draws added: every game won or every game lost)" if s["regularized"] \
        else ""
    lines.append(f"ladder Elo {s['elo']:+.0f} [95% {s['low']:+.0f}, {s['high']:+.0f}] "
                 f"(random = 0; {s['games']} games, {s['seconds']:.0f} s){note}")
    return "\n".join(lines)


def _default_out(agent_name: str) -> Path:
    from ..agent.named import results_home  # agent/ imports torch

    return results_home(agent_name) / "ladder" / time.strftime("%Y%m%d-%H%M%S")
