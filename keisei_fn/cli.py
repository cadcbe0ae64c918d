"""`keisei-fn` command line: subcommands compose library functions; user mistakes get one line."""

from __future__ import annotations

import argparse
import sys
import time


def _perft(args) -> None:
    from .shogi import STARTPOS_SFEN
    from .shogi.perft import perft

    sfen = STARTPOS_SFEN if args.sfen == "startpos" else args.sfen
    started = time.perf_counter()
    last = [started]

    def progress(done, total):
        now = time.perf_counter()
        if now - last[0] > 2.0:
            last[0] = now
            print(f"  ... {done}/{total} root-level children expanded", file=sys.stderr)

    count = perft(sfen, args.depth, chunk_size=args.chunk_size, device=args.device,
                  progress=progress)
    seconds = time.perf_counter() - started
    print(count)
    print(f"depth {args.depth}: {count} nodes in {seconds:.2f} s", file=sys.stderr)


def _selfplay(args) -> None:
    from .selfplay import format_summary, play_random_games

    summary = play_random_games(args.games, batch_size=args.batch_size, seed=args.seed,
                                max_plies=args.max_plies, device=args.device, log=print)
    print(format_summary(summary))


def _precision_for_ranks(cfg) -> dict[str, str]:
    """optim.precision=auto probes bf16's speed once, here, and the ranks inherit the answer:
    ranks probing side by side could disagree."""
    from ._runtime import cpu_bf16_by_flags

    # every rank reads the same flags: only the probe's case needs torch here
    if cfg.optim.precision != "auto" or cfg.device != "cpu" or cpu_bf16_by_flags() is not None:
        return {}
    import torch

    from .models import precision

    return {precision.PROBE_ENV: "1" if precision.fast_bf16(torch.device("cpu")) else "0"}


def _train(args) -> int:
    # the launcher (ranks > 1) imports no torch: it only starts the ranks
    from ._runtime import survive_lost_output
    from .config import load_config, to_yaml
    from .config.run_dir import check_new_run_dir, resume_config
    from .run import launch

    # A training run sets its threads from the config (every rank, every resume): the flag is
    # that key, given first so an explicit threads=N override still wins.
    overrides = ([f"threads={args.threads}"] if args.threads else []) + list(args.overrides)
    if args.resume:
        if args.config:
            raise ValueError("--resume takes the run's saved config; give changes as key=value")
        cfg = resume_config(args.resume, overrides)
    else:
        cfg = load_config(args.config, overrides)
    if args.print_config:
        print(to_yaml(cfg), end="")
        return 0
    survive_lost_output()  # a dead `| tee` or a closed terminal must not cost the checkpoint
    ranks = 1 if launch.under_a_launcher() else launch.ranks_for(cfg)
    if ranks > 1:  # every core: this command again as the machine's data-parallel ranks
        if not args.resume:
            check_new_run_dir(cfg.run_dir)  # one line here, not a failure inside a rank
        return launch.launch(args.argv, ranks, log=lambda m: print(m, file=sys.stderr),
                             extra_env=_precision_for_ranks(cfg))
    from .learn.state import EvalResult
    from .run.evaluate import format_match
    from .run.train import train

    summary = train(cfg, resume=bool(args.resume))
    if summary.get("world", 1) > 1 and summary["rank"] == 0:
        print(f"parameters identical on all {summary['world']} ranks "
              f"(digest {summary['params_digest']})")
    if summary.get("eval"):
        print("final evaluation:")
        for r in summary["eval"]:
            member = f"member {r['member']} " if "member" in r else ""
            print(f"  {member}{format_match(EvalResult.from_dict(r))}")
        last = summary["eval"][-1]
        if "ladder_elo" in last:
            print(f"  ladder Elo {last['ladder_elo']:+.0f} [{last['ladder_low']:+.0f}, "
                  f"{last['ladder_high']:+.0f}] (fixed scale, random = 0; keisei-fn ladder "
                  f"RUN_DIR adds the gnushogi rungs)")
    return 0


class _HelpWithDefaults(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already says it or there is
    none to show (argparse's ArgumentDefaultsHelpFormatter would print 'default: None')."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.option_strings and "default" not in text
                and not any(action.default is none for none in (None, False, argparse.SUPPRESS))):
            text += " (default: %(default)s)"
        return text


TRAIN_EPILOG = """config keys: `keisei-fn train --print-config` prints every key with its value;
keisei_fn/default.yaml explains each one; docs/training.md describes the algorithm.
Give changes as key=value, e.g. `keisei-fn train env.batch_size=64 time_budget_s=1800`."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keisei-fn", description=__doc__,
                                     formatter_class=_HelpWithDefaults)
    # The engine's ops are small and memory-bound: on a 2-core machine one intra-op thread was
    # faster than two (measured, bench/), and much faster when the machine is busy.
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default 1; for train: the config key "
                             "`threads`, which this flag sets)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser = _with_formatter(sub.add_parser)

    p = sub.add_parser("perft", help="count legal move sequences from a position (batched engine)")
    p.add_argument("sfen", help="an SFEN string (quote it) or 'startpos'")
    p.add_argument("depth", type=int, help="plies to count (1: the legal moves)")
    p.add_argument("--chunk-size", type=int, default=16384, help="positions expanded at once")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ...")
    p.set_defaults(run=_perft)

    p = sub.add_parser("selfplay", help="play random self-play games and print their statistics")
    p.add_argument("--games", type=int, default=256, help="games to finish")
    p.add_argument("--batch-size", type=int, default=256, help="games played in parallel")
    p.add_argument("--seed", type=int, default=0, help="seed of the random moves")
    p.add_argument("--max-plies", type=int, default=512, help="move cap (draw, truncated)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ...")
    p.set_defaults(run=_selfplay)

    p = sub.add_parser("train", help="self-play PPO training (config: keisei_fn/default.yaml)",
                       epilog=TRAIN_EPILOG, formatter_class=_EpilogAsIs)
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides, e.g. env.batch_size=64 model.blocks=4")
    p.add_argument("--config", help="a YAML file merged over the embedded defaults")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    # its ranks set their threads from the config (`threads`), and its launcher must not
    # import torch
    p.set_defaults(run=_train, own_threads=True)

    # Subcommands that live with their feature: each module has `register(subparsers)`.
    import importlib

    for module in _FEATURE_COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


class _EpilogAsIs(argparse.RawDescriptionHelpFormatter, _HelpWithDefaults):
    pass


def _with_formatter(add_parser):
    """Subcommands, including those registered by feature modules, show their defaults."""
    def add(name, **kwargs):
        kwargs.setdefault("formatter_class", _HelpWithDefaults)
        return add_parser(name, **kwargs)
    return add


_FEATURE_COMMANDS: tuple[str, ...] = ("keisei_fn.apps.usi_cli", "keisei_fn.apps.eval_cli",
                                     "keisei_fn.apps.ladder_cli", "keisei_fn.apps.play_cli",
                                     "keisei_fn.apps.analyze_cli",
                                     "keisei_fn.apps.watch_cli")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # what `train` re-runs as its data-parallel ranks (run/launch.py)
    if args.threads is not None and args.threads < 1:
        print(f"keisei-fn: error: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        return 2
    from ._errors import TrainingStopped
    from ._runtime import tune_allocator

    tune_allocator()
    if not getattr(args, "own_threads", False):  # a subcommand that sets them itself says so
        import torch

        torch.set_num_threads(args.threads or 1)
    try:
        code = args.run(args)
    except ValueError as err:  # user mistakes (bad SFEN, bad option values): one line, no trace
        print(f"keisei-fn {args.command}: error: {err}", file=sys.stderr)
        return 2
    except TrainingStopped as err:
        print(f"keisei-fn {args.command}: training stopped: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
