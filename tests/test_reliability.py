"""Promises under faults: non-finite updates never reach the parameters; a crash never loses
more than the work since the last checkpoint (kill -9 at random moments, resume, same result)."""

from __future__ import annotations

import torch

from keisei_fn.config import load_config
from keisei_fn.env.compact import network_input
from keisei_fn.algos.ppo.learn import learn
from keisei_fn.learn.population import TrainingDiverged
from keisei_fn.run.parts import build
from keisei_fn.run.snapshot import fresh_state
from _tiny import TINY as _TINY
from _tiny import collector_of, first_batch

TINY = [*_TINY, "ppo.rollout_steps=8", "total_updates=1"]


def setup(*extra):
    return first_batch("ppo.rollout_steps=8", *extra)


def test_a_nan_minibatch_is_skipped_and_the_others_still_learn():
    cfg, parts, state, batch = setup()
    batch["advantage"][0, 0] = float("nan")  # poisons the one minibatch per epoch holding it
    messages = []
    after, metrics = learn(state, batch, parts.update, cfg, log=messages.append)
    assert metrics[0]["skipped_updates"] == 2  # 2 epochs
    assert any("updates skipped" in m for m in messages)
    for k, p in after.params.items(True, True):
        assert torch.isfinite(p).all(), k
    changed = [not torch.equal(p, q) for p, q in zip(after.params.values(True, True),
                                                     state.params.values(True, True))]
    assert any(changed)  # the finite minibatches were applied


def test_persistent_nan_rolls_back_halves_lr_then_stops_with_a_clear_error():
    cfg, parts, state, batch = setup("optim.max_skipped_updates=0", "optim.max_rollbacks=2")
    batch["advantage"][:] = float("nan")
    messages = []
    after, _ = learn(state, batch, parts.update, cfg, log=messages.append)
    assert after.counters.lr_scales == (0.5,) and after.counters.member_rollbacks == (1,)
    assert any("rolled back" in m for m in messages)
    for p, q in zip(after.params.values(True, True), state.params.values(True, True)):
        assert torch.equal(p, q)
    after, _ = learn(after, batch, parts.update, cfg, log=messages.append)
    assert after.counters.lr_scales == (0.25,)
    try:
        learn(after, batch, parts.update, cfg, log=messages.append)
    except TrainingDiverged as err:
        assert "rollbacks" in str(err) and "last checkpoint" in str(err)
    else:
        raise AssertionError("a run whose every update is NaN must stop")
    for p, q in zip(after.params.values(True, True), state.params.values(True, True)):
        assert torch.equal(p, q)


def test_update_step_with_inf_gradient_leaves_params_and_adam_state_untouched():
    cfg, parts, state, batch = setup()
    mb = network_input(batch[:, :8], cfg.env.max_plies, attacks=False).clone()
    mb["value_target"][0, 0] = float("inf")
    lr = torch.tensor([1e-3])
    params, opt, metrics = parts.update(state.params, state.opt_state, mb, lr)
    assert float(metrics["skipped"][0]) == 1.0
    for a, b in zip(params.values(True, True), state.params.values(True, True)):
        assert torch.equal(a, b)
    for a, b in zip(opt.values(True, True), state.opt_state.values(True, True)):
        assert torch.equal(a, b)


TOTAL = 60  # iterations: room for the kills, each after a checkpoint of its process's own


def test_kill_9_at_random_moments_then_resume_gives_the_uninterrupted_result(tmp_path):
    """5 SIGKILLs of a training process (Aim on, a checkpoint every iteration, so kills land
    in checkpoint and Aim writes too); every resume starts from the last complete checkpoint
    and the final parameters equal an uninterrupted run's exactly."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    from keisei_fn.checkpoint import list_checkpoints, read_checkpoint

    # One process: killing the default's group of ranks is tests/test_launch.py's case.
    args = TINY + [f"total_updates={TOTAL}", "checkpoint_every=1", "keep_checkpoints=2",
                   "eval.games=2", "eval.max_plies=8", "track.aim=true"]

    def command(run, resume):
        base = [sys.executable, "-m", "keisei_fn.cli", "train"]
        return base + (["--resume", str(run)] if resume else args + [f"run_dir={run}"])

    straight = tmp_path / "straight"
    done = subprocess.run(command(straight, False), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]

    def last_iteration(run):
        # The writer may prune a file between listing and reading: retry on a fresh listing.
        for _ in range(50):
            found = list_checkpoints(run)
            if not found:
                return 0
            try:
                return read_checkpoint(found[-1])["counters"]["iteration"]
            except Exception:
                time.sleep(0.01)
        raise AssertionError("checkpoints unreadable")

    run = tmp_path / "killed"
    rng = random.Random(1234)
    kills = 0
    progress = []
    while kills < 5:
        proc = subprocess.Popen(command(run, bool(list_checkpoints(run))),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        start_iter = last_iteration(run)
        deadline = time.time() + 120
        # Wait until this process has written at least one checkpoint of its own, then kill it
        # at a random moment within the next few iterations.
        while time.time() < deadline and proc.poll() is None:
            if last_iteration(run) > start_iter:
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is not None:  # finished before the kill: start over from scratch
            proc.communicate()
            assert proc.returncode == 0
            break
        os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        assert "checksum" not in err and "Traceback" not in err, err[-2000:]
        kills += 1
        progress.append(last_iteration(run))
    assert kills >= 5, f"only {kills} kills landed before the run finished"
    assert progress == sorted(progress) and progress[-1] < TOTAL
    final = subprocess.run(command(run, True), capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    assert "warning" not in final.stderr, final.stderr[-2000:]
    a = read_checkpoint(list_checkpoints(straight)[-1])
    b = read_checkpoint(list_checkpoints(run)[-1])
    assert a["counters"]["iteration"] == b["counters"]["iteration"] == TOTAL

    def leaves(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from leaves(v, prefix + k + ".")
            else:
                yield prefix + k, v
    pa, pb = dict(leaves(a["params"])), dict(leaves(b["params"]))
    assert pa.keys() == pb.keys()
    for k in pa:
        assert torch.equal(pa[k], pb[k]), k
    assert not list(run.glob(".ckpt_*tmp*"))


def _failing_replace(errno_code):
    import os

    real = os.replace
    state = {"armed": False}

    def replace(src, dst, *a, **k):
        if state["armed"] and str(dst).endswith(".pt"):
            raise OSError(errno_code, os.strerror(errno_code), str(dst))
        return real(src, dst, *a, **k)
    return replace, state


def test_disk_full_while_checkpointing_stops_cleanly_with_previous_checkpoint_intact(
        tmp_path, monkeypatch):
    import errno
    import os

    import pytest

    from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
    from keisei_fn.run.session import CheckpointWriteError
    from keisei_fn.run.train import train

    replace, state = _failing_replace(errno.ENOSPC)
    monkeypatch.setattr(os, "replace", replace)
    run = tmp_path / "full"
    cfg = load_config(None, TINY[:-1] + [f"run_dir={run}", "total_updates=6", "checkpoint_every=2",
                                         "eval.games=2", "eval.max_plies=8"])
    import keisei_fn.run.session as run_module

    real_save = run_module.save_checkpoint

    def save_then_fill_disk(*a, **k):
        out = real_save(*a, **k)
        state["armed"] = True  # every write after the first finds the disk full
        return out
    monkeypatch.setattr(run_module, "save_checkpoint", save_then_fill_disk)
    with pytest.raises(CheckpointWriteError, match=r"iteration 4 failed.*No space left on device"
                                                   r".*ckpt_00000002.pt is intact"):
        train(cfg, log=lambda m: None)
    assert [p.name for p in list_checkpoints(run)] == ["ckpt_00000002.pt"]
    assert read_checkpoint(list_checkpoints(run)[0])["counters"]["iteration"] == 2
    assert not list(run.glob(".ckpt_*tmp*"))  # the failed write cleaned up after itself


def test_read_only_run_dir_with_continue_keeps_training_and_checkpoints_when_it_clears(
        tmp_path, monkeypatch):
    import errno
    import os

    from keisei_fn.checkpoint import list_checkpoints
    from keisei_fn.run.train import train

    replace, state = _failing_replace(errno.EROFS)
    monkeypatch.setattr(os, "replace", replace)
    run = tmp_path / "ro"
    cfg = load_config(None, TINY[:-1] + [f"run_dir={run}", "total_updates=6", "checkpoint_every=2",
                                         "eval.games=2", "eval.max_plies=8",
                                         "on_checkpoint_error=continue"])
    messages = []

    def log(m):
        messages.append(m)
        if "Read-only" in m:
            state["armed"] = False  # the fault clears after the first failure
    state["armed"] = True
    summary = train(cfg, log=log)
    assert summary["counters"]["iteration"] == 6
    assert any("iteration 2 failed" in m and "Read-only file system" in m for m in messages)
    assert list_checkpoints(run)[-1].name == "ckpt_00000006.pt"


def test_game_statistics_count_every_finished_game_exactly_once():
    """The original Keisei double-counted episodes. Over consecutive rollouts, the games our
    statistics count equal the games that actually restarted (ply back to 0 in the next step),
    and the outcome and winner columns each sum to that total."""
    from keisei_fn.collect.stats import game_stats

    cfg = load_config(None, TINY + ["env.max_plies=12", "ppo.rollout_steps=10"])
    parts = build(cfg)
    collect, state = collector_of(cfg, parts), fresh_state(cfg, parts)
    counted = restarted = 0
    previous_last = None
    for _ in range(6):
        state, rollout, _ = collect(state)
        rollout.set(("next", "game_result"), rollout.get(("next", "reward")).clone())
        stats = game_stats(rollout)
        ends = sum(v for k, v in stats.items() if k.startswith("end_"))
        assert ends == stats["games"]
        assert stats["black_wins"] + stats["white_wins"] + stats["draws"] == stats["games"]
        counted += stats["games"]
        ply = rollout.get(("game", "ply"))
        restarted += int(((ply[:, 1:] == 0) & (ply[:, :-1] > 0)).sum())
        if previous_last is not None:  # a restart across the rollout boundary
            restarted += int(((ply[:, 0] == 0) & (previous_last > 0)).sum())
        previous_last = ply[:, -1]
    after = state.games.get(("game", "ply"))
    restarted += int(((after == 0) & (previous_last > 0)).sum())
    parts.collector.shutdown()
    assert counted == restarted and counted >= 4 * 4  # 60 plies per row, cap 12
