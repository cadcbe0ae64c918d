"""The train state: everything a run carries from one iteration to the next, in one typed value.

A single agent is a population of one: parameters and optimizer state are stacked [K] for K
members. The state is passed into the trainer's functions and returned by them (`replace`), and
it is what a checkpoint holds, with the games in progress (the direct backend's; collector
workers keep their own).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

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
class EvalResult:
    """One evaluation match: a member against one fixed opponent at one iteration, from the
    member's side."""
    opponent: str
    games: int
    wins: int
    draws: int
    losses: int
    score: float
    score_low: float
    """95% Wilson interval of the score"""
    score_high: float
    mean_length: float
    """plies"""
    distinct_games: int = 0
    """(0 in checkpoints from before it was counted)"""
    referee: str = ""
    """the rules the games were played under (move cap, impasse)"""
    iteration: int = 0
    member: int | None = None
    """the population's member (None: a single agent)"""
    train_seconds: float | None = None
    """where on the training clock"""
    frames: int | None = None
    value_quality: dict = field(default_factory=dict)
    """insight/value_quality.py's report on these games"""
    value_quality_all: dict | None = None
    """on all of the member's games of the evaluation (its last match carries it)"""
    value_probes: dict | None = None
    """the value on the probe set (its last match carries it)"""
    ladder_elo: float | None = None
    """the evaluation's placement on the ladder's fixed scale (a single agent's)"""
    ladder_low: float | None = None
    ladder_high: float | None = None

    @property
    def win_rate(self) -> float:
        return self.wins / self.games

    def replace(self, **changes) -> "EvalResult":
        return replace(self, **changes)

    def as_dict(self) -> dict:
        """The checkpoint's and the run summary's form (keys of unset fields left out)."""
        out = {k: v for k, v in asdict(self).items() if v is not None}
        out["win_rate"] = self.win_rate
        return out

    @staticmethod
    def from_dict(saved: dict) -> "EvalResult":
        """A result of any checkpoint (keys it does not know are left out)."""
        known = {f.name for f in fields(EvalResult)}
        return EvalResult(**{k: v for k, v in saved.items() if k in known})


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
    evals: tuple[EvalResult, ...] = ()
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
