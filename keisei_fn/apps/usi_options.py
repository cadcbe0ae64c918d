"""The USI engine's options: their values (`Options`), their declarations in the `usi` answer and
`setoption` (names in any case, values checked, one-line errors)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Callable

import torch

from ..agent import (MAX_CAPTURE_FLOOR, PLAY_BATCHED_ROUNDS, PLAY_MATERIAL_MARGIN,
                     PLAY_MATERIAL_QUIET, SEARCHES, SearchConfig)
from ..search.gumbel import MAX_MATE_DEPTH, ROUNDS
from ..search.minimax import MAX_QUIET
from ..search.select import MAX_Q_RANGE

MAX_NETWORK_DELAY_MS = 10_000
# the tree holds ~6 KB a simulation (docs/search.md): 20,000 is ~120 MB, and about 30 s a move
# on one thread with the compiled search
MAX_SIMULATIONS = 20_000


@dataclass(frozen=True)
class Options:
    """Engine settings (USI names in `_OPTION_FIELDS`); the CLI flags give the defaults."""
    checkpoint: str
    device: str = "cpu"
    temperature: float = 0.0
    """0: the best move; > 0: sample with probabilities ~ exp(score / temperature)."""
    search: str = "none"
    """'none': the policy's move; '1ply': the successor with the best value (exact if terminal);
    'gumbel': Gumbel search (search/gumbel.py) of `simulations`, fewer if the clock says so."""
    simulations: int = 64
    considered: int = 16
    """moves Sequential Halving considers at the root"""
    rounds: str = ROUNDS[PLAY_BATCHED_ROUNDS]
    """'batched': each Sequential Halving round's visits side by side; 'sequential': one
    simulation after the other (docs/search.md, "Batched rounds")."""
    multipv: int = 1
    seed: int = 0
    network_delay_ms: int = 120
    """Time kept back from every move's budget for the GUI's and the pipe's latency."""
    ponder: bool = False
    """USI_Ponder: informational only (pondering costs this engine nothing)."""
    mate_plies: int = 1
    """a mate found within this many plies (1, or 3 by checks: search/mate.py) is played before
    the policy or the search is asked"""
    material_margin: int = int(PLAY_MATERIAL_MARGIN)
    """Search none: not the policy's move where a 2-ply material search rates it more than this
    many pawns below the best move (`Settings.material_margin`); 0: off"""
    material_quiet: int = PLAY_MATERIAL_QUIET
    """that search's last ply's captures played out this many plies deep
    (`Settings.material_quiet`); 0: the static ply"""
    guard: int = 0
    """1: not a move that lets the opponent mate at once; 3: nor a mate in three by checks; 0:
    off. The chosen move, then the next best (8 in all) are checked (`Settings.guard`)"""
    mate_depth: int = 0
    """Search gumbel: every position the search expands within this many plies of the root
    that its mover can mate in one counts as a win (`SearchConfig.mate_depth`); 0: off"""
    compiled: bool = False
    """the Gumbel search compiled (search/compiled.py), in a background thread started at
    `isready`; the eager search plays until it is ready (apps/usi_warmup.py)"""
    q_range: float = SearchConfig.q_range
    """the smallest range the search's sigma rescales q-values by (search/select.py)"""
    capture_floor: float = 0.0
    """Search gumbel: the least prior of a move that captures a lance or more (Agent.capture_floor),
    so that the search looks at it; 0: the network's own prior"""


def _parse_bool(value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise ValueError(f"expected true or false, got {value!r}")
    return value.lower() == "true"


def _parse_text(value: str) -> str:
    if not value:
        raise ValueError("expected a non-empty value")
    return value


def _parse_device(value: str) -> str:
    try:
        return str(torch.device(_parse_text(value)))
    except RuntimeError as err:
        raise ValueError(f"not a torch device: {value!r} ({err})") from None


def _choice_parser(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value
    return parse


def _float_parser(low: float, high: float = math.inf) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            x = float(value)
        except ValueError:
            x = math.nan
        if not (math.isfinite(x) and low <= x <= high):  # NaN fails too
            bound = f">= {low:g}" if high == math.inf else f"from {low:g} to {high:g}"
            raise ValueError(f"expected a number {bound}, got {value!r}")
        return x
    return parse


def _int_parser(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        if not re.fullmatch(r"-?\d+", value) or not low <= int(value) <= high:
            raise ValueError(f"expected an integer in {low}..{high}, got {value!r}")
        return int(value)
    return parse


# USI name -> (Options field or None for accepted-and-ignored, parser of the value text).
_OPTION_FIELDS = {
    "USI_Ponder": ("ponder", _parse_bool),
    "USI_Hash": (None, str),  # every GUI sends it; this engine keeps no hash table
    "Checkpoint": ("checkpoint", _parse_text),
    "Device": ("device", _parse_device),
    "Search": ("search", _choice_parser(SEARCHES)),
    "Temperature": ("temperature", _float_parser(0)),
    "Seed": ("seed", _int_parser(0, 2**31 - 1)),
    "NetworkDelay": ("network_delay_ms", _int_parser(0, MAX_NETWORK_DELAY_MS)),
    "Simulations": ("simulations", _int_parser(1, MAX_SIMULATIONS)),
    "ConsideredMoves": ("considered", _int_parser(1, 600)),
    "Rounds": ("rounds", _choice_parser(ROUNDS)),
    "MultiPV": ("multipv", _int_parser(1, 600)),
    "MatePlies": ("mate_plies", lambda v: int(_choice_parser(("1", "3"))(v))),
    "MaterialMargin": ("material_margin", _int_parser(0, 100)),
    "MaterialQuiet": ("material_quiet", _int_parser(0, MAX_QUIET)),
    "Guard": ("guard", lambda v: int(_choice_parser(("0", "1", "3"))(v))),
    "MateDepth": ("mate_depth", _int_parser(0, MAX_MATE_DEPTH)),
    "Compiled": ("compiled", _parse_bool),
    "QRange": ("q_range", _float_parser(0, MAX_Q_RANGE)),
    "CaptureFloor": ("capture_floor", _float_parser(0, MAX_CAPTURE_FLOOR)),
}
_OPTION_BY_LOWER = {name.lower(): name for name in _OPTION_FIELDS}


def option_lines(options: Options) -> list[str]:
    """The `option` declarations of the `usi` answer, with the current values as defaults."""
    o = options
    return [
        f"option name USI_Ponder type check default {str(o.ponder).lower()}",
        f"option name Checkpoint type string default {o.checkpoint}",
        f"option name Device type string default {o.device}",
        f"option name Search type combo default {o.search} "
        + " ".join(f"var {s}" for s in SEARCHES),
        f"option name Temperature type string default {o.temperature:g}",
        f"option name Seed type spin default {o.seed} min 0 max {2**31 - 1}",
        f"option name NetworkDelay type spin default {o.network_delay_ms} min 0 "
        f"max {MAX_NETWORK_DELAY_MS}",
        f"option name Simulations type spin default {o.simulations} min 1 "
        f"max {MAX_SIMULATIONS}",
        f"option name ConsideredMoves type spin default {o.considered} min 1 max 600",
        f"option name Rounds type combo default {o.rounds} " + " ".join(f"var {r}" for r in ROUNDS),
        f"option name MultiPV type spin default {o.multipv} min 1 max 600",
        f"option name MatePlies type combo default {o.mate_plies} var 1 var 3",
        f"option name MaterialMargin type spin default {o.material_margin} min 0 max 100",
        f"option name MaterialQuiet type spin default {o.material_quiet} min 0 max {MAX_QUIET}",
        f"option name Guard type combo default {o.guard} var 0 var 1 var 3",
        f"option name MateDepth type spin default {o.mate_depth} min 0 max {MAX_MATE_DEPTH}",
        f"option name Compiled type check default {str(o.compiled).lower()}",
        f"option name QRange type string default {o.q_range:g}",
        f"option name CaptureFloor type string default {o.capture_floor:g}",
    ]


def set_option(options: Options, name: str, value: str) -> Options:
    """`options` with USI option `name` (any case) set; ValueError if unknown or a bad value."""
    canonical = _OPTION_BY_LOWER.get(name.lower())
    if canonical is None:
        raise ValueError(f"unknown option {name!r} (ignored)")
    field, parse = _OPTION_FIELDS[canonical]
    try:
        parsed = parse(value)
    except ValueError as err:
        raise ValueError(f"option {canonical}: {err}") from None
    return options if field is None else replace(options, **{field: parsed})
