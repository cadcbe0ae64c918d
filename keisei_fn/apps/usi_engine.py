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

from ..agent import Agent as Network
from ..agent import load_agent
# what the protocol is made of, importable from here as before
from .usi_answer import (CP_PER_LOGIT, Decision, Line, decide_move, first_legal, info_line,
                         info_lines, settings_of, tree_depth, value_to_cp)
from .usi_clock import GoParams, move_budget_s, parse_go, simulations_for
from .usi_options import Options, option_lines, set_option
from .usi_position import HISTORY_SLACK, Position, parse_position, play_moves, start_position
from . import usi_warmup

__all__ = ["CP_PER_LOGIT", "Decision", "GoParams", "HISTORY_SLACK", "Line", "Options", "Position",
           "Session", "decide_move", "handle_line", "info_line", "info_lines", "load_engine_agent",
           "move_budget_s", "new_session", "option_lines", "parse_go", "parse_position",
           "play_moves", "run_engine", "serve", "set_option", "settings_of", "simulations_for",
           "compiling", "start_position", "tree_depth", "value_to_cp"]

_FIRST_RATE = 100.0  # simulations/s assumed before the first search measured this machine


@dataclass(frozen=True)
class Agent:
    """The loaded network and what it was loaded from (reloaded when the options change)."""
    network: Network
    checkpoint: str
    device: str


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
    warmup: usi_warmup.Warmup | None = None  # the compiled search's background compilation
    warm_noted: bool = False  # its outcome was reported (one info line)
    # Seconds an answer took beyond its search (mate checks, the guard): kept off the next
    # search's deadline. The last answer's, or half the previous estimate if that is larger.
    overhead_s: float = 0.0


class Io(NamedTuple):
    write: Callable[[str], None]
    interrupt: threading.Event  # set by the stdin reader on `stop`/`quit`: cut the search short


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
    """Load the checkpoint unless the one loaded matches the options (so: once per setting),
    with the options' CaptureFloor (a new network object when it changes, so that the compiled
    search's warm-up, keyed by the network, compiles for it again).

    A failed load is reported and the previous agent kept (options reverted to it).
    """
    o, agent = session.options, session.agent
    if agent is None or (agent.checkpoint, agent.device) != (o.checkpoint, o.device):
        try:
            agent = load_engine_agent(o)
        except ValueError as err:
            io.write(f"info string error: {_one_line(err)}")
            if agent is None:
                return session
            session = replace(session, options=replace(o, checkpoint=agent.checkpoint,
                                                       device=agent.device))
        else:
            session = replace(session, agent=agent,
                              generator=make_generator(o.seed, agent.device))
    if agent.network.capture_floor != o.capture_floor:
        session = replace(session, agent=replace(agent, network=replace(
            agent.network, capture_floor=o.capture_floor)))
    return session


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
    session = _warm(ensure_agent(session, io), io)
    io.write("readyok")
    return session


def _warm(session: Session, io: Io) -> Session:
    """Start compiling the search in the background where option Compiled asks for it and no
    warm-up matches (the network, the position's shape, the rules); report a finished one.
    The session's own options, not a clock's fewer simulations: the warm-up runs a full search."""
    options = session.options
    if not (options.compiled and options.search == "gumbel") or session.agent is None:
        return session
    network, history = session.agent.network, usi_warmup.history_of(session.position.state)
    config = settings_of(options).gumbel
    warmup = session.warmup
    if usi_warmup.needed(warmup, network, history, config):
        started = usi_warmup.start(network, history, config)
        if started is None:  # another one still compiles: eager until it is done
            return session
        io.write("info string compiling the search in the background; the eager search plays "
                 "until it is ready")
        return replace(session, warmup=started, warm_noted=False)
    if warmup.done.is_set() and not session.warm_noted:
        io.write(f"info string error: compiling the search failed ({warmup.error}); the eager "
                 f"search plays" if warmup.error else
                 f"info string compiled search ready (compiled in {warmup.seconds:.0f} s)")
        return replace(session, warm_noted=True)
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
        decision = Decision(first_legal(state), 0.0)
    else:
        io.interrupt.clear()
        side = int(state["side_to_move"][0])
        budget = move_budget_s(go, side, session.options.network_delay_ms)
        if budget is not None:
            budget = max(budget - session.overhead_s, 0.0)
        deadline = math.inf if budget is None else time.monotonic() + budget
        options = session.options
        if options.search == "gumbel":
            options = replace(options, simulations=simulations_for(options, go, budget,
                                                                   session.rate))
        session = _warm(session, io)
        compiled = options.compiled and usi_warmup.serves(
            session.warmup, session.agent.network, usi_warmup.history_of(state),
            settings_of(options).gumbel)

        def answer(compiled: bool) -> Decision:
            return decide_move(session.agent.network, state.to(session.agent.device), options,
                               session.generator,
                               lambda: time.monotonic() > deadline or io.interrupt.is_set(),
                               compiled=compiled)
        begun = time.monotonic()
        try:
            try:
                decision = answer(compiled)
            except Exception as err:  # noqa: BLE001 - the compiled search: eager from now on
                if not compiled:
                    raise
                usi_warmup.fail(session.warmup, _one_line(err))
                io.write(f"info string error: the compiled search failed "
                         f"({_one_line(err)}); the eager search plays from now on")
                decision = answer(False)
        except Exception as err:  # noqa: BLE001 - a GUI left without a bestmove hangs
            io.write(f"info string error: search failed: {_one_line(err)}")
            decision = Decision(first_legal(state), 0.0)
        if decision.nodes > 8 and decision.seconds > 0:
            beyond = time.monotonic() - begun - decision.seconds
            session = replace(session, rate=decision.nodes / decision.seconds,
                              overhead_s=max(beyond, session.overhead_s / 2))
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


def serve(options: Options, agent: Agent | None = None) -> Session | None:
    """Run the engine on stdin/stdout until `quit` or EOF; the last session (None if the GUI
    went away)."""
    # Option values (paths) may come in the GUI's legacy encoding: never let a byte kill the reader.
    sys.stdin.reconfigure(errors="replace")
    interrupt = threading.Event()
    try:
        return run_engine(stdin_lines(sys.stdin, interrupt), new_session(options, agent),
                          write_stdout, interrupt)
    except BrokenPipeError:  # the GUI went away: nothing left to answer
        return None


def compiling() -> bool:
    """Whether a background compilation is still running (see `usi_warmup`)."""
    return usi_warmup.compiling()
