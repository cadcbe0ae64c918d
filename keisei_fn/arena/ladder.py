"""The engine ladder: fixed players with stored Elo ratings, and placing a new player on it.

The rungs, weakest first, are scripted players, GNU Shogi, and mixes between neighbours
(`mix:A,B,P` plays B's move with probability P, else A's), which bridge gaps no game result could
measure otherwise: minimax beats greedy and loses to gnushogi:1 in every game. gnushogi:2 is not
a rung: it plays move for move as gnushogi:1 does (its search reaches the same nodes).

The rungs' ratings were measured once by a round robin between neighbours (at most two rungs
apart), fitted by Bradley-Terry with random = 0 (experiments/ladder_anchors.py), and are stored
in `ladder.json` next to this module with how they were measured. Placing a player keeps them
fixed (`ratings.elo.place`), so its Elo is on a scale that does not move between runs, machines
or versions of the agent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

RUNGS = (
    "random",
    "mix:random,greedy,0.25",
    "mix:random,greedy,0.5",
    "mix:random,greedy,0.75",
    "greedy",
    "mix:greedy,minimax,0.25",
    "mix:greedy,minimax,0.5",
    "mix:greedy,minimax,0.75",
    "minimax",
    "mix:minimax,gnushogi:1,0.1",
    "mix:minimax,gnushogi:1,0.3",
    "mix:minimax,gnushogi:1,0.6",
    "gnushogi:1",
    "gnushogi:3",
)
BATCHED_RUNGS = RUNGS[:9]  # no engine: cheap enough for the trainer's evaluation


@dataclass(frozen=True)
class Anchor:
    player: str
    elo: float
    low: float
    high: float


def anchors_path() -> Path:
    return Path(str(resources.files("keisei_fn.arena") / "ladder.json"))


def load_anchors(path: Path | None = None) -> dict[str, Anchor]:
    """The stored rating of every rung (ValueError if the file does not match RUNGS)."""
    path = path or anchors_path()
    data = json.loads(path.read_text())
    anchors = {r["player"]: Anchor(r["player"], r["elo"], r["low"], r["high"])
               for r in data["rungs"]}
    missing = [r for r in RUNGS if r not in anchors]
    if missing:
        raise ValueError(f"{path}: no stored rating for {', '.join(missing)}")
    return anchors


def ladder_elo(results, anchors: dict[str, Anchor] | None = None):
    """(Elo, low, high, regularized) of a player from (rung, score) per game."""
    from ..ratings.elo import place

    anchors = anchors or load_anchors()
    return place(results, {name: a.elo for name, a in anchors.items()})
