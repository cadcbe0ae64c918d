"""The USI protocol (what Shogi GUIs speak) as a loop over input lines.

One explicit carry, `Session` (options, loaded agent, position, RNG, an answer held back), goes
through `handle_line`, which returns the next one; output goes through a `write(line)` callable.
The rules engine and the network do the work with batch 1: `position` steps the engine through
the game's moves, `go` evaluates the policy (`Search=none`), every legal successor in batches
(`Search=1ply`), or runs a Gumbel search of `Simulations` (`Search=gumbel`, fewer when the clock
says so: the last search's simulations/s sizes the next). With `go infinite`/`go ponder` the
answer is held until `stop`/`ponderhit`, as the protocol requires.

stdin is read by a thread (`stdin_lines`), so a `stop` arriving during a search cuts it short.
"""

from __future__ import annotations

import math
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, NamedTuple

import torch
from tensordict import TensorDict

from ..agent import (PLAY_BATCHED_ROUNDS, SEARCHES, SearchConfig, Settings, decide, load_agent,
                     usi_moves, variation_moves)
from ..agent import Agent as Network
from ..search.gumbel import ROUNDS
from ..shogi import STARTPOS_SFEN, action_to_usi, declarable, from_sfen, step, usi_to_action

# A value v for the side to move is read as a win probability w = (1 + v) / 2 and reported as
# centipawns 756 ln(w / (1 - w)), the scale dlshogi reports (its "eval_coef"); +-30000 caps it.
CP_PER_LOGIT = 756.0
_MAX_CP = 30000
_FIRST_RATE = 100.0  # simulations/s assumed before the first search measured this machine
# Plies of history room past the moves given: a GUI resends the whole game before every `go`, and
# with room to spare the next `position` only plays the new moves (see `parse_position`).
HISTORY_SLACK = 256
_MAX_NETWORK_DELAY_MS = 10_000
_MAX_SIMULATIONS = 20_000  # the tree holds ~70 KB a simulation


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


@dataclass(frozen=True)
class Agent:
    """The loaded network and what it was loaded from (reloaded when the options change)."""
    network: Network
    checkpoint: str
    device: str


@dataclass(frozen=True)
class Position:
    base: str                  # the SFEN the moves start from
    moves: tuple[str, ...]     # USI moves played from `base`
    state: TensorDict          # [1] engine state after the moves (on the CPU)


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


@dataclass(frozen=True)
class Session:
    options: Options
    agent: Agent | None
    position: Position
    generator: torch.Generator
    pending: Decision | None = None  # held back by `go infinite`/`go ponder` until stop/ponderhit
    quit: bool = False
    rate: float = _FIRST_RATE  # simulations/s of the last gumbel search: sizes the next one
    rejected: str | None = None  # why the last `position` failed: `go` must not use an old one


class Io(NamedTuple):
    write: Callable[[str], None]
    interrupt: threading.Event  # set by the stdin reader on `stop`/`quit`: cut the search short


# ---------------------------------------------------------------------------------------------
# Positions


def start_position(base: str = STARTPOS_SFEN, plies: int = 0) -> Position:
    """`base` with no moves played and history room for `plies` moves plus `HISTORY_SLACK`."""
    return Position(base, (), from_sfen([base], max_plies=plies + HISTORY_SLACK))


def play_moves(position: Position, moves: Iterable[str]) -> Position:
    """`position` after the USI `moves`; ValueError naming the first malformed or illegal one."""
    state, played = position.state, list(position.moves)
    for move in moves:
        try:
            action = usi_to_action(state, [move])
        except ValueError as err:
            raise ValueError(f"move {len(played) + 1}: {err}") from None
        state = step(state, action)
        played.append(move)
    return Position(position.base, tuple(played), state)


def _history_room(state: TensorDict) -> int:
    return state["hash_history"].shape[1] - 1


def parse_position(args: list[str], previous: Position | None = None) -> Position:
    """The position of a `position` command's arguments: `startpos|sfen <sfen> [moves m1 ...]`.

    ValueError for a malformed command, a bad SFEN or a malformed/illegal move. When `previous`
    starts from the same SFEN and its moves begin these, only the new moves are played (a whole
    game costs linear, not quadratic, time); history room is kept for the 1-ply search's move.
    """
    if args[:1] == ["startpos"]:
        base, rest = STARTPOS_SFEN, args[1:]
    elif args[:1] == ["sfen"]:
        end = args.index("moves") if "moves" in args else len(args)
        base, rest = " ".join(args[1:end]), args[end:]
        if not base:
            raise ValueError("position sfen: the SFEN is missing")
    else:
        raise ValueError("position: expected 'startpos' or 'sfen <sfen>', then 'moves ...'")
    if rest and rest[0] != "moves":
        raise ValueError(f"position: expected 'moves' after the position, got {rest[0]!r}")
    moves = tuple(rest[1:])
    reusable = (previous is not None and previous.base == base
                and moves[:len(previous.moves)] == previous.moves
                and _history_room(previous.state) > len(moves))
    start = previous if reusable else start_position(base, len(moves))
    return play_moves(start, moves[len(start.moves):])


# ---------------------------------------------------------------------------------------------
# Choosing a move


def settings_of(options: Options) -> Settings:
    """What `decide` is asked for by the engine's options."""
    return Settings(search=options.search, temperature=options.temperature,
                    gumbel=SearchConfig(options.simulations, options.considered,
                                        # temperature 0: the search's best move (no Gumbel
                                        # noise); > 0: a sample of its improved policy, as
                                        # Gumbel AlphaZero plays in self-play
                                        1.0 if options.temperature > 0 else 0.0,
                                        options.rounds == "batched"),
                    top=max(1, options.multipv), lines=max(1, options.multipv),
                    mate_in_one=True)


def decide_move(agent: Network, state: TensorDict, options: Options,
                generator: torch.Generator | None,
                out_of_time: Callable[[], bool] = lambda: False) -> Decision:
    """The engine's answer in `state` [1]: `win` where the side to move may declare an
    entering-king win (CSA 27-point rule), `resign` without a legal move, else `decide`'s move
    by `options`, with its lines for the `info` output."""
    if bool(declarable(state)[0]):
        return Decision("win", 1.0)
    if not bool(state["legal_mask"].any()):
        return Decision("resign", -1.0)
    found = decide(agent, state, settings_of(options), generator, stop=out_of_time)
    move = usi_moves(state, found.action)[0]
    legal = int(found.legal[0])
    if options.search == "1ply":
        return Decision(move, float(found.value[0]), mate=int(found.mate[0]),
                        evaluated=int(found.evaluated[0]), candidates=legal)
    if options.search != "gumbel":
        return Decision(move, float(found.value[0]), candidates=legal)
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
    byoyomi and increment; the network delay is kept back and half of the rest is used, since
    the answer still has to travel through the pipe and the GUI. With `infinite` or without any
    limit there is no deadline: the search is bounded anyway (one batch per 64 legal moves).
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
    return max(allowed - network_delay_ms, 0) / 2000


def value_to_cp(value: float) -> int:
    """Centipawns of a value in [-1, 1] for the side to move (CP_PER_LOGIT)."""
    if abs(value) >= 1.0:
        return _MAX_CP if value > 0 else -_MAX_CP
    w = (1.0 + value) / 2.0
    return int(max(-_MAX_CP, min(_MAX_CP, round(CP_PER_LOGIT * math.log(w / (1.0 - w))))))


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


def _first_legal(state: TensorDict) -> str:
    """Last resort when the search failed: any legal move, so the GUI is never left waiting."""
    legal = state["legal_mask"][0].nonzero().squeeze(1)
    return action_to_usi(state, legal[:1])[0] if len(legal) else "resign"


# ---------------------------------------------------------------------------------------------
# Options and the agent


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


def _parse_temperature(value: str) -> float:
    try:
        t = float(value)
    except ValueError:
        t = math.nan
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"expected a number >= 0, got {value!r}")
    return t


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
    "Temperature": ("temperature", _parse_temperature),
    "Seed": ("seed", _int_parser(0, 2**31 - 1)),
    "NetworkDelay": ("network_delay_ms", _int_parser(0, _MAX_NETWORK_DELAY_MS)),
    "Simulations": ("simulations", _int_parser(1, _MAX_SIMULATIONS)),
    "ConsideredMoves": ("considered", _int_parser(1, 600)),
    "Rounds": ("rounds", _choice_parser(ROUNDS)),
    "MultiPV": ("multipv", _int_parser(1, 600)),
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
        f"max {_MAX_NETWORK_DELAY_MS}",
        f"option name Simulations type spin default {o.simulations} min 1 "
        f"max {_MAX_SIMULATIONS}",
        f"option name ConsideredMoves type spin default {o.considered} min 1 max 600",
        f"option name Rounds type combo default {o.rounds} " + " ".join(f"var {r}" for r in ROUNDS),
        f"option name MultiPV type spin default {o.multipv} min 1 max 600",
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


def make_generator(seed: int, device: str) -> torch.Generator:
    """The RNG of sampled moves; lives on the network's device (sampling happens there)."""
    return torch.Generator(device=device).manual_seed(seed)


def load_engine_agent(options: Options) -> Agent:
    """The network of `options.checkpoint` on `options.device`; ValueError when unusable
    (CheckpointError is one; a missing device's RuntimeError becomes one)."""
    try:
        network, _ = load_agent(options.checkpoint, device=options.device)
    except ValueError:
        raise
    except Exception as err:  # noqa: BLE001 - e.g. AssertionError from a CPU-only torch on "cuda"
        raise ValueError(f"cannot load {options.checkpoint} on {options.device}: "
                         f"{_one_line(err)}") from None
    return Agent(network, options.checkpoint, options.device)


def new_session(options: Options, agent: Agent | None = None) -> Session:
    device = agent.device if agent is not None else options.device
    return Session(options, agent, start_position(), make_generator(options.seed, device))


def ensure_agent(session: Session, io: Io) -> Session:
    """Load the checkpoint unless the one loaded matches the options (so: once per setting).

    A failed load is reported and the previous agent kept (options reverted to it).
    """
    o, agent = session.options, session.agent
    if agent is not None and (agent.checkpoint, agent.device) == (o.checkpoint, o.device):
        return session
    try:
        agent = load_engine_agent(o)
    except ValueError as err:
        io.write(f"info string error: {_one_line(err)}")
        if agent is None:
            return session
        return replace(session, options=replace(o, checkpoint=agent.checkpoint,
                                                device=agent.device))
    return replace(session, agent=agent, generator=make_generator(o.seed, agent.device))


# ---------------------------------------------------------------------------------------------
# Commands: each takes (session, argument text, io) and returns the next session.


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("keisei_fn")
    except PackageNotFoundError:
        return "unknown"


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _usi(session: Session, rest: str, io: Io) -> Session:
    io.write(f"id name keisei_fn {_version()}")
    io.write("id author keisei_fn developers")
    for line in option_lines(session.options):
        io.write(line)
    io.write("usiok")
    return session


def _isready(session: Session, rest: str, io: Io) -> Session:
    session = ensure_agent(session, io)
    io.write("readyok")
    return session


_SETOPTION = re.compile(r"name\s+(?P<name>.+?)(?:\s+value(?:\s+(?P<value>.*))?)?")


def _setoption(session: Session, rest: str, io: Io) -> Session:
    m = _SETOPTION.fullmatch(rest)
    if m is None:
        raise ValueError("setoption: expected 'setoption name <id> [value <x>]'")
    options = set_option(session.options, m["name"], (m["value"] or "").strip())
    if options.seed != session.options.seed:
        device = session.agent.device if session.agent is not None else options.device
        session = replace(session, generator=make_generator(options.seed, device))
    return replace(session, options=options)


def _position(session: Session, rest: str, io: Io) -> Session:
    # On error the next `go` must not answer for the previous position (the GUI would play that
    # move in another one): it is remembered as rejected until a `position` succeeds.
    try:
        position = parse_position(rest.split(), session.position)
    except ValueError as err:
        io.write(f"info string error: {_one_line(err)}")
        return replace(session, rejected=_one_line(err))
    return replace(session, position=position, rejected=None)


def _go(session: Session, rest: str, io: Io) -> Session:
    args = rest.split()
    if args[:1] == ["mate"]:
        io.write("checkmate notimplemented")
        return session
    try:
        go = parse_go(args)
    except ValueError as err:  # the GUI still waits for a move: answer quickly
        io.write(f"info string error: {_one_line(err)}; answering within 1 s")
        go = GoParams(movetime=1000)
    session = ensure_agent(session, io)
    state = session.position.state
    if session.rejected is not None:
        io.write(f"info string error: no position to search: the last position command was "
                 f"rejected ({session.rejected}); resigning rather than answering for another "
                 f"position")
        decision = Decision("resign", -1.0)
    elif session.agent is None:
        decision = Decision(_first_legal(state), 0.0)
    else:
        io.interrupt.clear()
        side = int(state["side_to_move"][0])
        budget = move_budget_s(go, side, session.options.network_delay_ms)
        deadline = math.inf if budget is None else time.monotonic() + budget
        options = session.options
        if options.search == "gumbel":
            options = replace(options, simulations=simulations_for(options, go, budget,
                                                                   session.rate))
        try:
            decision = decide_move(session.agent.network, state.to(session.agent.device),
                              options, session.generator,
                              lambda: time.monotonic() > deadline or io.interrupt.is_set())
        except Exception as err:  # noqa: BLE001 - a GUI left without a bestmove hangs
            io.write(f"info string error: search failed: {_one_line(err)}")
            decision = Decision(_first_legal(state), 0.0)
        if decision.nodes > 8 and decision.seconds > 0:
            session = replace(session, rate=decision.nodes / decision.seconds)
    if decision.move not in ("resign", "win"):
        for line in info_lines(decision):
            io.write(line)
    if session.options.search == "1ply" and decision.evaluated < decision.candidates \
            and not decision.mate:
        io.write(f"info string 1ply: scored {decision.evaluated} of {decision.candidates} moves "
                 f"before the deadline")
    if go.infinite or go.ponder:
        return replace(session, pending=decision)
    io.write(f"bestmove {decision.move}")
    return session


def _release(session: Session, io: Io) -> Session:
    """Send the answer held back by `go infinite`/`go ponder`."""
    io.write(f"bestmove {session.pending.move}")
    return replace(session, pending=None)


def _ignore(session: Session, rest: str, io: Io) -> Session:
    return session


def _quit(session: Session, rest: str, io: Io) -> Session:
    return replace(session, quit=True)


_COMMANDS = {
    "usi": _usi, "isready": _isready, "setoption": _setoption, "usinewgame": _ignore,
    "position": _position, "go": _go, "quit": _quit, "gameover": _ignore,
    # Without a held-back answer these have nothing to act on.
    "stop": _ignore, "ponderhit": _ignore,
}


def handle_line(session: Session, line: str, io: Io) -> Session:
    """Apply one input line; errors become `info string error: ...` and the engine carries on."""
    cmd, _, rest = line.strip().partition(" ")
    if not cmd:
        return session
    if session.pending is not None:
        if cmd == "isready":  # allowed during a search; the search goes on
            io.write("readyok")
            return session
        # stop/ponderhit release the answer; anything else ends the search implicitly.
        session = _release(session, io)
        if cmd in ("stop", "ponderhit"):
            return session
    command = _COMMANDS.get(cmd)
    if command is None:
        io.write(f"info string error: unknown command {cmd!r} (ignored)")
        return session
    try:
        return command(session, rest.strip(), io)
    except ValueError as err:
        io.write(f"info string error: {_one_line(err)}")
    except Exception as err:  # noqa: BLE001 - a bug must not end a game in the GUI
        io.write(f"info string error: internal error in {cmd}: {type(err).__name__}: "
                 f"{_one_line(err)}")
    return session


def run_engine(lines: Iterable[str], session: Session, write: Callable[[str], None],
               interrupt: threading.Event | None = None) -> Session:
    """Feed `lines` to the engine until `quit` or the end of input; returns the last session."""
    io = Io(write, interrupt if interrupt is not None else threading.Event())
    for line in lines:
        session = handle_line(session, line, io)
        if session.quit:
            break
    return session


# ---------------------------------------------------------------------------------------------
# stdin / stdout


def stdin_lines(stream, interrupt: threading.Event) -> Iterator[str]:
    """Lines of `stream`, read by a daemon thread; `interrupt` is set on `stop`, `quit` or EOF.

    A thread so that a `stop` sent while `go` computes is seen at once, not after the search.
    """
    lines: queue.Queue[str | None] = queue.Queue()

    def read():
        try:
            for raw in stream:
                if raw.split()[:1] in (["stop"], ["quit"]):
                    interrupt.set()
                lines.put(raw)
        finally:
            interrupt.set()
            lines.put(None)

    threading.Thread(target=read, name="usi-stdin", daemon=True).start()
    return iter(lines.get, None)


def write_stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()  # a GUI reads line by line through a pipe: never leave a line buffered


def serve(options: Options, agent: Agent | None = None) -> None:
    """Run the engine on stdin/stdout until `quit` or EOF."""
    # Option values (paths) may come in the GUI's legacy encoding: never let a byte kill the reader.
    sys.stdin.reconfigure(errors="replace")
    interrupt = threading.Event()
    try:
        run_engine(stdin_lines(sys.stdin, interrupt), new_session(options, agent), write_stdout,
                   interrupt)
    except BrokenPipeError:  # the GUI went away: nothing left to answer
        pass
