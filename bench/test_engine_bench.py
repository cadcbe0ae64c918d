"""Random self-play throughput of keisei_fn.shogi against cshogi in the same session.

Throughput is states/s = B * steps / seconds, stored in each benchmark's extra_info. Nothing here
asserts a wall-clock time: the only gate is the ratio ours/cshogi at B=1024 measured in the same
session (floor in bench/baselines.json). See conftest.py for short/long mode.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import cshogi_peer
import engine_loop
from gates import BASELINES, check_floor
from settings import CONFIG

BENCH_DIR = Path(__file__).parent
RATIO_BATCH = 1024


def _median_states_per_s(benchmark, batch_size: int, steps: int) -> float:
    return batch_size * steps / benchmark.stats.stats.median


@contextmanager
def torch_threads(n: int):
    """torch.set_num_threads(n) for the block, restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _pairwise(first, second):
    """A benchmark body running both workloads in turn, and the two lists it appends their
    times to: interleaving cancels slow drifts in machine load."""
    t_first, t_second = [], []

    def pair():
        t0 = time.perf_counter()
        first()
        t1 = time.perf_counter()
        second()
        t2 = time.perf_counter()
        t_first.append(t1 - t0)
        t_second.append(t2 - t1)

    return pair, t_first, t_second


by_batch = pytest.mark.parametrize("batch_size", CONFIG.batch_sizes, ids=lambda b: f"B{b}")


# --------------------------------------------------------------------------------------- sampler
@by_batch
def test_sampler(benchmark, batch_size, bench_config):
    """The action sampler alone, on a mask with ~90 legal moves per game (a middle-game count)."""
    gen = torch.Generator().manual_seed(0)
    mask = torch.rand(batch_size, engine_loop.N_LABELS, generator=gen) < 90 / engine_loop.N_LABELS
    mask[:, 0] = True  # at least one legal move
    pool = engine_loop.noise_pool(batch_size, seed=0)
    offsets = iter(range(10**9))
    benchmark.group = "sampler"
    action = benchmark.pedantic(
        lambda: engine_loop.sample_actions(mask, pool, next(offsets) % engine_loop.POOL_EXTRA),
        rounds=200,
        warmup_rounds=5,
    )
    assert mask.gather(1, action[:, None]).all()
    benchmark.extra_info.update(
        batch_size=batch_size,
        threads=torch.get_num_threads(),
        ms_per_step=1e3 * benchmark.stats.stats.median,
        us_per_game=1e6 * benchmark.stats.stats.median / batch_size,
    )


# ----------------------------------------------------------------------------------- random play
@by_batch
def test_engine_random_play(benchmark, batch_size, bench_config, engine_loops):
    """keisei_fn.shogi, all B games at once: sample, step (+ next mask), reset_where, observe."""
    loop = engine_loops(batch_size)
    steps = bench_config.steps_per_round(batch_size)
    engine_loop.reset_counters(loop)
    benchmark.group = f"random-play-B{batch_size}"
    benchmark.pedantic(
        engine_loop.run, args=(loop, steps), rounds=bench_config.rounds, warmup_rounds=1
    )
    benchmark.extra_info.update(
        system="keisei_fn",
        batch_size=batch_size,
        allocator_tuned=os.environ.get("KEISEI_BENCH_TUNE_ALLOCATOR", "") == "1",
        load_average_1min=os.getloadavg()[0],
        steps_per_round=steps,
        threads=torch.get_num_threads(),
        states_per_s=_median_states_per_s(benchmark, batch_size, steps),
        **engine_loop.summary(loop),
    )


@by_batch
def test_cshogi_random_play(benchmark, batch_size, bench_config, peer_games):
    """The peer: cshogi in a Python loop (moves, 2187 mask, make_input_features, push, reset)."""
    games = peer_games(batch_size)
    steps = bench_config.steps_per_round(batch_size)
    benchmark.group = f"random-play-B{batch_size}"
    benchmark.pedantic(
        cshogi_peer.run, args=(games, steps), rounds=bench_config.rounds, warmup_rounds=1
    )
    benchmark.extra_info.update(
        system="cshogi",
        batch_size=batch_size,
        load_average_1min=os.getloadavg()[0],
        steps_per_round=steps,
        states_per_s=_median_states_per_s(benchmark, batch_size, steps),
        ply_mean=cshogi_peer.mean_ply(games),
    )


# ------------------------------------------------------------------------------------ ratio gate
RATIO_THREADS = int(os.environ.get("KEISEI_BENCH_RATIO_THREADS", "1"))
RATIO_STEPS = 8  # steps per workload per round
RATIO_PAIRS = 9  # interleaved rounds; the first is a warm-up


@pytest.mark.gate
def test_ratio_vs_cshogi_b1024(benchmark, bench_config, shogi):
    """ours / cshogi states/s at B=1024, interleaved round by round; gated by baselines.json.

    Ours runs with RATIO_THREADS torch threads (default 1: one core each, like the cshogi loop;
    also far less sensitive to other load on a 2-core machine). The ratio is the median of the
    per-round ratios, so slow drifts in machine load cancel.

    Both sides get their own freshly warmed-up games (not the session's shared ones, which other
    tests advance by a mode-dependent number of plies): the cshogi loop slows down as games get
    longer (more legal moves, pieces in hand) while ours costs about the same at every ply, so the
    ratio depends on the ply mix. Fresh games and the fixed RATIO_STEPS and RATIO_PAIRS keep that
    mix the same in short and long mode: plies 0 to ~170, mean ~90, a conservative, RL-like mix
    (random games run to ~500 plies, and at plies 200-450 the ratio measured 1.5-1.8).
    """
    with torch_threads(RATIO_THREADS):
        loop = engine_loop.new_loop(shogi, RATIO_BATCH, seed=7)
        engine_loop.warm_up(loop, bench_config.warmup_steps)
    games = cshogi_peer.new_games(RATIO_BATCH, seed=7)
    cshogi_peer.warm_up(games, bench_config.warmup_steps)
    pair, t_ours, t_peer = _pairwise(
        lambda: engine_loop.run(loop, RATIO_STEPS), lambda: cshogi_peer.run(games, RATIO_STEPS)
    )
    benchmark.group = "ratio"
    with torch_threads(RATIO_THREADS):
        benchmark.pedantic(pair, rounds=RATIO_PAIRS, warmup_rounds=0)
    t_ours, t_peer = t_ours[1:], t_peer[1:]  # first pair is a warm-up
    ratios = [p / o for o, p in zip(t_ours, t_peer)]
    ratio = statistics.median(ratios)
    floor = BASELINES["ratio_b1024"]["floor"]
    benchmark.extra_info.update(
        batch_size=RATIO_BATCH,
        threads=RATIO_THREADS,
        allocator_tuned=os.environ.get("KEISEI_BENCH_TUNE_ALLOCATOR", "") == "1",
        ours_states_per_s=RATIO_BATCH * RATIO_STEPS / statistics.median(t_ours),
        cshogi_states_per_s=RATIO_BATCH * RATIO_STEPS / statistics.median(t_peer),
        ratio=ratio,
        ratio_min=min(ratios),
        ratio_max=max(ratios),
        ply_mean_ours=float(loop.state["ply"].float().mean()),
        ply_mean_cshogi=cshogi_peer.mean_ply(games),
        load_average_1min=os.getloadavg()[0],
        goal=BASELINES["ratio_b1024"]["goal"],
        floor=floor,
    )
    check_floor("ours/cshogi states/s at B=1024", ratio, floor, ratios)


# ---------------------------------------------------------------------------------------- memory
MEMORY_BATCH = 4096


def _probe(which: str, steps: int) -> dict:
    out = subprocess.run(
        [sys.executable, str(BENCH_DIR / "memory_probe.py"), which, str(MEMORY_BATCH), str(steps)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_memory_per_game_b4096(benchmark, shogi):
    """State bytes per game and peak-RSS delta per game at B=4096, engine and cshogi peer."""
    results = {}

    def probe_both():
        results["engine"] = _probe("engine", 10)
        results["cshogi"] = _probe("cshogi", 10)

    benchmark.group = "memory"
    benchmark.pedantic(probe_both, rounds=1, warmup_rounds=0)
    benchmark.extra_info.update(batch_size=MEMORY_BATCH, **results)


# ------------------------------------------------------------------------------ threads (long)
@pytest.mark.long
def test_threads_b1024(benchmark, bench_config, engine_loops):
    """torch.set_num_threads(1) vs (2) on the same B=1024 loop, interleaved.

    Long mode only: with anything else running on a 2-core machine, two threads wait on each
    other at every op and a round takes 10-60 times longer (measured), which alone would blow
    the short mode's time budget.
    """
    loop, steps = engine_loops(RATIO_BATCH), bench_config.steps_per_round(RATIO_BATCH)

    def run_with(n):
        with torch_threads(n):
            engine_loop.run(loop, steps)

    pair, t1, t2 = _pairwise(lambda: run_with(1), lambda: run_with(2))
    benchmark.group = "threads"
    benchmark.pedantic(pair, rounds=bench_config.rounds + 1, warmup_rounds=0)
    sps1 = RATIO_BATCH * steps / statistics.median(t1[1:])
    sps2 = RATIO_BATCH * steps / statistics.median(t2[1:])
    benchmark.extra_info.update(
        batch_size=RATIO_BATCH,
        load_average_1min=os.getloadavg()[0],
        states_per_s_1_thread=sps1,
        states_per_s_2_threads=sps2,
        per_round_2_over_1=[round(a / b, 3) for a, b in zip(t1[1:], t2[1:])],
        faster="1 thread" if sps1 > sps2 else "2 threads",
    )


# ------------------------------------------------------------------------------ compile (long)
def _median_call_s(fn, n: int = 10) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _compile_targets(shogi, loop):
    """name -> (function, args) at B=1024. "legal_mask" is the mask computation behind step: the
    public legal_mask may just read the cached state["legal_mask"], so when the engine exposes
    `analyze(canonical_board, canonical_hands)` that is compiled instead."""
    state = loop.state
    action = engine_loop.sample_actions(state["legal_mask"], loop.pool, 0)
    targets = {"step": (shogi.step, (state, action)), "observe": (shogi.observe, (state,))}
    try:
        from keisei_fn.shogi._movegen import analyze, hands_to_canonical, to_canonical

        side = state["side_to_move"]
        args = (to_canonical(state["board"], side), hands_to_canonical(state["hands"], side))
        targets["legal_mask"] = (analyze, args)
    except ImportError:
        targets["legal_mask"] = (shogi.legal_mask, (state,))
    return targets


@pytest.mark.long
@pytest.mark.parametrize("target", ["step", "legal_mask", "observe"])
def test_torch_compile(benchmark, bench_config, shogi, engine_loops, target):
    """What torch.compile (inductor, CPU, dynamic=False) adds to an engine function at B=1024.

    The benchmark times the compiled function on one fixed input. extra_info records the compile
    time, eager vs compiled per-call medians on the same input and, for ``step``, the random-play
    loop with the compiled step swapped in. A compile failure is recorded (and the eager function
    benchmarked) rather than failing the suite: compile support is an observation here.
    """
    loop = engine_loops(RATIO_BATCH)
    eager, args = _compile_targets(shogi, loop)[target]
    info = {"target": target, "function": eager.__name__, "batch_size": RATIO_BATCH,
            "threads": torch.get_num_threads()}
    torch._dynamo.reset()
    compiled = torch.compile(eager, dynamic=False)
    t0 = time.perf_counter()
    try:
        compiled(*args)
        info["compile_s"] = time.perf_counter() - t0
        compiled(*args)
        info["eager_ms"] = 1e3 * _median_call_s(lambda: eager(*args))
        info["compiled_ms"] = 1e3 * _median_call_s(lambda: compiled(*args))
        info["speedup"] = info["eager_ms"] / info["compiled_ms"]
    except Exception as err:
        message = str(err)
        errors = [ln for ln in message.splitlines() if "error" in ln and "warning" not in ln]
        info["compile_error"] = f"{type(err).__name__}: {message[:300]}"
        info["compile_error_lines"] = errors[:20]  # the compiler's own messages, not its warnings
        compiled = eager
    if target == "step" and "compile_error" not in info:
        steps = bench_config.steps_per_round(RATIO_BATCH)
        fast = SimpleNamespace(step=compiled, observe=shogi.observe, reset_where=shogi.reset_where)
        fast_loop = engine_loop.EngineLoop(fast, loop.state, loop.fresh, loop.pool, loop.rng)
        engine_loop.run(fast_loop, 20)  # games end and reset: any recompilation happens here
        eager_s = _median_call_s(lambda: engine_loop.run(loop, steps), n=bench_config.rounds)
        fast_s = _median_call_s(lambda: engine_loop.run(fast_loop, steps), n=bench_config.rounds)
        info["loop_states_per_s_eager"] = RATIO_BATCH * steps / eager_s
        info["loop_states_per_s_compiled"] = RATIO_BATCH * steps / fast_s
    benchmark.group = "compile"
    benchmark.pedantic(compiled, args=args, rounds=bench_config.rounds, warmup_rounds=1)
    benchmark.extra_info.update(info)
