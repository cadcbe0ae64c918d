"""observe(): [B,46,9,9] float planes, checked against an independent construction from cshogi.

Plane table (side-to-move frame; board rotated 180 degrees, square s -> 80 - s, when White moves):
  0-7   own unpromoted P L N S G B R K      8-13  own +P +L +N +S +B +R
  14-27 the same for the opponent
  28-34 own hand P L N S G B R / max (18, 4, 4, 4, 4, 2, 2)      35-41 opponent's hand
  42    1 if Black to move      43 ply / max_plies      44-45 zero
"""

from __future__ import annotations

import cshogi
import numpy as np
import torch

import keisei_fn.shogi as E
from _shogi_ref import STARTPOS, perft_sfens, random_walk_sfens, ref_moves

# cshogi piece type (code & 15) -> plane within a colour block
_TYPE_PLANE = {
    1: 0,
    2: 1,
    3: 2,
    4: 3,
    7: 4,
    5: 5,
    6: 6,
    8: 7,
    9: 8,
    10: 9,
    11: 10,
    12: 11,
    13: 12,
    14: 13,
}
_HAND_MAX = [18, 4, 4, 4, 4, 2, 2]  # cshogi pieces_in_hand order P L N S G B R


def reference_planes(board: cshogi.Board, ply: int, max_plies: int) -> np.ndarray:
    obs = np.zeros((46, 81), dtype=np.float32)
    us = board.turn
    for sq, code in enumerate(board.pieces):
        if code == 0:
            continue
        color = 1 if code >= 16 else 0
        plane = _TYPE_PLANE[code & 15] + (0 if color == us else 14)
        obs[plane, sq if us == 0 else 80 - sq] = 1.0
    hands = board.pieces_in_hand
    for k in range(7):
        obs[28 + k, :] = hands[us][k] / _HAND_MAX[k]
        obs[35 + k, :] = hands[1 - us][k] / _HAND_MAX[k]
    obs[42, :] = 1.0 if us == 0 else 0.0
    obs[43, :] = ply / max_plies
    return obs


def _compare(obs: torch.Tensor, boards, plies, max_plies, sfens):
    B = len(boards)
    assert obs.shape == (B, 46, 9, 9), f"observation shape {tuple(obs.shape)}"
    assert obs.dtype.is_floating_point, f"observation dtype {obs.dtype}"
    got = obs.reshape(B, 46, 81).to(torch.float32).numpy()
    for i, b in enumerate(boards):
        want = reference_planes(b, plies[i], max_plies)
        if not np.allclose(got[i], want, atol=1e-6):
            bad = sorted({int(c) for c in np.argwhere(~np.isclose(got[i], want, atol=1e-6))[:, 0]})
            details = []
            for c in bad[:6]:
                diff = np.flatnonzero(~np.isclose(got[i, c], want[c], atol=1e-6))
                details.append(
                    f"plane {c}: squares {diff[:8].tolist()} engine {got[i, c, diff[:8]].tolist()} "
                    f"expected {want[c, diff[:8]].tolist()}"
                )
            raise AssertionError(
                f"observation differs at {sfens[i]} (ply {plies[i]}):\n  " + "\n  ".join(details)
            )


def test_observe_startpos_and_shape():
    stt = E.initial_state(2)
    obs = E.observe(stt)
    assert obs.shape == (2, 46, 9, 9) and obs.dtype == torch.float32
    _compare(obs, [cshogi.Board(STARTPOS)] * 2, [0, 0], 512, [STARTPOS] * 2)
    # spot checks that pin the layout down: Black's king on 5i (square 40 + 4 = 44), plane 7
    v = obs.view(2, 46, 81)
    assert v[0, 7, 44] == 1 and v[0, 7].sum() == 1
    assert v[0, 21, 36] == 1  # opponent king on 5a (square 36); Black moves, so no rotation
    assert v[0, 42].eq(1).all() and v[0, 44:].eq(0).all()


def test_observe_loaded_positions():
    sfens = [STARTPOS] + list(perft_sfens().values()) + random_walk_sfens(
        21, 60, min_plies=1, max_plies=250, capture_bias=0.4)
    for max_plies in (512, 100):
        stt = E.from_sfen(sfens, max_plies=max_plies)
        _compare(
            E.observe(stt), [cshogi.Board(s) for s in sfens], [0] * len(sfens), max_plies, sfens
        )


def test_observe_along_random_games():
    """Observation after stepping (so ply > 0), both colours to move, hands filling up."""
    rng = np.random.default_rng(7)
    B, max_plies = 8, 200
    starts = [STARTPOS] * 4 + random_walk_sfens(8, 4, min_plies=20, max_plies=80, capture_bias=0.5)
    boards = [cshogi.Board(s) for s in starts]
    stt = E.from_sfen(starts, max_plies=max_plies)
    compared = 0
    for ply in range(1, 121):
        actions = []
        for b in boards:
            ref = ref_moves(b)
            if not ref:
                actions.append(None)
                continue
            lab = sorted(ref)[int(rng.integers(len(ref)))]
            actions.append((lab, ref[lab]))
        if any(a is None for a in actions):
            break
        stt = E.step(stt, torch.tensor([a[0] for a in actions], dtype=torch.long))
        for b, a in zip(boards, actions):
            b.push(a[1])
        if bool(stt["terminated"].any()) or bool(stt["truncated"].any()):
            break
        if ply % 3 == 0 or B == 1:
            _compare(E.observe(stt), boards, [ply] * B, max_plies, [b.sfen() for b in boards])
            compared += 1
    assert compared >= 10, f"only {compared} observation checks: the random games ended too early"


def test_observe_white_to_move_is_rotated():
    """A position and its colour-flipped twin give identical observations (apart from plane 42)."""
    from _shogi_ref import flip_sfen

    sfens = random_walk_sfens(31, 20, min_plies=1, max_plies=200, capture_bias=0.4)
    flipped = [flip_sfen(s) for s in sfens]
    a = E.observe(E.from_sfen(sfens))
    b = E.observe(E.from_sfen(flipped))
    assert torch.equal(a[:, :42], b[:, :42]), "planes 0-41 must be colour-symmetric"
    assert torch.equal(a[:, 43:], b[:, 43:])
    assert torch.equal(a[:, 42] + b[:, 42], torch.ones_like(a[:, 42]))
