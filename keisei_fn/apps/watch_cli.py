"""`keisei-fn watch RUN_DIR`: a live terminal view of a run's latest network playing, beside the
run's metrics (docs/insight.md).

Imports nothing heavy at module level: `cli.build_parser` imports this module on every start.
"""

from __future__ import annotations

from .search_args import add_player_options, player_options


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "watch", help="watch a run's latest network play, live, beside its training metrics",
        description="A game with the run's newest checkpoint at a viewer's pace: the board, the "
                    "agent's top 5 moves with probability bars, its value over the game, and the "
                    "run's latest training metrics and evaluation (RUN_DIR/metrics.jsonl). Works "
                    "while the run trains (a newer checkpoint is picked up between games) and "
                    "on a finished run. Ctrl-C ends it.")
    p.add_argument("run_dir", metavar="RUN_DIR",
                   help="a training run's directory (its newest checkpoint, picked up again "
                        "between games), a checkpoint file, or a packaged agent (reference)")
    p.add_argument("--member", type=int, default=0, help="a population's member to watch")
    p.add_argument("--opponent", default="", metavar="SPEC",
                   help="the other side: any player spec (greedy, minimax, gnushogi:1, a "
                        "checkpoint, reference@sims=64, ...); default: the agent itself")
    p.add_argument("--pace", type=float, default=1.0, help="seconds per move shown")
    p.add_argument("--simulations", type=int, default=0,
                   help="the agent searches (Gumbel, N simulations) and shows visits and values")
    add_player_options(p)
    p.add_argument("--games", type=int, default=0, help="games to show (0: until Ctrl-C)")
    p.add_argument("--predict", action="store_true",
                   help="pause and predict: type the move you expect the agent to play before it "
                        "is shown; you are told its rank and probability, and a running score")
    p.add_argument("--saliency", action="store_true",
                   help="show which squares drive the value (integrated gradients, "
                        "docs/insight.md; about 0.1 s a move)")
    p.add_argument("--letters", choices=("western", "japanese"), default="western",
                   help="piece names: western (P L N ... K) or japanese (needs a CJK font)")
    p.add_argument("--openings", default="default",
                   help="opening suite the games start from: default, a file, or none")
    p.add_argument("--max-plies", type=int, default=512, help="move cap (a draw)")
    p.add_argument("--seed", type=int, default=0, help="seed of the search's noise and mixes")
    p.set_defaults(run=_watch)


def _watch(args) -> int:
    for name in ("member", "simulations", "games"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name} must be >= 0, got {getattr(args, name)}")
    if args.pace < 0:
        raise ValueError(f"--pace must be >= 0 seconds, got {args.pace}")
    if args.max_plies < 1:
        raise ValueError(f"--max-plies must be >= 1, got {args.max_plies}")
    options = player_options(args)
    from .watch import watch

    watch(args.run_dir, member=args.member, opponent=args.opponent, pace=args.pace,
          simulations=args.simulations, games=args.games, letters=args.letters, seed=args.seed,
          max_plies=args.max_plies, openings=args.openings, predict=args.predict,
          saliency=args.saliency, options=options)
    return 0
