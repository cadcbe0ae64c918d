"""The train state: everything a run carries from one iteration to the next, in one typed value.

A single agent is a population of one: parameters and optimizer state are stacked [K] for K
members. The state is passed into the trainer's functions and returned by them (`replace`), and
it is what a checkpoint holds, with the games in progress (the direct backend's; collector
workers keep their own).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import torch
from tensordict import TensorDict


@dataclass(frozen=True)
class Counters:
    """How far a run is: a value, changed by `replace`."""
    iteration: int = 0
    optimizer_updates: int = 0
    frames: int = 0
    """env steps played (every rank's)"""
    games: int = 0
    train_seconds: float = 0.0
    """training time, compilation excluded (what time_budget_s counts)"""
    compile_seconds: float = 0.0
    lr_scales: tuple[float, ...] = (1.0,)
    """per member: its learning rate's factor (halved at each rollback)"""
    member_rollbacks: tuple[int, ...] = (0,)
    member_games: tuple[int, ...] = (0,)

    def replace(self, **changes) -> "Counters":
        return replace(self, **changes)

    def as_dict(self) -> dict:
        """The checkpoint's (JSON) form."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @staticmethod
    def from_dict(saved: dict, members: int) -> "Counters":
        """The counters of a checkpoint of any layout: one agent's before it trained as a
        population of one kept "lr_scale" and "rollbacks"; keys added since start fresh."""
        saved = dict(saved)
        if "lr_scale" in saved:
            saved["lr_scales"] = [saved.pop("lr_scale")]
        if "rollbacks" in saved:
            saved["member_rollbacks"] = [saved.pop("rollbacks")]
        known = {f.name for f in fields(Counters)}
        values = {k: tuple(v) if isinstance(v, list) else v
                  for k, v in saved.items() if k in known}
        return fresh_counters(members).replace(**values)


def fresh_counters(members: int) -> Counters:
    return Counters(lr_scales=(1.0,) * members, member_rollbacks=(0,) * members,
                    member_games=(0,) * members)


@dataclass(frozen=True)
class TrainState:
    params: TensorDict
    """members' parameters [K]"""
    opt_state: TensorDict
    """members' Adam state [K]"""
    counters: Counters
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
