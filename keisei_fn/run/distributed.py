"""Data-parallel learning over a torch.distributed group: the ranks `keisei-fn train` starts on
this machine (launch.py, distributed.ranks=auto) or ones launched by `torchrun`:

    torchrun --standalone --nproc-per-node 2 -m keisei_fn.cli train ...

Every rank plays its own games (its streams are seeded from `seed` and the rank), computes the
gradients of its own minibatches, and one all-reduce per optimizer update averages them inside
the (compiled) update step. All ranks start from rank 0's parameters and apply the same averaged
gradient, so their parameters stay identical: what DDP does. DDP's module wrapper is not used
because the update is a pure function (`torch.func.grad` over a parameter TensorDict); the
all-reduce is a functional collective, which torch.compile traces into the update's graph.

Rank 0 alone tracks to Aim, evaluates, prints progress and writes checkpoints. A checkpoint holds
every rank's games in progress and random streams (gathered to rank 0), so the group resumes
exactly; rank 0's own entries are also at the top level, so a single process can resume it too.
Populations compose by data parallelism: every rank holds the whole population and plays
`env.batch_size` games per member (docs/scaling.md says why, rather than a slice per rank).
"""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import torch.distributed as dist
from omegaconf import OmegaConf
from tensordict import TensorDict

from .._errors import TrainingStopped
from ..config import ConfigError
from ..learn.group import (SINGLE, Group, agree_stop, all_gather, broadcast_tensors,  # noqa: F401
                           from_main, gather, gradient_mean, group_mean, mean_metrics,
                           merge_game_stats)

# Rank r's streams start from seed + r * RANK_SEED_STRIDE (rank 0's are a single run's); far
# apart so that members' seeds (seed + k) and workers' seeds (seed + 1000 w) never collide.
RANK_SEED_STRIDE = 1_000_033




def join(cfg) -> Group:
    """The torchrun group of this process (initialised here), or SINGLE outside torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    if cfg.collector.backend != "direct":
        raise ConfigError(f"collector.backend={cfg.collector.backend} is not supported under "
                          f"torchrun yet; data-parallel ranks use collector.backend=direct")
    if not dist.is_initialized():
        backend = cfg.distributed.backend
        if backend == "auto":
            backend = "nccl" if cfg.device.startswith("cuda") else "gloo"
        dist.init_process_group(backend, timeout=timedelta(seconds=cfg.distributed.timeout_s))
    return Group(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def describe(group: Group) -> str:
    if not group.active:
        return ""
    return f" | data-parallel: {group.world} ranks ({dist.get_backend()})"


def resume_command(group: Group, run_dir) -> str:
    from .launch import LAUNCHED_ENV

    if not group.active or os.environ.get(LAUNCHED_ENV):  # the command starts its ranks again
        return f"keisei-fn train --resume {run_dir}"
    return (f"torchrun --nproc-per-node {group.world} -m keisei_fn.cli train --resume {run_dir} "
            f"(add torchrun's --standalone or rendezvous options as for the first launch)")


def leave(group: Group) -> None:
    if group.active and dist.is_initialized():
        dist.destroy_process_group()


def rank_config(cfg, group: Group):
    """The config rank `group.rank` runs: its own seeds, and under `device=cuda[:N]` the GPU
    of its local rank (torchrun starts one process per GPU)."""
    if not group.active:
        return cfg
    out = OmegaConf.to_container(cfg, resolve=True)
    offset = group.rank * RANK_SEED_STRIDE
    if group.rank:
        out["seed"] += offset
        out["population"]["seeds"] = [s + offset for s in out["population"]["seeds"]]
    if out["device"].startswith("cuda"):
        out["device"] = f"cuda:{group.local_rank}"
    out = OmegaConf.create(out)
    OmegaConf.set_readonly(out, True)
    return out


# Per-rank entries of a checkpoint payload: each rank's games in progress, random streams and the
# algorithm's own state ("replay": its key before the algorithm interface).
RANK_KEYS = ("games", "rng", "algo_state", "replay")


def group_payload(group: Group, payload: dict) -> dict | None:
    """Rank 0: `payload` plus every rank's RANK_KEYS under "ranks"; other ranks: None."""
    if not group.active:
        return payload
    every = gather(group, {k: payload.get(k) for k in RANK_KEYS})
    if not group.main:
        return None
    return {**payload, "ranks": every, "world": group.world}


def rank_payload(group: Group, payload: dict, log=print) -> dict:
    """The payload as rank `group.rank` restores it: its own games and streams.

    A checkpoint written by a group of another size (or by a single process) has no entries for
    some ranks: those start new games from fresh streams (a warning says so); rank 0 always has
    its own (the top-level entries).
    """
    ranks = payload.get("ranks")
    if ranks is not None and len(ranks) == group.world:
        return {**payload, **ranks[group.rank]}
    if group.main:
        return payload
    log(f"warning: the checkpoint was written by {len(ranks) if ranks else 1} process(es), this "
        f"group has {group.world}: rank {group.rank} starts new games with fresh random streams")
    return {k: v for k, v in payload.items() if k not in RANK_KEYS}


def params_digest(params: TensorDict) -> str:
    """A short hash of parameter values (equal on every rank when the group is in sync)."""
    h = hashlib.sha256()
    for key in sorted(params.keys(True, True), key=str):
        h.update(params.get(key).detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class RanksDiverged(TrainingStopped):
    """The ranks' parameters differ: the group is out of sync and the run stops."""


def check_in_sync(group: Group, params: TensorDict) -> str:
    """The parameters' digest, after checking that every rank holds the same one."""
    digest = params_digest(params)
    every = all_gather(group, digest)
    if len(set(every)) > 1:
        raise RanksDiverged(f"ranks' parameters diverged (digests {every}); the last checkpoint "
                            f"holds rank 0's")
    return digest


def rank_console(group: Group, console):
    """Rank 0's console; a silent one elsewhere (progress lines come from rank 0 only)."""
    if group.main:
        return console
    from rich.console import Console

    return Console(quiet=True)


def rank_log(group: Group, log):
    """Rank 0 logs everything; other ranks only warnings, prefixed with their rank."""
    if group.main:
        return log

    def quiet(message: str) -> None:
        if str(message).startswith("warning"):
            log(f"[rank {group.rank}] {message}")

    return quiet
