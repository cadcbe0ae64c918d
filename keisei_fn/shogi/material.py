"""Material values in pawns: the greedy opponent's move choice and the optional reward shaping."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase

from ._movegen import hands_to_canonical, to_canonical
from ._step import apply_move

# Index = piece kind (0 empty, P L N S B R G K, +P +L +N +S +B +R); the king is never captured.
BOARD_VALUES = (0.0, 1.0, 4.0, 4.0, 6.0, 9.0, 10.0, 6.0, 0.0, 7.0, 6.0, 6.0, 6.0, 11.0, 12.0)
# Hand order of the engine: P L N S B R G; a piece in hand is worth a bit more (it can drop
# anywhere).
HAND_VALUES = (1.1, 4.5, 4.5, 6.5, 10.0, 11.0, 7.0)
# Pawns of material that make a count's tanh argument 1, wherever material stands in for a value
# (the `value=material` players, the trainer's material count, PPO's material head): a rook up
# (10) reads +0.76.
MATERIAL_VALUE_PAWNS = 10.0
# The most plies of captures a quiescence (search/minimax.py's `quiet`) may be asked for, by a
# player or a value target: the search is full width, each ply multiplies the captures stepped.
MAX_QUIET = 4
# Kind after capture (promoted pieces return to hand unpromoted), as a hand index; -1 for none.
_TO_HAND = (-1, 0, 1, 2, 3, 4, 5, 6, -1, 0, 1, 2, 3, 4, 5)


def _tables(device):
    return (torch.tensor(BOARD_VALUES, device=device), torch.tensor(HAND_VALUES, device=device))


def material_terms(game: TensorDictBase) -> tuple[torch.Tensor, torch.Tensor]:
    """The material balance's terms for the side to move, in pawns: per board square [B, 81]
    (the absolute board's squares: + own piece, - the opponent's) and per piece kind in hand
    [B, 7] (the engine's hand order; own count minus the opponent's, times its value)."""
    board_v, hand_v = _tables(game["board"].device)
    board = game["board"].long()
    kind, owner = board & 15, board >> 4
    mine = owner == game["side_to_move"][:, None].long()
    on_board = torch.where(mine, board_v[kind], -board_v[kind])
    hands = hands_to_canonical(game["hands"], game["side_to_move"]).float()
    return on_board, (hands[:, 0] - hands[:, 1]) * hand_v


def material_balance(game: TensorDictBase) -> torch.Tensor:
    """[B] material of the side to move minus the opponent's, board plus hands, in pawns."""
    on_board, in_hand = material_terms(game)
    return on_board.sum(-1) + in_hand.sum(-1)


def material_after(game: TensorDictBase, action: torch.Tensor) -> torch.Tensor:
    """[B] the side to move's material balance after it plays `action` [B] (legal labels):
    the move applied to the board and hands, not the capture table (which counts a promotion as
    PROMOTION_GAIN and a drop as nothing)."""
    side = game["side_to_move"]
    board, _, hands_c, _ = apply_move(game["board"], to_canonical(game["board"], side),
                                      hands_to_canonical(game["hands"], side),
                                      action.to(device=side.device, dtype=torch.long), side)
    moved = {"board": board, "hands": hands_to_canonical(hands_c, side), "side_to_move": side}
    return material_balance(moved)


def _square_gains(game: TensorDictBase) -> torch.Tensor:
    """[B, 81] what capturing on each canonical square wins: the opponent's piece's board value
    plus its hand value once captured; 0 where there is none."""
    board_v, hand_v = _tables(game["board"].device)
    to_hand = torch.tensor(_TO_HAND, device=board_v.device)
    cb = to_canonical(game["board"], game["side_to_move"]).long()
    victim = (-cb).clamp(min=0)  # opponent kinds, 0 where empty or own piece
    return board_v[victim] + torch.where(
        to_hand[victim] >= 0, hand_v[to_hand[victim].clamp(min=0)], 0.0
    )


# Move planes of the 27 x 81 labels: 0-9 board moves, 10-19 the same with promotion, 20-26 drops.
_PROMOTING = slice(10, 20)
_DROPS = slice(20, 27)
PROMOTION_GAIN = 2.0


def capture_gain(game: TensorDictBase) -> torch.Tensor:
    """[B, 2187] material the side to move gains by each move label, ignoring the reply.

    A capture takes the piece's board value from the opponent and adds its hand value to ours;
    a promotion adds the difference between the promoted and unpromoted piece (approximated by
    a flat 2 pawns, since the label does not name the moving piece).
    """
    gain_sq = _square_gains(game)
    planes = torch.zeros(27, device=gain_sq.device)
    planes[_PROMOTING] = PROMOTION_GAIN
    gain = gain_sq[:, None, :] * _board_moves(gain_sq.device)[None, :, None] + planes[None, :, None]
    return gain.reshape(gain_sq.shape[0], 27 * 81)


def takes_piece(game: TensorDictBase) -> torch.Tensor:
    """bool [B, 2187]: the labels of board moves onto a square that holds an opponent's piece
    (legal or not: `legal_mask &` it gives the captures)."""
    occupied = _square_gains(game) > 0
    board_move = _board_moves(occupied.device).bool()
    return (occupied[:, None, :] & board_move[None, :, None]).reshape(occupied.shape[0], 27 * 81)


def _board_moves(device) -> torch.Tensor:
    """[27] 1 for the move planes of board moves, 0 for drops (which capture nothing)."""
    board_move = torch.ones(27, device=device)
    board_move[_DROPS] = 0.0
    return board_move


def best_capture_gain(game: TensorDictBase) -> torch.Tensor:
    """[B] the most `capture_gain` of any legal move (-inf without one), computed per square
    instead of per label: a move's gain depends only on its target square and on whether it
    promotes or drops, so three [B, 81] maxima replace the [B, 2187] one (the 2-ply search's
    leaves, search/minimax.py, are the bulk of its cost)."""
    gain_sq = _square_gains(game)
    legal = game["legal_mask"].view(-1, 27, 81)
    none = torch.tensor(-torch.inf, device=gain_sq.device)
    plain = torch.where(legal[:, :_PROMOTING.start].any(1), gain_sq, none).amax(-1)
    promoting = torch.where(legal[:, _PROMOTING].any(1), gain_sq + PROMOTION_GAIN,
                            none).amax(-1)
    drop = torch.where(legal[:, _DROPS].flatten(1).any(-1), 0.0, none)
    return torch.maximum(torch.maximum(plain, promoting), drop)
