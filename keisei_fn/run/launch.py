"""`keisei-fn train` on every core: the command starts this machine's data-parallel ranks itself.

`distributed.ranks=auto` (the default) is one rank per `threads` usable CPUs on CPU, as many as
the available memory holds at RANK_MEMORY_GB each, and one process on CUDA or with collector
workers (which use the other cores). With more than one rank,
the command re-runs itself as that many ranks under torchrun's environment contract (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; distributed.join reads it), on loopback.
torchrun's agent is not used for this single-machine case because the command must keep its own
behaviour: one line on errors with its exit codes, Ctrl-C and SIGTERM meaning "checkpoint and
stop" exactly once per rank, no process left behind. So:

- the ranks run in their own session: a terminal's Ctrl-C reaches the launcher only, which
  forwards one SIGTERM per signal to every rank (a second Ctrl-C still means "now");
- on Linux each rank gets SIGTERM when the launcher dies (PR_SET_PDEATHSIG), so even kill -9 of
  the launcher ends in a checkpoint;
- a rank that fails stops the group (the others get SIGTERM, then SIGKILL after a grace period),
  and the run's exit code is the first failed rank's.

Multi-machine runs keep using torchrun (docs/scaling.md); under torchrun nothing is launched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

# Set in the ranks this module starts: `distributed.resume_command` then says `keisei-fn train`.
LAUNCHED_ENV = "KEISEI_FN_LAUNCHED_RANKS"
GRACE_S = 60.0
"""how long the other ranks get to stop after one failed, before SIGKILL"""
RANK_MEMORY_GB = 1.25
"""memory auto plans per rank: the default run's largest process peaked at 0.83 GB (compilation
included; docs/results.md), so a 16-core laptop with 8 GB free gets 6 ranks, not 16"""


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def available_memory_gb() -> float | None:
    """MemAvailable of /proc/meminfo in GB (None where there is no such file)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1e6
    except OSError:
        pass
    return None


def ranks_for(cfg) -> int:
    """How many data-parallel ranks `distributed.ranks` means on this machine."""
    value = str(cfg.distributed.ranks)
    if value != "auto":
        return int(value)
    if cfg.device != "cpu" or cfg.collector.backend != "direct":
        return 1
    ranks = usable_cpus() // cfg.threads
    memory = available_memory_gb()
    if memory is not None:
        ranks = min(ranks, int(memory / RANK_MEMORY_GB))
    return max(1, ranks)


def under_a_launcher() -> bool:
    """True inside a rank (of torchrun or of `launch`): nothing more to start."""
    return "WORLD_SIZE" in os.environ


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the launcher dies, however it dies."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def launch(argv: list[str], ranks: int, log=print, extra_env: dict[str, str] | None = None) -> int:
    """Run `python -m keisei_fn.cli *argv` as `ranks` local ranks, with `extra_env` added to their
    environment; their exit code."""
    port = _free_port()
    procs = []
    for rank in range(ranks):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank),
               "WORLD_SIZE": str(ranks), "LOCAL_WORLD_SIZE": str(ranks),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), LAUNCHED_ENV: "1",
               **(extra_env or {})}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "keisei_fn.cli", *argv], env=env, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None))

    def forward(signum, frame):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        return _wait(procs, log)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for p in procs:  # only after an unexpected error here: never leave a rank behind
            if p.poll() is None:
                p.kill()


def _exit_code(code: int) -> int:
    return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as a shell says


def _wait(procs: list[subprocess.Popen], log) -> int:
    failed = None  # (rank, exit code) of the first rank that failed
    deadline = None
    while any(p.poll() is None for p in procs):
        if failed is None:
            for rank, p in enumerate(procs):
                if p.poll() not in (None, 0):
                    failed = (rank, p.returncode)
                    deadline = time.monotonic() + GRACE_S
                    for other in procs:
                        if other.poll() is None:
                            other.send_signal(signal.SIGTERM)
                    break
        elif time.monotonic() > deadline:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        time.sleep(0.1)
    if failed is None:
        failed = next(((r, p.returncode) for r, p in enumerate(procs) if p.returncode), None)
    if failed is None:
        return 0
    rank, code = failed
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    log(f"keisei-fn train: rank {rank} of {len(procs)} {how}; the group stopped (checkpoints "
        f"on disk are intact)")
    return _exit_code(code)
