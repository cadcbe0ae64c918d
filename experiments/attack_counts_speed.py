"""`shogi.attack_counts` against its version at an earlier commit, in the same process: CPU
time per call (median of 15 rounds of 10, alternating), one thread, random-walk positions.

    .venv/bin/python experiments/attack_counts_speed.py --against 5eab7ff

The two must agree exactly on every batch (asserted) before they are timed.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from keisei_fn.shogi import attack_counts, initial_state, step

ROOT = Path(__file__).resolve().parents[1]


def _version_at(rev: str):
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:keisei_fn/shogi/_attacks.py"],
                          check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "attacks_then.py"
    path.write_text(text.replace("from ._", "from keisei_fn.shogi._"))
    spec = importlib.util.spec_from_file_location("attacks_then", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.attack_counts


def _positions(batch: int, plies: int, generator) -> object:
    state = initial_state(batch)
    for _ in range(plies):
        pick = torch.multinomial(state["legal_mask"].float(), 1, generator=generator)
        state = step(state, pick.squeeze(-1))
    return state


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--against", required=True, help="git revision of the earlier version")
    p.add_argument("--batches", default="64,256,1024")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    then = _version_at(args.against)
    generator = torch.Generator().manual_seed(0)
    for batch in (int(b) for b in args.batches.split(",")):
        state = _positions(batch, 40, generator)
        assert torch.equal(then(state), attack_counts(state))
        times = {"then": [], "now": []}
        for _ in range(15):
            for name, f in (("then", then), ("now", attack_counts)):
                t0 = time.process_time()
                for _ in range(10):
                    f(state)
                times[name].append((time.process_time() - t0) / 10 * 1e3)
        a, b = (sorted(times[k])[7] for k in ("then", "now"))
        print(f"{batch:>5} positions: {args.against} {a:.3f} ms, now {b:.3f} ms, "
              f"{a / b:.2f}x", file=sys.stdout)


if __name__ == "__main__":
    main()
