"""What the attack planes add to building PPO's minibatches (`env.compact.network_input`): from
the counts the rollout stores, rebuilt from the positions, and without planes.

    .venv/bin/python experiments/planes_minibatch_cost.py [--games 64] [--steps 24] [--repeats 10]

One thread; a random self-play rollout of GAMES x STEPS positions with the planes, four
minibatches of 256 from it; prints the milliseconds per four minibatches, twice (the first pass
warms up). docs/training.md, "Screen 23".
"""

from __future__ import annotations

import argparse
import time

import torch

from keisei_fn.collect.rollout import rollout
from keisei_fn.env import ShogiEnv
from keisei_fn.env.compact import ATTACK_KEY, network_input

MAX_PLIES = 512


def _ms(f, repeats: int) -> float:
    f()
    start = time.perf_counter()
    for _ in range(repeats):
        f()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--games", type=int, default=64)
    p.add_argument("--steps", type=int, default=24)
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(1)
    env = ShogiEnv(args.games, max_plies=MAX_PLIES, attacks=True)
    generator = torch.Generator().manual_seed(0)

    def uniform(td):
        td["action"] = torch.multinomial(td["action_mask"].float(), 1,
                                         generator=generator).squeeze(1)
        return td

    _, trajectory = rollout(env, uniform, env.reset(), args.steps)
    flat = trajectory.reshape(-1)
    minibatches = [flat[i:i + 256] for i in range(0, min(1024, flat.numel()) - 255, 256)]
    arms = {"stored": lambda x: network_input(x, MAX_PLIES, attacks=True),
            "rebuilt": lambda x: network_input(x.exclude(ATTACK_KEY), MAX_PLIES, attacks=True),
            "no planes": lambda x: network_input(x.exclude(ATTACK_KEY), MAX_PLIES,
                                                 attacks=False)}
    for _ in range(2):
        print(", ".join(f"{name} {_ms(lambda f=f: [f(x) for x in minibatches], args.repeats):.1f}"
                        " ms" for name, f in arms.items())
              + f" ({len(minibatches)} minibatches of 256, torch {torch.__version__})")


if __name__ == "__main__":
    main()
