"""The train state: everything a run carries from one iteration to the next, in one typed value.

A single agent is a population of one: parameters and optimizer state are stacked [K] for K
members. The state is passed into the trainer's functions and returned by them (`replace`), and
it is what a checkpoint holds, with the games in progress (the direct backend's; collector
workers keep their own).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from tensordict import TensorDict


def fresh_counters(members: int) -> dict:
    return {"iteration": 0, "optimizer_updates": 0, "frames": 0, "games": 0,
            "train_seconds": 0.0, "compile_seconds": 0.0, "lr_scales": [1.0] * members,
            "member_rollbacks": [0] * members, "member_games": [0] * members}


@dataclass(frozen=True)
class TrainState:
    params: TensorDict
    """members' parameters [K]"""
    opt_state: TensorDict
    """members' Adam state [K]"""
    counters: dict
    """iteration, optimizer updates, frames, games, seconds; per member: lr scale, rollbacks,
    games"""
    shuffle: tuple[torch.Generator, ...]
    """member k's minibatch order"""
    policy: tuple[torch.Generator, ...] | None
    """member k's action sampler (None: the collector workers sample, from their own seeds)"""
    league: tuple[TensorDict, ...] = ()
    """past snapshots a league opponent is drawn from (CPU copies, [1] each)"""
    league_gen: torch.Generator | None = None
    """the stream that draws the opponent"""
    evals: tuple[dict, ...] = ()
    """every evaluation result so far"""
    aim_hash: str | None = None
    """the Aim run this run tracks to"""
    games: TensorDict | None = None
    """the games in progress [K*B] (direct backend; None: they live in collector workers)"""
    extra: object = None
    """the algorithm's own state (algos/base.py; gumbel_az: its replay buffers and the pending
    positions of the games in progress), checkpointed by the algorithm"""

    @property
    def members(self) -> int:
        return self.params.batch_size[0]

    def replace(self, **changes) -> "TrainState":
        return replace(self, **changes)


def pick_league_opponent(state: TrainState) -> TensorDict | None:
    """A uniformly drawn pool snapshot [1] (or None without a league); draws from
    `state.league_gen`, in place."""
    if not state.league:
        return None
    index = int(torch.randint(len(state.league), (1,), generator=state.league_gen))
    return state.league[index].to(state.params.device)
