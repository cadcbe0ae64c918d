"""External engines as players: a USI client and a gnushogi driver behind one set of functions.

An `EngineSpec` (frozen) says how to start an engine; a `Session` is one running engine playing
one game. `request_move(session, moves)` sends the position (all USI moves from the start
position), `await_move(session)` returns the engine's USI move or raises `EngineFailure` with the
reason the engine loses (timeout, crash, resignation, rejected move); splitting the two lets
several engines think at once when a match runs games side by side.

gnushogi (1.4.x) is driven in its default xshogi mode over stdin/stdout:
- set-up: `level 0 0:SECONDS` (answers `Clocks: ...`: SECONDS per move, no tournament clock),
  then `depth` and the depth on the next line (it prompts `depth = ` with no newline, so that
  text prefixes its next output line);
- it starts as White: sending a move (`7g7f`) makes it echo `1. 7g7f 0` and answer
  `1. ... 3c3d 0` (move number, `...`, its move, its clock in ms); `go` makes it move for the side
  it does not play, i.e. Black at the start;
- `force` then moves for both sides, then `go`, makes it play the side to move from any position
  reached from the start (each forced move flips its side, `go` flips it once more), also in
  the middle of a game: that is how it joins a game after an opening, or after a move a mixed
  player (opponents.py) made without it;
- a move it does not accept gets `Illegal move (no match) 7g7f`; when it has no move it prints
  `Black mates!`, `White mates!` or `Drawn game!` instead of a move line.
Its move notation is USI's (files 9..1, ranks a..i, `P*5e` drops with upper-case letters, a
trailing `+` for promotion); `usi_to_gnushogi`/`gnushogi_to_usi` check that instead of trusting
it. The referee is always our rules engine: gnushogi's own claims only end a game when it
refuses to move (counted as a resignation).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ._process import EngineFailure, Proc, read_until, send_line, shutdown, spawn

STARTPOS_SFEN = "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"
USI_MOVE_RE = re.compile(r"^(?:[1-9][a-i][1-9][a-i]\+?|[PLNSGBR]\*[1-9][a-i])$")
_GNU_REPLY = re.compile(r"(\d+)\. \.\.\. (\S+)")  # its own move: "12. ... 2b8h+ 0"
_GNU_ECHO = re.compile(r"(\d+)\. ([^.\s]\S*)")  # our move, accepted: "12. 7g7f 0"
_GNU_NO_MOVE = re.compile(r"mates!|Drawn game")


@dataclass(frozen=True)
class EngineSpec:
    """How to start an external engine and how long to wait for it."""

    name: str  # as written in records and ratings, e.g. "gnushogi:1"
    argv: tuple[str, ...]  # command line
    protocol: str  # "usi" or "gnushogi"
    timeout: float = 10.0  # seconds allowed for every reply (start-up and each move)
    think_ms: int = 100  # usi: `go byoyomi` milliseconds per move
    depth: int = 1  # gnushogi: search depth in plies
    seconds: int = 1  # gnushogi: time cap per move (its resolution is one second)


@dataclass
class Session:
    """One running engine in one game; `known` = the moves it has been told or has played."""

    spec: EngineSpec
    proc: Proc
    known: list[str] = field(default_factory=list)
    echo: str | None = None  # gnushogi: our move whose acceptance must come before its reply


def find_gnushogi() -> str | None:
    """gnushogi's path: on PATH, or Debian's /usr/games (often not on PATH for non-login shells)."""
    found = shutil.which("gnushogi")
    if found:
        return found
    debian = Path("/usr/games/gnushogi")
    return str(debian) if debian.is_file() else None


# gnushogi loads its opening book from a path fixed at build time, if the file is there: Debian's
# gnushogi 1.4.2 looks in /usr/lib/gnushogi/, the package installs the book in
# /usr/lib/games/gnushogi/, so it plays without one (strace; experiments/gnushogi_book.py: with
# the book loaded, 72 of 257 continuations of the default suite's openings differ within 4 plies).
# Naming a book that does not exist makes every machine's gnushogi the book-less player the
# ladder's anchors were fitted with.
NO_BOOK = ("-B", "/nonexistent/keisei-fn-no-opening-book.bbk")


def gnushogi_spec(depth: int, seconds: int = 1, timeout: float = 10.0) -> EngineSpec:
    """gnushogi at `depth` plies and at most `seconds` a move, without its opening book."""
    binary = find_gnushogi()
    if binary is None:
        raise ValueError("gnushogi is not installed (Debian/Ubuntu: apt-get install gnushogi)")
    if not 1 <= depth <= 29:
        raise ValueError(f"gnushogi depth must be 1..29, got {depth}")
    if seconds < 1:
        raise ValueError(f"gnushogi seconds per move must be >= 1, got {seconds}")
    return EngineSpec(f"gnushogi:{depth}" + (f":{seconds}" if seconds != 1 else ""),
                      (binary, *NO_BOOK), "gnushogi", timeout=max(timeout, seconds + 5.0),
                      depth=depth, seconds=seconds)


def usi_to_gnushogi(move: str) -> str:
    if not USI_MOVE_RE.match(move):
        raise ValueError(f"not a USI move: {move!r}")
    return move  # the notations coincide (see the module docstring)


def gnushogi_to_usi(move: str) -> str | None:
    """The USI move, or None when gnushogi's text is not a move in the shared notation."""
    return move if USI_MOVE_RE.match(move) else None


# --- sessions -------------------------------------------------------------------------------

def open_session(spec: EngineSpec) -> Session:
    """Start the engine and finish its handshake (EngineFailure if it cannot)."""
    # USI engines run in our directory (relative paths in the command work as typed); gnushogi
    # in the temp dir, where its `list`/`save` files would land if it ever wrote any.
    cwd = tempfile.gettempdir() if spec.protocol == "gnushogi" else None
    proc = spawn(spec.argv, spec.name, cwd=cwd)
    session = Session(spec, proc)
    try:
        if spec.protocol == "usi":
            _usi_handshake(session)
        else:
            _gnushogi_setup(session)
    except BaseException:
        shutdown(proc, quit_line=None, grace=0.2)
        raise
    return session


def request_move(session: Session, moves: list[str], start_sfen: str = STARTPOS_SFEN) -> None:
    """Tell the engine the game so far (USI moves from `start_sfen`) and ask for its move."""
    if session.spec.protocol == "usi":
        position = ("startpos" if start_sfen == STARTPOS_SFEN else f"sfen {start_sfen}")
        send_line(session.proc, f"position {position}" + (" moves " + " ".join(moves)
                                                          if moves else ""))
        send_line(session.proc, f"go btime 0 wtime 0 byoyomi {session.spec.think_ms}")
        session.known = list(moves)
        return
    if start_sfen != STARTPOS_SFEN:
        raise ValueError("gnushogi plays from the standard start position only")
    k = len(session.known)
    if len(moves) == k + 1 and moves[:k] == session.known:
        # the usual case: the opponent's reply to gnushogi's last move (or, from the start,
        # Black's first move: a fresh gnushogi plays White)
        send_line(session.proc, usi_to_gnushogi(moves[-1]))
        session.echo = moves[-1]
    elif not session.known and not moves:
        send_line(session.proc, "go")  # gnushogi plays Black from the start
        session.echo = None
    elif moves[:k] == session.known:
        _gnushogi_force(session, moves[k:])  # moves made without it: an opening, a mixture
    else:
        _gnushogi_replay(session, moves)
    session.known = list(moves)


def await_move(session: Session) -> str:
    """The engine's move as USI text (format-checked, not legality-checked), or EngineFailure."""
    if session.spec.protocol == "usi":
        move = read_until(session.proc, _usi_bestmove, session.spec.timeout, "bestmove")
        if move == "resign":
            raise EngineFailure("resign", f"{session.spec.name} resigned")
        if move == "win":  # an entering-king declaration: the referee checks it (match.py)
            return move
    else:
        move = read_until(session.proc, lambda line: _gnushogi_reply(session, line),
                          session.spec.timeout, "move")
        move = gnushogi_to_usi(move) or move
    if not USI_MOVE_RE.match(move):
        raise EngineFailure("garbage_move", f"{session.spec.name} sent {move!r}")
    session.known.append(move)
    return move


def close_session(session: Session, result: str | None = None) -> None:
    """Tell a USI engine the result (`gameover win|lose|draw`), then quit / terminate / kill."""
    if session.spec.protocol == "usi" and result is not None and session.proc.popen.poll() is None:
        try:
            send_line(session.proc, f"gameover {result}")
        except EngineFailure:
            pass
    shutdown(session.proc, "quit")


# --- USI ------------------------------------------------------------------------------------

def _usi_handshake(session: Session) -> None:
    proc, timeout = session.proc, session.spec.timeout
    send_line(proc, "usi")
    read_until(proc, lambda line: True if line == "usiok" else None, timeout, "usiok")
    send_line(proc, "isready")
    read_until(proc, lambda line: True if line == "readyok" else None, timeout, "readyok")
    send_line(proc, "usinewgame")


def _usi_bestmove(line: str) -> str | None:
    if line == "bestmove" or line.startswith("bestmove "):
        parts = line.split()
        return parts[1] if len(parts) > 1 else ""
    return None


# --- gnushogi -------------------------------------------------------------------------------

def _gnushogi_setup(session: Session) -> None:
    proc, spec = session.proc, session.spec
    read_until(proc, lambda line: True if line.startswith("GNU Shogi") else None, spec.timeout,
               "banner")
    send_line(proc, f"level 0 0:{spec.seconds:02d}")
    read_until(proc, lambda line: True if line.startswith("Clocks:") else None, spec.timeout,
               "level acknowledgement")
    send_line(proc, "depth")
    send_line(proc, str(spec.depth))


def _gnushogi_replay(session: Session, moves: list[str]) -> None:
    """Any other position: a fresh gnushogi, every move forced, then `go` for the side to move."""
    shutdown(session.proc, "quit", grace=0.5)
    fresh = open_session(session.spec)
    session.proc = fresh.proc
    _gnushogi_force(session, moves)


def _gnushogi_force(session: Session, moves: list[str]) -> None:
    """Moves for either side on top of the game it knows (`force`, each move, then `go`: it
    plays the side to move)."""
    send_line(session.proc, "force")
    for move in moves:
        send_line(session.proc, usi_to_gnushogi(move))
        session.echo = move
        read_until(session.proc, lambda line: _gnushogi_echo(session, line),
                   session.spec.timeout, f"acceptance of {move}")
    send_line(session.proc, "go")
    session.echo = None


def _gnushogi_echo(session: Session, line: str):
    if "Illegal move" in line:
        raise EngineFailure("engine_error", f"{session.spec.name} rejected {session.echo}: "
                                            f"{line!r}")
    m = _GNU_ECHO.search(line)
    if m and m.group(2) == session.echo:
        session.echo = None
        return True
    return None


def _gnushogi_reply(session: Session, line: str) -> str | None:
    if session.echo is not None:  # its reply follows the echo of our move
        _gnushogi_echo(session, line)
        return None
    m = _GNU_REPLY.search(line)
    if m:
        return m.group(2)
    if _GNU_NO_MOVE.search(line):
        raise EngineFailure("resign", f"{session.spec.name} made no move: {line!r}")
    return None
