"""Process-level performance settings, applied by entry points (CLI, benchmarks), never on import.

glibc serves large allocations with fresh mmap pages and trims freed heap memory, so every
step's new multi-MB tensors page-fault on first touch; on the VMs we measured, those faults cost
more than the arithmetic (e.g. a fresh 15 MB observation buffer: ~2 ms of faults vs ~0.4 ms of
writes). Raising the mmap threshold to glibc's maximum and disabling trimming keeps freed memory
in the heap for reuse.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform
from pathlib import Path

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc's upper limit on 64-bit
_TRIM_THRESHOLD = 1 << 30


@functools.lru_cache(maxsize=None)
def tune_allocator() -> bool:
    """Keep freed memory for reuse (glibc only). Returns whether the settings were applied."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


@functools.cache
def cpu_model_and_flags() -> tuple[str, frozenset[str]]:
    """(model name, ISA flags) from /proc/cpuinfo; elsewhere the platform's name and no flags."""
    model, flags = "", frozenset()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "model name" and not model:
                model = value
            elif key == "flags" and not flags:
                flags = frozenset(value.split())
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), flags
