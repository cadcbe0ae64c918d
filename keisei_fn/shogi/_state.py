"""Game-state TensorDicts: construction from boards, hashing, auto-reset.

State keys (batch [B]); see docs/engine_api.md for the full table.
  board int8 [B,81], hands int8 [B,2,7], side_to_move int8 [B], ply int32 [B],
  move_number int32 [B], hash_history int64 [B,H+1], check_history bool [B,H+1] (entries past
  `ply` hold -1 / False), check_streak int16 [B,2] (consecutive checking moves of the side to move
  and
  of its opponent),
  legal_mask bool [B,2187], in_check bool [B], terminated/truncated bool [B], reward float32 [B],
  termination_reason int8 [B].   H = max_plies = hash_history.shape[1] - 1.
"""

from __future__ import annotations

import torch
from tensordict import TensorDict

from ._movegen import analyze, hands_to_canonical, to_canonical
from ._tables import DEFAULT_MAX_PLIES, tables

STARTPOS_SFEN = "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"
_EMPTY_HASH = -1  # never a real hash: keys are positive and their sums stay below 2**63


def position_hash(board: torch.Tensor, hands: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
    """int64 [B]: additive Zobrist hash of (board, hands, side to move)."""
    T = tables(board.device)
    sq = torch.arange(81, device=board.device)
    h = T.zobrist_board[board.long() * 81 + sq].sum(1)
    hand_idx = (torch.arange(14, device=board.device) * 19).view(2, 7) + hands.long()
    h = h + T.zobrist_hand[hand_idx.view(-1, 14)].sum(1)
    return h + side.long() * T.zobrist_side


def max_plies_of(state: TensorDict) -> int:
    return state["hash_history"].shape[1] - 1


def make_state(board: torch.Tensor, hands: torch.Tensor, side: torch.Tensor,
               move_number: torch.Tensor, max_plies: int = DEFAULT_MAX_PLIES) -> TensorDict:
    """A fresh game state (ply 0, empty history) from absolute board/hands/side tensors."""
    if max_plies < 1:
        raise ValueError(f"max_plies must be >= 1, got {max_plies}")
    b, dev = board.shape[0], board.device
    board = board.to(torch.int8)
    hands = hands.to(torch.int8)
    side = side.to(torch.int8)
    cb = to_canonical(board, side)
    mask, in_check = analyze(cb, hands_to_canonical(hands, side))
    hist = torch.full((b, max_plies + 1), _EMPTY_HASH, dtype=torch.int64, device=dev)
    hist[:, 0] = position_hash(board, hands, side)
    checks = torch.zeros((b, max_plies + 1), dtype=torch.bool, device=dev)
    checks[:, 0] = in_check
    return TensorDict(
        board=board, hands=hands, side_to_move=side,
        ply=torch.zeros(b, dtype=torch.int32, device=dev),
        move_number=move_number.to(torch.int32),
        hash_history=hist, check_history=checks,
        check_streak=torch.zeros((b, 2), dtype=torch.int16, device=dev),
        legal_mask=mask, in_check=in_check,
        terminated=torch.zeros(b, dtype=torch.bool, device=dev),
        truncated=torch.zeros(b, dtype=torch.bool, device=dev),
        reward=torch.zeros(b, dtype=torch.float32, device=dev),
        termination_reason=torch.zeros(b, dtype=torch.int8, device=dev),
        batch_size=[b], device=dev,
    )


def reset_where(state: TensorDict, done: torch.Tensor, fresh: TensorDict) -> TensorDict:
    """Replace the games where `done` [B] is true by `fresh` (a state of batch [B] or [1]).

    Only the finished rows are copied (gathered once; on a GPU that is one synchronisation).
    The input state is not modified.
    """
    rows = done.nonzero().squeeze(1)
    if rows.numel() == 0:
        return state.copy()
    src = rows if fresh.batch_size[0] != 1 else torch.zeros_like(rows)
    out = {}
    for k, v in state.items():
        out[k] = v.index_copy(0, rows, fresh[k].index_select(0, src))
    return TensorDict(out, batch_size=state.batch_size, device=state.device)
