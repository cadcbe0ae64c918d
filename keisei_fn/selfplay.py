"""Random self-play with the batched engine: the project's main job until the trainer lands."""

from __future__ import annotations

import time
from collections import Counter

import torch

from .shogi import Reason, initial_state, reset_where, step


def random_actions(mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A uniformly random legal label per game: argmax of uniform noise over the legal labels."""
    noise = torch.rand(mask.shape, generator=generator, device=mask.device)
    return torch.where(mask, noise, -1.0).argmax(1)


def play_random_games(games: int, batch_size: int = 256, seed: int = 0, max_plies: int = 512,
                      device="cpu", log=None) -> dict:
    """Play `games` uniformly random games, `batch_size` at a time with in-batch resets.

    Returns counts by outcome, game lengths and throughput. Every game started is finished and
    counted exactly once: a slot is refilled only while games remain to be started.
    """
    if games < 1 or batch_size < 1 or max_plies < 1:
        raise ValueError("games, batch size and max plies must all be positive")
    batch_size = min(batch_size, games)
    generator = torch.Generator(device=device).manual_seed(seed)
    fresh = initial_state(1, device=device, max_plies=max_plies)
    state = initial_state(batch_size, device=device, max_plies=max_plies)
    active = torch.ones(batch_size, dtype=torch.bool, device=device)
    started, finished, plies = batch_size, 0, 0
    outcomes: Counter = Counter()
    lengths: list[int] = []
    t0 = last_log = time.perf_counter()
    while finished < games:
        mover = state["side_to_move"]
        state = step(state, random_actions(state["legal_mask"], generator))
        plies += int(active.sum())
        ended = state["terminated"] | state["truncated"]
        done = ended & active  # slots past the requested number of games play on, uncounted
        if ended.any():
            reasons = state["termination_reason"][done].tolist()
            rewards = state["reward"][done].tolist()
            movers = mover[done].tolist()
            lengths += state["ply"][done].tolist()
            for reason, reward, who in zip(reasons, rewards, movers):
                winner = (
                    "draw" if reward == 0 else ("black" if (reward > 0) == (who == 0) else "white")
                )
                outcomes[(Reason.NAMES[reason], winner)] += 1
            finished += len(reasons)
            refill = done.nonzero().flatten()[: max(0, games - started)]
            started += refill.numel()
            again = torch.zeros_like(done)
            again[refill] = True
            active = active & ~done | again
            state = reset_where(state, ended, fresh)
        now = time.perf_counter()
        if log is not None and now - last_log > 5.0:
            last_log = now
            log(f"  {finished}/{games} games finished, {plies / (now - t0):,.0f} plies/s")
    seconds = time.perf_counter() - t0
    return {"games": finished, "outcomes": dict(outcomes), "lengths": lengths,
            "plies": plies, "seconds": seconds}


def format_summary(summary: dict) -> str:
    lengths = sorted(summary["lengths"])
    n = summary["games"]
    lines = [f"{n} random self-play games, {summary['plies']} plies in {summary['seconds']:.1f} s "
             f"({summary['plies'] / summary['seconds']:,.0f} plies/s)",
             f"game length: mean {sum(lengths) / n:.1f}, median {lengths[n // 2]}, "
             f"min {lengths[0]}, max {lengths[-1]}"]
    wins = Counter()
    for (reason, winner), count in sorted(summary["outcomes"].items()):
        lines.append(f"  {reason:<16} {winner:<6} {count:>6}  ({100 * count / n:.1f}%)")
        wins[winner] += count
    lines.append(f"black {wins['black']}, white {wins['white']}, draws {wins['draw']} "
                 f"(total {sum(wins.values())} = games {n})")
    return "\n".join(lines)
