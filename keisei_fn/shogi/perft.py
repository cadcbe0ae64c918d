"""Batched perft: count the leaf nodes of the legal-move tree, one tree level at a time."""

from __future__ import annotations

import torch
from tensordict import TensorDict

from ._sfen import from_sfen
from ._step import step


def perft_state(state: TensorDict, depth: int, chunk_size: int = 16384, progress=None) -> int:
    """Leaf count below every game of `state` (summed). Children are expanded in chunks of
    `chunk_size` positions, depth-first, so memory stays bounded whatever the tree's width."""
    if depth < 0:
        raise ValueError(f"perft depth must be >= 0, got {depth}")
    if depth == 0:
        return state.batch_size[0]
    mask = state["legal_mask"]
    if depth == 1:
        return int(mask.view(torch.uint8).sum(dtype=torch.int64))
    game, action = mask.nonzero(as_tuple=True)
    total = 0
    for start in range(0, game.numel(), chunk_size):
        g, a = game[start:start + chunk_size], action[start:start + chunk_size]
        total += perft_state(step(state[g], a), depth - 1, chunk_size)
        if progress is not None:
            progress(min(start + chunk_size, game.numel()), game.numel())
    return total


def perft(sfen: str, depth: int, chunk_size: int = 16384, device=None, progress=None) -> int:
    """Number of legal move sequences of length `depth` from `sfen` (perft)."""
    # A short history suffices: perft never plays more than `depth` plies.
    state = from_sfen([sfen], device=device, max_plies=max(depth, 1) + 1)
    return perft_state(state, depth, chunk_size, progress)
