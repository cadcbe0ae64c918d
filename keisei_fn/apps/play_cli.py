"""`keisei-fn play`: a human plays a trained agent in the terminal.

docs/arena.md documents it.

Imports nothing heavy at module level: `cli.build_parser` imports this module on every start.
"""

from __future__ import annotations

from .search_args import add_player_options, player_options


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "play", help="play a trained agent in the terminal (moves typed in USI)",
        description="Play against a checkpoint. Moves are USI (7g7f, 8h2b+, P*5e); commands: "
                    "undo, resign, save [FILE], help, quit.")
    p.add_argument("--checkpoint", required=True, metavar="CKPT",
                   help="a checkpoint file, a run directory (its newest checkpoint), or "
                        "`reference`, the agent shipped with the package")
    p.add_argument("--color", choices=("black", "white"), default="black",
                   help="your side (Black moves first)")
    p.add_argument("--letters", choices=("western", "japanese"), default="western",
                   help="piece names: western (P L N S G B R K, +P) or japanese (歩 香 ... 龍)")
    p.add_argument("--temperature", type=float, default=0.0,
                   help="0: the agent plays its best move; > 0: it samples")
    p.add_argument("--simulations", type=int, default=0,
                   help="the agent searches (Gumbel search of N simulations) and shows its "
                        "candidates with visits and values; 0: its policy's move")
    add_player_options(p)
    p.add_argument("--predict", action="store_true",
                   help="pause and predict: before each of the agent's moves, type the move you "
                        "expect; you are told its rank and probability, and a running score")
    p.add_argument("--sfen", help="start from this position (SFEN) instead of the start")
    p.add_argument("--seed", type=int, default=0, help="seed of sampled moves")
    p.add_argument("--max-plies", type=int, default=512, help="move cap (a draw)")
    p.add_argument("--device", default="cpu", help="torch device of the network")
    p.set_defaults(run=_play)


def _play(args) -> None:
    if args.temperature < 0:
        raise ValueError(f"--temperature must be >= 0, got {args.temperature}")
    if args.simulations < 0:
        raise ValueError(f"--simulations must be >= 0, got {args.simulations}")
    if args.max_plies < 1:
        raise ValueError(f"--max-plies must be >= 1, got {args.max_plies}")
    options = player_options(args)
    import torch
    from rich.console import Console

    from .._errors import first_line
    from ..agent import load_agent
    from ..agent.named import describe
    from .play import HELP, new_game, play

    import time

    console = Console()
    started = time.perf_counter()
    console.print(f"loading {args.checkpoint} ...", markup=False, highlight=False)
    try:
        agent, _ = load_agent(args.checkpoint, device=args.device)
    except ValueError:  # CheckpointError included: cli.main prints it as one line, exit 2
        raise
    except Exception as err:  # noqa: BLE001 - e.g. a CPU-only torch asked for "cuda"
        raise ValueError(f"cannot load {args.checkpoint} on {args.device}: "
                         f"{first_line(err)}") from None
    console.print(f"loaded in {time.perf_counter() - started:.1f} s", markup=False,
                  highlight=False)
    about = describe(str(args.checkpoint))
    if about:
        console.print(about, markup=False, highlight=False)
    console.print(HELP, markup=False, highlight=False)
    if args.compiled:
        console.print("the agent's first search compiles (about a minute, once)", markup=False,
                      highlight=False)
    game = new_game(0 if args.color == "black" else 1, args.max_plies, args.device, args.sfen)
    generator = torch.Generator(device=args.device).manual_seed(args.seed)
    play(agent, game, console.input, console, letters=args.letters,
         temperature=args.temperature, generator=generator, agent_name=str(args.checkpoint),
         simulations=args.simulations, predict=args.predict, options=options)
