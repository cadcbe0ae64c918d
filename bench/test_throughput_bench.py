"""The whole machine: end-to-end env steps/s of the default `keisei-fn train` (every core, the
fastest correct precision) over the default of 2026-11-28 (one process, float32), the two run
alternately in one session (bench/throughput.py).

Gate: the median over rounds of (default / before) >= the floor in baselines.json, which
depends on what optim.precision=auto picks on this CPU (models/precision.py): where bf16 is
faster (AMX, or AVX512_BF16 and the start-up probe) the default also gains the bf16 update;
elsewhere, only the second rank. A machine with one usable core has nothing to
gain and skips with that reason. The claim needs the machine's cores free: rounds during which
other programs kept more than 0.3 cores busy (from /proc/stat, less this benchmark's own CPU
time) are discarded and run again; if none is quiet, the gate skips and says why.
"""

from __future__ import annotations

import statistics
import time

import pytest

import throughput
from gates import BASELINES, check_floor, machine
from settings import LONG
from keisei_fn.config import load_config
from keisei_fn.models.precision import fast_bf16
from keisei_fn.run.launch import ranks_for

ROUNDS = 3 if LONG else 2
# Cores other processes may keep busy, on average, during a round that counts; rounds over it
# are run again (up to MAX_EXTRA_ROUNDS, 30 s apart) and the gate skips, saying so, if none is
# quiet.
MAX_FOREIGN_LOAD = 0.3
MAX_EXTRA_ROUNDS = 3
ITERATIONS = 8 if LONG else 6
# Eager and a smaller iteration than `make run` (64 games x 16 steps), so that a round takes
# seconds; compiling the update would add the same to both sides and slow the gate down.
SIZE = ("optim.compile=off", "env.batch_size=64", "ppo.rollout_steps=16")


@pytest.mark.gate
def test_default_over_one_process_fp32(benchmark):
    import torch

    ranks = ranks_for(load_config())
    if ranks < 2:
        pytest.skip("one usable core: distributed.ranks=auto runs one process here")
    bf16 = fast_bf16(torch.device("cpu"))
    before, after, per_round = [], [], []

    loads, busy = [], []

    def one_round():
        b, load_b = throughput.with_foreign_load(lambda: statistics.median(
            throughput.steps_per_s([*throughput.BEFORE, *SIZE], ITERATIONS)))
        a, load_a = throughput.with_foreign_load(lambda: statistics.median(
            throughput.steps_per_s([*throughput.DEFAULT, *SIZE], ITERATIONS)))
        load = max(load_a or 0.0, load_b or 0.0)
        loads.append(round(load, 2))
        # The claim is about this machine's cores: a round during which other programs kept a
        # core busy measures them, not us (1.43x under a load of 2.7): it does not count.
        if load > MAX_FOREIGN_LOAD:
            busy.append(load)
            return
        before.append(b)
        after.append(a)
        per_round.append(a / b)

    benchmark.group = "throughput-end-to-end"
    benchmark.pedantic(one_round, rounds=ROUNDS, warmup_rounds=0)
    extra = 0
    while len(per_round) < ROUNDS and extra < MAX_EXTRA_ROUNDS:  # wait for a quiet machine
        time.sleep(30)
        one_round()
        extra += 1
    if not per_round:
        pytest.skip(f"precondition not met: other programs kept {max(busy):.1f} cores busy during "
                    f"every round ({loads}); this gate measures the whole machine and needs its "
                    f"cores free (at most {MAX_FOREIGN_LOAD} cores of foreign load)")
    ratio = statistics.median(per_round)
    gate = BASELINES["all_cores_speed"]
    floor = gate["floor"]["bf16" if bf16 else "fp32"]
    benchmark.extra_info.update(
        machine=machine(), ranks=ranks, fast_bf16=bf16, before_steps_per_s=before,
        default_steps_per_s=after, default_over_before=ratio,
        per_round=[round(r, 3) for r in per_round], foreign_load_cores=loads)
    check_floor(f"default ({ranks} ranks, {'bf16' if bf16 else 'fp32'}) / one process fp32, "
                f"end-to-end env steps/s", ratio, floor, per_round)
