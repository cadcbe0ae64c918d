"""The USI engine's compiled search (option `Compiled`), compiled in a background thread.

A cold compile of the search takes a minute or more on a CPU (seconds from inductor's disk
cache), longer than the 10 s a GUI or the arena waits for `readyok` or a move. So the engine
answers at once and compiles beside the game: the eager search plays every move until the
compiled one is ready, then the compiled one plays (the same search; docs/search.md).

The mutable state shared between threads lives here, in one place:
- a `Warmup`: the compiling thread writes `error` and `seconds`, then sets `done` last (in a
  `finally`); the engine reads those fields only once `done` is set, and may mark a warm-up
  failed afterwards (`fail`) when its compiled search raises;
- `_running`, the one warm-up whose thread has not finished (under `_lock`): Dynamo must not
  compile in two threads at once, so `start` refuses while one runs, whatever session the
  engine holds, and `compiling()` tells the CLI whether `quit` must not wait for one.

While a warm-up compiles, `torch.compiler.is_compiling()` (a process-wide flag in torch 2.13) is
true for the engine's eager search too, so the rules engine takes its compile-friendly branches
(shogi/_step.py, shogi/_movegen.py): the same results, only slower (the compiled step traces
those branches, and tests/test_search.py checks it equals the eager one, key by key).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ..agent import Agent, SearchConfig, warm_compiled_search

_lock = threading.Lock()
_running: Warmup | None = None


@dataclass
class Warmup:
    network: Agent      # what it compiled for
    history: int        # the history length of the positions (the compiled step's shape)
    config: SearchConfig  # what it compiled; only `shape_of(config)` must match later searches
    started: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    seconds: float = 0.0
    error: str | None = None


def history_of(state) -> int:
    return int(state["hash_history"].shape[-1])


def shape_of(config: SearchConfig) -> tuple[bool, bool, bool]:
    """What of a search's settings its compiled graphs depend on: the rules' step (impasse),
    the order of simulations, and whether a mate depth takes one game's simulations near the
    root off the fused program (search/compiled.py). The number of simulations (2 or more) and
    of considered moves are dynamic sizes or values in the sequential order's graphs, so a clock
    that changes them compiles nothing."""
    return config.impasse, config.batched_rounds, config.mate_depth > 0


def start(network: Agent, history: int, config: SearchConfig) -> Warmup | None:
    """A daemon thread compiling `config`'s search for `network` and positions of `history` (a
    daemon: `quit` does not wait for a compilation); None while another one runs."""
    global _running
    warmup = Warmup(network, history, config)

    def run():
        global _running
        try:
            warm_compiled_search(network, history, config)
        except BaseException as err:  # noqa: BLE001 - reported by the engine; eager plays on
            warmup.error = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        finally:
            warmup.seconds = time.monotonic() - warmup.started
            with _lock:
                _running = None
            warmup.done.set()

    with _lock:
        if _running is not None:
            return None
        _running = warmup
    threading.Thread(target=run, name="usi-compile", daemon=True).start()
    return warmup


def compiling() -> bool:
    """Whether a warm-up's thread is still compiling."""
    with _lock:
        return _running is not None


def fail(warmup: Warmup, error: str) -> None:
    """Mark a finished warm-up failed: its compiled search raised in play, so eager plays on."""
    warmup.error = error


def serves(warmup: Warmup | None, network: Agent, history: int, config: SearchConfig) -> bool:
    """Whether the compiled search may play now: this warm-up compiled for this network, shape
    and search (either order; for batched rounds every wave width up to its considered moves,
    `agent.warm_compiled_search`), and finished without an error. One simulation (a clock
    nearly out) stays eager: a size of 1 is a specialisation of its own, which would compile
    again. Nor more considered moves than the warm-up's: wider waves would compile."""
    return (warmup is not None and warmup.done.is_set() and warmup.error is None
            and warmup.network is network and warmup.history == history
            and shape_of(warmup.config) == shape_of(config) and config.simulations >= 2
            and (not config.batched_rounds or config.considered <= warmup.config.considered))


def needed(warmup: Warmup | None, network: Agent, history: int, config: SearchConfig) -> bool:
    """Whether to start a warm-up now: none made matches."""
    if warmup is None:
        return True
    return (warmup.network is not network or warmup.history != history
            or shape_of(warmup.config) != shape_of(config)
            or (config.batched_rounds and config.considered > warmup.config.considered))
