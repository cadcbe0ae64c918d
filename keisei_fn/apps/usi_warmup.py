"""The USI engine's compiled search (option `Compiled`), compiled in a background thread.

A cold compile of the search takes a minute or more on a CPU (seconds from inductor's disk
cache), longer than the 10 s a GUI or the arena waits for `readyok` or a move. So the engine
answers at once and compiles beside the game: the eager search plays every move until the
compiled one is ready, then the compiled one plays (the same search; docs/search.md).

`Warmup` is the engine's one piece of state shared between threads: the compiling thread sets
`done` last, after its other fields; the engine reads them only once `done` is set. One warm-up
runs at a time (Dynamo must not compile in two threads at once); a new one is started only
when the previous one is done.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ..agent import Agent, SearchConfig, warm_compiled_search


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


def shape_of(config: SearchConfig) -> tuple[bool, bool]:
    """What of a search's settings its compiled graphs depend on: the rules' step (impasse) and
    the order of simulations. The number of simulations (2 or more) and of considered moves are
    dynamic sizes or values in the graphs, so a clock that changes them compiles nothing."""
    return config.impasse, config.batched_rounds


def start(network: Agent, history: int, config: SearchConfig) -> Warmup:
    """A daemon thread compiling `config`'s search for `network` and positions of `history`
    (a daemon: `quit` does not wait for a compilation)."""
    warmup = Warmup(network, history, config)

    def run():
        try:
            warm_compiled_search(network, history, config)
        except Exception as err:  # noqa: BLE001 - reported by the engine; the eager search plays on
            warmup.error = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        warmup.seconds = time.monotonic() - warmup.started
        warmup.done.set()

    threading.Thread(target=run, name="usi-compile", daemon=True).start()
    return warmup


def serves(warmup: Warmup | None, network: Agent, history: int, config: SearchConfig) -> bool:
    """Whether the compiled search may play now: this warm-up compiled for this network, shape
    and search, and finished without an error. One simulation (a clock nearly out) stays eager:
    a size of 1 is a specialisation of its own, which would compile again."""
    return (warmup is not None and warmup.done.is_set() and warmup.error is None
            and warmup.network is network and warmup.history == history
            and shape_of(warmup.config) == shape_of(config) and config.simulations >= 2)


def needed(warmup: Warmup | None, network: Agent, history: int, config: SearchConfig) -> bool:
    """Whether to start a warm-up now: none matches, and none is running."""
    if warmup is None:
        return True
    if not warmup.done.is_set():
        return False
    return (warmup.network is not network or warmup.history != history
            or shape_of(warmup.config) != shape_of(config))
