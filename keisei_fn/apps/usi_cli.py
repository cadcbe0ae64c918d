"""`keisei-fn usi`: a trained agent as a USI engine on stdin/stdout, for Shogi GUIs and matches.

The engine module (torch, the network) is imported only when the subcommand runs, so registering
it costs `keisei-fn --help` nothing.
"""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "usi", help="play as a USI engine on stdin/stdout (Shogi GUIs, engine matches)",
        description="Speak USI on stdin/stdout. The checkpoint is loaded and verified before "
                    "the first command is read; each flag is the default of the USI option "
                    "of the same name (the GUI may change it).")
    p.add_argument("--checkpoint", required=True, metavar="CKPT",
                   help="a checkpoint file, a run directory (its newest checkpoint), or "
                        "`reference`, the agent shipped with the package")
    p.add_argument(
        "--device", default="cpu", help="torch device of the network (USI option Device)"
    )
    p.add_argument("--temperature", default="0",
                   help="0: the best move; > 0: sample moves (USI option Temperature)")
    p.add_argument("--search", default=None, metavar="{none,1ply,gumbel}",
                   help="none: the policy's move; 1ply: value-guided 1-ply search; gumbel: Gumbel "
                        "search (USI option Search; default none, gumbel with --simulations)")
    p.add_argument("--simulations", default=None, metavar="N",
                   help="Gumbel search of N simulations, fewer when the clock is short (USI "
                        "option Simulations; implies --search gumbel)")
    p.add_argument("--multipv", default="1", help="candidate lines reported (USI option MultiPV)")
    p.add_argument("--seed", default="0", help="seed of sampled moves (USI option Seed)")
    p.add_argument("--mate-plies", default="1", choices=("1", "3"),
                   help="play a mate found within 1 or 3 plies (3: by checks) before the policy or "
                        "the search (USI option MatePlies)")
    p.add_argument("--material-margin", default=None, metavar="PAWNS",
                   help="search none: not the policy's move where a 2-ply material search rates "
                        "it more than PAWNS below the best (default 3; 0: off; USI option "
                        "MaterialMargin)")
    p.add_argument("--material-quiet", default=None, metavar="PLIES",
                   help="that material search plays its last ply's captures out PLIES deep, so "
                        "that a move onto a defended square is not a lost piece (default 2; 0: "
                        "the static ply; USI option MaterialQuiet)")
    p.add_argument("--guard", default="0", choices=("0", "1", "3"),
                   help="1: not a move that lets the opponent mate at once; 3: nor a mate in "
                        "three by checks; the chosen move, then the next best (8 in all) are "
                        "checked (USI option Guard; default 0, off)")
    p.add_argument("--mate-depth", default="0", metavar="D",
                   help="Gumbel search: every position it expands within D plies of the root that "
                        "its mover can mate in one counts as a win (a mate search each; USI "
                        "option MateDepth; default 0, off)")
    p.add_argument("--capture-floor", default="0", metavar="F",
                   help="Gumbel search: every move that captures a lance or more gets at least F "
                        "of the prior (0 to 0.5), so that the search looks at it (USI option "
                        "CaptureFloor; default 0, the network's own prior)")
    p.add_argument("--compiled", action="store_true",
                   help="run the Gumbel search compiled, once a background compilation started "
                        "at `isready` is done (a minute or more the first time on a CPU; the "
                        "eager search plays meanwhile); implies --search gumbel (USI option "
                        "Compiled)")
    p.set_defaults(run=_usi)


def _usi(args) -> None:
    from ..agent.named import describe
    from .usi_engine import Options, compiling, load_engine_agent, serve, set_option

    # The flags go through the USI options' own parsers: one set of checks, the same messages.
    options = Options(checkpoint=args.checkpoint)
    search = args.search or ("gumbel" if args.simulations is not None or args.compiled
                             else "none")
    if args.compiled and search != "gumbel":
        raise ValueError(f"--compiled compiles the gumbel search; --search {search} has none")
    settings = [("Device", args.device), ("Temperature", args.temperature), ("Search", search),
                ("Seed", args.seed), ("MultiPV", args.multipv), ("MatePlies", args.mate_plies),
                ("Guard", args.guard), ("MateDepth", args.mate_depth),
                ("CaptureFloor", args.capture_floor),
                ("Compiled", str(args.compiled).lower())]
    if args.simulations is not None:
        settings.append(("Simulations", args.simulations))
    if args.material_margin is not None:
        settings.append(("MaterialMargin", args.material_margin))
    if args.material_quiet is not None:
        settings.append(("MaterialQuiet", args.material_quiet))
    for name, value in settings:
        options = set_option(options, name, value)
    import sys
    import time

    # A bad checkpoint must fail here, as one line and exit code 2 (cli.main), not in a GUI.
    # stdout is the protocol's: the notes go to stderr, which GUIs show in their engine log. A
    # failed load stays one line there; a person at a terminal is told why nothing happens yet.
    started = time.perf_counter()
    if sys.stderr.isatty():
        print(f"loading {args.checkpoint} ...", file=sys.stderr, flush=True)
    agent = load_engine_agent(options)
    print(f"loaded in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    about = describe(args.checkpoint)
    if about:
        print(about, file=sys.stderr, flush=True)
    serve(options, agent)
    if compiling():
        # `quit` must not wait a minute for a compilation, and the interpreter's exit aborts
        # (SIGABRT) under a thread inside torch.compile: leave at once, output flushed.
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
