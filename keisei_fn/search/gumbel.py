"""Gumbel MuZero search with the exact rules as its model: pure, batched functions over a tree
of fixed capacity held in a TensorDict.

The design is mctx's `gumbel_muzero_policy` (Danihelka et al., ICLR 2022, "Policy improvement by
planning with Gumbel"), with the rules engine in place of a learned model:
- the root samples Gumbel noise g and considers the `max_num_considered_actions` legal moves with
  the highest g + logits; Sequential Halving spends the simulations on them, halving the set
  each round (`considered_visits_table`), choosing by g + logits + sigma(q);
- interior nodes choose deterministically, so that the visit counts follow the improved policy
  softmax(logits + sigma(completed q)) (`select.interior_action`);
- sigma is `qtransform_completed_by_mix_value`: unvisited moves get the mixed value (the node's
  raw value mixed with the prior-weighted q of the visited ones), min-max rescaled over the legal
  moves, times (maxvisit_init + max visits) * value_scale;
- the output is the move g + logits + sigma(q) ranks first among the most visited, the improved
  policy softmax(logits + sigma(q)) over the 2187 labels (the training target of Gumbel
  AlphaZero), the root value and visit counts, and the principal variation.

Values are from the side to move at each node; a move's q is its reward for the mover plus
-1 times the value of the position it leads to (negamax). The rules end games exactly (mate,
repetition, perpetual check, impasse, the move cap): a finished position is a leaf of value 0
whose outcome is the reward on the move into it; simulations that reach it again back it up
again without expanding anything.

One deviation from mctx: the min-max rescaling of q runs over the legal moves only (mctx also
counts the completed value of illegal actions).

Everything is batched over B games: a simulation walks down all B trees at once (a loop over
depth, not over games or nodes), expands one node per game with one `step` and one network call,
and backs up along all B paths at once.

"Pure" means: the search is a function of its inputs (the root, the evaluator, the generator's
state); inside it, the tree is one TensorDict written in place as it grows (`tree.write_node`,
`_expand`, `_backward` here, `write_and_backup` in compiled.py), which is how torch writes
arrays, and the one place it mutates. How a node chooses is select.py; the simulation as
compiled programs is compiled.py; what a finished tree proves (forced results, principal
variations) is read by proof.py.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import torch
from tensordict import TensorDict, TensorDictBase

from ..shogi import compiled_bucket, compiled_step, largest_compiled_bucket, step
from .compiled import compiled_program, simulate, simulate_wave
from .mate import score_mates
from .select import (MAX_Q_RANGE, interior_action, root_action, score_considered, sigma,
                     wave_moves)
from .proof import principal_variation
from .tree import (ROOT, UNVISITED, link_node, new_tree, node_states, slot_labels, slot_stats,
                   unpack, write_node)

# (state [n]) -> (logits [n, 2187] over legal moves, -inf where illegal; value [n] for the side
# to move, in [-1, 1])
Evaluate = Callable[[TensorDictBase], tuple[torch.Tensor, torch.Tensor]]

ROUNDS = ("sequential", "batched")  # the names of `batched_rounds` False / True, for users
MAX_MATE_DEPTH = 64  # `mate_depth`'s bound: deeper than the trees a move's search grows


@functools.lru_cache(maxsize=256)
def considered_visits(considered: int, simulations: int) -> tuple[int, ...]:
    """The visit count a root move must have to be chosen at each simulation when `considered`
    moves are considered (Sequential Halving; mctx's get_sequence_of_considered_visits)."""
    if considered <= 1:
        return tuple(range(simulations))
    log2max = int(math.ceil(math.log2(considered)))
    sequence: list[int] = []
    visits = [0] * considered
    m = considered
    while len(sequence) < simulations:
        extra = max(1, int(simulations / (log2max * m)))
        for _ in range(extra):
            sequence.extend(visits[:m])
            for i in range(m):
                visits[i] += 1
        m = max(2, m // 2)
    return tuple(sequence[:simulations])


def considered_visits_table(max_considered: int, simulations: int) -> torch.Tensor:
    """long [max_considered + 1, simulations]: row m is `considered_visits(m, simulations)`
    (mctx's get_table_of_considered_visits)."""
    return torch.tensor([considered_visits(m, simulations) for m in range(max_considered + 1)],
                        dtype=torch.long)


def _descend(tree, rows, slot):
    """Walk down from the root, starting with move `slot` there, one walk per entry of `rows`
    (its game): (parent node, slot) of the node to expand, and the leaf node reached (UNVISITED
    when a new node is needed, else a finished position)."""
    node = torch.zeros_like(slot)
    going = torch.ones_like(slot, dtype=torch.bool)
    parent = node.clone()
    leaf = torch.full_like(slot, UNVISITED)
    for _ in range(tree["node_visits"].shape[1]):
        child = tree["children_index"][rows, node, slot].long()
        parent = torch.where(going, node, parent)
        chosen = slot
        stop_new = going & (child == UNVISITED)
        at_leaf = going & (child != UNVISITED) & tree["terminal"][rows, child.clamp(min=0)]
        leaf = torch.where(at_leaf, child, leaf)
        going = going & ~stop_new & ~at_leaf
        if not bool(going.any()):
            return parent, chosen, leaf
        node = torch.where(going, child, node)
        slot = torch.where(going, interior_action(tree, rows, node), chosen)
    return parent, slot, leaf


def _backward(tree, rows, leaf) -> None:
    """Add each walk's leaf value to every node on its path (mctx's backward, negamax discount).
    A move's statistics are its child's, so only nodes are written.

    Walks of one game share only the root (they start with distinct root moves), so everything
    below it is written per walk and the root's statistics are summed per game at the end."""
    value = tree["node_values"][rows, leaf]
    index = leaf
    going = index != ROOT
    b = tree.batch_size[0]
    root_sum = torch.zeros(b, dtype=value.dtype, device=value.device)
    root_count = torch.zeros(b, dtype=torch.int32, device=value.device)
    while bool(going.any()):
        parent = tree["parents"][rows, index].long().clamp(min=0)
        value = torch.where(going, tree["reward"][rows, index] - value, value)
        r, p, v = rows[going], parent[going], value[going]
        inner = p != ROOT
        ri, pi = r[inner], p[inner]
        count = tree["node_visits"][ri, pi]
        tree["node_values"][ri, pi] = (tree["node_values"][ri, pi] * count + v[inner]) / (count + 1)
        tree["node_visits"][ri, pi] = count + 1
        at_root = ~inner
        root_sum.index_add_(0, r[at_root], v[at_root])
        root_count.index_add_(0, r[at_root], torch.ones_like(r[at_root], dtype=torch.int32))
        index = torch.where(going, parent, index)
        going = index != ROOT
    count = tree["node_visits"][:, ROOT]
    tree["node_values"][:, ROOT] = ((tree["node_values"][:, ROOT] * count + root_sum)
                                    / (count + root_count))
    tree["node_visits"][:, ROOT] = count + root_count


def _expand(tree, rows, parent, slot, leaf, index, evaluate, impasse: bool,
            compiled: bool = False, mate_depth: int = 0) -> None:
    """Give each walk that stopped at an unexpanded move the node `index`: one batched `step`
    and one evaluation (with a mate search where the node's depth is at most `mate_depth`); a
    walk that reached a finished position visits it once more."""
    new = leaf == UNVISITED
    if bool(new.any()):
        r, p, s, n = rows[new], parent[new], slot[new], index[new]
        label = tree["labels"][r, p, s].long()
        after = (compiled_step if compiled else step)(node_states(tree, r, p), label,
                                                      impasse=impasse)
        ended = after["terminated"] | after["truncated"]
        child_logits, child_value = evaluate(after)
        if mate_depth:
            child_logits, child_value = score_mates(after, child_logits, child_value,
                                                    tree["depth"][r, p] < mate_depth)
        link_node(tree, r, p, s, n, label, after["reward"])
        write_node(tree, r, n, after, child_logits, child_value, ended)
    revisit = ~new
    if bool(revisit.any()):  # a finished position again: one more visit of value 0
        tree["node_visits"][rows[revisit], leaf[revisit]] += 1
    _backward(tree, rows, torch.where(new, index, leaf))


def round_waves(sequence: tuple[int, ...]) -> list[tuple[int, int]]:
    """(first simulation, width) of each run of equal required visit counts in a Sequential
    Halving sequence: one visit of each move a round keeps (`batched_rounds`)."""
    waves: list[tuple[int, int]] = []
    for i, visit in enumerate(sequence):
        if waves and sequence[i - 1] == visit:
            waves[-1] = (waves[-1][0], waves[-1][1] + 1)
        else:
            waves.append((i, 1))
    return waves


def _check(root, simulations: int, max_considered: int, q_range: float,
           mate_depth: int = 0) -> None:
    """A search's inputs, each refused in one line."""
    if simulations < 1:
        raise ValueError(f"simulations must be >= 1, got {simulations}")
    if max_considered < 1:
        raise ValueError(f"max_considered must be >= 1, got {max_considered}")
    if not 0.0 <= q_range <= MAX_Q_RANGE:
        raise ValueError(f"q_range must be in [0, {MAX_Q_RANGE:g}] (values are in [-1, 1]), "
                         f"got {q_range}")
    if not 0 <= mate_depth <= MAX_MATE_DEPTH:
        raise ValueError(f"mate_depth must be in [0, {MAX_MATE_DEPTH}] plies, got {mate_depth}")
    if bool((root["terminated"] | root["truncated"]).any()):
        raise ValueError("search needs positions whose game is not over")


def search(root: TensorDictBase, evaluate: Evaluate, generator: torch.Generator, *,
           simulations: int = 16, max_considered: int = 16, gumbel_scale: float = 1.0,
           impasse: bool = True, stop: Callable[[], bool] | None = None,
           batched_rounds: bool = False, compiled: bool = False,
           q_range: float = 0.0, mate_depth: int = 0) -> TensorDict:
    """Gumbel search from each (unfinished) root position.

    `batched_rounds` searches the visits of each Sequential Halving round side by side (the
    moves a round visits are ranked once, at its start, as in the paper's Algorithm 2), instead
    of one simulation after the other, ranking before each (mctx's order). Within a round each
    walk goes down its own root move's subtree, so the tree is the same as if they ran one after
    the other; only the choice of the round's moves can differ. At B = 1 it takes a few
    batched steps in place of `simulations` small ones.

    `compiled` runs each simulation as compiled programs (search/compiled.py: the walk, the
    node's state, `shogi.compiled_step`, the backup; the evaluator is the caller's, e.g.
    `agent.compiled_evaluator`): the same search, several times faster at small batches once
    compiled (a minute or more the first time in a process without inductor's disk cache).
    With `batched_rounds`, each wave's walks run as those programs together
    (`compiled.simulate_wave`), in chunks of `shogi.compiled_step`'s MAX_BUCKET walks.

    `q_range` is the smallest range sigma rescales the q-values by (`select.completed_qvalues`:
    0 is mctx's min-max, 2 never stretches a difference). That reading assumes what `Evaluate`
    promises: values in [-1, 1], as results are; a wider evaluator is rescaled past 2 as before.

    `mate_depth` > 0: positions expanded within that many plies of the root score their
    mover's mate in one as a win (`mate.score_mates`; the root's are the caller's to play).

    `stop()`, asked before every simulation (every round's wave, batched) after the first, ends
    the search early (a clock); the outputs then come from the simulations done.

    Returns a TensorDict [B]: `action` (the move to play), `policy` (the improved policy over the
    2187 labels, 0 where illegal), `value` (the search's root value for the side to move),
    `raw_value` (the network's), `visits` [B, 2187] at the root, `q` (each root move's q where
    visited, NaN elsewhere), `pv` [B, D] (the principal variation as labels, -1 padded),
    `simulations` (done) and `tree`.
    """
    _check(root, simulations, max_considered, q_range, mate_depth)
    logits, value = evaluate(root)
    b = root.batch_size[0]
    device = value.device
    rows = torch.arange(b, device=device)
    root_index = torch.zeros(b, dtype=torch.long, device=device)
    tree = new_tree(root, simulations, value.dtype, q_range=q_range)
    write_node(tree, rows, root_index, root, logits, value, torch.zeros_like(rows,
                                                                             dtype=torch.bool))
    legal = root["legal_mask"]
    gumbel = gumbel_scale * -torch.log(-torch.log(
        torch.rand(legal.shape, generator=generator, device=device, dtype=value.dtype)
        .clamp(min=1e-20, max=1 - 1e-7)))
    # drawn over the labels (the noise a move gets does not depend on the tree's layout)
    gumbel = gumbel.gather(1, slot_labels(tree, rows, root_index).clamp(min=0))
    # each game's Sequential Halving schedule: its number of considered moves depends on how
    # many legal moves it has
    counts = legal.sum(-1).clamp(max=max_considered).tolist()
    sequences = [considered_visits(c, simulations) for c in counts]
    schedule = torch.tensor(sequences, dtype=torch.long, device=device)
    if batched_rounds:
        return _search_rounds(tree, evaluate, gumbel, schedule, sequences, impasse, stop,
                              compiled, mate_depth)
    return _search_sequential(tree, evaluate, gumbel, schedule, simulations, impasse, stop,
                              compiled, mate_depth)


def _search_sequential(tree, evaluate, gumbel, schedule, simulations, impasse, stop,
                       compiled, mate_depth: int = 0) -> TensorDict:
    """One simulation after the other (mctx's order), each ranking the root's moves anew."""
    b = tree.batch_size[0]
    rows = torch.arange(b, device=gumbel.device)
    done = 0
    for sim in range(simulations):
        if sim and stop is not None and stop():
            break
        done += 1
        if compiled and compiled_bucket(b):
            simulate(tree, gumbel, schedule, torch.full_like(rows, sim + 1), evaluate, impasse,
                     mate_depth)
            continue
        slot = root_action(tree, rows, gumbel, schedule)
        parent, slot, leaf = _descend(tree, rows, slot)
        _expand(tree, rows, parent, slot, leaf, torch.full_like(leaf, sim + 1), evaluate,
                impasse, compiled, mate_depth)
    return _outputs(tree, gumbel, torch.full((b,), done, device=gumbel.device))


def _search_rounds(tree, evaluate, gumbel, schedule, sequences, impasse, stop,
                   compiled, mate_depth: int = 0) -> TensorDict:
    """The simulations of each Sequential Halving wave side by side: the moves the round visits
    are chosen at its start, then all searched at once, each in its own subtree."""
    b = tree.batch_size[0]
    device = gumbel.device
    waves = [round_waves(seq) for seq in sequences]
    count = max(len(w) for w in waves)
    width = max(n for w in waves for _, n in w)
    starts = torch.tensor([[s for s, _ in w] + [0] * (count - len(w)) for w in waves],
                          dtype=torch.long, device=device)
    widths = torch.tensor([[n for _, n in w] + [0] * (count - len(w)) for w in waves],
                          dtype=torch.long, device=device)
    rows = torch.arange(b, device=device)
    slots = torch.arange(width, device=device)
    done = torch.zeros(b, dtype=torch.long, device=device)
    for t in range(count):
        if t and stop is not None and stop():
            break
        start, wide = starts[:, t], widths[:, t]
        considered_visit = schedule.gather(1, start[:, None]).squeeze(1)
        chosen, score = (compiled_program("wave_moves") if compiled else wave_moves)(
            tree, gumbel, considered_visit, width)
        take = (slots[None, :] < wide[:, None]) & (score > -torch.inf)
        walk_rows = rows[:, None].expand(b, width)[take]
        index = (start[:, None] + slots[None, :] + 1)[take]
        if compiled:
            # the walks' subtrees are disjoint and the root is summed per chunk, so chunks of
            # the compiled step's largest batch run one after the other as one wave would
            chosen, chunk = chosen[take], largest_compiled_bucket()
            for i in range(0, walk_rows.shape[0], chunk):
                part = slice(i, i + chunk)
                simulate_wave(tree, walk_rows[part], chosen[part], index[part], evaluate,
                              impasse, mate_depth)
        else:
            parent, slot, leaf = _descend(tree, walk_rows, chosen[take])
            _expand(tree, walk_rows, parent, slot, leaf, index, evaluate, impasse, False,
                    mate_depth)
        done += take.sum(-1)
    return _outputs(tree, gumbel, done)


def _outputs(tree, gumbel, done: torch.Tensor) -> TensorDict:
    b = tree.batch_size[0]
    rows = torch.arange(b, device=gumbel.device)
    root = torch.zeros_like(rows)
    stats = slot_stats(tree, rows, root)
    logits, visits, q = stats
    sigma_q = sigma(tree, rows, root, stats)
    considered_visit = visits.amax(-1)
    best = score_considered(considered_visit, gumbel, logits, sigma_q, visits).argmax(-1)
    action = slot_labels(tree, rows, root).gather(1, best[:, None]).squeeze(1)
    policy = torch.softmax(torch.where(logits > -torch.inf, logits + sigma_q, -torch.inf), -1)
    return TensorDict(action=action, policy=unpack(tree, rows, root, policy, 0.0),
                      logits=unpack(tree, rows, root, logits, -torch.inf),
                      value=tree["node_values"][:, ROOT],
                      raw_value=tree["raw_values"][:, ROOT],
                      visits=unpack(tree, rows, root, visits.long(), 0),
                      q=unpack(tree, rows, root, torch.where(visits > 0, q, torch.nan), torch.nan),
                      pv=principal_variation(tree, action), tree=tree,
                      simulations=done, batch_size=[b],
                      device=gumbel.device)
