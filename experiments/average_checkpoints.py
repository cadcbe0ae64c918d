"""The uniform average of a run's last N networks, as one small checkpoint (`keep_network.py`'s
format): a probe of whether weight averaging along the end of a run gives a stronger player than
its last network, without training anything (the checkpoints a run keeps are its last three:
`ckpt_*.pt` every `checkpoint.every` iterations and the final one).

    .venv/bin/python experiments/average_checkpoints.py RUN_DIR OUT.pt [--last N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from keisei_fn.checkpoint import list_checkpoints, read_checkpoint

from keep_network import slim_copy


def average(trees: list):
    """The element-wise mean of nested dicts of tensors of one layout (float32 accumulation)."""
    first = trees[0]
    if isinstance(first, dict):
        return {k: average([t[k] for t in trees]) for k in first}
    if isinstance(first, torch.Tensor) and first.is_floating_point():
        return (sum(t.float() for t in trees) / len(trees)).to(first.dtype)
    return first


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--last", type=int, default=3, help="how many of the newest checkpoints")
    args = parser.parse_args()
    checkpoints = list_checkpoints(args.run_dir)[-args.last:]
    if len(checkpoints) < 2:
        raise SystemExit(f"{args.run_dir}: {len(checkpoints)} checkpoint(s), nothing to average")
    payloads = [read_checkpoint(p) for p in checkpoints]
    newest = dict(payloads[-1], params=average([p["params"] for p in payloads]))
    slim_copy(newest, args.out)
    print(f"mean of {', '.join(p.name for p in checkpoints)} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
