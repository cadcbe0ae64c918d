"""Aim tracking round trips: what one process writes, another reads back exactly.

Writers and readers run in separate interpreters (subprocess) wherever the property under test is
cross-process, because Aim's failure modes (unindexed runs, held RocksDB locks, stale cached
handles) do not show up inside a single process.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from keisei_fn.run.tracking import (close_run, metric_key, open_run, read_hparams, read_metrics,
                                    track_metrics)

ROOT = Path(__file__).resolve().parents[1]
TRAIN = {"phase": "train"}
HPARAMS = {"lr": 0.0003, "ppo": {"epochs": 4, "clip": 0.2}, "opponents": ["random", "greedy"],
           "arch": "resnet"}


def _python(code: str, *args) -> str:
    """Run `code` in a fresh interpreter with `args` as JSON in sys.argv[1]; its stdout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                       os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


_WRITE = """
import json, sys
from keisei_fn.run.tracking import open_run, track_metrics, close_run
repo, run_hash, hparams, steps = json.loads(sys.argv[1])
run = open_run(repo, "test", hparams, run_hash)
for step in steps:
    metrics = {"losses/policy": step / 4, "games/end_mate": step}
    track_metrics(run, metrics, step, {"phase": "train"})
close_run(run)
print(run.hash)
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> str:
    """One repo for the module, each test in its own runs: creating a repo costs Aim ~2 s."""
    return str(tmp_path_factory.mktemp("tracking") / "not" / "yet" / "there")


@pytest.fixture(autouse=True)
def _no_leftovers():
    """Aim must leave neither child processes nor threads behind once runs are closed."""
    threads = set(threading.enumerate())
    before = {c.pid for c in psutil.Process().children(recursive=True)}
    yield
    # Only new children count: an earlier test's torch.compile leaves multiprocessing's resource
    # tracker, which every process that used a process pool keeps until exit.
    assert [c for c in psutil.Process().children(recursive=True) if c.pid not in before] == []
    assert set(threading.enumerate()) <= threads


def test_roundtrip_in_process_and_in_a_fresh_process(repo):
    import torch

    run = open_run(repo, "test", HPARAMS)
    assert (Path(repo) / ".aim").is_dir()  # created on first use
    track_metrics(run, {"losses/policy": 0.5, "losses/value": torch.tensor(0.75)}, 0, TRAIN)
    track_metrics(run, {"losses/policy": 0.25, "losses/value": torch.tensor(0.125)}, 10, TRAIN)
    track_metrics(run, {"losses/policy": -1.5}, 20, TRAIN)
    track_metrics(run, {"charts/steps_per_s": 1234.5, "games/end_mate": 3}, 10)
    track_metrics(run, {"charts/steps_per_s": 999.0, "games/end_mate": 0}, 20)
    close_run(run)
    expected = {
        metric_key("losses/policy", TRAIN): [(0, 0.5), (10, 0.25), (20, -1.5)],
        metric_key("losses/value", TRAIN): [(0, 0.75), (10, 0.125)],
        "charts/steps_per_s": [(10, 1234.5), (20, 999.0)],
        "games/end_mate": [(10, 3.0), (20, 0.0)],
    }
    assert metric_key("losses/policy", TRAIN) == 'losses/policy|{"phase":"train"}'

    assert read_metrics(repo, run.hash) == expected
    assert read_hparams(repo, run.hash) == HPARAMS

    # A fresh interpreter, through this module and through plain Aim (which is what failed before
    # the run was indexed on close: get_run -> None, run["hparams"] -> KeyError).
    out = json.loads(_python("""
import json, sys
import aim
from keisei_fn.run.tracking import read_metrics, read_hparams
repo, run_hash = json.loads(sys.argv[1])
run = aim.Repo.from_path(repo).get_run(run_hash)
print(json.dumps({"metrics": read_metrics(repo, run_hash), "hparams": read_hparams(repo, run_hash),
                  "aim_hparams": run["hparams"], "aim_experiment": run.experiment}))
""", repo, run.hash))
    assert {k: [tuple(p) for p in v] for k, v in out["metrics"].items()} == expected
    assert out["hparams"] == out["aim_hparams"] == HPARAMS
    assert out["aim_experiment"] == "test"


def test_resume_in_a_separate_process_continues_the_sequence(repo):
    run_hash = _python(_WRITE, repo, None, HPARAMS, [0, 1, 2, 3]).split()[-1]
    # Resumed from a checkpoint taken at step 2: step 3 is tracked again, with new values.
    _python(_WRITE.replace("step / 4", "step * 10"), repo, run_hash, {"lr": 99.0}, [3, 4, 5])

    metrics = read_metrics(repo, run_hash)
    assert metrics == {
        metric_key("games/end_mate", TRAIN): [(s, float(s)) for s in range(6)],
        metric_key("losses/policy", TRAIN): [(0, 0.0), (1, 0.25), (2, 0.5), (3, 30.0), (4, 40.0),
                                             (5, 50.0)],
    }
    assert read_hparams(repo, run_hash) == HPARAMS  # a resume keeps the original hparams


def test_resume_after_the_writer_crashed_without_closing(repo):
    crashed = _WRITE.replace("close_run(run)\nprint(run.hash)",
                             "print(run.hash, flush=True)\nimport os; os._exit(0)")
    run_hash = _python(crashed, repo, None, HPARAMS, [0, 1]).split()[-1]
    # Readable while unclosed, and its lock (left by a dead process) does not block the resume.
    assert read_metrics(repo, run_hash)[metric_key("losses/policy", TRAIN)] == [(0, 0.0), (1, 0.25)]

    run = open_run(repo, "test", {}, run_hash)
    track_metrics(run, {"losses/policy": 2.0}, 2, TRAIN)
    close_run(run)
    assert read_metrics(repo, run_hash)[metric_key("losses/policy", TRAIN)] == [
        (0, 0.0), (1, 0.25), (2, 2.0)]


def test_non_finite_values_are_skipped_not_written(repo):
    run = open_run(repo, "test", {})
    assert track_metrics(run, {"losses/policy": 1.0, "losses/value": math.nan}, 0) == [
        "losses/value"]
    assert track_metrics(run, {"losses/policy": math.inf, "losses/value": 2.0}, 1) == [
        "losses/policy"]
    assert track_metrics(run, {"losses/policy": 3.0, "losses/kl": -math.inf}, 2) == ["losses/kl"]
    assert track_metrics(run, {"losses/kl": math.nan}, 3) == ["losses/kl"]
    close_run(run)
    assert read_metrics(repo, run.hash) == {
        "losses/policy": [(0, 1.0), (2, 3.0)],
        "losses/value": [(1, 2.0)],
    }


def test_a_forked_child_cannot_use_the_run(repo):
    run = open_run(repo, "test", {})
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child; os._exit skips Aim's atexit (it would hang)
            code = 1
            try:
                track_metrics(run, {"x": 1.0}, 0)
            except RuntimeError:
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        close_run(run)
    assert read_metrics(repo, run.hash) == {}
