"""Which moves may give check, without playing them: a cheap filter for mate searches.

`may_check(state, rows, labels)` is a superset of the checking moves among the (row, label) pairs:
every move that gives check is kept (tested against cshogi), a few that do not are kept too
(sliders are judged on an empty board, a discovering piece that stays on its line is kept). A
search steps only the kept moves and reads the real answer from `step`, so the filter can cost
strength only by what it keeps, never soundness.

Two ways to give check, in the mover's canonical frame (K: the opponent king's square):
- direct: the piece standing on the destination after the move (promoted, or dropped) attacks K
  (a [15, 81, 81] table: piece code, its square, the attacked square, on an empty board);
- discovered: a board move from the first square of a ray from K, when that square holds our
  piece and the next piece on the ray is our slider moving along the ray towards K.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from tensordict import TensorDictBase

from ._movegen import _line_pieces, _pad, to_canonical
from ._step import move_source
from ._tables import (DIR_VECTORS, DROP_PLANE0, KING, KNIGHT, KNIGHT_VECTORS, OFF, OPPOSITE,
                      PIECE_MOVES, PROMO_PLANE0, PROMOTE_DELTA, _offset, tables)


def _numpy_tables() -> tuple[np.ndarray, np.ndarray]:
    attacks = np.zeros((15, 81, 81), dtype=bool)  # code, from, to
    slides_toward = np.zeros((15, 8), dtype=bool)  # code at ray distance 2+, ray direction d
    for code, (steps, slides) in PIECE_MOVES.items():
        for t in range(81):
            for d in steps:
                k = _offset(t, DIR_VECTORS[d])
                attacks[code, t, k if k != OFF else 0] |= k != OFF
            for d in slides:
                for n in range(1, 9):
                    k = _offset(t, DIR_VECTORS[d], n)
                    if k == OFF:
                        break
                    attacks[code, t, k] = True
            if code == KNIGHT:
                for vec in KNIGHT_VECTORS:
                    k = _offset(t, vec)
                    if k != OFF:
                        attacks[code, t, k] = True
        for d in range(8):
            slides_toward[code, d] = OPPOSITE[d] in slides
    return attacks, slides_toward


@functools.lru_cache(maxsize=None)
def _check_tables(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    attacks, slides_toward = _numpy_tables()
    return (torch.from_numpy(attacks.reshape(-1)).to(device),
            torch.from_numpy(slides_toward).to(device))


def may_check(state: TensorDictBase, rows: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """bool [N]: move `labels[i]` (legal) of position `rows[i]` may give check; every checking
    move is True."""
    attacks, slides_toward = _check_tables(state.device)
    T = tables(state.device)
    cb = to_canonical(state["board"], state["side_to_move"])  # [B, 81]
    king = (cb == -KING).to(torch.uint8).argmax(1)  # the opponent's, [B]

    # discovered: our piece first on a ray from K, our slider along the ray behind it
    sq1, _, p1, p2, _ = _line_pieces(_pad(cb, 0), _pad(cb != 0, True), king, T)
    opens = (p1 > 0) & (p2 > 0) & slides_toward[p2.clamp(min=0).long(),
                                                 torch.arange(8, device=cb.device)]
    uncover = torch.zeros(cb.shape[0], 82, dtype=torch.bool, device=cb.device)
    uncover = uncover.scatter(1, torch.where(opens, sq1, OFF), True)[:, :81]

    plane, to = labels // 81, labels % 81
    drop = plane >= DROP_PLANE0
    board_rows = cb[rows]
    source = move_source(board_rows, labels).clamp(max=80)
    moved = board_rows.gather(1, source[:, None]).squeeze(1).long().clamp(min=0)
    promoted = (plane >= PROMO_PLANE0) & ~drop
    piece = torch.where(drop, plane - DROP_PLANE0 + 1, moved + promoted * PROMOTE_DELTA)
    direct = attacks[(piece * 81 + to) * 81 + king[rows]]
    discovered = ~drop & uncover[rows, source]
    return direct | discovered
