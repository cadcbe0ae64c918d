"""The simulation as compiled programs (`search(..., compiled=True)`, issue 30).

At one game, a simulation of the eager search (gumbel.py) is a few thousand small tensor
operations, and their dispatch, not their arithmetic, is what it costs. Here each phase of a
simulation is one `torch.compile`d graph (inductor, `fullgraph=True`), over the same
fixed-capacity tree and with the same formulas:

- `first` (the root's move by Sequential Halving, then LEVELS_PER_CALL levels down) and
  `level` (LEVELS_PER_CALL more), until no game goes deeper, which the host reads (one
  synchronisation per call; a walk that stopped stays put). The nodes passed are the path.
- `leaf_state`: the full game state of the node to expand, rebuilt from the path (the root's
  histories with the path's hashes over the later plies) instead of walking the parents up.
- `shogi.compiled_step`, and the evaluator (the caller's: `agent.compiled_evaluator` is the
  network's, compiled).
- `write_and_backup`: the new node written and the leaf's value backed up along the path, as
  masked writes (a walk that ended on a finished position writes no node and visits it once
  more), every node of the path at once (negamax as an alternating cumulative sum).
- At one game with a network evaluator that says how to trace it (`evaluate.traceable`, as
  `agent.compiled_evaluator` does), the last four are one program, `expand`: two or three
  compiled calls a simulation instead of six.

The tree's graphs have dynamic sizes (one variant for every batch, tree capacity and path
length, with torch's usual specialisation of size 1): a deeper walk compiles nothing new.
Compiled code may reorder float sums: values agree with the eager search to rounding, and the
moves chosen are the same unless two scores tie to within it (tests/test_search.py compares
every field of the tree). The tree's programs keep inductor's vector code (the step's bug,
shogi/_compiled.py, has not shown in them, at 1 and 15 games). Both orders are compiled up to
`shogi.compiled_step`'s MAX_BUCKET walks, beyond which the step and the network run eager and
the eager walk is as fast: mctx's (`simulate`, one walk a game) and batched rounds
(`simulate_wave`: a wave's walks, several a game, the same phases with each walk's game passed
in; the root's statistics are summed per game). At one game and 1100 simulations the waves
are 1.7x faster than one simulation after the other (docs/search.md, "Batched rounds").

On CUDA the same graphs run as they are, with one host synchronisation per walk call (the
walk's end); the fixed shapes would let them be captured as CUDA graphs (not measured here).

Like the eager search, the tree is written in place (in `write_and_backup`, the one place here
that mutates), which inductor keeps as in-place index writes into the graph's inputs.
"""

from __future__ import annotations

import functools

import torch
from tensordict import TensorDict

from ..shogi import COMPILE_OPTIONS, NUM_ACTIONS, compiled_step, step
from .mate import score_mates
from .select import interior_action, root_action, wave_moves
from .tree import ROOT, UNVISITED, link_node, write_node

# levels walked down per compiled call: a level costs less than a call (~30 us before any work).
# At 1 x 1100 the trees grow 15-20 deep: 3 a call took 5.3 calls a wave; 8 is ~10% faster in
# both orders there (CPU time, 2026-12-06), 12 and 16 no faster
LEVELS_PER_CALL = 8

# the walk's state between levels: (node, slot, going, parent, leaf), each [B]
Walk = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _step_down(tree, rows, walk: Walk, interior) -> Walk:
    """One level of `gumbel._descend` for every game: follow the chosen slot; stop at an
    unexpanded move or a finished position; else choose the next slot there."""
    node, slot, going, parent, leaf = walk
    child = tree["children_index"][rows, node, slot].long()
    parent = torch.where(going, node, parent)
    stop_new = going & (child == UNVISITED)
    at_leaf = going & (child != UNVISITED) & tree["terminal"][rows, child.clamp(min=0)]
    leaf = torch.where(at_leaf, child, leaf)
    going = going & ~stop_new & ~at_leaf
    node = torch.where(going, child, node)
    slot = torch.where(going, interior(tree, rows, node), slot)
    return node, slot, going, parent, leaf


def _steps(tree, rows, walk: Walk) -> tuple[Walk, torch.Tensor]:
    """LEVELS_PER_CALL levels down (a walk that stopped stays put); also the nodes reached,
    [B, LEVELS_PER_CALL], for the path."""
    nodes = []
    for _ in range(LEVELS_PER_CALL):
        walk = _step_down(tree, rows, walk, interior_action)
        nodes.append(walk[0])
    return walk, torch.stack(nodes, 1)


def first(tree, gumbel, schedule) -> tuple[Walk, torch.Tensor]:
    """The root's move (Sequential Halving) and the first levels down, for every game."""
    b = gumbel.shape[0]
    rows = torch.arange(b, device=gumbel.device)
    slot = root_action(tree, rows, gumbel, schedule)
    node = torch.zeros_like(slot)
    walk = (node, slot, torch.ones_like(slot, dtype=torch.bool), node, torch.full_like(slot,
                                                                                     UNVISITED))
    return _steps(tree, rows, walk)


def first_wave(tree, rows, slot) -> tuple[Walk, torch.Tensor]:
    """A wave's walks (`gumbel._search_rounds`): walk i in game `rows[i]` starts with the root
    move `slot[i]` (a game's walks start with distinct moves), then the first levels down."""
    node = torch.zeros_like(slot)
    walk = (node, slot, torch.ones_like(slot, dtype=torch.bool), node, torch.full_like(slot,
                                                                                     UNVISITED))
    return _steps(tree, rows, walk)


def level(tree, walk: Walk, rows=None) -> tuple[Walk, torch.Tensor]:
    """The next levels down (`rows`: each walk's game; None: walk i is game i)."""
    if rows is None:
        rows = torch.arange(walk[0].shape[0], device=walk[0].device)
    return _steps(tree, rows, walk)


def leaf_state(tree, path, parent, slot, rows=None):
    """(the full game state [W] of each walk's `parent`, the label of its move `slot`): the
    root's histories with the hashes and checks of the `path` [W, L] (the nodes walked through,
    root first; entries equal to ROOT are skipped) written at their plies; the legal mask from
    the parent's labels. The same state as `tree.node_states`, without walking the parents.
    `rows`: each walk's game (None: walk i is game i)."""
    b = path.shape[0]
    if rows is None:
        rows = torch.arange(b, device=path.device)
        hashes = tree["root_history", "hash_history"].clone()
        checks = tree["root_history", "check_history"].clone()
    else:
        hashes = tree["root_history", "hash_history"][rows]
        checks = tree["root_history", "check_history"][rows]
    state = tree["state"]
    at = (rows[:, None], path)
    going = path != ROOT
    ply = state["ply"][at].long().clamp(max=hashes.shape[1] - 1)
    column = torch.where(going, ply, 0)
    hashes.scatter_(1, column, torch.where(going, state["hash"][at], hashes[:, :1]))
    checks.scatter_(1, column, torch.where(going, state["in_check"][at], checks[:, :1]))
    labels = tree["labels"][rows, parent].long()
    legal = torch.zeros(b, NUM_ACTIONS + 1, dtype=torch.bool, device=path.device)
    legal.scatter_(1, torch.where(labels >= 0, labels, NUM_ACTIONS), True)
    out = {key: state[key][rows, parent] for key in state.keys() if key != "hash"}
    out["hash_history"], out["check_history"] = hashes, checks
    out["legal_mask"] = legal[:, :NUM_ACTIONS]
    label = labels.gather(1, slot[:, None]).squeeze(1)
    return out, label


def write_and_backup(tree, after, logits, value, parent, slot, leaf, index, path,
                     rows=None) -> None:
    """Each walk that stopped at an unexpanded move gets node `index` [W] (the position
    `after` [W], the network's `logits` and `value`), linked from its `parent`'s `slot`; a
    walk that ended on a finished position `leaf` visits it once more. Then the new node's (or
    the leaf's) value goes up the `path` [W, L] (the walk's nodes, root first: `simulate`'s),
    mctx's backward (negamax) for all the path's nodes at once, not one level at a time, so
    that one graph serves every depth.

    `rows`: each walk's game, for a wave of several walks a game (`simulate_wave`), which share
    only the root: below it each walk writes its own nodes, and the root's statistics are
    summed per game, as `gumbel._backward` does. None: walk i is game i."""
    b, length = path.shape
    wave = rows is not None
    if rows is None:
        rows = torch.arange(b, device=parent.device)
    new = leaf == UNVISITED
    ended = after["terminated"] | after["truncated"]
    labels = tree["labels"][rows, parent].long().gather(1, slot[:, None]).squeeze(1)
    link_node(tree, rows, parent, slot, index, labels, after["reward"], only=new)
    write_node(tree, rows, index, after, logits, value, ended, only=new)
    # a finished position reached again: one more visit of value 0
    safe_leaf = leaf.clamp(min=0)
    tree["node_visits"][rows, safe_leaf] += (~new).to(torch.int32)
    at = torch.where(new, index, leaf)
    # The path's first `depth` entries are the root ... `parent`, the ancestors of `at` (a walk
    # that stopped repeats its last node to the end). `at` is at depth `depth`.
    moved = torch.ones_like(path, dtype=torch.bool)
    moved[:, 1:] = (path[:, 1:] != path[:, :-1]) & (path[:, 1:] != ROOT)
    depth = moved.sum(1)
    ply = torch.arange(length + 1, device=path.device)
    on_path = ply[None, :length] < depth[:, None]
    # negamax from `at` up: v[d] = reward[d + 1] - v[d + 1], with reward[k] the reward on the
    # move into the depth-k node, so v[d] = (-1)^(D - d) v[D] + sum_{k > d} (-1)^(k - d - 1)
    # reward[k], the sum from a cumulative sum of (-1)^k reward[k]. Rewards come only with a
    # finished position, the deepest, so the sum is one term and the backed-up values are the
    # eager loop's exactly (up to the sign of a zero); the running means may round differently
    # in compiled code (tests/test_search.py: to 1e-12 in float64).
    reward = torch.where(on_path & (ply[None, :length] > 0), tree["reward"][rows[:, None], path],
                         0.0)
    reward = torch.cat([reward, torch.zeros_like(reward[:, :1])], 1)
    reward.scatter_(1, depth[:, None], tree["reward"][rows, at][:, None])
    sign = 1 - 2 * (ply % 2)  # (-1)^k
    below = reward * sign
    below = below.sum(1, keepdim=True) - below.cumsum(1)  # sum over k > d
    d = ply[None, :length]
    leaf_value = tree["node_values"][rows, at][:, None]
    values = sign[(depth[:, None] - d).clamp(min=0) % 2] * leaf_value - (
        sign[d % 2] * below[:, :length])
    count = tree["node_visits"][rows[:, None], path]
    mean = tree["node_values"][rows[:, None], path]
    # a node repeated on the path (the stopped walk's last node) is written with its first
    # entry's result, so that the duplicate index writes agree
    last = (depth - 1)[:, None]
    own = torch.where(on_path, d, torch.where(path == path.gather(1, last), last, 0))
    means = ((mean * count + values) / (count + 1)).gather(1, own)
    counts = (count + 1).gather(1, own)
    if wave:  # the root is every walk's: left as it is here, then summed per game
        at_root = path == ROOT
        means, counts = torch.where(at_root, mean, means), torch.where(at_root, count, counts)
    tree["node_values"][rows[:, None], path] = means
    tree["node_visits"][rows[:, None], path] = counts
    if wave:
        _add_to_roots(tree, rows, values[:, 0])


def _add_to_roots(tree, rows, values) -> None:
    """Each walk's backed-up root value `values` [W] into its game's root (`rows` [W]): the
    running mean over all of them, as `gumbel._backward` sums a wave's walks."""
    games = tree["node_visits"].shape[0]
    count = tree["node_visits"][:, ROOT]
    root_sum = torch.zeros(games, dtype=values.dtype, device=values.device).index_add(
        0, rows, values)
    root_count = torch.zeros_like(count).index_add(0, rows, torch.ones_like(rows,
                                                                           dtype=count.dtype))
    tree["node_values"][:, ROOT] = ((tree["node_values"][:, ROOT] * count + root_sum)
                                    / (count + root_count))
    tree["node_visits"][:, ROOT] = count + root_count


def expand(tree, path, parent, slot, leaf, index, network, agent, impasse: bool) -> None:
    """`leaf_state`, the rules' step, the network (`network(agent, state)`, a pure function
    of its arguments) and `write_and_backup` as one program: at one game each of them is a
    compiled call's entry cost for microseconds of work.

    One game only: with the batch's size dynamic, inductor (torch 2.13) fails to lower the
    step's shape arithmetic ("Exponent must be non-negative"), and at many games the calls'
    entry costs are a small share. It runs with the step's compile options (scalar CPU code,
    the C++ wrapper)."""
    state, label = leaf_state(tree, path, parent, slot)
    state = TensorDict(state, batch_size=parent.shape, device=parent.device)
    after = step(state, label, impasse=impasse)
    logits, value = network(agent, after)
    write_and_backup(tree, after, logits, value, parent, slot, leaf, index, path)


@functools.cache
def _fused():
    # the step's options (scalar code, the C++ wrapper): ~760 us a call at one game against
    # ~900 us with the Python wrapper
    return torch.compile(expand, fullgraph=True, dynamic=True, options=COMPILE_OPTIONS)


@functools.cache
def compiled_program(name: str):
    """One compiled code object per phase (made on first use: importing torch's compiler
    costs a second); torch.compile keeps its variants."""
    fn = {"first": first, "first_wave": first_wave, "level": level, "leaf_state": leaf_state,
          "write_and_backup": write_and_backup, "wave_moves": wave_moves}[name]
    return torch.compile(fn, fullgraph=True, dynamic=True)


def simulate(tree, gumbel, schedule, index, evaluate, impasse: bool, mate_depth: int = 0
             ) -> None:
    """One simulation of every game in mctx's order, each phase compiled (the module's
    docstring); `index` [B] is the node a new position gets. Positions within `mate_depth`
    plies of the root are searched for a mate in one, eagerly after the network
    (`mate.score_mates`; at one game such a simulation runs unfused)."""
    walk, nodes = compiled_program("first")(tree, gumbel, schedule)
    path = [torch.zeros_like(nodes[:, :1]), nodes]
    while bool(walk[2].any()):
        walk, nodes = compiled_program("level")(tree, walk)
        path.append(nodes)
    _, slot, _, parent, leaf = walk
    path = torch.cat(path, 1)
    traceable = getattr(evaluate, "traceable", None)
    near = (tree["depth"].gather(1, parent[:, None].long()).squeeze(1) < mate_depth
            if mate_depth else None)
    if traceable is not None and parent.shape[0] == 1 and not (near is not None
                                                               and bool(near[0])):
        _fused()(tree, path, parent, slot, leaf, index, *traceable, impasse)
        return
    state, label = compiled_program("leaf_state")(tree, path, parent, slot)
    state = TensorDict(state, batch_size=parent.shape, device=parent.device)
    after = compiled_step(state, label, impasse=impasse)
    logits, value = evaluate(after)
    if mate_depth:
        logits, value = score_mates(after, logits, value, near)
    compiled_program("write_and_backup")(tree, after, logits, value, parent, slot, leaf, index,
                                         path)


def simulate_wave(tree, rows, slot, index, evaluate, impasse: bool, mate_depth: int = 0
                  ) -> None:
    """One wave of `gumbel._search_rounds`, each phase compiled: walk i, in game `rows[i]`,
    starts with root move `slot[i]` (distinct within a game, so the walks' subtrees are
    disjoint) and its new position gets node `index[i]`. `simulate`'s phases with the walks'
    games passed in; the step and the network run once for the whole wave."""
    walk, nodes = compiled_program("first_wave")(tree, rows, slot)
    path = [torch.zeros_like(nodes[:, :1]), nodes]
    while bool(walk[2].any()):
        walk, nodes = compiled_program("level")(tree, walk, rows)
        path.append(nodes)
    _, slot, _, parent, leaf = walk
    path = torch.cat(path, 1)
    state, label = compiled_program("leaf_state")(tree, path, parent, slot, rows)
    state = TensorDict(state, batch_size=parent.shape, device=parent.device)
    after = compiled_step(state, label, impasse=impasse)
    logits, value = evaluate(after)
    if mate_depth:
        near = tree["depth"][rows, parent.long()] < mate_depth
        logits, value = score_mates(after, logits, value, near)
    compiled_program("write_and_backup")(tree, after, logits, value, parent, slot, leaf, index,
                                         path, rows)
