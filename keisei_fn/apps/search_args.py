"""The player options `play`, `watch` and `analyze` share on the command line (`--q-range`,
`--guard`, `--compiled`), checked before anything loads.

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


def add_player_options(parser) -> None:
    """--q-range, --guard and --compiled: with --simulations 1100 --compiled --guard 3, the
    player of issue 29's search row (docs/training.md, "Search at state N")."""
    add_q_range(parser)
    parser.add_argument("--guard", type=int, default=0, choices=(0, 1, 3),
                        help="1: not a move that lets the opponent mate at once; 3: nor a mate "
                             "in three by checks (the chosen move, then the next best, are "
                             "checked; docs/arena.md, PATH@guard=G)")
    parser.add_argument("--compiled", action="store_true",
                        help="with --simulations: each simulation compiled, about 3x faster a "
                             "move; the first move compiles (about a minute)")


def player_options(args) -> dict:
    """`agent.player_settings`' keywords from `add_player_options`' arguments, checked."""
    check_q_range(args.q_range)
    if args.compiled and not args.simulations:
        raise ValueError("--compiled compiles the search: give --simulations N too")
    return {"q_range": args.q_range, "guard": args.guard, "compiled": args.compiled}
