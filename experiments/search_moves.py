"""How often searches with different values and q-value scales play the policy's own move, and
each other's, on the opening suite's positions (a quick look before a ladder, not a measure of
strength).

    .venv/bin/python experiments/search_moves.py [AGENT] [--simulations 512] [--positions 64]
        [--variant NAME=VALUE_WEIGHT:Q_RANGE ...]

Each variant is the agent's network with `material_weight` (0: its value, 1: the material
count, as `value=material`) and `q_range` (search/select.py); Gumbel noise 0, mctx's order, one
thread, the suite's first positions, all searched side by side. Prints, per variant, how many
moves equal the policy's argmax, and the table of how many moves two variants share.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

import torch

from keisei_fn.agent import evaluator, load_agent
from keisei_fn.arena.openings import load_suite, replay
from keisei_fn.search.gumbel import search

DEFAULT_VARIANTS = ("network=0:0", "network_qrange1=0:1", "material=1:0", "material_qrange1=1:1")


def _variant(text: str) -> tuple[str, float, float]:
    name, eq, rest = text.partition("=")
    weight, colon, q_range = rest.partition(":")
    try:
        if not (eq and colon and name):
            raise ValueError
        return name, float(weight), float(q_range)
    except ValueError:
        raise SystemExit(f"bad --variant {text!r}: expected NAME=VALUE_WEIGHT:Q_RANGE, "
                         f"e.g. network_qrange1=0:1") from None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("agent", nargs="?", default="reference")
    parser.add_argument("--simulations", type=int, default=512)
    parser.add_argument("--positions", type=int, default=64)
    parser.add_argument("--variant", action="append", default=[])
    parser.add_argument("--out", help="write the counts as JSON here too")
    args = parser.parse_args(argv)
    variants = [_variant(v) for v in (args.variant or DEFAULT_VARIANTS)]
    torch.set_num_threads(1)
    agent, _ = load_agent(args.agent)
    state = replay(load_suite("default")[:args.positions])
    moves, rows = {}, {}
    for name, weight, q_range in variants:
        start = time.thread_time()
        out = search(state, evaluator(replace(agent, material_weight=weight)),
                     torch.Generator().manual_seed(0), simulations=args.simulations,
                     gumbel_scale=0.0, q_range=q_range)
        moves[name] = out["action"]
        policy = int((out["action"] == out["logits"].argmax(-1)).sum())
        rows[name] = {"material_weight": weight, "q_range": q_range, "policy_move": policy,
                      "cpu_s": round(time.thread_time() - start, 1)}
        print(f"{name:>20}: the policy's move in {policy} of {len(out['action'])} "
              f"({rows[name]['cpu_s']} s CPU)", flush=True)
    print("\nmoves in common:")
    print(" " * 21 + " ".join(f"{n[:10]:>10}" for n in moves))
    for a in moves:
        common = {b: int((moves[a] == moves[b]).sum()) for b in moves}
        rows[a]["in_common"] = common
        print(f"{a:>20} " + " ".join(f"{common[b]:>10}" for b in moves))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"agent": args.agent, "simulations": args.simulations,
                       "positions": args.positions, "torch": torch.__version__,
                       "variants": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
