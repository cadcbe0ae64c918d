"""The benchmark gates' one home: the bounds (baselines.json), the machine they ran on, the check.

A gate compares a ratio of interleaved rounds measured in one session against a bound set from
what the claim needs (not from one CPU's figure), so it holds on every CPU CI may use. A gate that
fails names the machine and every round, so a failure on an unfamiliar CPU can be read at once.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch

BASELINES = json.loads((Path(__file__).parent / "baselines.json").read_text())
# The instruction-set extensions that decide this project's speed on a CPU: fp32 SIMD width, and
# whether bf16 runs in hardware (AVX512_BF16, AMX).
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")


def _cpu() -> tuple[str, frozenset[str]]:
    from keisei_fn._runtime import cpu_model_and_flags

    return cpu_model_and_flags()


def machine() -> dict:
    """CPU model, logical cores, ISA flags, torch version and threads: every quoted figure's
    machine."""
    model, flags = _cpu()
    return {"cpu_model": model, "logical_cores": os.cpu_count(),
            "isa": [f for f in ISA_FLAGS if f in flags], "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version()}


def describe_machine() -> str:
    m = machine()
    return (f"{m['cpu_model']}, {m['logical_cores']} logical cores, ISA "
            f"{' '.join(m['isa']) or 'none of ' + '/'.join(ISA_FLAGS)}, torch {m['torch']}, "
            f"{m['torch_threads']} thread(s), load {os.getloadavg()[0]:.1f}")


def check_floor(what: str, value: float, floor: float, per_round, unit: str = "x") -> None:
    """Fail unless `value` (a median of per-round ratios) >= `floor`."""
    _check(value >= floor, f"{what} = {value:.3f}{unit} < floor {floor}{unit}", per_round)


def check_ceiling(what: str, value: float, ceiling: float, per_round) -> None:
    """Fail unless `value` <= `ceiling`."""
    _check(value <= ceiling, f"{what} = {value:.3f} > ceiling {ceiling}", per_round)


# Set for each test by bench/conftest.py: whether it carries the `gate` mark, which is what
# `make test` selects. A bound checked in an unmarked test would never run in CI.
CURRENT_TEST_IS_GATE = [True]


def _check(ok: bool, message: str, per_round) -> None:
    assert CURRENT_TEST_IS_GATE[0], (
        "this benchmark checks a bound but is not marked @pytest.mark.gate, so `make test` "
        "(pytest -m gate) would not run it: mark it")
    assert ok, (f"{message} (bench/baselines.json)\n  rounds: {[round(r, 3) for r in per_round]}"
                f"\n  machine: {describe_machine()}")


def dynamo_counts() -> dict:
    """Dynamo's counters since its last reset: graphs, graph breaks, frames it gave up on."""
    from torch._dynamo.utils import counters

    return {
        "unique_graphs": int(counters["stats"]["unique_graphs"]),
        "graph_breaks": int(sum(counters["graph_break"].values())),
        # frames Dynamo gave up on and ran eagerly (e.g. everything under torch.func.grad)
        "unsupported_skips": int(sum(counters["unimplemented"].values())),
        "frames_compiled": int(counters["frames"]["ok"]),
        "frames_seen": int(counters["frames"]["total"]),
        "first_graph_break": (next(iter(counters["graph_break"]), "").splitlines() or [""])[0][
            :200
        ],
    }
