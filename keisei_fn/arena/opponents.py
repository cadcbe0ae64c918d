"""Every kind of player behind one description: `make_player(spec)`.

A `Player` is data, not an object with a life of its own:
- batched players (`random`, `greedy`, our agent from a checkpoint) carry a pure move function
  `choose(state [B], generator) -> labels [B]` that picks for many games at once;
- process-backed players (`gnushogi:DEPTH[:SECONDS]`, `usi:COMMAND`) carry an `EngineSpec`;
  the match starts one engine per game (see `match.py`) through `engines.open_session`.

Spec syntax (also in docs/arena.md):
  random | greedy                  the trainer's evaluation opponents
  PATH                             a checkpoint file, or a run directory (its newest checkpoint);
                                   our agent, argmax of the policy
  gnushogi:DEPTH[:SECONDS]         GNU Shogi at search depth DEPTH (1 = weakest and fastest)
  usi:COMMAND                      any USI engine, COMMAND split like a shell would (shlex)
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from .engines import EngineSpec, gnushogi_spec

BATCHED_BUILTINS = ("random", "greedy")


@dataclass(frozen=True)
class Player:
    """A player: its name (records, ratings) and either a batched move function or an engine."""

    name: str
    choose: Callable | None = None  # (state TD [B], torch.Generator) -> LongTensor [B]
    engine: EngineSpec | None = None

    @property
    def batched(self) -> bool:
        return self.choose is not None


def make_player(spec: str, device="cpu", *, timeout: float = 10.0, think_ms: int = 100) -> Player:
    """The player a spec string names; ValueError (one line) for anything else.

    `timeout` is the seconds an external engine gets for every reply; `think_ms` the byoyomi
    sent to USI engines.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("empty player spec")
    spec = spec.strip()
    if spec in BATCHED_BUILTINS:
        from ..run.evaluate import OPPONENTS

        return Player(spec, choose=OPPONENTS[spec])
    kind, sep, rest = spec.partition(":")
    if sep and kind == "gnushogi":
        return Player(spec, engine=_gnushogi(rest, timeout))
    if sep and kind == "usi":
        return Player(spec, engine=_usi(rest, timeout, think_ms))
    path = Path(spec)
    if path.exists():
        return _agent(path, device)
    raise ValueError(f"unknown player {spec!r}: expected random, greedy, gnushogi:DEPTH[:SECONDS]"
                     ", usi:COMMAND, or an existing checkpoint file / run directory")


def _gnushogi(rest: str, timeout: float) -> EngineSpec:
    parts = rest.split(":")
    if len(parts) > 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"bad gnushogi spec 'gnushogi:{rest}': expected gnushogi:DEPTH or "
                         "gnushogi:DEPTH:SECONDS with whole numbers, e.g. gnushogi:1")
    depth, seconds = int(parts[0]), int(parts[1]) if len(parts) == 2 else 1
    return gnushogi_spec(depth, seconds, timeout=timeout)


def _usi(command: str, timeout: float, think_ms: int) -> EngineSpec:
    try:
        argv = tuple(shlex.split(command))
    except ValueError as err:
        raise ValueError(f"bad usi command {command!r}: {err}") from None
    if not argv:
        raise ValueError("usi: needs a command, e.g. usi:'/path/to/engine --flag'")
    if shutil.which(argv[0]) is None and not Path(argv[0]).is_file():
        raise ValueError(f"usi engine not found: {argv[0]!r}")
    if think_ms < 0:
        raise ValueError(f"think time must be >= 0 ms, got {think_ms}")
    return EngineSpec(f"usi:{command}", argv, "usi", timeout=timeout, think_ms=think_ms)


def _agent(path: Path, device) -> Player:
    from ..agent import load_agent, resolve_checkpoint

    ckpt = resolve_checkpoint(path)  # CheckpointError is a ValueError: one line in the CLI
    net, _ = load_agent(ckpt, device=device)
    return Player(str(ckpt), choose=partial(_agent_choose, net))


def _agent_choose(net, state, generator):
    """Our agent's argmax move for every game in the batch (the generator is unused: no ties)."""
    from ..agent import choose_moves

    return choose_moves(net, state, temperature=0.0)
