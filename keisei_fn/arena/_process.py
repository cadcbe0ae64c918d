"""Engine subprocesses: line I/O with a deadline on every reply, and a shutdown that leaves nothing.

Every engine is started in a session of its own (its own process group), so an engine launched
through a shell wrapper, or one that forks helpers, is ended as a whole. Reads use `select` on the
pipe with a deadline instead of reader threads: nothing outlives the process, and a hung engine
costs exactly one timeout.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
from dataclasses import dataclass, field

# An engine that floods us with text and no newline is broken, not thinking.
_MAX_LINE = 1 << 20


# Reasons a game ends because an engine broke the protocol (not by the rules, not by resigning).
ENGINE_FAILURES = ("engine_timeout", "engine_crash", "engine_error", "garbage_move",
                   "illegal_move")


class EngineFailure(Exception):
    """An engine broke its side of the protocol. `kind` is the recorded reason
    (one of ENGINE_FAILURES, or resign), `str()` the detail."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind


class EngineStartError(ValueError):
    """An engine could not be started or failed its handshake: the match cannot be played (a
    user's mistake as often as not: a wrong path, a program that does not speak USI)."""


@dataclass
class Proc:
    """A running engine: the process, its name for messages and the unread part of its output."""

    popen: subprocess.Popen
    name: str
    buf: bytearray = field(default_factory=bytearray)


def spawn(argv: list[str] | tuple[str, ...], name: str, cwd: str | None = None) -> Proc:
    try:
        popen = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, cwd=cwd, start_new_session=True)
    except OSError as err:
        raise EngineFailure("engine_crash", f"{name}: cannot start {argv[0]!r}: {err}") from err
    return Proc(popen, name)


def send_line(proc: Proc, line: str) -> None:
    try:
        proc.popen.stdin.write(line.encode() + b"\n")
        proc.popen.stdin.flush()
    except (BrokenPipeError, ValueError, OSError) as err:
        raise EngineFailure("engine_crash", f"{proc.name}: died ({_exit_text(proc)})") from err


def read_until(proc: Proc, pick, timeout: float, waiting_for: str):
    """Read lines until `pick(line)` returns something other than None, and return that.

    EngineFailure(engine_timeout) when `timeout` seconds pass first (for the whole wait, not per
    line: an engine chatting `info` lines forever still times out), engine_crash on end of output.
    """
    deadline = _now() + timeout
    fd = proc.popen.stdout.fileno()
    while True:
        while b"\n" in proc.buf:
            raw, _, rest = proc.buf.partition(b"\n")
            proc.buf = bytearray(rest)
            found = pick(raw.decode(errors="replace").strip())
            if found is not None:
                return found
        left = deadline - _now()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise EngineFailure("engine_timeout",
                                f"{proc.name}: no {waiting_for} within {timeout:g} s")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise EngineFailure("engine_crash", f"{proc.name}: died while we waited for "
                                                f"{waiting_for} ({_exit_text(proc)})")
        proc.buf += chunk
        if len(proc.buf) > _MAX_LINE:
            raise EngineFailure("garbage_move", f"{proc.name}: over {_MAX_LINE} bytes without "
                                                f"a line break")


def shutdown(proc: Proc, quit_line: str | None = "quit", grace: float = 1.0) -> None:
    """Ask politely (`quit`), then SIGTERM, then SIGKILL the engine's whole process group.

    Always reaps the process (no zombie), and kills whatever else is left in its group even when
    the engine itself exited cleanly (helpers it started must not outlive the match).
    """
    popen = proc.popen
    if quit_line is not None and popen.poll() is None:
        try:
            send_line(proc, quit_line)
        except EngineFailure:
            pass
    try:
        popen.stdin.close()
    except OSError:
        pass
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            _signal_group(popen.pid, sig)
        try:
            popen.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    _signal_group(popen.pid, signal.SIGKILL)  # leftover helpers in the engine's group
    popen.stdout.close()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _exit_text(proc: Proc) -> str:
    try:
        code = proc.popen.wait(timeout=0.2)
    except subprocess.TimeoutExpired:
        return "output closed"
    return f"exit code {code}"


def _now() -> float:
    import time

    return time.monotonic()
