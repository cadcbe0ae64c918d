"""collector.backend=ray: TorchRL's RayCollector with 2 actors on a local Ray instance.

Like the process backend (tests/test_collectors.py): GAE never runs across workers, weights reach
the actors after every update, runs are reproducible (and equal to the process backend's), a
dead actor is replaced or stops the run cleanly. Ray-specific: the run's Ray instance, started
with the run, is gone after a normal end, a Ctrl-C and an error; its temp dir is RUN_DIR/ray or,
for a long RUN_DIR, a short one linked from there. Ray must be installed (the test extra has it):
without it this module fails, it does not skip.

In-process tests share one Ray instance started by a module fixture (our "local" backend uses an
instance the process is already connected to and leaves it running); the command-line tests
start their own through the backend.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import ray
import torch

from keisei_fn.collect import ray_backend
from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
from keisei_fn.collect.errors import CollectorWorkerDied
from keisei_fn.collect.policy import bind
from keisei_fn.collect.collectors import as_rows
from keisei_fn.config import ConfigError, load_config
from keisei_fn.run.parts import build
from keisei_fn.run.train import train

from test_collectors import check_rows_and_gae_per_worker
from _tiny import TINY, flat, tiny

RAY = ["collector.backend=ray", "collector.workers=2"]


def _short_dir() -> Path:
    """A directory short enough for Ray's unix sockets (pytest's tmp_path is not)."""
    return Path(tempfile.mkdtemp(prefix="kr-", dir="/tmp"))


def _session_processes(temp_dir) -> list[psutil.Process]:
    return ray_backend.session_processes(str(temp_dir))


def _alive(procs) -> list[str]:
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(" ".join(p.cmdline())[:120])
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.fixture(scope="module")
def ray_instance():
    temp_dir = _short_dir()
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False,
             _temp_dir=str(temp_dir), logging_level="warning")
    yield temp_dir
    procs = _session_processes(temp_dir)
    ray.shutdown()
    deadline = time.time() + 30
    while _alive(procs) and time.time() < deadline:
        time.sleep(0.2)
    assert not _alive(procs), "Ray processes left behind"
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="class")
def ray_parts(ray_instance):
    """One collector for the tests of a class (its actors hold the instance's 2 CPUs until the
    class ends)."""
    cfg = load_config(None, TINY + RAY + ["total_updates=1", "env.batch_size=6",
                                          "ppo.rollout_steps=12"])
    torch.manual_seed(0)
    parts = build(cfg, log=lambda *a: None)
    yield cfg, parts
    parts.collector.shutdown()
    assert ray.is_initialized(), "the backend shut down a Ray instance it did not start"


class TestOneCollector:
    """Row layout, weight sync and a dead actor, on one collector."""

    def test_each_row_is_one_game_stream_and_gae_never_crosses_workers(self, ray_parts):
        cfg, parts = ray_parts
        collector = parts.collector
        assert collector.name == "ray" and not collector.in_process
        collector.sync_weights(parts.policy)
        raw = next(iter(collector.collector))  # the TorchRL collector's own stream
        check_rows_and_gae_per_worker(cfg, parts, raw)

    def test_weights_reach_the_actors_after_an_update(self, ray_parts):
        _, parts = ray_parts
        collector = parts.collector
        iterator = iter(collector.collector)
        collector.sync_weights(parts.policy)
        next(iterator)
        params = parts.initial_params.apply(lambda p: p + 0.05 * torch.randn_like(p))
        bind(parts.policy, params)
        collector.sync_weights(parts.policy)
        rollout = as_rows(next(iterator))
        with torch.no_grad():
            value = parts.policy.outputs(rollout["observation"].flatten(0, 1))[1][0]
        torch.testing.assert_close(rollout["state_value"].flatten(0, 1), value, rtol=1e-5,
                                   atol=1e-5)

    def test_a_killed_actor_is_reported_and_replaced(self, ray_parts):
        cfg, parts = ray_parts
        collector = parts.collector
        actor = collector.collector.remote_collectors[1]
        pid = ray.get(actor.__ray_call__.remote(lambda self: os.getpid()))
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(CollectorWorkerDied, match="worker 1 .Ray actor died"):  # no hang
            collector.sync_weights(parts.policy)
            next(iter(collector.collector))
        dead = collector.dead_workers()
        assert len(dead) == 1 and dead[0].startswith("worker 1 (Ray actor died")
        new = parts.collector = collector.restart(cfg, parts.policy, parts.device, generation=1)
        assert not new.dead_workers()
        new.sync_weights(parts.policy)
        assert tuple(next(iter(new.collector)).batch_size) == (2, 3, 12)


def test_ray_runs_are_reproducible_and_equal_the_process_backend(tmp_path, ray_instance):
    for name, backend in (("a", RAY), ("b", RAY), ("p", ["collector.backend=process",
                                                         "collector.workers=2"])):
        train(tiny(tmp_path / name, *backend, "total_updates=3"), log=lambda *a: None)
    a, b, p = (flat(read_checkpoint(list_checkpoints(tmp_path / n)[-1])["params"])
               for n in "abp")
    for key in a:
        assert torch.equal(a[key], b[key]), key
        assert torch.equal(a[key], p[key]), key  # same seeds, same games, same updates
    assert ray.is_initialized()  # not started by the runs, so not stopped by them


def _cli(run_dir, *overrides) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "keisei_fn.cli", "train", *TINY, *RAY, f"run_dir={run_dir}",
           "checkpoint_every=1", *overrides]
    # Its own process group, so a Ctrl-C can be sent to it the way a terminal does.
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for_checkpoint(proc, run_dir, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline and not list_checkpoints(run_dir) and proc.poll() is None:
        time.sleep(0.2)
    if not list_checkpoints(run_dir):
        proc.kill()
        raise AssertionError(f"the run never checkpointed: {proc.communicate()[1][-3000:]}")


def _finish(proc, timeout=120.0):
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_run_that_ends_leaves_no_ray_process_and_keeps_its_logs():
    root = _short_dir()
    try:
        proc = _cli(root / "run", "total_updates=2")
        _wait_for_checkpoint(proc, root / "run")
        procs = _session_processes(root / "run" / "ray")
        out, err = _finish(proc)
        assert proc.returncode == 0, err[-3000:]
        assert procs and not _alive(procs + _session_processes(root / "run" / "ray"))
        assert any((root / "run" / "ray").glob("session_*/logs"))  # Ray's logs stay with the run
        assert "longer than" not in err
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_ctrl_c_checkpoints_exits_0_and_leaves_no_ray_process(tmp_path):
    run_dir = tmp_path / ("a-run-directory-whose-path-is-too-long-for-ray-sockets" * 2)
    proc = _cli(run_dir, "total_updates=100000")
    _wait_for_checkpoint(proc, run_dir)
    short = (run_dir / "ray").resolve()  # the fallback temp dir, linked from RUN_DIR/ray
    assert short != run_dir / "ray" and len(str(short)) <= ray_backend.MAX_TEMP_DIR
    procs = _session_processes(short)
    assert len(procs) > 3, [p.cmdline() for p in procs]
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = _finish(proc)
    assert proc.returncode == 0, err[-3000:]
    assert "interrupted: checkpoint written at iteration" in out + err
    assert "longer than" in err and str(short) in err
    assert not _alive(procs + _session_processes(short))
    shutil.rmtree(short, ignore_errors=True)


def test_a_killed_actor_stops_the_run_with_exit_code_3_and_a_checkpoint():
    root = _short_dir()
    run_dir = root / "run"
    try:
        proc = _cli(run_dir, "total_updates=100000", "collector.on_worker_death=stop")
        _wait_for_checkpoint(proc, run_dir)
        procs = _session_processes(run_dir / "ray")
        actors = [p for p in procs if "Collector" in " ".join(p.cmdline())]
        assert len(actors) == 2, [p.cmdline() for p in procs]
        os.kill(actors[0].pid, signal.SIGKILL)  # worker 0 or 1
        out, err = _finish(proc)
        assert proc.returncode == 3, err[-3000:]
        assert re.search(r"collector worker\(s\) died \(worker [01] \(Ray actor died", err)
        assert f"continue with: keisei-fn train --resume {run_dir}" in err
        iteration = read_checkpoint(list_checkpoints(run_dir)[-1])["counters"]["iteration"]
        assert f"checkpoint written at iteration {iteration}" in err
        assert not _alive(procs + _session_processes(run_dir / "ray"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_address_auto_attaches_to_a_running_cluster_and_leaves_it_running():
    root = _short_dir()
    port = _free_port()
    ray_cli = Path(sys.executable).with_name("ray")
    subprocess.run([str(ray_cli), "start", "--head", f"--port={port}", "--num-cpus=2",
                    f"--temp-dir={root / 'cluster'}", "--include-dashboard=false",
                    "--disable-usage-stats"], check=True, capture_output=True, timeout=120)
    cluster = _session_processes(root / "cluster")
    try:
        env = dict(os.environ, RAY_ADDRESS=f"127.0.0.1:{port}")
        proc = subprocess.run(
            [sys.executable, "-m", "keisei_fn.cli", "train", *TINY, *RAY,
             f"run_dir={root / 'run'}", "total_updates=2", "collector.ray.address=auto"],
            env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert not (root / "run" / "ray").exists()  # the cluster's temp dir, not the run's
        still = _alive(cluster)
        assert any("gcs_server" in c for c in still) and any("raylet" in c for c in still)
        assert not [c for c in _alive(_session_processes(root / "cluster"))
                    if "Collector" in c]  # our actors are gone
    finally:  # what `ray stop` does, but only to this cluster (it would stop every instance)
        cluster += _session_processes(root / "cluster")
        for p in cluster:
            try:
                p.terminate()
            except psutil.NoSuchProcess:
                pass
        _, left = psutil.wait_procs(cluster, timeout=10)
        for p in left:  # gcs_server ignores SIGTERM
            p.kill()
        psutil.wait_procs(left, timeout=10)
        assert not _alive(cluster)
        shutil.rmtree(root, ignore_errors=True)


def test_ray_temp_dir_is_in_the_run_dir_unless_too_long(tmp_path):
    root = _short_dir()
    try:
        assert ray_backend.ray_temp_dir(root / "run") == str(root / "run" / "ray")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    long_run = tmp_path / ("x" * 80)
    with pytest.warns(UserWarning, match="longer than .* Ray's logs and sockets go to /tmp/"):
        short = ray_backend.ray_temp_dir(long_run)
    assert (long_run / "ray").resolve() == Path(short) and len(short) <= ray_backend.MAX_TEMP_DIR
    with pytest.warns(UserWarning):  # a later session of the same run relinks
        again = ray_backend.ray_temp_dir(long_run)
    assert (long_run / "ray").resolve() == Path(again)
    shutil.rmtree(short), shutil.rmtree(again)


@pytest.mark.parametrize(
    "override, message",
    [
        (["env.batch_size=5"], "env.batch_size=5 does not split evenly over 2 workers"),
        (["league.fraction=0.5"], "collector.backend=ray does not support league games"),
        (["population.size=2"], "collector.backend=ray does not support populations"),
        (
            ["collector.ray.address=10.0.0.1:6379"],
            "collector.ray.address: '10.0.0.1:6379' is not one of local, auto",
        ),
        (["device=cuda"], "collector.backend=ray runs on CPU only"),
    ],
)
def test_ray_backend_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, RAY + override)


def test_a_missing_ray_is_a_clear_config_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(ConfigError, match=r"pip install 'keisei_fn\[ray\]'"):
        load_config(None, RAY)
