"""collector.backend=process: TorchRL's multi-process collector with 2 workers on loopback.

GAE never runs across workers (each row is one game stream with its own time axis), weights
reach the workers after every update, runs are reproducible, and a worker that dies is replaced
(collector.on_worker_death=restart, the default) or stops the run cleanly with a checkpoint and no
process left behind (=stop, or when max_restarts is used up).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import torch

from keisei_fn.collect.policy import bind
from keisei_fn.algos.ppo.advantage import make_gae, zero_sum_gae
from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
from keisei_fn.collect.collectors import as_rows
from keisei_fn.env.compact import network_input
from keisei_fn.config import ConfigError, load_config
from keisei_fn.learn.compile import STRICT_ENV
from keisei_fn.run import parts as run_parts
from keisei_fn.run.parts import build
from keisei_fn.run.snapshot import fresh_state
from keisei_fn.algos.ppo.batch import shape_rewards
from keisei_fn.run.train import resume_config, train

from _tiny import TINY, collector_of, flat, tiny

PROCESS = ["collector.backend=process", "collector.workers=2"]


def _spawned_children() -> list[psutil.Process]:
    return [c for c in psutil.Process().children(recursive=True)
            if "resource_tracker" not in " ".join(c.cmdline())]


@pytest.fixture
def process_parts():
    cfg = load_config(None, TINY + PROCESS + ["total_updates=1", "env.batch_size=6",
                                              "ppo.rollout_steps=12"])
    torch.manual_seed(0)
    parts = build(cfg, log=lambda *a: None)
    yield cfg, parts
    parts.collector.shutdown()
    assert not [c for c in _spawned_children() if c.is_running()
                and c.status() != psutil.STATUS_ZOMBIE], "collector workers left behind"


def test_each_row_is_one_game_stream_and_gae_never_crosses_workers(process_parts):
    cfg, parts = process_parts
    raw = next(iter(parts.collector.collector))  # the TorchRL collector's own stream
    check_rows_and_gae_per_worker(cfg, parts, raw)


def check_rows_and_gae_per_worker(cfg, parts, raw) -> None:
    """Shared with tests/test_ray_collector.py: raw [2 workers, 3 games, T] flattens to rows that
    are each one game stream, and GAE over all rows equals each worker's rows computed alone."""
    assert tuple(raw.batch_size) == (2, 3, 12)  # [workers, games per worker, time]
    rollout = as_rows(raw)
    # Every row continues its own game: the next step's observation is this step's "next" one,
    # except where the game ended (then a fresh game starts).
    nxt, obs = rollout["next", "observation"][:, :-1], rollout["observation"][:, 1:]
    done = rollout["next", "done"][:, :-1, 0]
    same = (nxt == obs).flatten(2).all(-1)
    assert same[~done].all() and done.sum() < done.numel()
    # The two workers play different games (their samplers are seeded apart).
    assert not torch.equal(raw["action"][0], raw["action"][1])

    after = rollout[:, -1].get("next")  # the states after the last step, as next_rollout takes
    with torch.no_grad():
        last_value = parts.policy.outputs(after["observation"])[1][0]
    shape_rewards(rollout, after["game"], cfg.ppo.material_shaping, cfg.ppo.gamma)
    gae = make_gae(cfg.ppo.gamma, cfg.ppo.gae_lambda)
    together = zero_sum_gae(gae, rollout.clone(), last_value)
    for worker in range(2):  # each worker's rows alone, as if computed in its own process
        rows = slice(3 * worker, 3 * worker + 3)
        alone = zero_sum_gae(gae, rollout[rows].clone(), last_value[rows])
        torch.testing.assert_close(together["advantage"][rows], alone["advantage"], rtol=0,
                                   atol=0)
        torch.testing.assert_close(together["value_target"][rows], alone["value_target"],
                                   rtol=0, atol=0)


def test_weights_reach_the_workers_after_an_update(process_parts):
    cfg, parts = process_parts
    collector = parts.collector
    collector.next_rollout(parts.policy, None, cfg.ppo.rollout_steps)
    params = parts.initial_params.apply(lambda p: p + 0.05 * torch.randn_like(p))
    bind(parts.policy, params)
    collector.sync_weights(parts.policy)
    _, rollout, _ = collector.next_rollout(parts.policy, None, cfg.ppo.rollout_steps)
    with torch.no_grad():  # the observations rebuilt from the stored positions
        obs = network_input(rollout, cfg.env.max_plies,
                            attacks=cfg.model.attack_planes)["observation"]
        value = parts.policy.outputs(obs.flatten(0, 1))[1][0]
    # the workers' recorded values come from the new weights
    torch.testing.assert_close(rollout["state_value"].flatten(0, 1), value, rtol=1e-5, atol=1e-5)


def test_workers_store_the_attack_planes_counts():
    """`model.attack_planes=true` on the process backend: the workers' steps keep the planes'
    counts, and the minibatches' planes read from them equal the planes rebuilt from the
    positions (as the direct backend: tests/test_rollout.py)."""
    from keisei_fn.env.compact import ATTACK_KEY

    cfg = load_config(None, TINY + PROCESS + ["total_updates=1", "env.batch_size=6",
                                              "ppo.rollout_steps=4", "model.attack_planes=true"])
    torch.manual_seed(0)
    parts = build(cfg, log=lambda *a: None)
    try:
        _, rollout, _ = parts.collector.next_rollout(parts.policy, None, cfg.ppo.rollout_steps)
    finally:
        parts.collector.shutdown()
    assert rollout[ATTACK_KEY].dtype == torch.uint8 and rollout[ATTACK_KEY].any()
    stored = network_input(rollout, cfg.env.max_plies, attacks=True)["observation"]
    rebuilt = network_input(rollout.exclude(ATTACK_KEY), cfg.env.max_plies,
                           attacks=True)["observation"]
    assert torch.equal(stored, rebuilt)


def test_process_backend_runs_are_reproducible_and_resume(tmp_path):
    for name in ("a", "b"):
        train(tiny(tmp_path / name, *PROCESS, "total_updates=3"), log=lambda *a: None)
    a = flat(read_checkpoint(list_checkpoints(tmp_path / "a")[-1])["params"])
    b = flat(read_checkpoint(list_checkpoints(tmp_path / "b")[-1])["params"])
    for key in a:
        assert torch.equal(a[key], b[key]), key
    summary = train(resume_config(tmp_path / "a", ["total_updates=5"]), resume=True,
                    log=lambda *a: None)
    assert summary["counters"]["iteration"] == 5
    assert summary["counters"]["frames"] == 5 * 4 * 6
    assert not [c for c in _spawned_children() if c.is_running()
                and c.status() != psutil.STATUS_ZOMBIE]


def _kill_a_worker_mid_run(run_dir, *overrides):
    """Start a process-backend training run, kill -9 one of its workers after the first
    checkpoint, wait for the run to end: (exit code, stderr, the killed and first workers)."""
    cmd = [sys.executable, "-m", "keisei_fn.cli", "train", *TINY, *PROCESS,
           f"run_dir={run_dir}", "checkpoint_every=3", *overrides]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        trainer = psutil.Process(proc.pid)
        deadline = time.time() + 120
        while time.time() < deadline and not list_checkpoints(run_dir):
            time.sleep(0.2)
        assert list_checkpoints(run_dir), "the run never checkpointed"
        workers = [c for c in trainer.children(recursive=True)
                   if "spawn_main" in " ".join(c.cmdline())]
        assert len(workers) == 2, [c.cmdline() for c in trainer.children(recursive=True)]
        os.kill(workers[1].pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err, workers


def test_a_dead_worker_is_restarted_and_the_run_finishes(tmp_path):
    code, err, workers = _kill_a_worker_mid_run(tmp_path / "run", "total_updates=25")
    assert code == 0, err[-2000:]
    assert "starting new workers (1 of 3 restarts" in err and "exit code -9" in err
    assert read_checkpoint(list_checkpoints(tmp_path / "run")[-1])["counters"]["iteration"] == 25
    for worker in workers:  # the survivor of the first generation was shut down too
        assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE


def test_a_worker_killed_mid_run_stops_the_run_cleanly_with_a_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    code, err, workers = _kill_a_worker_mid_run(run_dir, "total_updates=100000",
                                                "collector.on_worker_death=stop")
    assert code == 3, err[-2000:]
    assert "collector worker(s) died" in err and "exit code -9" in err
    assert f"continue with: keisei-fn train --resume {run_dir}" in err
    last = list_checkpoints(run_dir)[-1]
    iteration = read_checkpoint(last)["counters"]["iteration"]
    assert f"checkpoint written at iteration {iteration}" in err
    for worker in workers:
        assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("override, message", [
    (["env.batch_size=5"], "env.batch_size=5 does not split evenly over 2 workers"),
    (["league.fraction=0.5"], "does not support league games"),
    (["population.size=2"], "does not support populations"),
    (["collector.backend=mpi"], "collector.backend: 'mpi' is not one of direct, process, ray"),
    (["collector.on_worker_death=ignore"], "collector.on_worker_death: 'ignore' is not one of"),
])
def test_process_backend_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, PROCESS + override)


def test_the_default_backend_collects_in_this_process(tiny_config):
    """The default collects in the training process: this test is in the fast lane, whose guard
    (tests/conftest.py) fails it if building or collecting starts a process."""
    cfg = tiny_config("total_updates=1")
    parts = build(cfg, log=lambda *a: None)
    try:
        state = fresh_state(cfg, parts)
        _, rollout, _ = collector_of(cfg, parts)(state)
        assert tuple(rollout.batch_size) == (cfg.env.batch_size, cfg.ppo.rollout_steps)
    finally:
        parts.collector.shutdown()


def test_process_backend_with_the_compiled_acting_policy(tmp_path, monkeypatch):
    # strict: a compilation that fails in a worker raises there instead of running eagerly
    monkeypatch.setenv(STRICT_ENV, "1")
    # the workers compile their acting policy; the update's compilation is test_compile.py's, and
    # compiling it here too only doubled this test's time
    monkeypatch.setattr(run_parts, "compile_mode", lambda cfg: "off")
    summary = train(tiny(tmp_path / "run", *PROCESS, "total_updates=1", "optim.compile=default",
                         "optim.compile_acting=true"),
                    log=lambda *a: None)
    assert summary["counters"]["frames"] == 4 * 6
