"""The USI engine's answer to `go`: the decision layer's choice (`agent.decide`) as a `Decision`
with its lines, and the `info` lines a GUI shows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from tensordict import TensorDict

from ..agent import Agent, SearchConfig, Settings, decide, usi_moves, variation_moves
from ..shogi import action_to_usi, declarable
from .usi_options import Options

# A value v for the side to move is read as a win probability w = (1 + v) / 2 and reported as
# centipawns 756 ln(w / (1 - w)), the scale dlshogi reports (its "eval_coef"); +-30000 caps it.
CP_PER_LOGIT = 756.0
_MAX_CP = 30000


@dataclass(frozen=True)
class Line:
    """One candidate of a search: its move's value for the mover and its principal variation."""
    score: float               # in [-1, 1]
    pv: tuple[str, ...]
    visits: int = 0
    mate: int = 0              # plies to a forced end the search proved: + win, - loss, 0 none


@dataclass(frozen=True)
class Decision:
    move: str                  # USI move, or "resign"
    score: float               # for the side to move, in [-1, 1]
    mate: int = 0              # plies to a forced end the search proved: + win, - loss, 0 none
    evaluated: int = 0         # successors scored by the 1-ply search
    candidates: int = 0        # legal moves
    lines: tuple[Line, ...] = ()  # best first (gumbel search); empty: just `move`
    nodes: int = 0             # simulations of the gumbel search
    seldepth: int = 1
    seconds: float = 0.0



def settings_of(options: Options, compiled: bool = False) -> Settings:
    """What `decide` is asked for by the engine's options; `compiled`: the compiled search is
    ready (apps/usi_warmup.py), so the Gumbel search runs compiled."""
    return Settings(search=options.search, temperature=options.temperature,
                    gumbel=SearchConfig(options.simulations, options.considered,
                                        # temperature 0: the search's best move (no Gumbel
                                        # noise); > 0: a sample of its improved policy, as
                                        # Gumbel AlphaZero plays in self-play
                                        1.0 if options.temperature > 0 else 0.0,
                                        options.rounds == "batched", compiled=compiled,
                                        q_range=options.q_range,
                                        mate_depth=options.mate_depth),
                    top=max(1, options.multipv), lines=max(1, options.multipv),
                    mate_in_one=True, mate_plies=options.mate_plies, guard=options.guard,
                    # the policy's move only: over a search's move the veto measured -110
                    # (`PATH@sims=N,material=M`; docs/training.md, "Search at state N")
                    material_margin=(float(options.material_margin)
                                     if options.search == "none" else 0.0),
                    material_quiet=options.material_quiet)


def decide_move(agent: Agent, state: TensorDict, options: Options,
                generator: torch.Generator | None,
                out_of_time: Callable[[], bool] = lambda: False,
                compiled: bool = False) -> Decision:
    """The engine's answer in `state` [1]: `win` where the side to move may declare an
    entering-king win (CSA 27-point rule), `resign` without a legal move, else `decide`'s move
    by `options`, with its lines for the `info` output."""
    if bool(declarable(state)[0]):
        return Decision("win", 1.0)
    if not bool(state["legal_mask"].any()):
        return Decision("resign", -1.0)
    found = decide(agent, state, settings_of(options, compiled), generator, stop=out_of_time)
    move = usi_moves(state, found.action)[0]
    legal = int(found.legal[0])
    if options.search == "1ply":
        return Decision(move, float(found.value[0]), mate=int(found.mate[0]),
                        evaluated=int(found.evaluated[0]), candidates=legal)
    if options.search != "gumbel":  # the policy's move, or a proven mate's (`MatePlies`)
        return Decision(move, float(found.value[0]), mate=int(found.mate[0]), candidates=legal)
    lines = []
    for i in range(min(options.multipv, found.candidates.shape[1])):
        if found.candidates[0, i] < 0 or (i and not found.visits[0, i]):
            break
        mate = int(found.forced[0, i])
        score = float(found.q[0, i]) if not mate else (1.0 if mate > 0 else -1.0)
        pv = variation_moves(state, found, 0, i) if i < found.pv.shape[1] else []
        lines.append(Line(score, tuple(pv), int(found.visits[0, i]), mate))
    return Decision(move, float(found.value[0]), mate=int(found.mate[0]), candidates=legal,
                    lines=tuple(lines), nodes=int(found.simulations[0]),
                    seldepth=tree_depth(found.tree) if found.tree is not None else 1,
                    seconds=found.seconds)


def tree_depth(tree) -> int:
    """The deepest expanded node's depth in game 0's tree (the root has depth 0)."""
    parents = tree["parents"][0].tolist()
    depth = [0] * len(parents)
    for n in range(1, len(parents)):
        if parents[n] >= 0:
            depth[n] = depth[parents[n]] + 1
    return max(depth)


def value_to_cp(value: float) -> int:
    """Centipawns of a value in [-1, 1] for the side to move (CP_PER_LOGIT)."""
    if abs(value) >= 1.0:
        return _MAX_CP if value > 0 else -_MAX_CP
    w = (1.0 + value) / 2.0
    return int(max(-_MAX_CP, min(_MAX_CP, round(CP_PER_LOGIT * math.log(w / (1.0 - w))))))


def _score(mate: int, value: float) -> str:
    """USI's score: `mate N` (plies; negative when the engine is mated) when proven, else cp."""
    return f"mate {mate}" if mate else f"cp {value_to_cp(value)}"


def info_line(decision: Decision) -> str:
    return f"info depth 1 score {_score(decision.mate, decision.score)} pv {decision.move}"


def info_lines(decision: Decision) -> list[str]:
    """The `info` lines of an answer: one per MultiPV line after a gumbel search."""
    if not decision.lines:
        return [info_line(decision)]
    ms = max(1, round(decision.seconds * 1000))
    nps = round(decision.nodes / max(decision.seconds, 1e-6))
    out = []
    for k, line in enumerate(decision.lines, 1):
        score = _score(line.mate, line.score)
        multipv = f" multipv {k}" if len(decision.lines) > 1 else ""
        out.append(f"info depth {len(line.pv)} seldepth {decision.seldepth}{multipv} "
                   f"score {score} nodes {decision.nodes} nps {nps} time {ms} "
                   f"pv {' '.join(line.pv)}")
    return out


def first_legal(state: TensorDict) -> str:
    """Last resort when the search failed: any legal move, so the GUI is never left waiting."""
    legal = state["legal_mask"][0].nonzero().squeeze(1)
    return action_to_usi(state, legal[:1])[0] if len(legal) else "resign"
