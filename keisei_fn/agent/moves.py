"""A decision as USI moves: the chosen lines read off the search's tree (or stepped from the
position where there is no tree). Protocol text is the callers'; this only names moves."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from tensordict import TensorDictBase

from ..search.tree import child_of, node_states
from ..shogi import action_to_usi

if TYPE_CHECKING:
    from .decision import Decisions


def variation_moves(state: TensorDictBase, decisions: Decisions, row: int = 0,
                    line: int = 0) -> list[str]:
    """USI moves of candidate `line`'s principal variation in position `row` of `state`."""
    labels = decisions.pv[row, line].tolist()
    if decisions.tree is None:
        return usi_moves(state[row:row + 1], decisions.pv[row, line, :1]) if labels[0] >= 0 \
            else []
    return tree_moves(decisions.tree, labels, row)


def tree_moves(tree: TensorDictBase, labels: list[int], row: int = 0) -> list[str]:
    """USI moves of a variation given as labels from the root of game `row` of a search's
    tree, read off the tree's own node states (no engine step)."""
    moves, node = [], 0
    rows = torch.tensor([row], device=tree.device)
    for label in labels:
        if label < 0 or node < 0:
            break
        at = torch.tensor([node], device=tree.device)
        node_state = node_states(tree, rows, at)
        move = torch.tensor([label], device=tree.device)
        moves.append(action_to_usi(node_state, move)[0])
        node = int(child_of(tree, rows, at, move)[0])
    return moves


def usi_moves(state: TensorDictBase, labels: torch.Tensor) -> list[str]:
    """USI moves of labels [N] in position `state` [1]."""
    return action_to_usi(state.expand(labels.numel()).clone(), labels)
