"""How the Gumbel search chooses (mctx's formulas, per node of the tree): sigma of the completed
q-values, the root's Sequential Halving score, the deterministic interior choice. Pure readers
of the tree (tree.py), shared by the eager search (gumbel.py) and the compiled one
(compiled.py)."""

from __future__ import annotations

import torch

from .tree import slot_stats


def completed_qvalues(logits, visits, q, raw_value, *, value_scale: float = 0.1,
                      maxvisit_init: float = 50.0, epsilon: float = 1e-8) -> torch.Tensor:
    """sigma(completed q) [n, S] of a node's moves from their prior `logits`, `visits` and `q`
    (`tree.slot_stats`) and the node's `raw_value` [n]: mctx's qtransform_completed_by_mix_value,
    the min-max over legal moves only. Illegal moves get 0 (they are masked wherever used)."""
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
    rescaled = (completed - low) / (high - low).clamp(min=epsilon)
    scale = (maxvisit_init + visits.amax(-1, keepdim=True).to(q.dtype)) * value_scale
    return torch.where(legal, scale * rescaled, 0.0)


def sigma(tree, rows, node, stats=None) -> torch.Tensor:
    logits, visits, q = stats if stats is not None else slot_stats(tree, rows, node)
    return completed_qvalues(logits, visits, q, tree["raw_values"][rows, node])


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


def interior_action(tree, rows, node) -> torch.Tensor:
    stats = slot_stats(tree, rows, node)
    logits, visits, _ = stats
    probs = torch.softmax(logits + sigma(tree, rows, node, stats), -1)
    score = probs - visits / (1 + visits.sum(-1, keepdim=True))
    return torch.where(logits > -torch.inf, score, -torch.inf).argmax(-1)
