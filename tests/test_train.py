"""Training run: exact resume, atomic verified checkpoints, corrupt-checkpoint fallback, tiny
e2e."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from keisei_fn.checkpoint import CheckpointError, list_checkpoints, read_checkpoint, save_checkpoint
from keisei_fn.run.train import resume_config, train

from _tiny import TINY, assert_resumes_exactly, tiny



def test_resumed_run_ends_with_exactly_the_uninterrupted_parameters(tmp_path):
    _, ca, cb = assert_resumes_exactly(tmp_path, total=4, split=2)
    assert ca["counters"]["frames"] == cb["counters"]["frames"] == 4 * 4 * 6
    assert torch.equal(ca["games"]["game"]["board"], cb["games"]["game"]["board"])


def test_corrupt_latest_checkpoint_falls_back_to_previous_and_says_so(tmp_path):
    run = tmp_path / "run"
    train(tiny(run, "total_updates=4"), log=lambda *a: None)
    ckpts = list_checkpoints(run)
    assert [p.name for p in ckpts] == ["ckpt_00000002.pt", "ckpt_00000004.pt"]
    data = ckpts[-1].read_bytes()
    ckpts[-1].write_bytes(data[: len(data) // 2])  # truncated, as by a crash mid-copy
    messages = []
    cfg = resume_config(run, ["total_updates=5"])
    summary = train(cfg, resume=True, log=messages.append)
    assert any("ckpt_00000004.pt" in m and "checksum" in m for m in messages), messages
    assert any("iteration 2" in m for m in messages), messages
    assert summary["counters"]["iteration"] == 5


def test_checkpoint_errors_name_the_file_and_the_problem(tmp_path):
    path = save_checkpoint({"x": torch.arange(3)}, tmp_path, 1)
    assert torch.equal(read_checkpoint(path)["x"], torch.arange(3))
    raw = path.read_bytes()
    bad = tmp_path / "ckpt_00000002.pt"
    bad.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))
    with pytest.raises(CheckpointError, match="ckpt_00000002.pt: checksum mismatch"):
        read_checkpoint(bad)
    bad.write_bytes(b"garbage\n" + raw)
    with pytest.raises(CheckpointError, match="not a keisei_fn checkpoint"):
        read_checkpoint(bad)
    bad.write_bytes(raw.replace(b"KEISEI-CKPT 1", b"KEISEI-CKPT 9", 1))
    with pytest.raises(CheckpointError, match="version 9"):
        read_checkpoint(bad)
    # No temporary file is left behind, and keep= prunes old checkpoints.
    for i in range(3, 8):
        save_checkpoint({"i": torch.tensor(i)}, tmp_path, i, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt_00000006.pt", "ckpt_00000007.pt"]
    assert not list(tmp_path.glob(".*tmp*"))


def test_checkpoint_of_another_model_shape_is_refused_by_name(tmp_path):
    run = tmp_path / "run"
    train(tiny(run, "total_updates=2"), log=lambda *a: None)
    # `--resume RUN model.channels=16` stops at the config, in one line
    with pytest.raises(ValueError, match="model.channels cannot change"):
        resume_config(run, ["model.channels=16", "total_updates=3"])
    # a config that names another network anyway (edited by hand): the checkpoint's shapes
    cfg = tiny(run, "model.channels=16", "total_updates=3")
    with pytest.raises(CheckpointError, match=r"stem.weight.*shape"):
        train(cfg, resume=True, log=lambda *a: None)


def test_train_or_continue_starts_then_continues(tmp_path):
    from keisei_fn.run.train import train_or_continue

    run = tmp_path / "run"
    assert train_or_continue(tiny(run, "total_updates=2"))["counters"]["iteration"] == 2
    again = train_or_continue(tiny(run, "total_updates=3"), ["total_updates=3"])
    assert again["counters"]["iteration"] == 3


def test_checkpoint_with_the_older_single_agent_counters_resumes(tmp_path):
    """Before one agent trained as a population of one, its counters held lr_scale/rollbacks."""
    run = tmp_path / "run"
    train(tiny(run, "total_updates=2"), log=lambda *a: None)
    path = list_checkpoints(run)[-1]
    payload = read_checkpoint(path)
    counters = payload["counters"]
    counters["lr_scale"], counters["rollbacks"] = 0.5, 1
    del counters["lr_scales"], counters["member_rollbacks"]
    path.unlink()
    save_checkpoint(payload, run, 2)
    summary = train(resume_config(run, ["total_updates=3"]), resume=True, log=lambda *a: None)
    assert summary["counters"]["lr_scales"] == [0.5]
    assert summary["counters"]["member_rollbacks"] == [1] and "lr_scale" not in summary["counters"]


def test_new_run_refuses_to_overwrite_an_existing_run(tmp_path):
    run = tmp_path / "run"
    train(tiny(run, "total_updates=2"), log=lambda *a: None)
    with pytest.raises(ValueError, match="already holds a run"):
        train(tiny(run, "total_updates=2"), log=lambda *a: None)


def test_cli_train_end_to_end_with_aim_and_resume(tmp_path):
    run = tmp_path / "cli"
    cmd = [sys.executable, "-m", "keisei_fn.cli", "train", *TINY, "track.aim=true",
           f"run_dir={run}", "total_updates=2"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "final evaluation:" in out.stdout and "vs random" in out.stdout
    assert (run / "config.yaml").is_file() and (run / "aim").is_dir()
    ratings = json.loads((run / "ratings.json").read_text())
    assert ratings["anchor"] == "random" and {r["player"] for r in ratings["ratings"]} == {
        "random", "greedy", "it 2"}
    # The ratings table is in Aim as a text, next to the eval/elo curve.
    import aim
    from aim.storage.context import Context

    from keisei_fn.run.tracking import read_metrics

    aim_hash = read_checkpoint(list_checkpoints(run)[-1])["aim_hash"]
    texts = aim.Repo.from_path(str(run / "aim")).get_run(aim_hash).get_text_sequence(
        "eval/ratings", context=Context({}))
    assert "it 2" in list(texts.values.values_list())[-1].data
    assert [s for s, _ in read_metrics(str(run / "aim"), aim_hash)["eval/elo"]] == [2]
    again = subprocess.run([sys.executable, "-m", "keisei_fn.cli", "train", "--resume", str(run),
                            "total_updates=3"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from" in again.stderr and "iteration 2" in again.stderr
    assert read_checkpoint(list_checkpoints(run)[-1])["counters"]["iteration"] == 3


def test_sigterm_finishes_the_iteration_checkpoints_and_exits_cleanly(tmp_path):
    import signal
    import time

    run = tmp_path / "sig"
    cmd = [sys.executable, "-m", "keisei_fn.cli", "train", *TINY, f"run_dir={run}",
           "total_updates=100000", "checkpoint_every=1000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        # Wait until training is under way (the first progress line is printed per iteration).
        while time.time() < deadline and not (run / "config.yaml").exists():
            time.sleep(0.2)
        time.sleep(3.0)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "interrupted: checkpoint written at iteration" in err
    payload = read_checkpoint(list_checkpoints(run)[-1])
    assert payload["counters"]["iteration"] >= 1
    assert "final evaluation" not in out  # stopped, not finished


def test_time_budget_counts_training_not_compilation(tiny_config, monkeypatch):
    """The first iteration's compilation (2 s here, measured by compile.compile_seconds) does not
    count against time_budget_s=1: training goes on until 1 s of iterations has passed."""
    import time

    from tensordict import TensorDict

    from types import SimpleNamespace

    from keisei_fn.algos.base import IterationReport
    from keisei_fn.learn.state import TrainState, fresh_counters
    from keisei_fn.run import distributed
    from keisei_fn.run import train as train_module
    from keisei_fn.run.progress import make_console

    compiled = [0.0]
    monkeypatch.setattr(train_module, "compile_seconds", lambda: compiled[0])

    def iteration(ctx, state):
        if not compiled[0]:  # the first call "compiles" for 2 s
            time.sleep(2.0)
            compiled[0] = 2.0
        time.sleep(0.1)
        return state, IterationReport(1, [0], [{}], [{}])

    parts = SimpleNamespace(algorithm=SimpleNamespace(iteration=iteration), policy=None,
                            update=None)
    cfg = tiny_config("time_budget_s=1", "total_updates=0", "checkpoint_every=1000", "eval.every=0")
    params = TensorDict({"w": torch.zeros(1, 1)}, batch_size=[1])
    state = TrainState(params=params, opt_state=params.clone(), counters=fresh_counters(1),
                       shuffle=(), policy=())
    run = train_module.Run(cfg, distributed.SINGLE, parts, None, None, lambda state: None, None,
                           lambda *a: None, make_console())
    state, reason = train_module._loop(run, state)
    assert reason == "time"
    summary = {"counters": state.counters.as_dict()}
    c = summary["counters"]
    assert c["compile_seconds"] == 2.0
    assert c["iteration"] >= 8, c  # ~10 iterations of 0.1 s; with the compile counted: 1
    assert 1.0 <= c["train_seconds"] < 1.6, c


def test_compiled_step_reports_its_compile_time_and_the_budget_rule():
    from keisei_fn.learn.compile import compile_seconds, compile_update

    lines = []
    step = compile_update(lambda x: x * 2 + 1, "default", log=lines.append, what="a test step")
    before = compile_seconds()
    assert torch.equal(step(torch.ones(3)), torch.full((3,), 3.0))
    assert compile_seconds() > before
    assert "not counted in the time budget" in lines[0] and "compiled a test step" in lines[1], (
        lines
    )
    after = compile_seconds()
    step(torch.ones(3))  # compiled already: no more compile time
    assert compile_seconds() == after


def test_training_evaluation_reports_its_progress():
    """play_match tells its progress after every ply; match_progress prints a line from it."""
    from keisei_fn.agent import member_agent
    from keisei_fn.models import build_model, state_params
    from keisei_fn.run.evaluate import match_progress, play_match

    cfg = tiny("unused", "total_updates=1")
    calls, lines = [], []
    printer = match_progress(lines.append, "eval vs random", 4, every_s=0.0)

    def progress(plies, finished):
        calls.append((plies, finished))
        printer(plies, finished)

    agent = member_agent(cfg, state_params(build_model(cfg.model)).detach()[None])
    r = play_match(agent, "random", 4, max_plies=12, progress=progress)
    assert [p for p, _ in calls] == list(range(1, len(calls) + 1))
    assert calls[-1][1] == 4 and all(a <= b for (_, a), (_, b) in zip(calls, calls[1:]))
    assert r.games == 4 and lines[-1].startswith("  eval vs random: 4/4 games finished, ply")


def test_metrics_file_holds_each_iteration_once_across_a_resume(tmp_path):
    """RUN_DIR/metrics.jsonl (run/metrics_file.py): a record per iteration and per evaluation;
    a resume from an older checkpoint drops the records it will write again."""
    from keisei_fn.run import metrics_file

    run = tmp_path / "run"
    train(tiny(run, "total_updates=4", "eval.every=2"), log=lambda *a: None)
    first = metrics_file.read(run)
    assert [r["iteration"] for r in first if r["kind"] == "iteration"] == [1, 2, 3, 4]
    evals = [r for r in first if r["kind"] == "eval"]
    # (the final evaluation is the one at iteration 4: the last iteration was evaluated)
    assert [(r["iteration"], r["final"]) for r in evals] == [(2, False), (4, False)]
    assert {x["opponent"] for x in evals[0]["results"]} == {"random", "greedy"}
    assert "losses/approx_kl" in first[0] and first[0]["frames"] == 4 * 6
    latest = list_checkpoints(run)[-1]  # resume from iteration 2: 3 and 4 are played again
    latest.write_bytes(latest.read_bytes()[:100])
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"kind": "iteration", "itera')  # a line cut short by a kill
    train(resume_config(run, ["total_updates=5"]), resume=True, log=lambda *a: None)
    records = metrics_file.read(run)
    assert [r["iteration"] for r in records if r["kind"] == "iteration"] == [1, 2, 3, 4, 5]
    assert [(r["iteration"], r["final"]) for r in records if r["kind"] == "eval"] == [
        (2, False), (4, False), (5, True)]
