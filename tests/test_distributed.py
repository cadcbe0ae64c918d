"""Data-parallel learning under torchrun (2 CPU processes, gloo on loopback).

- The update step averages the ranks' gradients: a 2-rank update equals, in one process, the same
  Adam step on the mean of the two ranks' minibatch gradients (eager and compiled).
- End to end through the CLI: every rank ends with the same parameters, only rank 0 writes
  checkpoints / Aim / progress, a checkpoint holds both ranks' games, and the group resumes
  exactly (3 updates + resume to 4 = 4 straight); populations compose; a single process can
  resume a group's checkpoint; bad combinations are refused in one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensordict import TensorDict

from keisei_fn.models import build_model
from keisei_fn.run import distributed
from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
from keisei_fn.config import ConfigError, load_config
from keisei_fn.learn.optim import adam_init
from keisei_fn.algos.registry import make_update
from keisei_fn.run.train import resume_config, train

from _tiny import TINY, TINY_AZ

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
HERE = Path(__file__).parent


def torchrun(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    proc = subprocess.run([*TORCHRUN, *args], capture_output=True, text=True, timeout=timeout,
                          env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def train_cli(*args: str) -> subprocess.CompletedProcess:
    return torchrun("-m", "keisei_fn.cli", "train", *args)


def digest(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("parameters identical")]
    assert len(lines) == 1, proc.stdout  # printed by rank 0 only
    return lines[0].split("digest ")[1].rstrip(")")


# ---------------------------------------------------------------- the update's arithmetic

UPDATE_CFG = [o for o in TINY if not o.startswith(("checkpoint", "keep", "eval", "time"))]


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_update_applies_the_mean_of_the_ranks_gradients(tmp_path, mode):
    torchrun(str(HERE / "_ddp_update.py"), str(tmp_path), mode, *UPDATE_CFG,
             timeout=600 if mode == "compiled" else 300)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    before, before1, after0, after1, batch0, batch1 = (
        TensorDict(r[key], batch_size=[1]) for key in ("before", "after", "batch") for r in (r0, r1)
    )
    assert (before == before1).all(), "ranks did not start from rank 0's params"
    assert (after0 == after1).all(), "ranks' parameters differ after the update"
    assert not torch.equal(batch0["action"], batch1["action"]), "ranks played the same games"
    assert r0["skipped"] == 0.0
    if mode == "compiled":  # the all-reduce compiles into the update's one graph, no break
        for r in (r0, r1):
            assert r["explained"] == {"graphs": 1, "breaks": 0}, r["explained"]

    cfg = load_config(None, UPDATE_CFG)
    net = build_model(cfg.model)
    seen = {}

    def capture(grads):
        seen["grads"] = grads
        return grads

    lr = torch.tensor([cfg.optim.lr])
    opt = torch.stack([adam_init(p) for p in before.unbind(0)])
    local = make_update(cfg, net, reduce_grads=capture)
    alone, _, _ = local(before, opt, batch0, lr)  # what rank 0 alone would have done
    g0 = seen["grads"]
    local(before, opt, batch1, lr)
    mean = g0.apply(lambda a, b: (a + b) / 2, seen["grads"])
    expected, _, _ = make_update(cfg, net, reduce_grads=lambda g: mean)(
        before, opt, batch0, lr)

    # Adam's first step is about lr * sign(g): where |g| is near Adam's eps the sign is not
    # stable under the reassociation of compiled kernels, so those entries are not compared.
    for key in expected.keys(True, True):
        exp, got, g = expected.get(key), after0.get(key), mean.get(key)
        if mode == "eager":
            torch.testing.assert_close(got, exp, rtol=0, atol=1e-6, msg=str(key))
        else:
            stable = g.reshape(exp.shape).abs() > 1e-5
            torch.testing.assert_close(got[stable], exp[stable], rtol=0, atol=2e-5, msg=str(key))
    moved_alone = sum(float((alone.get(k) - expected.get(k)).abs().sum())
                      for k in expected.keys(True, True))
    assert moved_alone > 1e-3, "the mean gradient gave rank 0's own update: nothing was averaged"


# ---------------------------------------------------------------- end to end, through the CLI

GROUP_RUN = [*TINY, "checkpoint_every=2"]


@pytest.fixture(scope="module")
def group_runs(tmp_path_factory):
    """Run A: 4 updates with Aim on. Run B: 3 updates, then --resume to 4."""
    root = tmp_path_factory.mktemp("ddp")
    a = train_cli(*GROUP_RUN, f"run_dir={root / 'a'}", "total_updates=4", "track.aim=true")
    b = train_cli(*GROUP_RUN, f"run_dir={root / 'b'}", "total_updates=3")
    resumed = torchrun("-m", "keisei_fn.cli", "train", "--resume", str(root / "b"),
                       "total_updates=4")
    return root, a, b, resumed


def test_group_resumes_exactly_and_ranks_agree(group_runs):
    root, a, b, resumed = group_runs
    assert digest(a) == digest(resumed) != digest(b)
    log = resumed.stdout + resumed.stderr
    assert "resumed from" in log and "(iteration 3)" in log


def test_only_rank_0_writes_and_a_checkpoint_holds_every_ranks_games(group_runs):
    root, a, _, _ = group_runs
    log = a.stdout + a.stderr
    assert log.count("run dir ") == 1 and log.count("[4/4 it]") == 1, log
    ckpts = list_checkpoints(root / "a")
    assert [p.name for p in ckpts] == ["ckpt_00000002.pt", "ckpt_00000004.pt"]
    payload = read_checkpoint(ckpts[0])  # at ply 12 (at 24 every game has just restarted)
    assert payload["world"] == 2 and len(payload["ranks"]) == 2
    boards = [TensorDict(r["games"])["game", "board"] for r in payload["ranks"]]
    assert not torch.equal(*boards), "both ranks played the same games"
    # rank 0's own entries are the top level too (a single process can resume it)
    assert torch.equal(TensorDict(payload["games"])["game", "board"], boards[0])
    policy_streams = [r["rng"]["policy"] for r in payload["ranks"]]
    assert not torch.equal(*policy_streams)
    payload = read_checkpoint(ckpts[-1])
    # the group's counters: 2 ranks x 4 games x 6 steps x 4 iterations
    assert payload["counters"]["frames"] == 2 * 4 * 6 * 4
    from aim import Repo

    hashes = [run.hash for run in Repo(str(root / "a" / "aim")).iter_runs()]
    assert hashes == [payload["aim_hash"]], "more than one Aim run: a rank other than 0 tracked"


def test_single_process_resumes_a_group_checkpoint(group_runs, tmp_path):
    root = group_runs[0]
    shutil.copytree(root / "b", tmp_path / "b")
    summary = train(resume_config(tmp_path / "b", ["total_updates=5"]), resume=True,
                    log=lambda *a: None)
    assert summary["counters"]["iteration"] == 5 and summary["world"] == 1


def test_league_under_torchrun(tmp_path):
    proc = train_cli(*GROUP_RUN, f"run_dir={tmp_path}", "total_updates=3", "league.fraction=0.5",
                     "league.snapshot_every=1", "league.pool_size=2")
    digest(proc)
    payload = read_checkpoint(list_checkpoints(tmp_path)[-1])
    assert len(payload["league"]["pool"]) == 2
    streams = [r["rng"]["league"] for r in payload["ranks"]]
    assert not torch.equal(*streams), "both ranks pick the same league opponents"


def test_population_under_torchrun(tmp_path):
    # with a KL early stop that member 1 (a large lr) reaches and member 0 does not: the ranks
    # must agree on every stop, or their all-reduces would no longer pair
    proc = train_cli(*GROUP_RUN, f"run_dir={tmp_path}", "total_updates=2", "population.size=2",
                     "population.round_robin_games=2", "ppo.epochs=3", "ppo.target_kl=1e-4",
                     "population.lr=[1e-7,0.05]")
    digest(proc)
    assert (tmp_path / "ranking.json").is_file()
    assert sorted(p.name for p in (tmp_path / "members").iterdir()) == ["member_0", "member_1"]
    payload = read_checkpoint(list_checkpoints(tmp_path)[-1])
    assert len(payload["ranks"]) == 2 and payload["population"] == 2


def test_gumbel_az_population_under_torchrun(tmp_path):
    """Searched self-play, replay buffers per rank and member, one agreed update count."""
    proc = train_cli(*GROUP_RUN, *TINY_AZ, f"run_dir={tmp_path}", "total_updates=6",
                     "population.size=2", "population.round_robin_games=0")
    digest(proc)
    payload = read_checkpoint(list_checkpoints(tmp_path)[-1])
    assert payload["counters"]["optimizer_updates"] > 0
    for rank in payload["ranks"]:
        assert [b["_storage"]["_len"] > 0 for b in rank["algo_state"]["buffers"]] == [True, True]
    boards = [r["algo_state"]["buffers"][0]["_storage"]["_storage"]["game.board"]
              for r in payload["ranks"]]
    assert not torch.equal(*boards), "both ranks played the same games"


# ---------------------------------------------------------------- helpers without a group


def test_unsupported_combinations_are_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="collector.backend=process"):
        distributed.join(load_config(None, [*TINY, "total_updates=1",
                                            "collector.backend=process"]))
    with pytest.raises(ConfigError, match="distributed.backend"):
        load_config(None, ["distributed.backend=mpi"])


def test_rank_config_offsets_seeds_and_picks_the_local_gpu():
    cfg = load_config(None, [*TINY, "total_updates=1", "seed=7", "population.size=2",
                             "population.seeds=[3,4]"])
    zero = distributed.rank_config(cfg, distributed.Group(0, 2, 0))
    one = distributed.rank_config(cfg, distributed.Group(1, 2, 1))
    assert zero.seed == 7 and list(zero.population.seeds) == [3, 4]
    stride = distributed.RANK_SEED_STRIDE
    assert one.seed == 7 + stride and list(one.population.seeds) == [3 + stride, 4 + stride]
    gpu = load_config(None, [*TINY, "total_updates=1", "device=cuda"])
    assert distributed.rank_config(gpu, distributed.Group(1, 2, 1)).device == "cuda:1"


def test_rank_payload_picks_each_ranks_own_entries():
    payload = {"params": 1, "games": "g0", "rng": "r0",
               "ranks": [{"games": "g0", "rng": "r0"}, {"games": "g1", "rng": "r1"}]}
    assert distributed.rank_payload(distributed.Group(1, 2), payload)["games"] == "g1"
    warnings = []
    three = distributed.rank_payload(distributed.Group(2, 3), payload, log=warnings.append)
    assert "games" not in three and "rng" not in three and three["params"] == 1
    assert "starts new games" in warnings[0]
    assert distributed.rank_payload(distributed.Group(0, 3), payload)["games"] == "g0"


def test_merged_game_stats_sum_counts_and_weight_means(monkeypatch):
    every = [{"games": 2.0, "mean_length": 10.0, "black_wins": 1.0, "league_games": 0.0},
             {"games": 6.0, "mean_length": 30.0, "black_wins": 2.0, "league_games": 4.0,
              "league_score": 0.75}]
    from keisei_fn.learn import group

    monkeypatch.setattr(group, "all_gather", lambda group, obj: every)
    merged = distributed.merge_game_stats(distributed.Group(0, 2), every[0])
    assert merged == {"games": 8.0, "mean_length": 25.0, "black_wins": 3.0, "league_games": 4.0,
                      "league_score": 0.75}
    every[0]["games"] = 0.0
    every[0]["mean_length"] = float("nan")  # no game ended on rank 0
    assert distributed.merge_game_stats(distributed.Group(0, 2), every[0])["mean_length"] == 30.0


def test_ctrl_c_stops_the_group_with_a_checkpoint(tmp_path):
    """torchrun passes SIGINT on to its workers: they agree to stop, rank 0 checkpoints, and no
    process is left (torchrun itself exits 1 after a signal; that is its own convention)."""
    import signal
    import time

    import psutil

    cmd = [*TORCHRUN, "-m", "keisei_fn.cli", "train", *TINY, f"run_dir={tmp_path}",
           "checkpoint_every=1", "total_updates=100000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(HERE)})
    workers = []
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "ckpt_00000002.pt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.2)
        workers = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert "interrupted: checkpoint written at iteration" in out, out[-3000:]
    iteration = int(out.split("checkpoint written at iteration ")[1].split(";")[0])
    assert list_checkpoints(tmp_path)[-1].name == f"ckpt_{iteration:08d}.pt"
    assert "torchrun --nproc-per-node 2 -m keisei_fn.cli train --resume" in out
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]


def test_a_rank_killed_mid_run_stops_the_group_and_the_run_resumes(tmp_path):
    """kill -9 of rank 1: torchrun stops rank 0 too (exit code != 0, no process left); the
    checkpoints on disk are intact and the group resumes from the newest."""
    import time

    import psutil

    cmd = [*TORCHRUN, "-m", "keisei_fn.cli", "train", *TINY, f"run_dir={tmp_path}",
           "checkpoint_every=1", "total_updates=100000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(HERE)})
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "ckpt_00000003.pt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.2)
        workers = psutil.Process(proc.pid).children(recursive=True)
        ranks = [w for w in workers if "keisei_fn.cli" in " ".join(w.cmdline())
                 and w.environ().get("RANK") == "1"]
        assert len(ranks) == 1, [w.cmdline() for w in workers]
        ranks[0].kill()
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode != 0 and "FAILED" in out, out[-2000:]
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    newest = list_checkpoints(tmp_path)[-1]
    iteration = read_checkpoint(newest)["counters"]["iteration"]
    resumed = torchrun("-m", "keisei_fn.cli", "train", "--resume", str(tmp_path),
                       f"total_updates={iteration + 1}")
    digest(resumed)
    assert f"(iteration {iteration})" in resumed.stdout + resumed.stderr
