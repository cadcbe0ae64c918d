"""When the training loop stops: the update count, the time budget, or Ctrl-C/SIGTERM/SIGHUP (the
loop in train.py has every rank of a data-parallel group agree on it)."""

from __future__ import annotations

import signal


class StopFlag:
    """Set by SIGINT/SIGTERM/SIGHUP (a closed terminal): the loop finishes the current
    iteration, checkpoints and exits."""

    def __init__(self):
        self.raised = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.raised:  # a second Ctrl-C means now
            raise KeyboardInterrupt
        self.raised = True

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def stop_reason(cfg, counters, stop: StopFlag) -> str | None:
    """Why the loop ends before the next iteration ('updates', 'time', 'signal'), or None."""
    if cfg.total_updates and counters.iteration >= cfg.total_updates:
        return "updates"
    if cfg.time_budget_s and counters.train_seconds >= cfg.time_budget_s:
        return "time"
    return "signal" if stop.raised else None
