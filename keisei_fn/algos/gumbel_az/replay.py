"""From searched self-play to training samples: positions wait in `pending` until their game
ends (their value target is its outcome), then go to each member's replay buffer (TorchRL's
`ReplayBuffer` over a `LazyTensorStorage`), sampled uniformly with the member's own generator,
which the train state carries.

A stored position is ~1.7 KB: the compact position (board, hands, side to move, ply), the legal
moves as bits, the improved policy packed over the legal moves (targets.py) and the value target.
The network input is rebuilt per minibatch (env.compact.network_input), as PPO's learner does.
"""

from __future__ import annotations

import logging

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import LazyTensorStorage, ReplayBuffer

from ...env.compact import MASK_BYTES, network_input
from .targets import POLICY_SLOTS, finished_games, unpack_policy

# What a position waiting for its game's end keeps (from the stored rollout step).
PENDING_KEYS = ("game", "mask_bits", "search_policy", "root_value", "raw_value", "full_search")
# What the replay buffer keeps of it.
STORED_KEYS = ("game", "mask_bits", "search_policy", "target_value")

# TorchRL announces every storage it initialises at INFO level, once per buffer and resume.
logging.getLogger("torchrl").setLevel(logging.WARNING)


def new_pending(rows: int, max_plies: int, device) -> TensorDict:
    """[rows, max_plies]: each game row's positions by ply, filled as the game goes."""
    shape = (rows, max_plies)

    def zeros(*tail, dtype=torch.float32):
        return torch.zeros(*shape, *tail, dtype=dtype, device=device)

    game = TensorDict(board=zeros(81, dtype=torch.int8), hands=zeros(2, 7, dtype=torch.int8),
                      side_to_move=zeros(dtype=torch.int8), ply=zeros(dtype=torch.int32),
                      batch_size=shape, device=device)
    return TensorDict(game=game, mask_bits=zeros(MASK_BYTES, dtype=torch.uint8),
                      search_policy=zeros(POLICY_SLOTS, dtype=torch.float16),
                      root_value=zeros(), raw_value=zeros(),
                      full_search=zeros(dtype=torch.bool), batch_size=shape, device=device)


def collect_finished(pending: TensorDictBase, rollout: TensorDictBase, az
                     ) -> tuple[TensorDictBase, TensorDict | None]:
    """Record a stored rollout [B, T] into `pending` (in place) step by step, and return it with
    the positions of every game that ended in the rollout, flat, with their targets (None if
    none did)."""
    rows = torch.arange(rollout.batch_size[0], device=rollout.device)
    done_games = []
    for t in range(rollout.batch_size[1]):
        step = rollout[:, t]
        ply = step.get(("game", "ply")).long()
        pending[rows, ply] = step.select(*PENDING_KEYS)
        finished = finished_games(pending, step.get(("next", "done")).reshape(-1), ply,
                                  step.get(("next", "reward")).reshape(-1), az)
        if finished is not None:
            done_games.append(finished)
    return pending, torch.cat(done_games) if done_games else None


def new_buffer(az) -> ReplayBuffer:
    """A member's buffer: it stores and overwrites the oldest; sampling is sample_minibatch's."""
    return ReplayBuffer(storage=LazyTensorStorage(az.buffer_size), batch_size=az.minibatch_size)


def calibration(samples: TensorDictBase) -> dict:
    """How well the values at play time predicted the outcomes of the games that ended: the
    search's root value and the network's (each with the material prior), squared error and
    correlation."""
    outcome = samples.get("outcome")
    out = {"finished_positions": float(outcome.numel())}
    for name in ("root_value", "raw_value"):
        value = samples.get(name)
        out[f"{name}_mse"] = float((value - outcome).pow(2).mean())
        both = torch.stack([value, outcome])
        out[f"{name}_corr"] = (float(torch.corrcoef(both)[0, 1])
                               if outcome.numel() > 1 and bool((both.std(1) > 0).all())
                               else float("nan"))
    return out


def sample_minibatch(buffers, generators, size: int, max_plies: int, *,
                     attacks: bool) -> TensorDict:
    """One minibatch [K, M = size] from the members' buffers, drawn uniformly with replacement by
    member k's `generators[k]` (the train state's, so that the buffers only store), as the loss
    reads it: "observation", "action_mask", "target_policy", "target_value"."""
    batch = torch.stack([b[torch.randint(len(b), (size,), generator=g)]
                         for b, g in zip(buffers, generators, strict=True)])
    out = network_input(batch.select(*STORED_KEYS), max_plies, attacks=attacks)
    out.set("target_policy", unpack_policy(out.pop("search_policy"), out.get("action_mask")))
    return out


def full_searches(samples: TensorDictBase) -> TensorDict:
    """The finished positions searched in full (all of them unless playout caps are randomized:
    search_policy.py): what the buffer stores and the search's calibration reads."""
    return samples[samples.get("full_search")]


def stored(samples: TensorDictBase) -> TensorDict:
    """The replay buffer's record of finished positions: the full searches' stored keys."""
    return full_searches(samples).select(*STORED_KEYS)
