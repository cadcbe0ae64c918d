"""Orders of a position's moves, and the vetoes a player applies to its chosen move: the guard
against mates (`Settings.guard`) and the material veto (`Settings.material_margin`)."""

from __future__ import annotations

import torch

from ..search.mate import allows_mate
from ..search.minimax import move_values, within
from ..search.proof import UNVISITED

GUARD_WIDTH = 8  # the moves `Settings.guard` checks, the chosen one and then the next best
# Our players' default material veto (`Settings.material_margin`, pawns): +225 to +368 ladder Elo
# on four 10-minute networks, +6 on the 2-hour one (docs/training.md, screen 15). The trainer's
# own evaluation plays without it, to follow what the network learns.
PLAY_MATERIAL_MARGIN = 3.0
# Its quiescence (`Settings.material_quiet`): with two plies of captures played out, a move onto
# a defended square no longer reads as a lost piece (docs/training.md, "The veto's quiescence").
PLAY_MATERIAL_QUIET = 2


def ranked(order: torch.Tensor, legal: torch.Tensor, width: int) -> torch.Tensor:
    """The first `width` labels of each row's `order` [B, M], -1 where not legal."""
    top = order[:, :width]
    return torch.where(legal.gather(1, top), top, UNVISITED)


def first_then(action: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Each row's `action` [B], then the rest of its `order` [B, M] (which holds it once)."""
    return torch.cat([action[:, None], order[order != action[:, None]].view(len(action), -1)], 1)


def by_prior(log_probs: torch.Tensor) -> torch.Tensor:
    return log_probs.argsort(dim=-1, descending=True, stable=True)


def guarded(state, action, order, plies: int) -> torch.Tensor:
    """`action`, or where it lets the opponent mate within `plies` (1, or 3 by checks), the
    first of the next moves of `order` [B, M] (the policy's favourites, or the search's; each
    row holds `action` once) that does not, `GUARD_WIDTH` in all checked (`Settings.guard`);
    where all of them do, the first legal move in that order (at three plies the chosen one
    first) that allows no mate in one. The chosen moves are checked first, the others only
    where it fails: at three plies a check costs hundreds of steps."""
    bad = allows_mate(state, action[:, None], plies=plies)[:, 0]
    if not bool(bad.any()) or order.shape[1] < 2:  # safe, or nothing else to play
        return action
    rows = bad.nonzero().squeeze(1)
    state, legal = state[rows], state["legal_mask"][rows]
    order = first_then(action[rows], order[rows])[:, 1:]
    # the legal moves first, each in its order's place: the priors `decide` reads are masked,
    # and the search's order puts its visited moves first, but a caller's need not be
    order = order.gather(1, legal.gather(1, order).to(torch.uint8)
                         .argsort(dim=-1, descending=True, stable=True))
    head = min(GUARD_WIDTH - 1, order.shape[1])
    picked = _first_safe(state, ranked(order, legal, head), plies, action[rows])
    if bool((lost := picked == action[rows]).any()):
        # every move checked allows the mate: at least not a mate in one, which the opponent
        # cannot miss, from all the legal moves (guard 3 at 512 simulations lost 33 of 105
        # games to an avoidable mate in one while only the eight were checked at one ply too,
        # and 16 of 111 while no move beyond them was). At three plies the chosen move and
        # the ones checked may still be safe from a mate in one: they come first.
        chosen, order, legal = action[rows][lost], order[lost], legal[lost]
        rest = (order[:, head:] if plies == 1
                else torch.cat([chosen[:, None], order], 1))
        width = min(int(legal.sum(-1).max()) + 1, rest.shape[1])  # the legal ones come first
        if width:  # a caller's order may hold only the moves already checked (the 1-ply's)
            picked[lost] = _first_safe(state[lost], ranked(rest, legal, width), 1, chosen)
    return action.index_put((rows,), picked)


def _first_safe(state, moves, plies: int, otherwise) -> torch.Tensor:
    """Each row's first of `moves` [B, K] (-1 padded) that allows no mate within `plies`, else
    `otherwise` [B]."""
    safe = ~allows_mate(state, moves, plies=plies) & (moves >= 0)
    first = moves.gather(1, safe.to(torch.uint8).argmax(-1, keepdim=True)).squeeze(1)
    return torch.where(safe.any(-1), first, otherwise)


def material_checked(state, action, log_probs, margin: float, quiet: int = 0) -> torch.Tensor:
    """`action` where a 2-ply material minimax rates it within `margin` pawns of the best legal
    move, else the policy's favourite among the moves that are (`Settings.material_margin`)."""
    return material_vetted(state, action, by_prior(log_probs), margin, quiet)


def material_vetted(state, action, order, margin: float, quiet: int = 0) -> torch.Tensor:
    """`action` where a 2-ply material minimax (its last ply's captures played out `quiet` plies
    deep) rates it within `margin` pawns of the best legal move, else the first move of `order`
    [B, A] (every label once: the policy's favourites, or the search's most visited) that is."""
    near_best = within(move_values(state, depth=2, quiet=quiet), margin)
    first = order.gather(1, near_best.gather(1, order).to(torch.uint8).argmax(-1, keepdim=True))
    return torch.where(near_best.gather(1, action[:, None]).squeeze(1), action, first.squeeze(1))
