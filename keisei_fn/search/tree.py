"""The search tree's layout: fixed capacity, compact, one TensorDict [B] per batch of searches.

A node's moves are kept over its legal moves only, in label order (`slots`: at most
MAX_LEGAL_MOVES = 593 in any Shogi position, against 2187 labels), and a move's statistics are
not kept on the edge at all: a move's visits, value and reward are its child node's. So a node
costs its [593] slots (label int16, prior logit, child index int32: ~5.9 KB) and a small game
state: the hash and check histories, which `step` needs for repetitions, are kept once for the
root and rebuilt along the path when a node is stepped from (`node_states`), and the legal mask
is the slots' labels.

Fields, batch [B], N = simulations + 1 nodes:
- per node [B, N]: `node_visits` int32, `raw_values`, `node_values`, `reward` (the move into
  the node, for its mover), `parents` int32, `action_from_parent` int32 (a label), `depth`
  int32, `terminal`, and `state` (the game state without its histories and legal mask, plus
  `hash`, the position's hash);
- per slot [B, N, S]: `labels` int16 (-1 past the legal moves), `prior_logits` (-inf there),
  `children_index` int32 (-1 while unexpanded);
- per game: `root_history` (the root's `hash_history` and `check_history`), and `q_range`,
  the smallest range sigma's min-max rescales the q-values by (select.py; 0 is mctx's).

The search (gumbel.py) writes it in place as it grows: `write_node` here, the walk and backup
there; everything else reads it.
"""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase

from ..shogi import MAX_LEGAL_MOVES, NUM_ACTIONS

# A child index that was never expanded, and the root's index, in the tree's arrays.
UNVISITED = -1
ROOT = 0
_HISTORIES = ("hash_history", "check_history")
_DROPPED = _HISTORIES + ("legal_mask",)


def _lite(state: TensorDictBase) -> TensorDictBase:
    """The part of a game state a node keeps: all but the histories and the legal mask, plus
    the position's own hash."""
    ply = state["ply"].long().clamp(max=state["hash_history"].shape[1] - 1)
    lite = state.exclude(*_DROPPED)
    lite["hash"] = state["hash_history"].gather(1, ply[:, None]).squeeze(1)
    return lite


def new_tree(root: TensorDictBase, simulations: int, dtype: torch.dtype,
             slots: int = MAX_LEGAL_MOVES, q_range: float = 0.0) -> TensorDict:
    """An empty tree of `simulations + 1` nodes per game for `root` [B] (write the root with
    `write_node` at index ROOT). `q_range` is kept per game as data, not as a Python constant,
    so that the compiled programs (compiled.py) read it without a variant per value."""
    b, n = root.batch_size[0], simulations + 1
    device = root.device
    lite = _lite(root)
    states = lite.unsqueeze(1).expand(b, n).clone()
    return TensorDict(
        state=states,
        root_history=root.select(*_HISTORIES),
        q_range=torch.full((b,), q_range, dtype=dtype, device=device),
        node_visits=torch.zeros(b, n, dtype=torch.int32, device=device),
        raw_values=torch.zeros(b, n, dtype=dtype, device=device),
        node_values=torch.zeros(b, n, dtype=dtype, device=device),
        reward=torch.zeros(b, n, dtype=dtype, device=device),
        parents=torch.full((b, n), UNVISITED, dtype=torch.int32, device=device),
        action_from_parent=torch.full((b, n), UNVISITED, dtype=torch.int32, device=device),
        depth=torch.zeros(b, n, dtype=torch.int32, device=device),
        terminal=torch.zeros(b, n, dtype=torch.bool, device=device),
        labels=torch.full((b, n, slots), UNVISITED, dtype=torch.int16, device=device),
        prior_logits=torch.full((b, n, slots), -torch.inf, dtype=dtype, device=device),
        children_index=torch.full((b, n, slots), UNVISITED, dtype=torch.int32, device=device),
        batch_size=[b], device=device,
    )


def pack(legal: torch.Tensor, values: torch.Tensor, slots: int, fill) -> tuple[torch.Tensor,
                                                                               torch.Tensor]:
    """(labels long [n, slots], values [n, slots]): the legal labels of each row in label order
    and `values` [n, 2187] at them; -1 and `fill` past the legal moves."""
    n = legal.shape[0]
    slot = torch.where(legal, legal.long().cumsum(-1) - 1, slots).clamp(max=slots)
    labels = torch.arange(NUM_ACTIONS, device=legal.device).expand(n, NUM_ACTIONS)
    packed_labels = torch.full((n, slots + 1), UNVISITED, dtype=torch.long, device=legal.device)
    packed_labels.scatter_(1, slot, torch.where(legal, labels, UNVISITED))
    packed = torch.full((n, slots + 1), fill, dtype=values.dtype, device=values.device)
    packed.scatter_(1, slot, torch.where(legal, values, fill))
    return packed_labels[:, :slots], packed[:, :slots]


def put(tree, key, at, value, only=None) -> None:
    """tree[key][at] = value, or only in the games where `only` [n] is true (the compiled
    search writes every game and keeps the others' old values: no data-dependent shapes)."""
    target = tree[key]
    value = value.to(target.dtype)
    if only is not None:
        old = target[at]
        value = torch.where(only.view(-1, *([1] * (old.dim() - 1))), value, old)
    target[at] = value


def link_node(tree, rows, parent, slot, index, label, reward, only=None) -> None:
    """Node `index` is the child of `parent` by its move `slot` (label `label`), reached with
    `reward` for the mover; in the games of `rows` (where `only`, if given)."""
    node = (rows, index)
    put(tree, "parents", node, parent, only)
    put(tree, "action_from_parent", node, label, only)
    put(tree, "depth", node, tree["depth"][rows, parent] + 1, only)
    put(tree, "children_index", (rows, parent, slot), index, only)
    put(tree, "reward", node, reward, only)


def write_node(tree, rows, index, state, logits, value, terminal, only=None) -> None:
    """Node `index` of each game in `rows` holds `state` [n] with the network's `logits` [n,
    2187] and `value` [n]; a `terminal` node has no moves and value 0. With `only` [n], only
    in those games."""
    dtype = tree["raw_values"].dtype
    legal = state["legal_mask"] & ~terminal[:, None]
    labels, logits = pack(legal, logits.to(dtype), tree["labels"].shape[-1], -torch.inf)
    node = (rows, index)
    put(tree, "labels", node, labels, only)
    put(tree, "prior_logits", node, logits, only)
    put(tree, "children_index", node, torch.full_like(labels, UNVISITED), only)
    value = torch.where(terminal, 0.0, value.to(dtype))
    put(tree, "raw_values", node, value, only)
    put(tree, "node_values", node, value, only)
    put(tree, "node_visits", node, torch.ones_like(index), only)
    put(tree, "terminal", node, terminal, only)
    lite = _lite(state)
    for key in lite.keys():
        put(tree, ("state", key), node, lite[key], only)


def slot_stats(tree, rows, node) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, visits, q) [n, S] of the moves of `node` in each game of `rows`: the prior logit
    (-inf past the legal moves), the child's visits (0 unexpanded) and the move's q = reward +
    (-1) x the child's value (negamax; 0 unexpanded)."""
    logits = tree["prior_logits"][rows, node]
    child = tree["children_index"][rows, node].long()
    expanded = child != UNVISITED
    at = (rows[:, None], child.clamp(min=0))
    visits = torch.where(expanded, tree["node_visits"][at], 0)
    q = torch.where(expanded, tree["reward"][at] - tree["node_values"][at], 0.0)
    return logits, visits, q


def slot_labels(tree, rows, node) -> torch.Tensor:
    """long [n, S]: the labels of `node`'s moves (-1 past the legal moves)."""
    return tree["labels"][rows, node].long()


def unpack(tree, rows, node, values: torch.Tensor, fill) -> torch.Tensor:
    """[n, 2187]: per-slot `values` [n, S] of `node` put back at their labels, `fill` elsewhere."""
    labels = slot_labels(tree, rows, node)
    n = labels.shape[0]
    out = torch.full((n, NUM_ACTIONS + 1), fill, dtype=values.dtype, device=values.device)
    out.scatter_(1, torch.where(labels >= 0, labels, NUM_ACTIONS), values)
    return out[:, :NUM_ACTIONS]


def slot_of(tree, rows, node, label: torch.Tensor) -> torch.Tensor:
    """long [n]: the slot of move `label` [n] at `node`, -1 where it is not one of its moves."""
    hit = slot_labels(tree, rows, node) == label[:, None]
    return torch.where(hit.any(-1), hit.int().argmax(-1), UNVISITED)


def child_of(tree, rows, node, label: torch.Tensor) -> torch.Tensor:
    """long [n]: the node `label` leads to from `node`, UNVISITED where it is not expanded."""
    slot = slot_of(tree, rows, node, label)
    child = tree["children_index"][rows, node, slot.clamp(min=0)].long()
    return torch.where(slot >= 0, child, UNVISITED)


def node_states(tree, rows, nodes) -> TensorDict:
    """The full game states [n] of `nodes` in the games of `rows`, as `step` takes them: the
    root's histories with each node's path written over the plies after the root's, and the
    legal mask from the node's moves."""
    lite = tree["state"][rows, nodes]
    hashes = tree["root_history"]["hash_history"][rows].clone()
    checks = tree["root_history"]["check_history"][rows].clone()
    last = hashes.shape[1] - 1
    index = nodes.clone()
    for _ in range(int(tree["depth"][rows, nodes].max()) if len(rows) else 0):
        going = index != ROOT
        ply = tree["state"]["ply"][rows, index].long().clamp(max=last)[:, None]
        column = torch.where(going[:, None], ply, 0)
        hashes.scatter_(1, column, torch.where(going, tree["state"]["hash"][rows, index],
                                               hashes[:, 0])[:, None])
        checks.scatter_(1, column, torch.where(going, tree["state"]["in_check"][rows, index],
                                               checks[:, 0])[:, None])
        index = torch.where(going, tree["parents"][rows, index].long(), index)
    labels = slot_labels(tree, rows, nodes)
    legal = torch.zeros(len(rows), NUM_ACTIONS + 1, dtype=torch.bool, device=labels.device)
    legal.scatter_(1, torch.where(labels >= 0, labels, NUM_ACTIONS), True)
    state = lite.exclude("hash")
    state["hash_history"], state["check_history"] = hashes, checks
    state["legal_mask"] = legal[:, :NUM_ACTIONS]
    return state


def tree_bytes(tree: TensorDictBase) -> int:
    """Bytes held by the tree's tensors."""
    return sum(t.numel() * t.element_size() for t in tree.values(True, True))
