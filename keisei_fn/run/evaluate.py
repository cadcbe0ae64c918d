"""The trainer's evaluation: the agent against fixed opponents, refereed by the arena.

Every match is `arena.match.play_match` with the arena's rules (`eval.max_plies`, `eval.impasse`;
the defaults are `keisei-fn eval`'s), so a number from training and one from `keisei-fn eval`
mean the same thing. Both colours; all games of a match in one batch. Its report: the lines it
prints, ratings.json or ranking.json, Aim metrics and the insight views (`evaluator`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch

from ..agent import Settings, member_agent
from ..arena.match import play_match as referee_match
from ..arena.match import match_progress, summarize
from ..arena.opponents import make_player, network_player
from ..insight.value_quality import (agent_values, format_probes, format_quality, probe_values,
                                     value_quality)
from ..arena.referee import IMPASSE, MAX_PLIES, describe_referee
from ..learn.state import EvalResult
from ..ratings.elo import Ratings, fit, format_ratings
from . import metrics_file

AGENT = "agent"


def play_match(agent, opponent: str, games: int, max_plies: int = MAX_PLIES, seed: int = 0,
               greedy: bool = True, device="cpu", impasse: bool = IMPASSE,
               mate_in_one: bool = True,
               progress: Callable[[int, int], None] | None = None, openings=None,
               keep: list | None = None) -> EvalResult:
    """`games` games of `agent` (agent.Agent) against the scripted `opponent`, in pairs: each
    opening (of the
    `openings` suite; the start position when None) with both colours; `progress(plies played,
    games finished)` is called after every ply.

    Returns wins/draws/losses from the agent's side, a 95% Wilson interval of the score, the
    mean game length, the number of distinct games and the referee's rules. The game records
    are appended to `keep` (a list) when given.
    """
    player = make_player(opponent)
    if not player.batched:
        raise ValueError(f"the trainer evaluates against scripted players only, got {opponent!r}")
    if games < 1:
        raise ValueError("games must be >= 1")
    records = referee_match(
        network_player(AGENT, agent, Settings(temperature=0.0 if greedy else 1.0, top=1,
                                              mate_in_one=mate_in_one)),
        player,
        games,
        openings=openings,
        max_plies=max_plies,
        seed=seed,
        device=device,
        impasse=impasse,
        progress=progress,
    )
    if keep is not None:
        keep.extend(records)
    s = summarize(records, AGENT, opponent)
    return EvalResult(opponent=opponent, games=games, wins=s["wins"], draws=s["draws"],
                      losses=s["losses"], score=s["score"], score_low=s["score_low"],
                      score_high=s["score_high"], mean_length=s["mean_plies"],
                      distinct_games=s["distinct_games"],
                      referee=describe_referee(max_plies, impasse))


def format_match(r: EvalResult) -> str:
    return (f"vs {r.opponent:<7} W {r.wins:>4} D {r.draws:>4} L {r.losses:>4}  "
            f"win {100 * r.win_rate:5.1f}%  score {100 * r.score:5.1f}% "
            f"[{100 * r.score_low:.1f}, {100 * r.score_high:.1f}]  "
            f"mean length {r.mean_length:.0f}  distinct {r.distinct_games}"
            + (f"  ({r.referee})" if r.referee else ""))


# --- the trainer's evaluation of its members ------------------------------------------------


def evaluate_members(cfg, params, agent_of, iteration: int, console, openings=None,
                     samples: list | None = None, games: int | None = None
                     ) -> list[EvalResult]:
    """Every member against every `eval.opponents`; `agent_of(k)` is member k (agent.Agent).
    `samples` (a list) receives member 0's first game as Black against the last opponent (the
    strongest rung), for the insight views."""
    members = params.batch_size[0]
    games = games or cfg.eval.games
    results = []
    for k in range(members):
        agent = agent_of(k)
        who = f" member {k}" if members > 1 else ""
        pooled = []
        for i, opponent in enumerate(cfg.eval.opponents):
            last = k == 0 and i == len(cfg.eval.opponents) - 1
            kept = []
            r = play_match(agent, opponent, games, max_plies=cfg.eval.max_plies,
                           impasse=cfg.eval.impasse, seed=cfg.seed * 1000 + i,
                           greedy=cfg.eval.greedy_policy, device=cfg.device, openings=openings,
                           mate_in_one=cfg.eval.mate_in_one,
                           progress=match_progress(console.print,
                                                   f"eval @ it {iteration}{who} vs {opponent}",
                                                   games),
                           keep=kept)
            if samples is not None and last:
                samples.extend([g for g in kept if g.black == AGENT][:1])
            values = agent_values(agent, kept, AGENT, cfg.eval.max_plies)
            pooled.append(values)
            r = r.replace(value_quality=value_quality(values), iteration=iteration,
                          member=k if members > 1 else None)
            results.append(r)
            console.print(f"eval @ it {iteration}{who}: {format_match(r)}")
        quality = value_quality({key: torch.cat([v[key] for v in pooled]) for key in pooled[0]})
        console.print(f"eval @ it {iteration}{who}: {format_quality(quality)}")
        probes = probe_values(agent)
        console.print(f"eval @ it {iteration}{who}: {format_probes(probes)}")
        # over all of this member's games, on its last match
        results[-1] = results[-1].replace(value_quality_all=quality, value_probes=probes)
    return results


def ladder_placement(results: list[EvalResult]):
    """(Elo, low, high, regularized) on the engine ladder's fixed scale from one evaluation's
    matches, or None when an opponent is not a rung."""
    from ..arena.ladder import RUNGS, ladder_elo

    if not results or any(r.opponent not in RUNGS for r in results):
        return None
    games = []
    for r in results:
        games += ([(r.opponent, 1.0)] * r.wins + [(r.opponent, 0.5)] * r.draws
                  + [(r.opponent, 0.0)] * r.losses)
    return ladder_elo(games)


def ratings_over_training(evals) -> Ratings | None:
    """Bradley-Terry Elo of every evaluated snapshot ("it N") and the fixed opponents, from all
    evaluation games so far, anchored at random = 0 (ratings/elo.py)."""
    results = []
    for r in evals:
        me = f"it {r.iteration}"
        results += [(me, r.opponent, 1.0)] * r.wins + [(me, r.opponent, 0.5)] * r.draws
        results += [(me, r.opponent, 0.0)] * r.losses
    return fit(results) if results else None


def round_robin(cfg, agent_of, members: int) -> list[tuple[str, str, float]]:
    """`population.round_robin_games` games between every pair of members, each sampling from
    its policy at temperature 1 (argmax players would replay the same two games), half with each
    colour, all of a pair's games in one batch: (member a, member b, a's score) per game."""
    games = cfg.population.round_robin_games
    if games == 0:
        return []
    sampling = Settings(temperature=1.0, top=1)
    players = [network_player(f"member {k}", agent_of(k), sampling) for k in range(members)]
    results = []
    for i in range(len(players)):
        for j in range(i + 1, len(players)):
            records = referee_match(players[i], players[j], games, max_plies=cfg.eval.max_plies,
                                    seed=cfg.seed * 1000 + 100 * i + j, device=cfg.device,
                                    impasse=cfg.eval.impasse)
            results += [(players[i].name, players[j].name, r.score_for(players[i].name))
                        for r in records]
    return results


def ranking(cfg, results: list[EvalResult], pairs: list[tuple[str, str, float]] = ()):
    """Members ranked by Bradley-Terry Elo (random = 0) from their latest evaluation games: those
    against the fixed opponents and the round robin between members."""
    from ..algos import registry
    from ..learn.population import member_config

    algorithm = registry.get(cfg.algo)
    games = list(pairs)
    for r in results:
        me = f"member {r.member}"
        games += [(me, r.opponent, 1.0)] * r.wins + [(me, r.opponent, 0.5)] * r.draws
        games += [(me, r.opponent, 0.0)] * r.losses
    ratings = fit(games)
    rows = []
    for k in range(cfg.population.size):
        member = member_config(cfg, k)
        elo, low, high = ratings.of(f"member {k}")
        row = {"member": k, "seed": member.seed, "lr": member.optim.lr, "elo": elo,
               "elo_low": low, "elo_high": high,
               # what the algorithm's options vary per member (population.*)
               **{key: member[cfg.algo][key] for key in algorithm.ranking_keys}}
        for r in results:
            if r.member == k:
                row[f"score_{r.opponent}"] = r.score
        mine = [s if a == f"member {k}" else 1 - s for a, b, s in pairs
                if f"member {k}" in (a, b)]
        if mine:
            row["score_members"] = sum(mine) / len(mine)
        rows.append(row)
    rows.sort(key=lambda row: -row["elo"])
    return rows


def print_ranking(rows: list[dict], opponents, console) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="population ranking (Elo: Bradley-Terry over the evaluation games, "
                        "random = 0)")
    columns = [*opponents, *(["members"] if any("score_members" in r for r in rows) else [])]
    fixed = ("member", "seed", "lr", "elo", "elo_low", "elo_high", "score_members")
    # the algorithm's per-member options (Algorithm.ranking_keys) sit between lr and Elo
    options = [k for k in rows[0] if k not in fixed and not k.startswith("score_")]
    for name in ("rank", "member", "seed", "lr", *options, "Elo", "95% CI",
                 *[f"vs {o}" for o in columns]):
        table.add_column(name, justify="right")
    for i, row in enumerate(rows, 1):
        table.add_row(str(i), str(row["member"]), str(row["seed"]), f"{row['lr']:.2g}",
                      *[f"{row[k]:.3g}" if isinstance(row[k], float) else str(row[k])
                        for k in options],
                      f"{row['elo']:+.0f}", f"{row['elo_low']:+.0f}..{row['elo_high']:+.0f}",
                      *[f"{100 * row.get(f'score_{o}', float('nan')):.1f}%" for o in columns])
    # On stdout with the summary; logs and pipes would get rich's 80 columns, too narrow for it.
    Console(highlight=False, width=None if console.is_terminal else 120).print(table)


# ------------------------------------------------ the trainer's evaluation, reported
def evaluator(cfg, run_dir: Path, aim_run, console):
    """`evaluate(state) -> (state with the results, report)`: every member against the fixed
    opponents; one agent's Elo over training (ratings.json), or the members' ranking with their
    round robin (ranking.json)."""
    from ..arena.openings import load_suite

    members = cfg.population.size
    openings = load_suite(cfg.eval.openings)  # a bad suite fails now, not after training
    if openings is not None and max(map(len, openings)) >= cfg.eval.max_plies:
        raise ValueError(f"eval.max_plies={cfg.eval.max_plies} leaves no room after the "
                         f"{cfg.eval.openings} suite's openings (up to {max(map(len, openings))}"
                         f" plies): raise it, or set eval.openings=none")

    def evaluate(state, step=None):
        """`step`: the iteration just done (an evaluation during training: eval.every_games
        games, and distributions drawn from its batch); None: the final evaluation."""
        iteration = state.counters.iteration

        def agent_of(k: int):
            return member_agent(cfg, state.params, k)

        samples = [] if aim_run is not None and members == 1 else None
        results = evaluate_members(cfg, state.params, agent_of, iteration, console, openings,
                                   samples=samples,
                                   games=cfg.eval.every_games if step is not None else None)
        if samples is not None:
            _track_insight(cfg, aim_run, agent_of(0), samples, step, iteration, console.print)
        # where on the training clock (Elo against time: docs/training.md)
        results = [r.replace(train_seconds=round(state.counters.train_seconds, 1),
                             frames=state.counters.frames) for r in results]
        ladder = ladder_placement(results) if members == 1 else None
        if ladder is not None:
            results = [r.replace(ladder_elo=ladder[0], ladder_low=ladder[1],
                                 ladder_high=ladder[2]) for r in results]
        state = state.replace(evals=(*state.evals, *results))
        metrics_file.append(run_dir, {"kind": "eval", "iteration": iteration,
                                      "train_seconds": round(state.counters.train_seconds, 2),
                                      "final": step is None,
                                      "results": [r.as_dict() for r in results]})
        if members == 1:
            report = _single_ratings(state, run_dir, aim_run, console, results, iteration,
                                     ladder)
        else:
            rows = ranking(cfg, results, round_robin(cfg, agent_of, members))
            (run_dir / "ranking.json").write_text(json.dumps(rows, indent=1))
            report = rows
            if aim_run is not None:
                _track_ranking(aim_run, results, rows, iteration)
        return state, report

    return evaluate


def _track_insight(cfg, aim_run, agent, samples, step, iteration, log) -> None:
    from . import insight

    if samples:
        insight.track_sample_game(aim_run, agent, samples[0], iteration, log)
    batch = step.insight_batch() if step is not None else None
    if batch is not None:
        insight.track_distributions(aim_run, agent, batch, cfg.env.max_plies, iteration)


def _single_ratings(state, run_dir, aim_run, console, results, iteration, ladder):
    ratings = ratings_over_training(state.evals)
    table = [{"player": n, "elo": e, "low": lo, "high": hi}
             for n, e, lo, hi in zip(ratings.names, ratings.elo, ratings.low, ratings.high)]
    (run_dir / "ratings.json").write_text(json.dumps(
        {"anchor": ratings.anchor, "regularized": ratings.regularized, "ratings": table},
        indent=1))
    elo, low, high = ratings.of(f"it {iteration}")
    console.print(f"eval @ it {iteration}: Elo {elo:+.0f} [{low:+.0f}, {high:+.0f}] "
                  f"(this run's snapshots and opponents, random = 0"
                  f"{', regularised' if ratings.regularized else ''})")
    if ladder is not None:
        console.print(f"eval @ it {iteration}: ladder Elo {ladder[0]:+.0f} [{ladder[1]:+.0f}, "
                      f"{ladder[2]:+.0f}] (the fixed scale of `keisei-fn ladder`, random = 0"
                      f"{', regularised' if ladder[3] else ''})")
    if aim_run is not None:
        from . import tracking

        for r in results:
            tracking.track_metrics(aim_run, _eval_metrics(r), iteration)
        tracking.track_metrics(aim_run, {"eval/elo": elo, "eval/elo_low": low,
                                         "eval/elo_high": high}, iteration)
        if ladder is not None:
            tracking.track_metrics(aim_run, {"eval/ladder_elo": ladder[0],
                                             "eval/ladder_elo_low": ladder[1],
                                             "eval/ladder_elo_high": ladder[2]}, iteration)
        tracking.track_text(aim_run, "eval/ratings", format_ratings(ratings), iteration)
    return ratings


def _track_ranking(aim_run, results, rows, iteration) -> None:
    from . import tracking

    for r in results:
        tracking.track_metrics(aim_run, _eval_metrics(r), r.iteration,
                               context={"member": str(r.member)})
    for row in rows:
        tracking.track_metrics(aim_run, {"eval/elo": row["elo"]}, iteration,
                               context={"member": str(row["member"])})


def _eval_metrics(r: EvalResult) -> dict:
    metrics = {f"eval_{r.opponent}/{k}": getattr(r, k)
               for k in ("win_rate", "score", "wins", "draws", "losses", "mean_length")}
    # the value's quality over all of the evaluation's games (insight/value_quality.py), by phase
    for phase, stats in (r.value_quality_all or {}).items():
        for k in ("corr", "brier", "mean_abs", "material_corr", "material_brier"):
            if k in stats:
                metrics[f"value_quality/{phase}/{k}"] = stats[k]
    for kind, stats in (r.value_probes or {}).items():  # the probe set, per kind
        for k in ("mean", "positive"):
            metrics[f"value_probe/{kind}/{k}"] = stats[k]
    return metrics


def final_evaluation(cfg, state, evaluate, run_dir: Path, console, log):
    """The evaluation at the end of a run (unless the last iteration just had one): the state and
    the summary's entries."""
    iteration = state.counters.iteration
    done_now = [r for r in state.evals if r.iteration == iteration]
    if cfg.population.size == 1:
        if not done_now:
            state, _ = evaluate(state)
            done_now = [r for r in state.evals if r.iteration == iteration]
        return state, {"eval": [r.as_dict() for r in done_now]}
    if done_now:
        rows = json.loads((run_dir / "ranking.json").read_text())
    else:
        state, rows = evaluate(state)
        done_now = [r for r in state.evals if r.iteration == iteration]
    print_ranking(rows, list(cfg.eval.opponents), console)
    log(f"members exported to {run_dir / 'members'} (load one with keisei-fn eval/usi/play)")
    return state, {"eval": [r.as_dict() for r in done_now], "ranking": rows}
