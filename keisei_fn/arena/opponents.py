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

import torch
from tensordict import TensorDict

from ..shogi.material import capture_gain
from .engines import EngineSpec, gnushogi_spec


def random_opponent(state: TensorDict, generator: torch.Generator) -> torch.Tensor:
    """A uniformly random legal move per game."""
    mask = state["legal_mask"]
    noise = torch.rand(mask.shape, generator=generator, device=mask.device)
    return torch.where(mask, noise, -1.0).argmax(-1)


def greedy_opponent(state: TensorDict, generator: torch.Generator) -> torch.Tensor:
    """The legal move that wins the most material at once (one ply, ties broken at random)."""
    mask = state["legal_mask"]
    noise = torch.rand(mask.shape, generator=generator, device=mask.device) * 1e-3
    score = capture_gain(state) + noise
    return torch.where(mask, score, -1.0).argmax(-1)


# The scripted players: the trainer's evaluation opponents and the bottom of every ladder.
OPPONENTS = {"random": random_opponent, "greedy": greedy_opponent}
BATCHED_BUILTINS = tuple(OPPONENTS)


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
        return Player(spec, choose=OPPONENTS[spec])
    kind, sep, rest = spec.partition(":")
    if sep and kind == "gnushogi":
        return Player(spec, engine=_gnushogi(rest, timeout))
    if sep and kind == "usi":
        return Player(spec, engine=_usi(rest, timeout, think_ms))
    path = Path(spec)
    if path.exists():
        return _agent(path, device)
    if "/" in spec or spec.endswith(".pt"):  # meant as a checkpoint: say it as play and usi do
        raise ValueError(f"checkpoint not found: {spec}")
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
    return agent_player(str(ckpt), net)


def agent_player(name: str, net, temperature: float = 0.0) -> Player:
    """A network as a batched player: the argmax of its policy (temperature 0), or a sample at
    `temperature` from the match's generator."""
    return Player(name, choose=partial(_agent_choose, net, temperature))


def _agent_choose(net, temperature, state, generator):
    from ..agent import choose_moves

    return choose_moves(net, state, temperature, generator)
