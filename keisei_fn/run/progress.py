"""Terminal progress: a rich bar with steps, steps/s, ETA and the latest key metrics."""

from __future__ import annotations

import math
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text


def make_console() -> Console:
    # Progress goes to stderr; summaries and tables to stdout, so output can be piped cleanly.
    return Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def progress_bar(enabled: bool, total: float, unit: str, console: Console):
    """Yields `advance(to, info)`: move the bar to `to` (iterations or seconds) with a status."""
    if not enabled or not console.is_terminal:
        # No live bar without a terminal (CI logs, pipes): one line per call instead.
        def advance(to, info=""):
            console.print(f"[{to:.0f}/{total:.0f} {unit}] {info}")
        yield advance
        return
    columns = [TextColumn("[bold]train"), BarColumn(bar_width=None),
               TextColumn("{task.percentage:>5.1f}%"), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn()]
    with _BarOverStatus(*columns, console=console, transient=False, refresh_per_second=2,
                        expand=True) as bar:
        task = bar.add_task("train", total=total, info="")

        def advance(to, info=""):
            bar.update(task, completed=min(to, total), info=info)
        yield advance


class _BarOverStatus(Progress):
    """The bar, percentage, elapsed time and ETA on one line, the status on the line below: a
    status beside the bar would squeeze the bar to nothing on an 80-column terminal."""

    def get_renderables(self):
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            if task.fields.get("info"):
                yield Text(task.fields["info"])


def _value(x, spec: str) -> str:
    """A metric for the status line; '-' until there is one (no game has ended yet, say)."""
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def status_line(counters, metrics: dict, stats: dict, steps_per_s: float) -> str:
    length = stats.get("mean_length") if stats.get("games") else None
    head = (f"it {counters.iteration} | {counters.frames:,} steps {steps_per_s:,.0f}/s | "
            f"games {counters.games:,} len {_value(length, '.0f')} | ")
    if "replay/positions" in stats:  # gumbel_az
        return head + (f"pol {_value(metrics.get('policy_loss'), '.2f')} "
                       f"val {_value(metrics.get('value_loss'), '.3f')} "
                       f"kl {_value(metrics.get('kl_improved_prior'), '.3f')} | "
                       f"replay {stats['replay/positions']:,.0f} | "
                       f"{_value(metrics.get('simulations_per_s'), ',.0f')} sims/s")
    return head + (f"ent {_value(metrics.get('entropy'), '.2f')} "
                   f"kl {_value(metrics.get('kl_approx'), '.4f')} "
                   f"ev {_value(metrics.get('explained_variance'), '.2f')}"
                   + (f" ep {metrics['epochs']:.1f}" if "epochs" in metrics else ""))
