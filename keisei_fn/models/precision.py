"""Which precision the network runs in: `optim.precision = auto | fp32 | bf16`.

bf16 is autocast around the network's forward (and so its backward), in the update and in the
acting policy alike: convolutions and matrix products run in bfloat16, while parameters, Adam state,
gradients' accumulation into them, the
masked log-softmax, the losses and their reductions, GAE and the value targets stay float32 (the
network's outputs are cast back to float32 before anything reads them). "auto" picks bf16 where
the hardware runs it fast - CUDA devices that support it, CPUs with AVX512_BF16 or AMX - and
fp32 elsewhere, where emulated bf16 would be slower than fp32.

Acting and learning run the same precision because PPO divides the learner's probability of each
move by the acting policy's: bf16's forward is batch-invariant (a row's outputs do not depend on
the other rows), so at the first epoch that ratio is 1 as in fp32 (tests/test_precision.py),
where an fp32 actor and a bf16 learner would differ by ~1% on a peaked policy.
"""

from __future__ import annotations

import contextlib

import torch

from .._runtime import cpu_model_and_flags

PRECISIONS = ("auto", "fp32", "bf16")
FAST_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def fast_bf16(device: torch.device) -> bool:
    """Whether `device` runs bfloat16 arithmetic in hardware."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return any(f in cpu_model_and_flags()[1] for f in FAST_BF16_CPU_FLAGS)
    return False


def resolve(precision: str, device: torch.device) -> str:
    """'fp32' or 'bf16': what `precision` means on `device`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if fast_bf16(device) else "fp32"
    return precision


def autocast(precision: str, device: torch.device):
    """The context the network's forward runs in: bf16 autocast, or nothing (fp32)."""
    if resolve(precision, device) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def upcast(x: torch.Tensor) -> torch.Tensor:
    """A network output in float32 if autocast made it bf16/fp16; float32 and float64 as they are
    (the float64 reference tests stay float64)."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
