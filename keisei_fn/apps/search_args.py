"""The search option `analyze`, `play` and `watch` share on the command line: `--q-range`.

Imports nothing heavy at module level: the `*_cli` modules import this one on every start.
"""

from __future__ import annotations


def add_q_range(parser) -> None:
    parser.add_argument("--q-range", type=float, default=0.0,
                        help="with --simulations: the search's floor under the min-max of "
                             "q-values, 0 to 2 (0: mctx's; docs/search.md, \"The q-values' "
                             "scale\")")


def check_q_range(q_range: float) -> None:
    from ..search.select import MAX_Q_RANGE

    if not 0 <= q_range <= MAX_Q_RANGE:  # NaN fails too
        raise ValueError(f"--q-range must be from 0 to {MAX_Q_RANGE:g}, got {q_range}")
