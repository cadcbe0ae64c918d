"""The floor under one search simulation: the network call and the rules engine's `step` alone,
at batch sizes 1, 8 and 64, eager and compiled, the network in float32 and bf16.

    .venv/bin/python experiments/search_floor.py [CHECKPOINT] [--out results.json]

A simulation evaluates one new position per game and steps one move per game, so at B games its
cost is at least network(B) + step(B); issue 30's targets (1 x 64 <= 100 ms, 64 x 16 >= 8,500
simulations/s) are held against these. Each figure is the thread's CPU time per call
(`time.thread_time`, the least of 5 repeats of 200 calls, 50 at B = 64), one thread, after a
warm-up outside the clock: CPU time, not wall clock, so that it can be read on a busy machine (a
process that waits for the CPU is not charged for it; what other processes do to the caches
still is). Positions: the start position repeated (the network's cost does not depend on the
position; the step's a little). "frozen" is inductor's `freezing` (the weights folded in as
constants and prepacked for oneDNN), which needs the parameters as a module's buffers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial

import torch
from tensordict import TensorDict
from torch import nn

from keisei_fn.agent import load_agent
from keisei_fn.models import members_forward
from keisei_fn.shogi import compiled_step, initial_state, observe, step
from make_reference import machine  # experiments/: the cards' machine description

BATCHES = (1, 8, 64)


def cpu_ms(fn, calls: int, repeats: int = 5) -> float:
    fn()
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.thread_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.thread_time() - start) / calls)
    return best * 1e3


class _Frozen(nn.Module):
    """The agent's parameters as buffers, so that inductor's freezing can fold them in."""

    def __init__(self, agent):
        super().__init__()
        self.spec = agent.spec
        flat = agent.params.flatten_keys(".")
        self.names = list(flat.keys())
        for i, name in enumerate(self.names):
            self.register_buffer(f"p{i}", flat[name].clone())

    def forward(self, obs):
        params = TensorDict({n: getattr(self, f"p{i}") for i, n in enumerate(self.names)},
                            []).unflatten_keys(".")
        return members_forward(params, obs[None], self.spec)


def networks(agent) -> dict:
    """name -> a function of the observation [B, 46, 9, 9]."""
    def fp32(obs):
        return members_forward(agent.params, obs[None], agent.spec)

    def bf16(obs):
        with torch.autocast("cpu", torch.bfloat16):
            return members_forward(agent.params, obs[None], agent.spec)

    def frozen():
        import torch._inductor.config as inductor_config
        inductor_config.freezing = True
        return torch.compile(_Frozen(agent).eval(), fullgraph=True, dynamic=False)

    return {
        "network fp32 eager": lambda: fp32,
        "network fp32 compiled": lambda: torch.compile(fp32, fullgraph=True, dynamic=False),
        "network bf16 eager": lambda: bf16,
        "network bf16 compiled": lambda: torch.compile(bf16, fullgraph=True, dynamic=False),
        "network fp32 compiled, frozen": frozen,  # last: freezing is a global switch
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", nargs="?", default="reference")
    p.add_argument("--out", help="write the figures as JSON here too")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    agent, cfg = load_agent(args.checkpoint)
    rows = []

    def record(name: str, batch: int, ms: float) -> None:
        rows.append({"what": name, "batch": batch, "cpu_ms_per_call": round(ms, 4),
                     "us_per_position": round(1e3 * ms / batch, 1)})
        print(f"{name:32s} B={batch:3d}: {ms:7.3f} ms a call, {1e3 * ms / batch:7.1f} us a "
              f"position", flush=True)

    with torch.no_grad():
        for batch in BATCHES:
            state = initial_state(batch)
            action = state["legal_mask"].float().argmax(-1)
            calls = 50 if batch >= 64 else 200
            record("step eager", batch, cpu_ms(partial(step, state, action), calls))
            record("step compiled", batch, cpu_ms(partial(compiled_step, state, action), calls))
        for name, make in networks(agent).items():
            net = make()
            for batch in BATCHES:
                obs = observe(initial_state(batch))
                record(name, batch, cpu_ms(partial(net, obs), 50 if batch >= 64 else 200))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"checkpoint": args.checkpoint,
                       "model": f"{cfg.model.arch} {cfg.model.blocks}x{cfg.model.channels}",
                       "machine": {**machine(), "threads": 1},
                       "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
