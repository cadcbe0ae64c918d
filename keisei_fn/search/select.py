"""How the Gumbel search chooses (mctx's formulas, per node of the tree): sigma of the completed
q-values, the root's Sequential Halving score, the deterministic interior choice. Pure readers
of the tree (tree.py), shared by the eager search (gumbel.py) and the compiled one
(compiled.py)."""

from __future__ import annotations

import torch

from .tree import slot_stats

# The widest spread of values in [-1, 1]: a q_range floor at it never stretches a difference, so
# a larger one means nothing (the one home of the bound every q_range option checks).
MAX_Q_RANGE = 2.0


def completed_qvalues(logits, visits, q, raw_value, *, value_scale: float = 0.1,
                      maxvisit_init: float = 50.0, epsilon: float = 1e-8,
                      q_range: torch.Tensor | float = 0.0) -> torch.Tensor:
    """sigma(completed q) [n, S] of a node's moves from their prior `logits`, `visits` and `q`
    (`tree.slot_stats`) and the node's `raw_value` [n]: mctx's qtransform_completed_by_mix_value,
    the min-max over legal moves only. Illegal moves get 0 (they are masked wherever used).

    `q_range` ([n] or a number) is the smallest range the min-max divides by. mctx's 0 stretches
    any spread of the node's q-values to [0, 1], however small: with a learned value that is
    noise between quiet moves worth (maxvisit_init + visits) * value_scale logits (25 at 200
    visits). Our values are results in [-1, 1], so a floor keeps their scale: at 2 (the widest
    range there is) differences are never stretched, as mctx's `rescale_values=False`."""
    legal = logits > -torch.inf
    visited = visits > 0
    # the mixed value: the raw value and the prior-weighted q of the visited moves
    prior = torch.softmax(logits, -1).clamp(min=torch.finfo(logits.dtype).tiny)
    total = visits.sum(-1).to(q.dtype)
    mass = torch.where(visited, prior, 0.0).sum(-1, keepdim=True)
    weighted = torch.where(visited, prior * q / torch.where(visited, mass, 1.0), 0.0).sum(-1)
    mixed = (raw_value + total * weighted) / (total + 1)
    completed = torch.where(visited, q, mixed[:, None])
    low = torch.where(legal, completed, torch.inf).amin(-1, keepdim=True)
    high = torch.where(legal, completed, -torch.inf).amax(-1, keepdim=True)
    floor = torch.as_tensor(q_range, dtype=q.dtype, device=q.device).reshape(-1, 1)
    rescaled = (completed - low) / torch.maximum(high - low, floor).clamp(min=epsilon)
    scale = (maxvisit_init + visits.amax(-1, keepdim=True).to(q.dtype)) * value_scale
    return torch.where(legal, scale * rescaled, 0.0)


def sigma(tree, rows, node, stats=None) -> torch.Tensor:
    logits, visits, q = stats if stats is not None else slot_stats(tree, rows, node)
    return completed_qvalues(logits, visits, q, tree["raw_values"][rows, node],
                             q_range=tree["q_range"][rows])


def score_considered(considered_visit, gumbel, logits, sigma_q, visits) -> torch.Tensor:
    """g + logits + sigma(q) of the moves with exactly `considered_visit` visits, -inf else."""
    legal = logits > -torch.inf
    centred = logits - torch.where(legal, logits, -torch.inf).amax(-1, keepdim=True)
    score = torch.clamp(gumbel + centred + sigma_q, min=-1e9)
    score = torch.where(visits == considered_visit[:, None], score, -torch.inf)
    return torch.where(legal, score, -torch.inf)


def root_action(tree, rows, gumbel, schedule) -> torch.Tensor:
    """The root slot each game searches next."""
    root = torch.zeros_like(rows)
    stats = slot_stats(tree, rows, root)
    logits, visits, _ = stats
    index = visits.sum(-1, keepdim=True).clamp(max=schedule.shape[1] - 1)
    considered_visit = schedule.gather(1, index.long()).squeeze(1)
    sigma_q = sigma(tree, rows, root, stats)
    return score_considered(considered_visit, gumbel, logits, sigma_q, visits).argmax(-1)


def wave_moves(tree, gumbel, considered_visit, width: int):
    """(slots [B, width], their scores) of a batched round's wave: the root's moves with
    `considered_visit` visits ranked by g + logits + sigma(q), best first, -inf past the ones
    the round may visit. Stable, so that among equal scores the lowest slot (label) comes
    first, as argmax takes it."""
    rows = torch.arange(gumbel.shape[0], device=gumbel.device)
    root = torch.zeros_like(rows)
    stats = slot_stats(tree, rows, root)
    logits, visits, _ = stats
    score = score_considered(considered_visit, gumbel, logits, sigma(tree, rows, root, stats),
                             visits)
    ranked = torch.sort(score, dim=-1, descending=True, stable=True)
    return ranked.indices[:, :width], ranked.values[:, :width]


def interior_action(tree, rows, node) -> torch.Tensor:
    stats = slot_stats(tree, rows, node)
    logits, visits, _ = stats
    probs = torch.softmax(logits + sigma(tree, rows, node, stats), -1)
    score = probs - visits / (1 + visits.sum(-1, keepdim=True))
    return torch.where(logits > -torch.inf, score, -torch.inf).argmax(-1)
