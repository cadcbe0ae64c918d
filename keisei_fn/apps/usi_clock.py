"""A USI `go` command's limits and what they allow: the seconds a move may take, the simulations
of the next search."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .usi_options import Options


@dataclass(frozen=True)
class GoParams:
    """A `go` command's limits; times in milliseconds, None when not given."""
    btime: int | None = None
    wtime: int | None = None
    byoyomi: int | None = None
    binc: int | None = None
    winc: int | None = None
    movetime: int | None = None
    infinite: bool = False
    ponder: bool = False
    nodes: int | None = None  # gumbel search: at most this many simulations


# The share of the move's time (less the network delay) the search may take; the engine also
# keeps off what its last answer took beyond the search (`Session.overhead_s`). With 0.9, answers
# to `go byoyomi 1000` came back through the pipe within 0.875 s with two other processes on two
# cores (0.936 s with 0.95: too close to the 120 ms NetworkDelay kept for the GUI; docs/arena.md).
CLOCK_SHARE = 0.9
_GO_NUMBERS = ("btime", "wtime", "byoyomi", "binc", "winc", "movetime", "nodes", "depth")


def parse_go(args: list[str]) -> GoParams:
    """GoParams of a `go` command's arguments; `depth` is accepted and ignored, `nodes` caps the
    gumbel search's simulations."""
    values, flags, i = {}, {}, 0
    while i < len(args):
        key = args[i]
        if key in ("infinite", "ponder"):
            flags[key] = True
            i += 1
        elif key in _GO_NUMBERS:
            if i + 1 >= len(args) or not re.fullmatch(r"-?\d+", args[i + 1]):
                raise ValueError(f"go: {key} needs an integer (milliseconds)")
            values[key] = int(args[i + 1])
            i += 2
        else:
            raise ValueError(f"go: unknown parameter {key!r}")
    values.pop("depth", None)
    nodes = values.pop("nodes", None)
    return GoParams(**values, **flags, nodes=nodes)


def move_budget_s(go: GoParams, side: int, network_delay_ms: int) -> float | None:
    """Seconds the search may take (None: no limit), well inside what the clock allows.

    The move's share of the clock is `movetime`, or 1/30 of the side's remaining time plus its
    byoyomi and increment; the network delay (the GUI's and the pipe's) is kept back and
    CLOCK_SHARE of the rest is used: the search stops at its deadline between simulations, and
    what follows it (the guard, the info lines) needs the remainder. With `infinite` or without
    any limit there is no deadline: the search is bounded anyway (one batch per 64 legal moves).
    """
    if go.infinite:
        return None
    if go.movetime is not None:
        allowed = go.movetime
    else:
        remaining, inc = (go.btime, go.binc) if side == 0 else (go.wtime, go.winc)
        if remaining is None and go.byoyomi is None and inc is None:
            return None
        allowed = (remaining or 0) / 30 + (go.byoyomi or 0) + (inc or 0)
    return CLOCK_SHARE * max(allowed - network_delay_ms, 0) / 1000


def simulations_for(options: Options, go: GoParams, budget_s: float | None, rate: float) -> int:
    """Simulations of the next gumbel search: `Simulations`, fewer when `go nodes` or the
    clock (`budget_s` at the last search's rate) allows fewer; at least 1. The search also
    stops at the deadline, should the rate have dropped."""
    n = options.simulations
    if go.nodes is not None:
        n = min(n, go.nodes)
    if budget_s is not None:
        n = min(n, int(rate * budget_s))
    return max(1, n)
