"""Benchmark configuration: short mode (CI) by default, long mode with KEISEI_BENCH_LONG=1.

short: B in (64, 1024), few rounds, no torch.compile test; aims at well under a minute.
long : B in (1, 64, 1024, 4096), more rounds, plus tests marked ``long`` (torch.compile, threads).
KEISEI_BENCH_THREADS=n sets torch.set_num_threads(n) for the session; default 1 (one core, like the
cshogi loop; on the shared 2-core VM two threads collapse whenever anything else runs, see
test_threads_b1024).
KEISEI_BENCH_TUNE_ALLOCATOR=1 applies keisei_fn._runtime.tune_allocator() (what the CLI does: glibc
keeps freed memory instead of page-faulting fresh mmap pages every step); default off, so the
engine is measured as a library caller without that setting gets it.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # engine_loop, cshogi_peer

import cshogi_peer  # noqa: E402
import engine_loop  # noqa: E402
from settings import CONFIG, LONG, BenchConfig  # noqa: E402

TUNE_ALLOCATOR = os.environ.get("KEISEI_BENCH_TUNE_ALLOCATOR", "") == "1"
ENGINE_API = ("initial_state", "legal_mask", "step", "observe", "reset_where")


def pytest_configure(config):
    config.addinivalue_line("markers", "long: runs only with KEISEI_BENCH_LONG=1 make bench")
    # `make test` runs only these (`-m gate`): a measurement without a bound gates nothing, and
    # CI's time goes to the claims; `make bench` runs every benchmark
    config.addinivalue_line("markers", "gate: asserts a bound of baselines.json (make test's set)")
    torch.set_num_threads(int(os.environ.get("KEISEI_BENCH_THREADS", "1")))
    if TUNE_ALLOCATOR:
        from keisei_fn._runtime import tune_allocator

        tune_allocator()


@pytest.fixture(autouse=True)
def _gate_mark(request):
    import gates

    gates.CURRENT_TEST_IS_GATE[0] = request.node.get_closest_marker("gate") is not None


def pytest_collection_modifyitems(config, items):
    if LONG:
        return
    skip = pytest.mark.skip(reason="long benchmark: set KEISEI_BENCH_LONG=1")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def bench_config() -> BenchConfig:
    return CONFIG


@pytest.fixture(scope="session")
def shogi():
    """keisei_fn.shogi, or skip when it is missing or does not export the API yet."""
    try:
        module = importlib.import_module("keisei_fn.shogi")
    except ImportError as err:
        pytest.skip(f"keisei_fn.shogi not importable: {err}")
    missing = [name for name in ENGINE_API if not hasattr(module, name)]
    if missing:
        pytest.skip(f"keisei_fn.shogi lacks {missing}")
    return module


@pytest.fixture(scope="session")
def engine_loops(shogi, bench_config):
    """Warmed-up random-play loops, one per batch size, shared by the tests of the session."""
    cache: dict[int, engine_loop.EngineLoop] = {}

    def get(batch_size: int) -> engine_loop.EngineLoop:
        if batch_size not in cache:
            loop = engine_loop.new_loop(shogi, batch_size, seed=batch_size)
            cache[batch_size] = engine_loop.warm_up(loop, bench_config.warmup_steps)
        return cache[batch_size]

    return get


@pytest.fixture(scope="session")
def peer_games(bench_config):
    """Warmed-up cshogi games, one set per batch size."""
    cache: dict[int, cshogi_peer.PeerGames] = {}

    def get(batch_size: int) -> cshogi_peer.PeerGames:
        if batch_size not in cache:
            games = cshogi_peer.new_games(batch_size, seed=batch_size)
            cache[batch_size] = cshogi_peer.warm_up(games, bench_config.warmup_steps)
        return cache[batch_size]

    return get


def pytest_benchmark_update_machine_info(config, machine_info):
    """Every saved benchmark JSON names its machine: CPU model, cores, ISA flags, torch, threads."""
    from gates import machine

    machine_info["keisei"] = machine()


def pytest_report_header(config):
    from gates import describe_machine

    return f"machine: {describe_machine()}"
