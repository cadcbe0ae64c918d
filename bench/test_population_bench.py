"""Population of K agents in one process: the folded backend (members as one grouped-convolution
network, the TorchRL loss vmapped over members) against a Python loop over members running the
single agent's own update step, for K = 1, 4, 8.

    update speed ratio  = loop time / folded time of learn over the same rollout batch
    acting speed ratio  = loop time / folded time of the members' policy forward (collection)

Both from each side's least process CPU time over interleaved rounds (one torch thread, see
test_train_bench.test_collector_overhead for why CPU time), > 1 meaning the folded backend is
faster. The batch is a real rollout: build(cfg) collects it and GAE runs on it as in
run/train.py. The gate: update ratio at K = 8 >= its floor in baselines.json.
"""

from __future__ import annotations

import os
import statistics

import pytest
import torch

import train_parts
from gates import BASELINES, check_floor
from settings import LONG
from keisei_fn.learn.compile import compile_update
from keisei_fn.config import load_config
from keisei_fn.algos.ppo.learn import learn
from keisei_fn.algos.registry import make_update
from keisei_fn.run.parts import build
from keisei_fn.run.session import collect_with_restarts
from keisei_fn.run.snapshot import fresh_state

ROUNDS = 7 if LONG else 5  # interleaved; the first is a warm-up
# Per member: games x steps = samples per update call, one minibatch of 256 per epoch (the
# default config's minibatch), 1 epoch (short) or the default's 2 (long).
GAMES, STEPS, EPOCHS = (64, 8, 2) if LONG else (32, 8, 1)
ACT_GAMES = 128  # the default env.batch_size per member


def _config(members: int, backend: str):
    return load_config(
        None,
        [
            f"population.size={members}",
            f"population.backend={backend}",
            f"env.batch_size={GAMES}",
            f"ppo.rollout_steps={STEPS}",
            f"ppo.epochs={EPOCHS}",
            "ppo.target_kl=0.0",  # every epoch runs, in every variant alike
            "total_updates=1",
            "track.aim=false",
            "optim.compile=off",
            "optim.precision=fp32",
            "track.progress=false",
        ],
    )


def _population_batch(cfg, parts):
    collect = collect_with_restarts(cfg, parts, checkpoint=None, log=print)
    _, rollout, after = collect(fresh_state(cfg, parts))
    return train_parts.prepare_batch(rollout, after, parts, cfg)


def _ratio(loop_times, folded_times) -> tuple[float, list[float]]:
    """(least loop CPU time / least folded CPU time over the rounds, the per-round ratios).
    Each side's least time, not the median of per-round ratios: noise only adds time, and a CI
    run failed the K=8 eager gate on rounds [0.325, 0.391, 1.254] (load 1.5: another process
    shared the machine for two of the three rounds), where a collapse slows every round."""
    per_round = [lo[1] / fo[1] for lo, fo in zip(loop_times[1:], folded_times[1:])]
    return min(t[1] for t in loop_times[1:]) / min(t[1] for t in folded_times[1:]), per_round


_COMPILED_SHORT = pytest.mark.skipif(not LONG, reason="long mode (KEISEI_BENCH_LONG=1): compiles")


@pytest.mark.parametrize("variant, members", [
    ("eager", 1), ("eager", 4), pytest.param("eager", 8, marks=pytest.mark.gate),
    pytest.param("compiled", 1, marks=_COMPILED_SHORT),
    pytest.param("compiled", 4, marks=_COMPILED_SHORT),
    pytest.param("compiled", 8, marks=pytest.mark.gate)])
def test_population_update_folded_vs_loop(benchmark, variant, members):
    """variant "compiled": the folded step under compile.compile_update (optim.compile=default,
    what a population trains with by default); "eager": optim.compile=off. The loop is eager
    (Dynamo cannot trace its module-swapping step under torch.func.grad)."""
    cfg = _config(members, "folded")
    torch.manual_seed(0)
    parts = build(cfg)
    try:
        batch = _population_batch(cfg, parts)
    finally:
        parts.collector.shutdown()
    folded = parts.update
    compile_s = None
    if variant == "compiled":
        folded = compile_update(folded, "default", log=lambda *a: None)
        compile_s = train_parts.timed(learn, fresh_state(cfg, parts), batch, folded, cfg,
                                      lambda *a: None)
    loop = make_update(_config(members, "loop"), parts.net)
    states = {name: fresh_state(cfg, parts) for name in ("folded", "loop")}
    t_folded, t_loop = [], []

    def quiet(log=None):
        return None

    def loop_round():  # pytest-benchmark's per-round setup: untimed by it, timed by us
        t_loop.append(train_parts.timed_both(learn, states["loop"], batch, loop, cfg, quiet))

    def folded_round():
        t_folded.append(train_parts.timed_both(learn, states["folded"], batch, folded, cfg,
                                               quiet))

    benchmark.group = f"population-update-{variant}"
    benchmark.pedantic(folded_round, setup=loop_round, rounds=ROUNDS, warmup_rounds=0)
    ratio, per_round = _ratio(t_loop, t_folded)
    samples = batch.batch_size[1] * EPOCHS
    benchmark.extra_info.update(
        variant=variant, members=members, samples_per_member=batch.batch_size[1], epochs=EPOCHS,
        first_call_s_with_compile=compile_s,
        threads=torch.get_num_threads(), load_average_1min=os.getloadavg()[0],
        folded_samples_per_s_per_member=samples / statistics.median(t[0] for t in t_folded[1:]),
        loop_samples_per_s_per_member=samples / statistics.median(t[0] for t in t_loop[1:]),
        folded_over_loop_speed=ratio, per_round=[round(r, 3) for r in per_round])
    floor = BASELINES["population_update_k8"]["floor"].get(variant)
    if members == 8 and floor is not None:
        least = [min(t[1] for t in times[1:]) for times in (t_loop, t_folded)]
        check_floor(f"K=8 {variant}: folded update speed / loop (least CPU seconds, loop "
                    f"{least[0]:.3f}, folded {least[1]:.3f}; per-round ratios below)", ratio,
                    floor, per_round)


@pytest.mark.parametrize("members", [1, 4, 8])
def test_population_acting_folded_vs_loop(benchmark, members):
    """The members' policy forward over [K * 128] observations (what collection calls per step)."""
    cfg = load_config(None, [f"population.size={members}", f"env.batch_size={ACT_GAMES}",
                             "ppo.rollout_steps=1", "total_updates=1", "track.aim=false",
                             "optim.compile=off", "optim.precision=fp32"])
    parts = build(cfg)
    try:
        observation = fresh_state(cfg, parts).games.get("observation")
    finally:
        parts.collector.shutdown()
    policy = parts.policy
    policy.net = parts.net  # the loop backend's module
    t_folded, t_loop = [], []

    def run(backend):
        policy.backend = backend
        with torch.no_grad():
            for _ in range(3):
                policy.outputs(observation)

    def loop_round():
        t_loop.append(train_parts.timed_both(run, "loop"))

    def folded_round():
        t_folded.append(train_parts.timed_both(run, "folded"))

    benchmark.group = "population-acting"
    benchmark.pedantic(folded_round, setup=loop_round, rounds=ROUNDS + 2, warmup_rounds=0)
    ratio, per_round = _ratio(t_loop, t_folded)
    benchmark.extra_info.update(
        members=members, games_per_member=ACT_GAMES, threads=torch.get_num_threads(),
        load_average_1min=os.getloadavg()[0], folded_over_loop_speed=ratio,
        per_round=[round(r, 3) for r in per_round])
