"""Process-level settings, applied by entry points (CLI, benchmarks), never on import: the
allocator's, and output that survives its reader (`survive_lost_output`).

glibc serves large allocations with fresh mmap pages and trims freed heap memory, so every
step's new multi-MB tensors page-fault on first touch; on the VMs we measured, those faults cost
more than the arithmetic (e.g. a fresh 15 MB observation buffer: ~2 ms of faults vs ~0.4 ms of
writes). Raising the mmap threshold to glibc's maximum and disabling trimming keeps freed memory
in the heap for reuse.
"""

from __future__ import annotations

import ctypes
import functools
import io
import os
import platform
import sys
from pathlib import Path

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc's upper limit on 64-bit
_TRIM_THRESHOLD = 1 << 30


@functools.lru_cache(maxsize=None)
def tune_allocator() -> bool:
    """Keep freed memory for reuse (glibc only). Returns whether the settings were applied."""
    # the C library already loaded in this process (find_library would start `ldconfig`)
    try:
        libc = ctypes.CDLL(None)
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


def cpu_bf16_by_flags() -> bool | None:
    """Whether bf16 runs fast on this CPU as its flags tell: True with AMX, False without
    AVX512_BF16, None in between, where only a timed probe can say (models/precision.py)."""
    flags = cpu_model_and_flags()[1]
    if "amx_bf16" in flags:
        return True
    return None if "avx512_bf16" in flags else False


class SurvivableStream(io.TextIOBase):
    """A text stream that goes quiet, instead of raising, once its reader is gone.

    `keisei-fn train ... | tee log` and Ctrl-C: the terminal's SIGINT kills `tee` with the run, so
    the run's next line meets a closed pipe (EPIPE); a closed terminal gives EIO. A run must still
    finish its iteration and write its checkpoint, so the first failed write points the file
    descriptor at /dev/null (later writes, C-level ones and the interpreter's final flush
    included, then succeed) and the rest of the output is dropped."""

    def __init__(self, stream):
        super().__init__()
        self._stream = stream
        self.lost = False

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):  # BrokenPipeError and EIO are OSErrors
                self._lose()
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._lose()

    def _lose(self) -> None:
        self.lost = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
            self._stream.flush()  # what was buffered goes to /dev/null now
        except (OSError, ValueError):
            pass

    def isatty(self) -> bool:
        return not self.lost and self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    def __getattr__(self, name):  # encoding, errors, buffer, ...
        return getattr(self._stream, name)


def survive_lost_output() -> None:
    """stdout and stderr as `SurvivableStream`s (once per process): a training run's output is
    never a reason to stop before its checkpoint."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, SurvivableStream):
            setattr(sys, name, SurvivableStream(stream))
