"""Terminal progress: a rich bar with steps, steps/s, ETA and the latest key metrics."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


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
    columns = [TextColumn("[bold]train"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
               TextColumn("{task.fields[info]}")]
    with Progress(*columns, console=console, transient=False, refresh_per_second=2) as bar:
        task = bar.add_task("train", total=total, info="")

        def advance(to, info=""):
            bar.update(task, completed=min(to, total), info=info)
        yield advance


def status_line(counters: dict, metrics: dict, stats: dict, steps_per_s: float) -> str:
    return (f"it {counters['iteration']} | {counters['frames']:,} steps {steps_per_s:,.0f}/s | "
            f"games {counters['games']:,} len {stats.get('mean_length', float('nan')):.0f} | "
            f"ent {metrics.get('entropy', float('nan')):.2f} "
            f"kl {metrics.get('kl_approx', float('nan')):.4f} "
            f"ev {metrics.get('explained_variance', float('nan')):.2f}")


