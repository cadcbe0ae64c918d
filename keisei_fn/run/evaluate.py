"""Batched evaluation games of the agent against fixed opponents, both colours.

Opponents are pure functions (state, generator) -> action [B]:
- `random`: a uniformly random legal move;
- `greedy`: the legal move that wins the most material at once (one ply, ties broken at random).
"""

from __future__ import annotations

import time
from typing import Callable

import torch
from tensordict import TensorDict

from ..shogi import initial_state, observe, step
from ..shogi.material import capture_gain
from ..models import gumbel_sample, masked_log_softmax
from ..ratings.elo import score_interval


def random_opponent(state: TensorDict, generator: torch.Generator) -> torch.Tensor:
    mask = state["legal_mask"]
    noise = torch.rand(mask.shape, generator=generator, device=mask.device)
    return torch.where(mask, noise, -1.0).argmax(-1)


def greedy_opponent(state: TensorDict, generator: torch.Generator) -> torch.Tensor:
    mask = state["legal_mask"]
    noise = torch.rand(mask.shape, generator=generator, device=mask.device) * 1e-3
    score = capture_gain(state) + noise
    return torch.where(mask, score, -1.0).argmax(-1)


OPPONENTS = {"random": random_opponent, "greedy": greedy_opponent}


def agent_actions(net, state: TensorDict, generator: torch.Generator, greedy: bool) -> torch.Tensor:
    with torch.no_grad():
        logits, _ = net(observe(state))
    log_probs = masked_log_softmax(logits.float(), state["legal_mask"])
    return log_probs.argmax(-1) if greedy else gumbel_sample(log_probs, generator)


def play_match(net, opponent: str, games: int, max_plies: int = 256, seed: int = 0,
               greedy: bool = True, device="cpu",
               progress: Callable[[int, int], None] | None = None) -> dict:
    """`games` games (agent Black in the first half, White in the rest), all in one batch;
    `progress(plies played, games finished)` is called after every ply.

    Returns wins/draws/losses from the agent's side, a 95% Wilson interval of the score and the
    mean game length.
    """
    if opponent not in OPPONENTS:
        raise ValueError(f"unknown opponent {opponent!r}; choose from {', '.join(OPPONENTS)}")
    if games < 1:
        raise ValueError("games must be >= 1")
    generator = torch.Generator(device=device).manual_seed(seed)
    state = initial_state(games, device=device, max_plies=max_plies)
    agent_side = (torch.arange(games, device=device) >= (games + 1) // 2).to(torch.int8)
    result = torch.zeros(games, device=device)  # from the agent's side
    length = torch.zeros(games, device=device)
    live = torch.ones(games, dtype=torch.bool, device=device)
    plies = 0
    while bool(live.any()):
        rows = live.nonzero().squeeze(1)
        sub = state[rows]
        ours = sub["side_to_move"] == agent_side[rows]
        action = torch.where(ours, agent_actions(net, sub, generator, greedy),
                             OPPONENTS[opponent](sub, generator))
        nxt = step(sub, action)
        ended = nxt["terminated"] | nxt["truncated"]
        mover_score = torch.where(ours, nxt["reward"], -nxt["reward"])
        result[rows[ended]] = mover_score[ended]
        length[rows[ended]] = nxt["ply"][ended].float()
        state[rows] = nxt
        live[rows[ended]] = False
        plies += 1
        if progress is not None:
            progress(plies, games - int(live.sum()))
    wins, losses = int((result > 0).sum()), int((result < 0).sum())
    draws = games - wins - losses
    score = (wins + 0.5 * draws) / games
    low, high = score_interval(score, games)
    return {"opponent": opponent, "games": games, "wins": wins, "draws": draws,
            "losses": losses, "win_rate": wins / games, "score": score, "score_low": low,
            "score_high": high, "mean_length": float(length.mean())}


def match_progress(print_line, label: str, games: int, every_s: float = 10.0):
    """A `play_match` progress callback: a line at most every `every_s` seconds, so a long
    evaluation shows it is alive."""
    started = last = time.monotonic()

    def progress(plies: int, finished: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            print_line(f"  {label}: {finished}/{games} games finished, ply {plies} "
                       f"({now - started:.0f} s)")

    return progress


def format_match(r: dict) -> str:
    return (f"vs {r['opponent']:<7} W {r['wins']:>4} D {r['draws']:>4} L {r['losses']:>4}  "
            f"win {100 * r['win_rate']:5.1f}%  score {100 * r['score']:5.1f}% "
            f"[{100 * r['score_low']:.1f}, {100 * r['score_high']:.1f}]  "
            f"mean length {r['mean_length']:.0f}")
