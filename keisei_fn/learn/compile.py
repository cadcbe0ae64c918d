"""torch.compile for the update step and the acting policy: chosen by `optim.compile`, timed once,
never fatal.

The update compiled is the folded one (learn/population.py): a pure function of parameter
TensorDicts with no module state swapped in, which Dynamo traces whole (zero graph breaks,
tests/test_compile.py). The single agent's `TensorDict.to_module` step cannot be traced under
torch.func.grad, which is why even a population of one uses the folded step.

Inductor keeps compiled kernels in its on-disk cache (TORCHINDUCTOR_CACHE_DIR; torch's default is
/tmp/torchinductor_$USER), so a resumed or repeated run with the same shapes pays the code
generation once: measured 60 s cold, 21 s warm for the default config's update on this CPU.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import torch

from .._errors import first_line
from .._private import inductor_cache_dir, inductor_mode_options, stop_inductor_compile_workers

# Set (to anything) in the environment, a failed compilation raises instead of falling back to
# eager: how tests tell a compiled run from a silent fallback, in worker processes too.
STRICT_ENV = "KEISEI_COMPILE_STRICT"

# Wall seconds this process spent compiling (first calls of CompiledSteps): the trainer's clock
# leaves them out, so `time_budget_s` buys the same training on a cold cache as on a warm one.
_compile_seconds = 0.0


def compile_seconds() -> float:
    """Wall seconds spent compiling so far in this process (the driver subtracts the change)."""
    return _compile_seconds


def kernel_cache_dir() -> str:
    return inductor_cache_dir()


def expected_compile_cost() -> str:
    """What a user should expect the one-time compilation to cost, from the state of the cache.
    Figures: the default config's update on 2-core CPUs, 60-98 s cold, ~20 s warm
    (docs/results.md)."""
    from pathlib import Path

    cache = Path(kernel_cache_dir())
    if cache.is_dir() and any(cache.iterdir()):
        return f"kernel cache found in {cache}: about 20 s for the default model"
    return "cold kernel cache: 1-2 min for the default model on a 2-core CPU, once per machine"


def _stop_compile_workers() -> None:
    """Inductor compiles in a pool of worker processes that outlives the compilation; a training
    process should not keep idle children around (nor hand them to a forked collector worker).
    A later recompilation starts the pool again."""
    stop_inductor_compile_workers()  # another torch version: the pool just stays


def compile_mode(cfg) -> str:
    """optim.compile, except for the loop backend, whose module-swapping step Dynamo cannot trace
    under torch.func.grad (it would compile next to nothing, slowly)."""
    return cfg.optim.compile if cfg.population.backend == "folded" else "off"


def acting_compile_mode(cfg) -> str:
    """The acting policy's mode: optim.compile's, if optim.compile_acting. Off by default: in a
    quiet A/B of `make run`'s config (300 s each) compiled acting ran 1,200 env steps/s against
    1,229 eager, and its benchmark ratio swung from 0.95x to 1.19x between sessions."""
    return compile_mode(cfg) if cfg.optim.compile_acting else "off"


def compile_update(update: Callable, mode: str, log=print, what: str = "the update step"
                   ) -> Callable:
    """`update` (a pure function: the update step, or the acting policy `policy.act`) under
    torch.compile(mode=...) ('off': unchanged).

    The first call runs the function eagerly once first (tensordict fills an internal registry on
    first use, which Dynamo guards on: compiling before it is filled compiles twice), then compiles
    and logs how long that took. If compilation fails (no C++ compiler, an unsupported op on some
    backend), the run warns once and continues eagerly: identical results, only slower.
    """
    if mode == "off":
        return update
    return CompiledStep(update, mode, log, what)


def _without_memo_guards(entries) -> list[bool]:
    """Dynamo's guards, less those on tensordict's tensorclass memo: the memo grows whenever any
    code meets a new class (collection does, after the first update), and a guard on its size
    recompiled the update on the second iteration of every run (26 s of `make run`'s budget,
    measured with TORCH_LOGS=recompiles). It caches a fact about a class, which cannot change, so
    the graph does not depend on it."""
    return ["_TENSORCLASS_MEMO" not in entry.name for entry in entries]


def _quiet(*args) -> None:
    return None


class CompiledStep:
    """A function compiled on its first call (see compile_update). Picklable when the function is
    (the acting policy goes to collector worker processes, which compile their own copy)."""

    def __init__(self, fn: Callable, mode: str, log=print, what: str = "the update step"):
        self.fn, self.mode, self.log, self.what = fn, mode, log, what
        self._compiled = torch.compile(fn, dynamic=False, options={
            **inductor_mode_options(mode), "guard_filter_fn": _without_memo_guards})
        self._chosen: Callable | None = None

    def __getstate__(self):
        return {"fn": self.fn, "mode": self.mode, "what": self.what}

    def __setstate__(self, state):
        self.__init__(state["fn"], state["mode"], _quiet, state["what"])

    def __call__(self, *args):
        if self._chosen is not None:
            return self._chosen(*args)
        global _compile_seconds
        self.log(f"compiling {self.what} (torch.compile mode={self.mode}; "
                 f"{expected_compile_cost()}); not counted in the time budget")
        start = time.perf_counter()
        try:
            self.fn(*args)
            compile_start = time.perf_counter()
            try:
                out = self._compiled(*args)
            except Exception as err:  # compilation errors come in many types
                if os.environ.get(STRICT_ENV):  # tests: a fallback is a failure, even in a worker
                    raise
                self.log(f"warning: torch.compile of {self.what} failed ({type(err).__name__}: "
                         f"{first_line(err, 200)}); continuing eagerly (optim.compile=off avoids "
                         f"the try)")
                self._chosen = self.fn
                return self.fn(*args)
            self._chosen = self._compiled
            _stop_compile_workers()
            self.log(f"compiled {self.what} in {time.perf_counter() - compile_start:.1f} s "
                     f"(kernels cached in {kernel_cache_dir()}); training clock runs")
            return out
        finally:
            _compile_seconds += time.perf_counter() - start
