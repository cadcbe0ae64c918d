"""What a finished Gumbel search tree (gumbel.py) proves: each root move's forced result where
the rules decide it within the tree (a mate found, a loss that cannot be avoided), the moves it
proves, and the principal variation. Pure readers of the tree."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase

from .tree import ROOT, UNVISITED, child_of, slot_labels, slot_stats, unpack


def _edge_results(reward, ended, child_win, child_loss) -> torch.Tensor:
    """Plies to the forced end for the mover of each move (see `move_results`)."""
    plies = torch.zeros_like(child_win)
    plies = torch.where(ended & (reward > 0), 1, plies)
    plies = torch.where(ended & (reward < 0), -1, plies)
    plies = torch.where(~ended & (child_loss > 0), child_loss + 1, plies)
    return torch.where(~ended & (child_win > 0), -(child_win + 1), plies)


def move_results(tree, win: torch.Tensor, loss: torch.Tensor, node: int = ROOT) -> torch.Tensor:
    """long [B, 2187]: for each move of `node`, the plies to the forced end of the game for its
    mover, + for a win, - for a loss, 0 where the tree proves nothing (or the move is not
    expanded). A move into a finished position ends it in 1; a move into a node whose mover is
    proven to lose in d (win in d) wins in d + 1 (loses in d + 1)."""
    b = tree.batch_size[0]
    rows = torch.arange(b, device=win.device)
    nodes = torch.full_like(rows, node)
    child = tree["children_index"][rows, nodes].long()
    safe = child.clamp(min=0)
    expanded = child != UNVISITED
    ended = tree["terminal"].gather(1, safe)
    plies = _edge_results(tree["reward"].gather(1, safe), ended, win.gather(1, safe),
                          loss.gather(1, safe))
    return unpack(tree, rows, nodes, torch.where(expanded, plies, 0), 0)


def forced_results(tree) -> tuple[torch.Tensor, torch.Tensor]:
    """What the expanded tree proves by the rules alone (minimax over its finished positions,
    whatever the network says): long [B, N] plies to a forced win and to a forced loss for each
    node's side to move (0: not proven). A win needs one move that wins; a loss needs every
    legal move expanded and losing. The shortest win and the longest loss are kept.

    It works on the tree's edges (each node and the move into it), so a pass costs O(nodes),
    not O(nodes x 2187)."""
    b, n = tree["parents"].shape
    device = tree["parents"].device
    parent = tree["parents"].long()
    edge = parent != UNVISITED
    safe_parent = parent.clamp(min=0)
    reward = tree["reward"]
    ended = tree["terminal"]
    legal = (tree["labels"] >= 0).sum(-1)
    open_node = (legal > 0) & ~ended
    # each edge's parent as a flat index, edges of other games kept apart
    flat = (torch.arange(b, device=device)[:, None] * n + safe_parent).flatten()
    win = torch.zeros(b, n, dtype=torch.long, device=device)
    loss = torch.zeros_like(win)
    for _ in range(n):  # a proof is at most as deep as the tree
        plies = torch.where(edge, _edge_results(reward, ended, win, loss), 0).flatten()
        shortest = torch.full((b * n,), n + 2, dtype=torch.long, device=device)
        shortest.scatter_reduce_(0, flat, torch.where(plies > 0, plies, n + 2), "amin")
        losing = torch.zeros(b * n, dtype=torch.long, device=device)
        losing.scatter_add_(0, flat, (plies < 0).long())
        longest = torch.zeros(b * n, dtype=torch.long, device=device)
        longest.scatter_reduce_(0, flat, (-plies).clamp(min=0), "amax")
        new_win = torch.where(open_node & (shortest.view(b, n) <= n + 1), shortest.view(b, n), 0)
        new_loss = torch.where(open_node & (losing.view(b, n) == legal), longest.view(b, n), 0)
        if torch.equal(new_win, win) and torch.equal(new_loss, loss):
            break
        win, loss = new_win, new_loss
    return win, loss


def proven_moves(out: TensorDictBase) -> tuple[torch.Tensor, torch.Tensor]:
    """(move [B], plies [B, 2187]) after a search: the search's move, or the shortest win the
    tree proves where it proves one (a proof beats any estimate); and each root move's forced
    result (`move_results`: + win, - loss, 0 unknown)."""
    tree = out["tree"]
    plies = move_results(tree, *forced_results(tree))
    shortest = torch.where(plies > 0, plies, torch.iinfo(plies.dtype).max).argmin(-1)
    return torch.where((plies > 0).any(-1), shortest, out["action"]), plies


def principal_variation(tree, first: torch.Tensor, node: torch.Tensor | None = None
                        ) -> torch.Tensor:
    """long [B, D]: `first` played at `node` (default: the root), then the most visited move at
    each node below, while the node has been expanded (-1 padded)."""
    b = tree.batch_size[0]
    rows = torch.arange(b, device=first.device)
    moves = [first]
    if node is None:
        node = torch.zeros_like(first)
    node = child_of(tree, rows, node, first)
    for _ in range(tree["node_visits"].shape[1]):
        alive = node != UNVISITED
        if not bool(alive.any()):
            break
        safe = node.clamp(min=0)
        _, visits, _ = slot_stats(tree, rows, safe)
        best = visits.argmax(-1)
        has = alive & (visits.amax(-1) > 0)
        if not bool(has.any()):
            break
        label = slot_labels(tree, rows, safe).gather(1, best[:, None]).squeeze(1)
        moves.append(torch.where(has, label, UNVISITED))
        child = tree["children_index"][rows, safe, best].long()
        node = torch.where(has, child, UNVISITED)
    return torch.stack(moves, 1)
