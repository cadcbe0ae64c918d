"""Package a trained run as a named agent (`keisei_fn/agent/packaged/NAME.pt`) with its card.

    .venv/bin/python experiments/make_reference.py RUN_DIR --ladder LADDER_DIR \\
        --player-ladder LADDER_DIR --command "the command that trained it" --commit SHA \\
        (--wall-s SECONDS | --recipe-out OUT) [--name reference]

The checkpoint keeps what a player needs (format, config, network, counters), not the optimizer.
The card (`NAME.card.json`) says how it was made and how strong it measured: the command, the
commit, the seed, the machine (CPU model, ISA flags, cores, torch), the training's wall clock, env
steps and training seconds, the file's sha256, and two whole `keisei-fn ladder` JSONs (every
rung's W/D/L and paired results): the network alone (`--ladder`, `RUN@material=0`: the
trainer's and compare_algos.py's measure) and the player its name gives (`--player-ladder`,
`RUN`, with the material veto). `tests/test_reference_agent.py` holds the two together.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from pathlib import Path

import torch
from tensordict import TensorDict

from keisei_fn.agent.named import HOME, NAMES
from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
from keisei_fn.config import from_yaml
from keep_network import slim_copy

FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def machine() -> dict:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    have = set(fields.get("flags", "").split())
    return {"cpu": fields.get("model name", "unknown"), "logical_cores": os.cpu_count(),
            "isa": [f for f in FLAGS if f in have], "torch": torch.__version__}


def recipe_wall_s(out: Path, seed: int) -> float:
    """The training's wall clock in a run of experiments/reference_recipe.sh: each leg's wall
    clock (OUT/wall.txt, written after the leg's ladder) less that ladder's own seconds."""
    text = (out / "wall.txt").read_text()
    legs = [float(s) for s in re.findall(r"budget \d+: (\d+) s wall", text)]
    ladders = sorted((out / f"s{seed}" / "ladders" / f"s{seed}").glob("argmax_*s/ladder.json"))
    if not legs or len(legs) != len(ladders):
        raise SystemExit(f"{out}: {len(legs)} legs in wall.txt but {len(ladders)} leg ladders")
    return sum(legs) - sum(json.loads(p.read_text())["seconds"] for p in ladders)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("--ladder", required=True,
                   help="the `keisei-fn ladder --out` directory of the network alone "
                        "(RUN@material=0)")
    p.add_argument("--player-ladder", required=True,
                   help="the `keisei-fn ladder --out` directory of the default player (RUN)")
    p.add_argument("--command", required=True, help="the command that trained the run")
    p.add_argument("--commit", required=True, help="the commit the run was trained at")
    wall = p.add_mutually_exclusive_group(required=True)
    wall.add_argument("--wall-s", type=float,
                      help="wall clock of the training command, start to end")
    wall.add_argument("--recipe-out", type=Path,
                      help="experiments/reference_recipe.sh's OUT: the wall clock is its legs' "
                           "(OUT/wall.txt) less their ladders' seconds")
    p.add_argument("--name", default="reference", choices=NAMES)
    args = p.parse_args(argv)

    ckpt = list_checkpoints(args.run_dir)[-1]
    payload = read_checkpoint(ckpt)
    cfg = from_yaml(payload["config"])
    wall_s = args.wall_s if args.recipe_out is None else recipe_wall_s(args.recipe_out, cfg.seed)
    target = HOME / f"{args.name}.pt"
    slim = slim_copy(payload, target)
    ladder, player = (json.loads((Path(d) / "ladder.json").read_text())
                      for d in (args.ladder, args.player_ladder))
    counters = payload["counters"]
    card = {
        "name": args.name,
        "command": args.command,
        "commit": args.commit,
        "seed": cfg.seed,
        "model": f"{cfg.model.arch} {cfg.model.blocks}x{cfg.model.channels}",
        "params": sum(v.numel() for v in TensorDict(slim["params"]).values(True, True)),
        "algorithm": cfg.algo,
        "machine": {**machine(), "ranks": cfg.distributed.ranks,
                    "threads_per_rank": cfg.threads, "precision": cfg.optim.precision},
        "wall_clock_s": round(wall_s),
        "train_seconds": round(counters["train_seconds"], 1),
        "env_steps": counters["frames"],
        "iterations": counters["iteration"],
        "games": counters["games"],
        "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
        "ladder": ladder,
        "player_ladder": player,
    }
    (HOME / f"{args.name}.card.json").write_text(json.dumps(card, indent=1) + "\n")
    print(f"{target} ({target.stat().st_size:,} bytes): ladder Elo {ladder['elo']:+.0f} "
          f"[{ladder['low']:+.0f}, {ladder['high']:+.0f}] alone, {player['elo']:+.0f} "
          f"[{player['low']:+.0f}, {player['high']:+.0f}] as played, "
          f"{counters['frames']:,} env steps")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
