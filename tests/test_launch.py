"""`keisei-fn train` starts one data-parallel rank per core by itself (distributed.ranks=auto,
run/launch.py), and keeps the single process's promises: exact resume, Ctrl-C / SIGTERM end in
a checkpoint, kill -9 of anything loses at most the work since the last checkpoint, a failed
rank stops the group with its exit code, and no process is left behind."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import psutil
import pytest
import torch

from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
from keisei_fn.config import ConfigError, load_config
from keisei_fn.run import launch

from _tiny import TINY as _TINY, flat

# The default (auto) resolves to this machine's cores; the tests name 2 ranks so that they
# mean the same on every CI machine.
TINY = [o for o in _TINY if not o.startswith("distributed.ranks")] + ["distributed.ranks=2"]
CLI = [sys.executable, "-m", "keisei_fn.cli", "train"]


def run_cli(*args, timeout=300) -> subprocess.CompletedProcess:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def spawn(*args) -> subprocess.Popen:
    # its own session, as a shell runs a foreground job: a signal to its group reaches the
    # launcher as a terminal's Ctrl-C would
    return subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def ranks_of(proc: subprocess.Popen) -> list[psutil.Process]:
    return [c for c in psutil.Process(proc.pid).children()
            if "keisei_fn.cli" in " ".join(c.cmdline())]


def wait_for(path, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
        time.sleep(0.1)


def alive(procs) -> list:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def gone(procs, timeout=60) -> bool:
    deadline = time.monotonic() + timeout
    while alive(procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(procs)


def params_of(run) -> dict:
    return flat(read_checkpoint(list_checkpoints(run)[-1])["params"])


def assert_same_params(a, b):
    pa, pb = params_of(a), params_of(b)
    assert pa.keys() == pb.keys()
    for key in pa:
        assert torch.equal(pa[key], pb[key]), key


# ------------------------------------------------------------------------------- what auto means

@pytest.mark.parametrize("cpus, overrides, expected", [
    (2, [], 2), (8, [], 8), (1, [], 1), (8, ["threads=2"], 4), (3, ["threads=2"], 1),
    (8, ["device=cuda"], 1), (8, ["collector.backend=process", "collector.workers=2"], 1),
    (8, ["distributed.ranks=3"], 3), (1, ["distributed.ranks=2"], 2),
])
def test_auto_is_one_rank_per_core_on_cpu(monkeypatch, cpus, overrides, expected):
    monkeypatch.setattr(launch, "usable_cpus", lambda: cpus)
    monkeypatch.setattr(launch, "available_memory_gb", lambda: 64.0)
    cfg = load_config(None, ["distributed.ranks=auto", *overrides])
    assert launch.ranks_for(cfg) == expected


@pytest.mark.parametrize("memory, expected", [(None, 16), (64.0, 16), (8.0, 6), (1.0, 1)])
def test_auto_fits_the_ranks_in_the_available_memory(monkeypatch, memory, expected):
    monkeypatch.setattr(launch, "usable_cpus", lambda: 16)
    monkeypatch.setattr(launch, "available_memory_gb", lambda: memory)
    assert launch.ranks_for(load_config(None, ["distributed.ranks=auto"])) == expected
    if memory is None:
        monkeypatch.undo()
        assert launch.available_memory_gb() is None or launch.available_memory_gb() > 0


def test_the_default_is_auto_and_bad_values_are_refused():
    assert load_config().distributed.ranks == "auto"
    for bad, message in [("0", "is not 'auto' or a number >= 1"),
                         ("many", "is not 'auto' or a number >= 1")]:
        with pytest.raises(ConfigError, match=message):
            load_config(None, [f"distributed.ranks={bad}"])
    with pytest.raises(ConfigError, match="needs collector.backend=direct"):
        load_config(None, ["distributed.ranks=2", "collector.backend=process",
                           "collector.workers=2"])


def test_the_launcher_imports_no_torch(tmp_path):
    """The launcher only starts the ranks: importing torch and the trainer would cost each
    launch seconds of CPU and its memory (the bf16 probe's CPUs excepted, precision=fp32 here)."""
    script = (
        "import sys\n"
        "from keisei_fn import cli\n"
        "from keisei_fn.run import launch\n"
        "launch.launch = lambda argv, ranks, **kw: print('ranks', ranks, 'torch' in sys.modules,"
        " 'tensordict' in sys.modules) or 0\n"
        "sys.exit(cli.main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", script, "train", *TINY, "optim.precision=fp32",
                           "total_updates=1", f"run_dir={tmp_path}"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ranks 2 False False", proc.stdout


# ------------------------------------------------------------------------------------ end to end

def test_two_ranks_train_report_the_group_and_resume_exactly(tmp_path):
    straight = run_cli(*TINY, f"run_dir={tmp_path / 'straight'}", "total_updates=4")
    out = straight.stdout + straight.stderr
    assert "data-parallel: 2 ranks (gloo)" in out and out.count("parameters identical") == 1
    # the progress line counts both ranks' steps: 2 x 4 games x 6 steps per iteration
    assert "[4/4 it] it 4 | 192 steps" in out
    run_cli(*TINY, f"run_dir={tmp_path / 'parted'}", "total_updates=2")
    payload = read_checkpoint(list_checkpoints(tmp_path / "parted")[-1])
    assert payload["world"] == 2 and len(payload["ranks"]) == 2  # both ranks' games
    resumed = run_cli("--resume", str(tmp_path / "parted"), "total_updates=4")
    assert "data-parallel: 2 ranks" in resumed.stdout + resumed.stderr
    assert_same_params(tmp_path / "straight", tmp_path / "parted")


def test_an_existing_run_is_refused_before_any_rank_starts(tmp_path):
    run_cli(*TINY, f"run_dir={tmp_path}", "total_updates=1")
    proc = subprocess.run([*CLI, *TINY, f"run_dir={tmp_path}", "total_updates=1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"keisei-fn train: error: {tmp_path} already holds a run; use --resume {tmp_path} or "
        f"another run_dir=..."]


TOTAL = 30  # updates of the interrupted runs below


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted two-rank run the interrupted ones must end equal to."""
    run = tmp_path_factory.mktemp("straight")
    run_cli(*TINY, f"run_dir={run}", f"total_updates={TOTAL}")
    return run


# Ctrl-C and SIGTERM share one run (stopped by one, resumed, stopped by the other): each stop
# costs a launch, the uninterrupted run is shared by the module.
@pytest.mark.parametrize("stops", [("ctrl-c", "sigterm"), ("kill -9 of the launcher",)],
                         ids=["ctrl-c then sigterm", "kill -9 of the launcher"])
def test_a_stop_signal_ends_in_one_checkpoint_and_the_run_resumes_exactly(tmp_path, stops,
                                                                          straight):
    """Ctrl-C (SIGINT to the foreground process group), SIGTERM to the launcher, or SIGKILL of
    the launcher (its ranks get SIGTERM from the kernel): every rank stops at the end of an
    iteration, rank 0 writes a checkpoint, no process is left, and resuming gives the
    uninterrupted run's parameters."""
    run, total, iteration = tmp_path / "run", TOTAL, 0
    for how in stops:
        proc = (spawn(*TINY, f"run_dir={run}", "checkpoint_every=1", f"total_updates={total}")
                if iteration == 0 else spawn("--resume", str(run)))
        try:
            wait_for(run / f"ckpt_{iteration + 2:08d}.pt", proc)
            ranks = ranks_of(proc)
            assert len(ranks) == 2
            if how == "ctrl-c":
                os.killpg(proc.pid, signal.SIGINT)
            elif how == "sigterm":
                proc.send_signal(signal.SIGTERM)
            else:
                proc.kill()
            out, _ = proc.communicate(timeout=120)
            assert gone(ranks), f"ranks left behind ({how})"
        finally:
            proc.kill()
        stopped = read_checkpoint(list_checkpoints(run)[-1])["counters"]["iteration"]
        assert iteration + 2 <= stopped < total, how
        iteration = stopped
        if how != "kill -9 of the launcher":  # its output went with it
            assert proc.returncode == 0, out[-3000:]
            assert f"interrupted: checkpoint written at iteration {iteration}; continue with: " \
                   f"keisei-fn train --resume {run}" in out, out[-3000:]
            assert "Traceback" not in out and "KeyboardInterrupt" not in out, out[-3000:]
    run_cli("--resume", str(run))
    assert_same_params(straight, run)


def test_a_rank_killed_mid_run_stops_the_group_with_its_exit_code(tmp_path):
    proc = spawn(*TINY, f"run_dir={tmp_path}", "checkpoint_every=1", "total_updates=100000")
    try:
        wait_for(tmp_path / "ckpt_00000002.pt", proc)
        ranks = ranks_of(proc)
        [rank1] = [r for r in ranks if r.environ().get("RANK") == "1"]
        rank1.kill()
        out, _ = proc.communicate(timeout=120)
        assert gone(ranks)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGKILL, out[-3000:]
    assert "keisei-fn train: rank 1 of 2 was killed by signal 9; the group stopped" in out
    iteration = read_checkpoint(list_checkpoints(tmp_path)[-1])["counters"]["iteration"]
    resumed = run_cli("--resume", str(tmp_path), f"total_updates={iteration + 1}")
    assert f"(iteration {iteration})" in resumed.stdout + resumed.stderr


def test_kill_9_of_the_whole_group_at_random_moments_then_resume_is_exact(tmp_path, straight):
    """The crash test of tests/test_reliability.py under the default (two ranks): launcher and
    ranks SIGKILLed together at random moments (kills land in checkpoint writes too); every
    resume starts from the last complete checkpoint and the end equals an uninterrupted run."""
    total, args = TOTAL, [*TINY, "checkpoint_every=1", "keep_checkpoints=2", "track.aim=true"]
    run, rng, kills, progress = tmp_path / "killed", random.Random(99), 0, []
    while kills < 3:
        resume = bool(list_checkpoints(run))
        cmd = ["--resume", str(run)] if resume else [*args, f"run_dir={run}",
                                                     f"total_updates={total}"]
        proc = spawn(*cmd)
        start = read_checkpoint(list_checkpoints(run)[-1])["counters"]["iteration"] if resume \
            else 0
        wait_for(run / f"ckpt_{start + 1:08d}.pt", proc)
        time.sleep(rng.uniform(0.0, 0.5))
        if proc.poll() is not None:
            break
        group = [proc, *ranks_of(proc)]
        for p in group:
            os.kill(p.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        assert gone([psutil.Process(p.pid) if isinstance(p, subprocess.Popen) else p
                     for p in group[1:]])
        kills += 1
        progress.append(read_checkpoint(list_checkpoints(run)[-1])["counters"]["iteration"])
    assert kills == 3 and progress == sorted(progress) and progress[-1] < total
    final = run_cli("--resume", str(run))
    assert "warning" not in final.stderr, final.stderr[-2000:]
    assert_same_params(straight, run)  # tracking and checkpoint cadence change no arithmetic
    assert not list(run.glob(".ckpt_*tmp*"))
