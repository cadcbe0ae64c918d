"""The iteration loop both trainers share (train.py: one agent; population.py: K members).

A trainer hands `drive` its work as functions (`Steps`); `drive` owns what they have in common:
the stop decision (update count, time budget, Ctrl-C/SIGTERM; agreed by every rank of a
data-parallel group), the counters, periodic evaluation and checkpoints, the progress line, and
the end of a run (checkpoint, final evaluation, checkpoint).
"""

from __future__ import annotations

import signal
import time
from typing import Callable, NamedTuple

from . import distributed
from ..learn.compile import compile_seconds
from .progress import progress_bar, status_line


class StopFlag:
    """Set by SIGINT/SIGTERM: the loop finishes the current iteration, checkpoints and exits."""

    def __init__(self):
        self.raised = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.raised:  # a second Ctrl-C means now
            raise KeyboardInterrupt
        self.raised = True

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def stop_reason(cfg, counters: dict, stop: StopFlag) -> str | None:
    """Why the loop ends before the next iteration ('updates', 'time', 'signal'), or None."""
    if cfg.total_updates and counters["iteration"] >= cfg.total_updates:
        return "updates"
    if cfg.time_budget_s and counters["train_seconds"] >= cfg.time_budget_s:
        return "time"
    return "signal" if stop.raised else None


class Steps(NamedTuple):
    iterate: Callable[[], dict]
    """one collection + learning: {"frames", "games" (the group's), "metrics", "stats"} for the
    progress line; the counters have not moved yet"""
    record: Callable[[dict], None]
    """after the counters moved: tracking, trainer-specific counters"""
    evaluate: Callable[[], object]
    """rank 0, every `eval.every` iterations"""
    final: Callable[[], dict]
    """rank 0 at the end: the final evaluation as summary entries"""


def drive(cfg, group, carry: dict, steps: Steps, checkpoint: Callable[[], None], log,
          console) -> dict:
    """Iterate until a stop is agreed, then checkpoint, evaluate and checkpoint; the summary."""
    c = carry["counters"]
    by_updates = cfg.total_updates > 0
    total = cfg.total_updates if by_updates else cfg.time_budget_s
    with StopFlag() as stop, progress_bar(cfg.track.progress, total, "it" if by_updates else "s",
                                          distributed.rank_console(group, console)) as advance:
        while True:
            reason = distributed.agree_stop(group, stop_reason(cfg, c, stop))
            if reason:
                break
            start, compiled_before = time.perf_counter(), compile_seconds()
            step = steps.iterate()
            # Compiling is a one-time cost of the machine, not training: the budget leaves it out.
            compiling = compile_seconds() - compiled_before
            elapsed = time.perf_counter() - start - compiling
            c["iteration"] += 1
            c["frames"] += step["frames"]
            c["games"] += int(step["games"])
            c["train_seconds"] += elapsed
            c["compile_seconds"] = c.get("compile_seconds", 0.0) + compiling
            steps.record(step)
            if group.main and cfg.eval.every and c["iteration"] % cfg.eval.every == 0:
                steps.evaluate()
            if c["iteration"] % cfg.checkpoint_every == 0:
                checkpoint()
            advance(c["iteration"] if by_updates else c["train_seconds"],
                    status_line(c, step["metrics"], step["stats"], step["frames"] / elapsed))
    checkpoint()
    if reason == "signal":
        log(f"interrupted: checkpoint written at iteration {c['iteration']}; "
            f"continue with: {distributed.resume_command(group, cfg.run_dir)}")
        return {"interrupted": True, "counters": dict(c)}
    summary = {"eval": []}
    if group.main:
        summary.update(steps.final())
    checkpoint()
    return {"interrupted": False, "counters": dict(c), **summary,
            "params_digest": distributed.check_in_sync(group, carry["params"]),
            "rank": group.rank, "world": group.world}
