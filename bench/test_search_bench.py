"""The compiled simulation (search/compiled.py) against the eager search, the same network (the
packaged `reference`, 2x32), positions and noise, interleaved rounds, process CPU time, one
thread.

Gates (search_compiled_speed in baselines.json): every round (each on another opening) both
choose the same moves with the same visit counts; no graph break and no recompilation after a
first compiled search of each opening; and compiled /
eager speed >= the floor at one game x 64 simulations (the players' and the USI engine's case).
Long mode adds 16 x 16 and 64 x 16 (reported, and gated against a floor of 1: never slower).
"""

from __future__ import annotations

import statistics

import pytest
import torch

import train_parts
from gates import BASELINES, check_floor, dynamo_counts
from settings import LONG
from keisei_fn.agent import compiled_evaluator, evaluator, load_agent
from keisei_fn.arena.openings import load_suite, replay
from keisei_fn.search.gumbel import search

CASES = ((1, 64), (16, 16), (64, 16)) if LONG else ((1, 64),)
ROUNDS = 5 if LONG else 3


@pytest.mark.gate
@pytest.mark.parametrize("games, simulations", CASES, ids=[f"{g}x{s}" for g, s in CASES])
def test_search_compiled_vs_eager(benchmark, games, simulations):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _compare(benchmark, games, simulations)
    finally:
        torch.set_num_threads(threads)


def _compare(benchmark, games, simulations):
    agent, _ = load_agent("reference")
    # each round searches other openings (other trees, other depths)
    states = replay(load_suite("default")[:games * ROUNDS]).split(games)
    plain, fast = evaluator(agent), compiled_evaluator(agent)
    picked = [0]

    def run(compiled):
        with torch.no_grad():
            return search(states[picked[0]], fast if compiled else plain,
                          torch.Generator().manual_seed(0), simulations=simulations,
                          gumbel_scale=0.0, compiled=compiled)

    def compile_all():  # every variant these searches use (walk lengths differ by position)
        for picked[0] in range(len(states)):
            run(True)

    torch._dynamo.reset()
    from torch._dynamo.utils import counters

    counters.clear()
    compile_s = train_parts.timed(compile_all)
    once = dynamo_counts()
    t_eager, t_compiled, same = [], [], []

    def eager_round():
        picked[0] = len(t_eager) % len(states)
        out = {}
        t_eager.append(train_parts.timed_both(lambda: out.update(eager=run(False))))
        t_compiled.append(train_parts.timed_both(lambda: out.update(compiled=run(True))))
        same.append(torch.equal(out["eager"]["action"], out["compiled"]["action"])
                    and torch.equal(out["eager"]["visits"], out["compiled"]["visits"]))

    benchmark.group = f"search-{games}x{simulations}"
    benchmark.pedantic(eager_round, rounds=ROUNDS, warmup_rounds=0)
    per_round = [e[1] / c[1] for e, c in zip(t_eager, t_compiled)]
    speed = statistics.median(per_round)
    benchmark.extra_info.update(
        compile_s=compile_s, games=games, simulations=simulations,
        eager_ms=1e3 * statistics.median(t[1] for t in t_eager),
        compiled_ms=1e3 * statistics.median(t[1] for t in t_compiled),
        compiled_simulations_per_s=games * simulations / statistics.median(
            t[1] for t in t_compiled),
        compiled_over_eager_speed=speed, per_round=[round(r, 3) for r in per_round], **once)
    assert all(same), f"the compiled search chose differently from the eager one: {same}"
    assert once["graph_breaks"] == 0, f"graph breaks in the search: {once['first_graph_break']}"
    after = dynamo_counts()
    assert after["unique_graphs"] == once["unique_graphs"], (
        f"the search recompiled during the rounds ({once['unique_graphs']} -> "
        f"{after['unique_graphs']} graphs)")
    gate = BASELINES["search_compiled_speed"]
    floor = gate["floor"] if (games, simulations) == (1, 64) else 1.0
    check_floor(f"search {games}x{simulations}: compiled / eager speed", speed, floor, per_round)


@pytest.mark.gate
def test_search_batched_rounds_vs_sequential_compiled(benchmark):
    """Both orders compiled (search/compiled.py's `simulate` and `simulate_wave`), one game x
    256 simulations over 16 considered moves, the packaged network's compiled evaluator: the
    batched rounds' speed over mctx's order, which is what lets the USI engine's state N grow
    with `Rounds batched` (docs/search.md, "Batched rounds"). Gate: search_batched_rounds_speed.
    The two orders choose differently by design (each ranks its own way), so no move check."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        agent, _ = load_agent("reference")
        states = replay(load_suite("default")[:ROUNDS]).split(1)
        fast, picked = compiled_evaluator(agent), [0]

        def run(batched):
            with torch.no_grad():
                return search(states[picked[0]], fast, torch.Generator().manual_seed(0),
                              simulations=256, gumbel_scale=0.0, compiled=True,
                              batched_rounds=batched)

        for picked[0] in range(len(states)):  # compile every variant outside the clock
            run(False), run(True)
        times = []

        def one_round():
            picked[0] = len(times) % len(states)
            times.append((train_parts.timed_both(run, False)[1],
                          train_parts.timed_both(run, True)[1]))

        benchmark.group = "search-rounds-1x256"
        benchmark.pedantic(one_round, rounds=ROUNDS, warmup_rounds=0)
        per_round = [s / b for s, b in times]
        speed = statistics.median(per_round)
        benchmark.extra_info.update(
            sequential_ms=1e3 * statistics.median(s for s, _ in times),
            batched_ms=1e3 * statistics.median(b for _, b in times),
            batched_over_sequential_speed=speed, per_round=[round(r, 3) for r in per_round])
        check_floor("search 1x256 compiled: batched rounds / sequential speed", speed,
                    BASELINES["search_batched_rounds_speed"]["floor"], per_round)
    finally:
        torch.set_num_threads(threads)
