"""The trainer's evaluation: the agent against fixed opponents, refereed by the arena.

Every match is `arena.match.play_match` with the arena's rules (`eval.max_plies`, `eval.impasse`;
the defaults are `keisei-fn eval`'s), so a number from training and one from `keisei-fn eval`
mean the same thing. Both colours; all games of a match in one batch.
"""

from __future__ import annotations

import time
from typing import Callable

from ..arena.match import play_match as referee_match
from ..arena.match import summarize
from ..arena.opponents import OPPONENTS, agent_player, make_player
from ..arena.referee import IMPASSE, MAX_PLIES, describe_referee

AGENT = "agent"


def play_match(net, opponent: str, games: int, max_plies: int = MAX_PLIES, seed: int = 0,
               greedy: bool = True, device="cpu", impasse: bool = IMPASSE,
               progress: Callable[[int, int], None] | None = None) -> dict:
    """`games` games of `net` against the scripted `opponent` (agent Black in the first half,
    White in the rest); `progress(plies played, games finished)` is called after every ply.

    Returns wins/draws/losses from the agent's side, a 95% Wilson interval of the score, the
    mean game length, the number of distinct games and the referee's rules.
    """
    if opponent not in OPPONENTS:
        raise ValueError(f"unknown opponent {opponent!r}; choose from {', '.join(OPPONENTS)}")
    if games < 1:
        raise ValueError("games must be >= 1")
    agent = agent_player(AGENT, net, temperature=0.0 if greedy else 1.0)
    records = referee_match(agent, make_player(opponent), games, max_plies=max_plies, seed=seed,
                            device=device, impasse=impasse, progress=progress)
    s = summarize(records, AGENT, opponent)
    return {"opponent": opponent, "games": games, "wins": s["wins"], "draws": s["draws"],
            "losses": s["losses"], "win_rate": s["wins"] / games, "score": s["score"],
            "score_low": s["score_low"], "score_high": s["score_high"],
            "mean_length": s["mean_plies"], "distinct_games": s["distinct_games"],
            "referee": describe_referee(max_plies, impasse)}


def match_progress(print_line, label: str, games: int, every_s: float = 10.0):
    """A `play_match` progress callback: a line at most every `every_s` seconds, so a long
    evaluation shows it is alive."""
    started = last = time.monotonic()

    def progress(plies: int, finished: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            print_line(f"  {label}: {finished}/{games} games finished, ply {plies} "
                       f"({now - started:.0f} s)")

    return progress


def format_match(r: dict) -> str:
    return (f"vs {r['opponent']:<7} W {r['wins']:>4} D {r['draws']:>4} L {r['losses']:>4}  "
            f"win {100 * r['win_rate']:5.1f}%  score {100 * r['score']:5.1f}% "
            f"[{100 * r['score_low']:.1f}, {100 * r['score_high']:.1f}]  "
            f"mean length {r['mean_length']:.0f}  distinct {r['distinct_games']}"
            + (f"  ({r['referee']})" if "referee" in r else ""))
