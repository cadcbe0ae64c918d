"""Interrupted the way people interrupt: a training run in a terminal (tmux), its output piped
through `| tee log`, under the default two ranks, with periodic checkpoints far apart.

Ctrl-C reaches the whole foreground process group, `tee` included: `tee` dies at once, and the
run's next line of output meets a closed pipe. Closing the pane sends SIGHUP, and the terminal
the run writes to is gone. Either way the run must finish its iteration, write its checkpoint,
leave no process behind and (Ctrl-C) exit with code 0."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from keisei_fn.checkpoint import list_checkpoints, read_checkpoint

from _need import need
from _tiny import TINY

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _tmux_installed():
    need(shutil.which("tmux") is not None, "tmux is not installed")
ROOT = Path(__file__).resolve().parents[1]


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=False, capture_output=True, text=True).stdout


def _alive(run: Path) -> list[int]:
    """The Python processes of the run (launcher, ranks, their helpers), not tmux or the shells,
    whose command lines name the run too."""
    alive = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and Path(argv[0].decode(errors="replace")).name.startswith("python") \
                and any(str(run).encode() in a for a in argv):
            alive.append(int(proc.name))
    return alive


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _start(tmp_path: Path) -> tuple[str, Path, Path, Path]:
    """A two-rank run of an hour in a detached tmux session, piped through tee; it
    writes its exit code to `rc` (a shell around it, in the pipe's first stage)."""
    session = f"keisei-{uuid.uuid4().hex[:8]}"
    run, log, rc = tmp_path / "run", tmp_path / "log", tmp_path / "rc"
    overrides = [o for o in TINY if not o.startswith(("distributed.ranks", "checkpoint_every"))]
    train = [sys.executable, "-m", "keisei_fn.cli", "train", f"run_dir={run}", *overrides,
             "distributed.ranks=2", "checkpoint_every=100000", "time_budget_s=3600",
             "total_updates=0", "eval.every=0", "track.progress=true"]
    inner = f"{shlex.join(train)}; echo $? > {shlex.quote(str(rc))}"
    command = f"cd {shlex.quote(str(ROOT))} && bash -c {shlex.quote(inner)} 2>&1 | tee {log}"
    _tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "30", command)
    # training has started on both ranks once iterations are reported
    _wait(lambda: log.is_file() and "it 3" in log.read_text(errors="replace"), 180,
          "three iterations in the log")
    return session, run, log, rc


def _checkpointed(run: Path) -> int:
    found = list_checkpoints(run)
    assert found, "no checkpoint was written"
    return read_checkpoint(found[-1])["counters"]["iteration"]


def test_ctrl_c_under_tee_checkpoints_and_leaves_no_process(tmp_path):
    session, run, log, rc = _start(tmp_path)
    try:
        _tmux("send-keys", "-t", session, "C-c", "")
        _wait(lambda: rc.is_file(), 120, "the run's exit code")
        _wait(lambda: not _alive(run), 60, "every process of the run to end")
    finally:
        _tmux("kill-session", "-t", session)
    assert rc.read_text().strip() == "0"
    assert _checkpointed(run) >= 3


def test_a_closed_terminal_checkpoints_and_leaves_no_process(tmp_path):
    session, run, log, rc = _start(tmp_path)
    _tmux("kill-session", "-t", session)  # SIGHUP to the pane's processes; the pty is gone
    _wait(lambda: not _alive(run), 120, "every process of the run to end")
    assert _checkpointed(run) >= 3
