"""A data-parallel group's collectives, for the code that runs on every rank: the gradient
all-reduce inside the update, and agreeing on statistics, metrics and decisions. A single
process is the group `SINGLE`, where each is the identity. Joining and leaving a group, and the
checkpoint's per-rank entries, are run/distributed.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist
from tensordict import TensorDict

from .._private import functional_all_reduce

_STOP_CODES = (None, "updates", "time", "signal")


@dataclass(frozen=True)
class Group:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


SINGLE = Group()


def gradient_mean(group: Group) -> Callable[[TensorDict], TensorDict] | None:
    """`reduce(grads) -> grads averaged over the group` (None for a single process): one
    all-reduce of all leaves flattened together, traceable by torch.compile."""
    if not group.active:
        return None
    all_reduce = functional_all_reduce()

    world = group.world

    def reduce(grads: TensorDict) -> TensorDict:
        keys = list(grads.keys(True, True))
        leaves = [grads.get(k) for k in keys]
        flat = torch.cat([g.reshape(-1).float() for g in leaves])
        flat = all_reduce(flat, "sum", dist.group.WORLD) / world
        out = grads.clone(False)
        offset = 0
        for key, leaf in zip(keys, leaves):
            out.set(key, flat[offset:offset + leaf.numel()].view(leaf.shape).to(leaf.dtype))
            offset += leaf.numel()
        return out

    return reduce


def broadcast_tensors(group: Group, td: TensorDict) -> TensorDict:
    """Every rank's `td` overwritten in place with rank 0's."""
    if group.active:
        for leaf in td.values(True, True):
            dist.broadcast(leaf, src=0)
    return td


def from_main(group: Group, obj):
    """Rank 0's `obj` on every rank (any picklable object)."""
    if not group.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(group: Group, obj) -> list | None:
    """[every rank's obj] on rank 0, None elsewhere."""
    if not group.active:
        return [obj]
    out = [None] * group.world if group.main else None
    dist.gather_object(obj, out, dst=0)
    return out


def all_gather(group: Group, obj) -> list:
    if not group.active:
        return [obj]
    out = [None] * group.world
    dist.all_gather_object(out, obj)
    return out


def agree_stop(group: Group, reason: str | None) -> str | None:
    """One stop decision for the whole group (a rank out of time or signalled stops them all):
    ranks that disagreed would wait forever in the next collective."""
    if not group.active:
        return reason
    code = torch.tensor(_STOP_CODES.index(reason))
    dist.all_reduce(code, op=dist.ReduceOp.MAX)
    return _STOP_CODES[int(code)]


def group_mean(group: Group) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """`mean(tensor) -> its mean over the group` (None for a single process): for decisions every
    rank must take alike, such as PPO's KL early stop."""
    if not group.active:
        return None

    def mean(tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor / group.world

    return mean


def merge_game_stats(group: Group, stats):
    """The group's game statistics (a dict, or a list of them per member): counts summed, means
    weighted by the games behind them."""
    every = all_gather(group, stats)
    if len(every) == 1:
        return stats
    if isinstance(stats, list):
        return [_merge([e[i] for e in every]) for i in range(len(stats))]
    return _merge(every)


# Statistics that are means, and the count each is a mean over (stats.py).
_MEANS = {"mean_length": "games", "league_score": "league_games",
          **{f"search/{v}_{m}": "search/finished_positions" for v in ("root_value", "raw_value")
             for m in ("mse", "corr")}}


def _merge(every: list[dict]) -> dict:
    out = {}
    for key in dict.fromkeys(k for s in every for k in s):  # a rank may lack league_score
        if key in _MEANS:
            weights = [s.get(_MEANS[key], 0.0) if key in s else 0.0 for s in every]
            total = sum(weights)
            out[key] = (sum(s[key] * w for s, w in zip(every, weights) if w) / total if total
                        else float("nan"))
        else:
            out[key] = float(sum(s.get(key, 0.0) for s in every))
    return out


def mean_metrics(group: Group, metrics):
    """Loss metrics (a dict of floats, or a list of them per member) averaged over the group."""
    every = all_gather(group, metrics)
    if len(every) == 1:
        return metrics
    if isinstance(metrics, list):
        return [{k: sum(e[i][k] for e in every) / len(every) for k in m}
                for i, m in enumerate(metrics)]
    return {k: sum(e[k] for e in every) / len(every) for k in metrics}
