"""Every kind of player behind one description: `make_player(spec)`.

A `Player` is data, not an object with a life of its own:
- batched players (`random`, `greedy`, `minimax`, our agent from a checkpoint) carry a pure
  move function `choose(state [B], generator) -> labels [B]` that picks for many games at once;
- process-backed players (`gnushogi:DEPTH[:SECONDS]`, `usi:COMMAND`) carry an `EngineSpec`;
  the match starts one engine per game (see `match.py`) through `engines.open_session`.

Spec syntax (also in docs/arena.md):
  random | greedy | minimax        scripted: a random legal move, the best capture, the best move
                                   by a 2-ply material search
  PATH                             a checkpoint file, a run directory (its newest checkpoint) or
                                   `reference` (the agent shipped with the package): our agent,
                                   its policy's argmax, a mate in one played first, not a move a
                                   2-ply material search rates 3 pawns below the best (material=3)
  PATH@mate=0,material=0           the policy's argmax alone
  PATH@mate=3                      a mate in three by checks played first (search/mate.py)
  PATH@guard=1                     not a move that lets the opponent mate at once (the policy's
                                   next favourite instead, or with sims=N the search's next
                                   most visited; Settings.guard); guard=3: nor a mate in three
                                   by checks; with mate= as above
  PATH@material=M                  not a move a 2-ply material search (as `minimax`'s) rates
                                   more than M pawns below the best one: the policy's favourite
                                   among those within M (Settings.material_margin; default 3,
                                   PLAY_MATERIAL_MARGIN; 0 turns it off); combines with mate=
                                   and guard=; quiet=Q: its last ply's captures played out Q
                                   plies deep (a quiescence; default 2, PLAY_MATERIAL_QUIET;
                                   0: the static ply)
  PATH@sims=N[,considered=M][,noise=G][,mate=0|3][,guard=1|3][,matedepth=D][,compiled=1]
      [,value=material|blend:W][,precision=bf16][,qrange=Q][,capture=F][,material=M[,quiet=Q]]
                                   our agent with Gumbel search: N simulations, M moves
                                   considered at the root (default 16), Gumbel noise scale G
                                   (default 0: its best move, not a sample); compiled=1 runs
                                   each simulation compiled (search/compiled.py; ~3x faster
                                   at one game, a minute to compile the first time);
                                   value=material: the search reads tanh(material / 10 pawns)
                                   instead of the network's value, with the network's policy
                                   (the control its value must beat); value=blend:W: W of
                                   the count and 1 - W of the network's; precision=bf16: the
                                   network in bfloat16 (faster at many games where the CPU
                                   has AVX512_BF16 or AMX; slower at one game); qrange=Q:
                                   the smallest range the q-values are rescaled by (0, the
                                   default: mctx's min-max; 2: differences never stretched);
                                   matedepth=D: every position the search expands within D
                                   plies of the root that its mover can mate in one counts
                                   as a win (search/mate.py `score_mates`);
                                   capture=F: every capture winning 5 pawns or more (a
                                   lance up) has at least F of the prior, so that the
                                   search looks at it (Agent.capture_floor);
                                   material=M: the search's move under the material veto,
                                   else its most visited move within M (off by default;
                                   quiet=Q as above)
  gnushogi:DEPTH[:SECONDS]         GNU Shogi at search depth DEPTH (1 = weakest and fastest)
  usi:COMMAND                      any USI engine, COMMAND split like a shell would (shlex)
  mix:A,B,P                        each move B's with probability P, else A's (at most one of
                                   them an engine): a player between two others, for the ladder
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable

import torch
from tensordict import TensorDict

from ..agent import (MAX_CAPTURE_FLOOR, PLAY_BATCHED_ROUNDS, PLAY_MATERIAL_MARGIN,
                     PLAY_MATERIAL_QUIET, Agent,
                     SearchConfig, Settings, decide)
from ..agent.named import NAMES, is_agent_spec, packaged_checkpoint
from ..player_spec import SCRIPTED, PlayerSpec, parse_player_spec
from ..search.gumbel import MAX_MATE_DEPTH, ROUNDS
from ..search.select import MAX_Q_RANGE
from ..search.minimax import MAX_QUIET, minimax_choose
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


def minimax_opponent(state: TensorDict, generator: torch.Generator) -> torch.Tensor:
    """The best move by a full-width 2-ply material minimax (search/minimax.py), ties at random."""
    return minimax_choose(state, generator, depth=2)


# The scripted players: the trainer's evaluation opponents and the bottom of every ladder.
OPPONENTS = dict(zip(SCRIPTED, (random_opponent, greedy_opponent, minimax_opponent)))
BATCHED_BUILTINS = tuple(OPPONENTS)


@dataclass(frozen=True)
class Player:
    """A player: its name (records, ratings) and either a batched move function or an engine."""

    name: str
    choose: Callable | None = None  # (state TD [B], torch.Generator) -> LongTensor [B]
    engine: EngineSpec | None = None
    # (a, b, p): b's move with probability p, else a's, one of them an engine (a mix of two
    # batched players is itself batched: `choose`)
    mix: tuple[Player, Player, float] | None = None

    @property
    def batched(self) -> bool:
        return self.choose is not None


def make_player(spec: str, device="cpu", *, timeout: float = 10.0, think_ms: int = 100) -> Player:
    """The player a spec string names; ValueError (one line) for anything else.

    `timeout` is the seconds an external engine gets for every reply; `think_ms` the byoyomi
    sent to USI engines.
    """
    parsed = parse_player_spec(spec)  # the config's parser too
    spec = parsed.text
    if parsed.kind == "scripted":
        return Player(spec, choose=OPPONENTS[spec])
    if parsed.kind == "mix":
        return _mix(parsed, device, timeout, think_ms)
    if parsed.kind == "gnushogi":
        return Player(spec, engine=_gnushogi(parsed.rest, timeout))
    if parsed.kind == "usi":
        return Player(spec, engine=_usi(parsed.rest, timeout, think_ms))
    if is_agent_spec(spec):
        return _agent(spec, device)
    base, at, options = spec.rpartition("@")
    if at and is_agent_spec(base):
        return _agent(base, device, **_search_options(spec, options))
    if "/" in spec or spec.endswith(".pt"):  # meant as a checkpoint: say it as play and usi do
        raise ValueError(f"checkpoint not found: {spec}")
    raise ValueError(f"unknown player {spec!r}: expected random, greedy, gnushogi:DEPTH[:SECONDS]"
                     f", usi:COMMAND, an existing checkpoint file / run directory, or a packaged "
                     f"agent ({', '.join(NAMES)})")


def _mix(parsed: PlayerSpec, device, timeout: float, think_ms: int) -> Player:
    spec, p = parsed.text, parsed.share
    a, b = (make_player(x, device, timeout=timeout, think_ms=think_ms) for x in parsed.mix)
    if a.mix or b.mix:
        raise ValueError(f"bad mix spec {spec!r}: a mix of mixes is not supported")
    if a.batched and b.batched:
        return Player(spec, choose=partial(_mix_choose, a.choose, b.choose, p))
    if not (a.batched or b.batched):
        raise ValueError(f"bad mix spec {spec!r}: at most one of A and B may be an engine")
    return Player(spec, mix=(a, b, p))


def _mix_choose(a, b, p, state, generator):
    first, second = a(state, generator), b(state, generator)
    pick = torch.rand(first.shape, generator=generator, device=first.device) < p
    return torch.where(pick, second, first)


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


_SEARCH_KEYS = {"sims": "simulations", "considered": "max_considered", "noise": "gumbel_scale"}


# Options with a few allowed values: key -> (values, what they mean, how to store the value).
_CHOICES = {
    "mate": (("0", "1", "3"), "0 (none), 1 (take a mate in one) or 3 (a mate in three by "
             "checks)", ("mate", int)),
    "guard": (("0", "1", "3"), "0 (off), 1 (no move that lets the opponent mate in one) or 3 "
              "(nor a mate in three by checks)", ("guard", int)),
    "compiled": (("0", "1"), "0 or 1", ("compiled", lambda v: v == "1")),
    "rounds": (ROUNDS, "one of " + ", ".join(ROUNDS),
               ("batched_rounds", lambda v: v == "batched")),
    "precision": (("fp32", "bf16"), "fp32 or bf16 (the network's arithmetic in the search)",
                  ("precision", str)),
}


# Options with a number: key -> (the setting, which numbers are allowed, what they mean).
_NUMBERS = {
    "material": ("material", lambda x: x >= 0, "material must be a margin in pawns >= 0 (0: off)"),
    "noise": ("gumbel_scale", lambda x: x >= 0, "noise must be a number >= 0"),
    "quiet": ("material_quiet", lambda x: 0 <= x <= MAX_QUIET and float(x).is_integer(),
              f"quiet must be a whole number of capture plies from 0 to {MAX_QUIET}"),
    "matedepth": ("mate_depth", lambda x: 0 <= x <= MAX_MATE_DEPTH and float(x).is_integer(),
                  f"matedepth must be a whole number of plies from 0 (off) to {MAX_MATE_DEPTH}"),
    "qrange": ("q_range", lambda x: 0 <= x <= MAX_Q_RANGE,
               "qrange must be a number in [0, 2] (0: mctx's min-max, 2: no stretching)"),
    "capture": ("capture_floor", lambda x: 0 <= x <= MAX_CAPTURE_FLOOR,
                f"capture must be a probability in [0, {MAX_CAPTURE_FLOOR:g}] (the least prior "
                f"of a capture winning 5 pawns or more; 0: the network's prior)"),
}


def _number(spec: str, value: str, ok, meaning: str) -> float:
    """`value` as a float for which `ok` holds, or the one-line error naming `spec`."""
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is None or not ok(number):
        raise ValueError(f"bad player spec {spec!r}: {meaning}")
    return number


def _value_weight(spec: str, value: str) -> float:
    """`value=network|material|blend:W`: the material count's share of the value search reads."""
    fixed = {"network": 0.0, "material": 1.0}
    if value in fixed:
        return fixed[value]
    kind, _, weight = value.partition(":")
    meaning = (f"value must be network (its value head), material (tanh(material / 10 pawns)) "
               f"or blend:W (W of the material count, 0 < W < 1), got {value!r}")
    if kind != "blend":
        raise ValueError(f"bad player spec {spec!r}: {meaning}")
    return _number(spec, weight, lambda w: 0 < w < 1, meaning)


def _search_options(spec: str, options: str) -> dict:
    """`[sims=N][,considered=M][,noise=G][,rounds=batched|sequential][,mate=0|1|3][,guard=0|1|3]
    [,matedepth=D][,compiled=0|1][,value=network|material|blend:W][,precision=fp32|bf16]
    [,qrange=Q][,capture=F][,material=M][,quiet=Q]` after a checkpoint's `@`."""
    found = {}
    for item in options.split(","):
        key, eq, value = item.partition("=")
        if key in _CHOICES:
            values, meaning, (name, convert) = _CHOICES[key]
            if value not in values:
                raise ValueError(f"bad player spec {spec!r}: {key} must be {meaning}, got "
                                 f"{value!r}")
            found[name] = convert(value)
            continue
        if key == "value":
            found["material_weight"] = _value_weight(spec, value)
            continue
        if key in _NUMBERS:
            name, ok, meaning = _NUMBERS[key]
            found[name] = _number(spec, value, ok, f"{meaning}, got {value!r}")
            continue
        if key not in _SEARCH_KEYS or not eq or not value.isdigit() or int(value) < 1:
            raise ValueError(f"bad player spec {spec!r}: after '@' expected "
                             f"sims=N[,considered=M][,noise=G][,rounds=R][,mate=1|3] with whole "
                             f"numbers "
                             f"N, M >= 1, "
                             f"e.g. runs/mine@sims=64")
        found[_SEARCH_KEYS[key]] = int(value)
    if "simulations" not in found and "material_weight" in found:
        raise ValueError(f"bad player spec {spec!r}: value= is what a search reads; add sims=N, "
                         f"e.g. runs/mine@sims=64,value=material")
    if "simulations" not in found and "precision" in found:
        raise ValueError(f"bad player spec {spec!r}: precision= is the search's network; add "
                         f"sims=N, e.g. runs/mine@sims=64,precision=bf16")
    if "simulations" not in found and "q_range" in found:
        raise ValueError(f"bad player spec {spec!r}: qrange= is the search's; add sims=N, "
                         f"e.g. runs/mine@sims=64,qrange=2")
    veto = found.get("material", 0.0 if "simulations" in found else PLAY_MATERIAL_MARGIN)
    if found.get("material_quiet") and not veto:
        raise ValueError(f"bad player spec {spec!r}: quiet= is the material veto's; it needs "
                         f"material=M with M > 0")
    if "simulations" not in found and set(found) - {"mate", "guard", "material",
                                                    "material_quiet"}:
        raise ValueError(f"bad player spec {spec!r}: sims=N is needed, e.g. runs/mine@sims=64")
    return found


def _agent(path: str, device, simulations: int = 0, max_considered: int = 16,
           gumbel_scale: float = 0.0, batched_rounds: bool = PLAY_BATCHED_ROUNDS,
           mate: int = 1, guard: int = 0, compiled: bool = False,
           material: float | None = None, material_weight: float = 0.0,
           precision: str = "fp32", q_range: float = 0.0, mate_depth: float = 0,
           capture_floor: float = 0.0, material_quiet: float = PLAY_MATERIAL_QUIET) -> Player:
    from ..agent import load_agent, resolve_checkpoint

    ckpt = resolve_checkpoint(path)  # CheckpointError is a ValueError: one line in the CLI
    agent, _ = load_agent(ckpt, device=device)
    agent = replace(agent, material_weight=material_weight, precision=precision,
                    capture_floor=capture_floor)
    label = path if packaged_checkpoint(path) else str(ckpt)  # `reference`, not site-packages
    if material is None:  # the players' default veto; a search has none unless asked
        material = 0.0 if simulations else PLAY_MATERIAL_MARGIN
    if simulations:
        name = (f"{label}@sims={simulations}"
                + (f",considered={max_considered}" if max_considered != 16 else "")
                + (f",noise={gumbel_scale:g}" if gumbel_scale else "")
                + ("" if batched_rounds == PLAY_BATCHED_ROUNDS
                   else f",rounds={'batched' if batched_rounds else 'sequential'}")
                + ("" if mate == 1 else f",mate={mate}")
                + (f",guard={guard}" if guard else "")
                + (f",matedepth={mate_depth:g}" if mate_depth else "")
                + (",compiled=1" if compiled else "")
                + ({0.0: "", 1.0: ",value=material"}.get(material_weight,
                                                         f",value=blend:{material_weight:g}"))
                + (f",precision={precision}" if precision != "fp32" else "")
                + (f",qrange={q_range:g}" if q_range else "")
                + (f",capture={capture_floor:g}" if capture_floor else "")
                + (f",material={material:g}" if material else "")
                + (f",quiet={material_quiet:g}"
                   if material and material_quiet != PLAY_MATERIAL_QUIET else ""))
        return network_player(name, agent, Settings(
            search="gumbel", top=1, mate_in_one=mate > 0, mate_plies=max(mate, 1), guard=guard,
            material_margin=material, material_quiet=int(material_quiet) if material else 0,
            gumbel=SearchConfig(simulations, max_considered, gumbel_scale, batched_rounds,
                                compiled=compiled, q_range=q_range,
                                mate_depth=int(mate_depth))))
    options = ",".join(([] if mate == 1 else [f"mate={mate}"])
                       + ([f"guard={guard}"] if guard else [])
                       + ([] if material == PLAY_MATERIAL_MARGIN else [f"material={material:g}"])
                       + ([f"quiet={material_quiet:g}"]
                          if material and material_quiet != PLAY_MATERIAL_QUIET else []))
    return network_player(f"{label}@{options}" if options else label, agent, Settings(
        top=1, mate_in_one=mate > 0, mate_plies=max(mate, 1), guard=guard,
        material_margin=material, material_quiet=int(material_quiet) if material else 0))


def network_player(name: str, agent: Agent, settings: Settings = Settings(top=1)) -> Player:
    """A network as a batched player: `decide` by `settings` in all the games' positions side by
    side, the match's generator drawing its samples and its search's noise (`Settings`: the
    policy's argmax or a sample, a mate played first, the guard, the material veto, or a Gumbel
    search, which plays its best without noise unless `gumbel.gumbel_scale` says so)."""
    return Player(name, choose=partial(_decide_moves, agent, settings))


def _decide_moves(agent: Agent, settings: Settings, state: TensorDict,
                  generator: torch.Generator) -> torch.Tensor:
    return decide(agent, state, settings, generator).action
