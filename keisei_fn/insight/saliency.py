"""Which squares drive the value: integrated gradients of the value as search reads it.

Definition. For one position x (the side to move's observation, shogi/_observe.py) the value
search reads is v(x) = net(x) + c * material(x) (`agent.evaluate`, before its clamp to [-1, 1];
c is the run's value prior, 0 without one). The baseline x' is the same observation with the
board and both hands emptied (planes 0-41 zero, and the attack planes 44-45 of a network that
reads them: an empty board attacks nothing; side to move and ply kept), whose value is
net(x') (no material). Then
- the network's part is integrated gradients (Sundararajan et al., 2017) from x' to x:
  (x - x') * mean over `steps` midpoints a of d net / dx at x' + a (x - x'), which sums to
  net(x) - net(x') up to the Riemann sum's error;
- the prior's part is exact: c times each piece's material term (its own square, or its kind in
  hand), since the prior is linear in the pieces.
A square's attribution is the sum over its planes (its attack counts' included) of both
parts; a hand's, per piece kind, the sum over its plane (a constant plane, so all 81 squares).
Everything adds up to
v(x) - net(x') (`completeness`). Positive: the square helps the side to move.
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase

from ..agent import Agent
from ..models import members_forward
from ..shogi import observe
from ..shogi.material import HAND_VALUES, material_terms

RANKS = "abcdefghi"
# the engine's hand order (shogi/material.py) and the observation's hand planes' order
HAND_KINDS = "PLNSBRG"
OBS_HAND_KINDS = "PLNSGBR"
BOARD_PLANES, HAND_PLANES = 28, 14
ATTACK_PLANES = slice(44, 46)


def square_name(sq: int) -> str:
    """The engine's square index (file - 1) * 9 + rank as USI ('7g')."""
    return f"{sq // 9 + 1}{RANKS[sq % 9]}"


STEPS = (128, 512, 2048)  # Riemann sums tried in turn until the sum is complete enough
CHUNK = 512  # path points per backward pass (memory)


def _integrated_gradients(params, spec, x: torch.Tensor, base: torch.Tensor, steps: int):
    """(x - x') * the value head's mean gradient over `steps` midpoints of the path [46, 81]."""
    total = torch.zeros_like(x)
    for first in range(0, steps, CHUNK):
        alphas = (torch.arange(first, min(steps, first + CHUNK), dtype=x.dtype,
                               device=x.device) + 0.5) / steps
        path = (base + alphas[:, None, None, None] * (x - base)).requires_grad_(True)
        with torch.enable_grad():
            _, value = members_forward(params, path[None], spec)
            grads, = torch.autograd.grad(value.sum(), path)
        total += grads.sum(0, keepdim=True)
    return ((x - base) * total / steps)[0].reshape(46, 81)


def value_saliency(agent: Agent, state: TensorDictBase, steps: int | None = None,
                   tolerance: float = 0.01) -> dict:
    """The attribution of one position's value (`state` [1]) for the side to move:
    `squares` {USI square: attribution}, `hands` {'b'|'w': {piece: attribution}} (pieces in
    hand), `value` v(x) (before the clamp), `baseline` net(x'), `network` net(x),
    `completeness` the attributions' sum minus (value - baseline), `steps` the Riemann sum's.
    Without `steps`, 128, 512, then 2048 until |completeness| <= `tolerance` x |value -
    baseline| (the network's ReLUs make the path's gradient rough: 64 steps can be 10% off)."""
    if state.batch_size != torch.Size([1]):
        raise ValueError(f"value_saliency takes one position, got batch {tuple(state.batch_size)}")
    x = observe(state, attacks=agent.spec.attacks).float()
    base = x.clone()
    base[:, :BOARD_PLANES + HAND_PLANES] = 0
    base[:, ATTACK_PLANES] = 0
    params = agent.params.apply(lambda t: t.detach().float())
    with torch.no_grad():
        _, ends = members_forward(params, torch.cat([base, x])[None], agent.spec)
    baseline, network = (float(v) for v in ends[0].float().squeeze(-1))
    on_board, in_hand = (t[0] * agent.value_prior for t in material_terms(state))
    value = network + float(on_board.sum() + in_hand.sum())
    for n in ((steps,) if steps else STEPS):
        ig = _integrated_gradients(params, agent.spec, x, base, n)
        # the prior's part is exact: the error is the network's part's
        if abs(float(ig.sum()) - (network - baseline)) <= tolerance * abs(value - baseline):
            break

    white = int(state["side_to_move"][0]) == 1
    # the observation's squares are the side to move's frame: White's rotated by 180 degrees
    canonical = ig[:BOARD_PLANES].sum(0) + ig[ATTACK_PLANES].sum(0)
    board = (canonical.flip(0) if white else canonical) + on_board
    own, theirs = ig[BOARD_PLANES:BOARD_PLANES + HAND_PLANES].sum(-1).reshape(2, 7)
    mover, other = ("w", "b") if white else ("b", "w")
    hands = {mover: {}, other: {}}
    for i, kind in enumerate(OBS_HAND_KINDS):
        hands[mover][kind] = float(own[i])
        hands[other][kind] = float(theirs[i])
    hand = state["hands"][0].tolist()  # [colour][kind]: Black's, White's counts
    for i, kind in enumerate(HAND_KINDS):  # the prior's part: c * value per piece, +/- by owner
        per_piece = agent.value_prior * HAND_VALUES[i]
        hands[mover][kind] += per_piece * hand[1 if white else 0][i]
        hands[other][kind] -= per_piece * hand[0 if white else 1][i]
    total = float(board.sum()) + sum(sum(h.values()) for h in hands.values())
    return {"squares": {square_name(s): float(a) for s, a in enumerate(board.tolist())},
            "hands": hands, "value": value, "baseline": baseline, "network": network,
            "completeness": total - (value - baseline), "steps": n}


def top_squares(report: dict, count: int = 3) -> list[str]:
    """The squares with the largest attributions by size, largest first."""
    squares = report["squares"]
    return sorted(squares, key=lambda s: -abs(squares[s]))[:count]
