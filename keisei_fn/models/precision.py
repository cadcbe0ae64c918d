"""Which precision the network runs in: `optim.precision = auto | fp32 | bf16`.

bf16 is autocast around the network's forward (and so its backward), in the update and in the
acting policy alike: convolutions and matrix products run in bfloat16, while parameters, Adam state,
gradients' accumulation into them, the
masked log-softmax, the losses and their reductions, GAE and the value targets stay float32 (the
network's outputs are cast back to float32 before anything reads them). "auto" picks bf16 where
it is faster than fp32: CUDA devices that support it; CPUs with AMX (amx_bf16: 1.45x for the
update, docs/results.md); CPUs with AVX512_BF16 but no AMX only when a start-up probe measures it
faster (`bf16_speedup`). A flag is not enough there: on an AMD EPYC (Zen 4) bf16 measured 2.0x,
but on a Sapphire Rapids VM whose hypervisor hides AMX it measured 0.84x for the update (oneDNN
falls back to AVX512_BF16 dot products plus conversions). Elsewhere bf16 is emulated: fp32.

The probe times the default-sized network's forward and backward in both precisions, interleaved,
on one thread, about 0.3 s once per process. The ranks `keisei-fn train` starts inherit the
launcher's answer through PROBE_ENV, so every rank runs the same precision.

Acting and learning run the same precision because PPO divides the learner's probability of each
move by the acting policy's: bf16's forward is batch-invariant (a row's outputs do not depend on
the other rows), so at the first epoch that ratio is 1 as in fp32 (tests/test_precision.py),
where an fp32 actor and a bf16 learner would differ by ~1% on a peaked policy.
"""

from __future__ import annotations

import contextlib
import functools
import os
import statistics
import time

import torch

from .._runtime import cpu_bf16_by_flags

PRECISIONS = ("auto", "fp32", "bf16")
PROBE_ENV = "KEISEI_FN_FAST_BF16"
"""'1' or '0': a launcher's probe result, which the ranks it starts read instead of probing"""
PROBE_MIN_SPEEDUP = 1.15
"""bf16 must be this much faster in the probe to be picked: between the slow case (0.84x) and
the fast ones (1.45x, 2.0x), so a CPU near parity keeps fp32, whose results need no caveat"""


def fast_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast runs the network faster than fp32 on `device`."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    by_flags = cpu_bf16_by_flags()
    if by_flags is not None:
        return by_flags
    inherited = os.environ.get(PROBE_ENV)
    if inherited in ("0", "1"):
        return inherited == "1"
    return bf16_speedup() >= PROBE_MIN_SPEEDUP


@functools.cache
def bf16_speedup(rounds: int = 5, batch: int = 128) -> float:
    """fp32 time / bf16 time of the default-sized network's (config/schema.py: 2 blocks x 32
    channels) forward and backward on this CPU, one thread, median of interleaved rounds."""
    from ._nets import ActorCritic  # the probe only: precision.py is imported by the nets' users

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = ActorCritic(blocks=2, channels=32, value_hidden=64)
            x = torch.randn(batch, net.stem.in_channels, 9, 9)

        def step(mode: str) -> float:
            start = time.perf_counter()
            with autocast(mode, torch.device("cpu")):
                logits, value = net(x)
            (upcast(logits).logsumexp(-1).sum() + upcast(value).sum()).backward()
            return time.perf_counter() - start

        step("fp32"), step("bf16")  # first calls pick kernels
        ratios = [step("fp32") / step("bf16") for _ in range(rounds)]
    finally:
        torch.set_num_threads(threads)
    return statistics.median(ratios)


def resolve(precision: str, device: torch.device) -> str:
    """'fp32' or 'bf16': what `precision` means on `device`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if fast_bf16(device) else "fp32"
    return precision


def describe(precision: str, device: torch.device) -> str:
    """What a run's banner says: 'bf16', 'fp32', or with '(auto)' when auto chose it."""
    return resolve(precision, device) + (" (auto)" if precision == "auto" else "")


def autocast(precision: str, device: torch.device):
    """The context the network's forward runs in: bf16 autocast, or nothing (fp32)."""
    if resolve(precision, device) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def upcast(x: torch.Tensor) -> torch.Tensor:
    """A network output in float32 if autocast made it bf16/fp16; float32 and float64 as they are
    (the float64 reference tests stay float64)."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
