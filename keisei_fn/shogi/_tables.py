"""Constants and precomputed lookup tables of the Shogi engine: their one home.

Geometry is written in the *side to move's frame* ("canonical frame"): the board is rotated 180
degrees when White moves, so the mover's pieces always advance towards rank index 0.
square = file * 9 + rank (file 0 = "1", rank 0 = "a"), cshogi's numbering; a rotated square is 80 -
s.

Tables are plain tensors built once per device on first use (`tables(device)`), never at import.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

NUM_SQUARES = 81
OFF = 81  # padding slot: "no square" / off the board
NUM_ACTIONS = 2187  # 27 planes x 81 destinations (dlshogi's move labels)
# The most legal moves any Shogi position has (a composed position of 1968, see docs/search.md).
MAX_LEGAL_MOVES = 593
NUM_OBS_PLANES = 46
DEFAULT_MAX_PLIES = 512

# Piece types (cshogi's codes for Black; White adds 16 on the absolute board).
PAWN, LANCE, KNIGHT, SILVER, BISHOP, ROOK, GOLD, KING = 1, 2, 3, 4, 5, 6, 7, 8
PROM_PAWN, PROM_LANCE, PROM_KNIGHT, PROM_SILVER, HORSE, DRAGON = 9, 10, 11, 12, 13, 14
WHITE_OFFSET = 16
PROMOTE_DELTA = 8  # promoted code = base code + 8 for P, L, N, S, B, R
# Hand index k holds piece type k + 1: drop order P L N S B R G, identical to the drop planes.
HAND_KINDS = 7
HAND_MAX = (18, 4, 4, 4, 2, 2, 4)

# Move directions in dlshogi's plane order, as (d_file, d_rank) in the canonical frame.
UP, UP_LEFT, UP_RIGHT, LEFT, RIGHT, DOWN, DOWN_LEFT, DOWN_RIGHT, UP2_LEFT, UP2_RIGHT = range(10)
DIR_VECTORS = ((0, -1), (1, -1), (-1, -1), (1, 0), (-1, 0), (0, 1), (1, 1), (-1, 1))
KNIGHT_VECTORS = ((1, -2), (-1, -2))  # planes 8 and 9
OPPOSITE = (DOWN, DOWN_RIGHT, DOWN_LEFT, RIGHT, LEFT, UP, UP_RIGHT, UP_LEFT)
DROP_PLANE0 = 20
PROMO_PLANE0 = 10

_ORTHO = (UP, LEFT, RIGHT, DOWN)
_DIAG = (UP_LEFT, UP_RIGHT, DOWN_LEFT, DOWN_RIGHT)
_GOLD = (UP, UP_LEFT, UP_RIGHT, LEFT, RIGHT, DOWN)
# (one-step directions, sliding directions) of each piece type moving "up" (canonical frame).
PIECE_MOVES = {
    PAWN: ((UP,), ()),
    LANCE: ((), (UP,)),
    KNIGHT: ((), ()),  # jumps: handled by the knight planes
    SILVER: ((UP, UP_LEFT, UP_RIGHT, DOWN_LEFT, DOWN_RIGHT), ()),
    BISHOP: ((), _DIAG),
    ROOK: ((), _ORTHO),
    GOLD: (_GOLD, ()),
    KING: (tuple(range(8)), ()),
    PROM_PAWN: (_GOLD, ()),
    PROM_LANCE: (_GOLD, ()),
    PROM_KNIGHT: (_GOLD, ()),
    PROM_SILVER: (_GOLD, ()),
    HORSE: (_ORTHO, _DIAG),
    DRAGON: (_DIAG, _ORTHO),
}

# Move generation works on [B, 8*81] arrays whose column g*81 + t stands for "a move in direction
# g landing on t"; the piece making it is the first one seen from t looking in OPPOSITE[g].
# Each square has one int32 descriptor word, in two versions: "adjacent" (the piece is next to t:
# one-step moves count) and "far" (only slides count); the blocker's version is picked by the
# gather index (square, or 82 + square when adjacent).
#   bits 0-7   an opponent piece there attacks t, seen from t in direction d (bit d)
#   bit 8      a mover's piece there may promote (P L N S B R)
#   bit 9      a mover's P or L (may not stay unpromoted on rank 0)
#   bit 10     a mover's promotable piece standing in the zone (may promote whatever t)
#   bits 16-23 a mover's piece other than the king moves in direction g (bit 16 + g), pins applied
#   bits 24-31 the mover's king moves in direction g
A_OPP = 0
A_PROMOTABLE, A_DEAD, A_PROMOTABLE_IN_ZONE = 1 << 8, 1 << 9, 1 << 10
A_OWN, A_KING = 16, 24
ALL_DIRS = 0xFF


class Reason:
    """Termination reason codes stored in `state["termination_reason"]`."""

    NONE = 0
    MATE = 1  # the side to move has no legal move and loses
    REPETITION = 2  # fourth occurrence of a position: draw
    PERPETUAL_CHECK = 3  # fourth occurrence, one side checked on every move: it loses
    MOVE_CAP = 4  # move cap reached: draw, truncated
    IMPASSE = 5  # entering-king declaration (CSA 27-point rule), optional

    NAMES = ("none", "mate", "repetition", "perpetual_check", "move_cap", "impasse")


# Observation plane of each canonical piece code (own > 0, opponent < 0); 28 = no plane (empty).
# Own: 0-7 P L N S G B R K, 8-13 +P +L +N +S +B +R; opponent: the same + 14.
_OWN_PLANE = {PAWN: 0, LANCE: 1, KNIGHT: 2, SILVER: 3, GOLD: 4, BISHOP: 5, ROOK: 6, KING: 7,
              PROM_PAWN: 8, PROM_LANCE: 9, PROM_KNIGHT: 10, PROM_SILVER: 11, HORSE: 12, DRAGON: 13}
# Hand planes are in order P L N S G B R; hand storage is P L N S B R G.
OBS_HAND_ORDER = (0, 1, 2, 3, 6, 4, 5)


def _sq(f: int, r: int) -> int:
    return f * 9 + r if 0 <= f < 9 and 0 <= r < 9 else OFF


def _offset(s: int, vec: tuple[int, int], k: int = 1) -> int:
    return _sq(s // 9 + vec[0] * k, s % 9 + vec[1] * k)


def _i32(values) -> np.ndarray:
    """Python ints (bit 31 may be set) -> int32 with the same bits."""
    return np.asarray(values, dtype=np.int64).astype(np.uint32).view(np.int32)


@dataclass(frozen=True)
class Tables:
    # Batch-last tables (rows = squares) serve index_select on [81, B] tensors (row copies).
    neighbor: torch.Tensor  # [8*81] long: row g*81+t: neighbor of t in OPPOSITE[g], or OFF
    first_empty_value: torch.Tensor  # [8*81, 1] uint8: OFF if that neighbor is off board, else 255
    neighbor_minus_empty: torch.Tensor  # [8*81, 1] uint8: (neighbor - first_empty_value) mod 256
    shift_index: tuple  # 3 x [8*81] long: row g*81 + (t + s * look vector of g), s = 1, 2, 4
    knight_src: torch.Tensor  # [2*81] long: square a mover's knight jumps from to t (planes 8, 9)
    opp_knight_src: torch.Tensor  # [2*81] long: square an opponent knight attacks t from
    ray: torch.Tensor  # [81, 8, 9] long: squares along direction d from t, then OFF (sentinel)
    between: torch.Tensor  # [82*82, 81] bool: squares strictly between a and b on a line
    xray_behind: torch.Tensor  # [8, 82] long: neighbor of t in direction OPPOSITE[d], or OFF
    desc_adjacent: torch.Tensor  # [29] int32: descriptor per canonical code + 14 (see A_*)
    desc_far: torch.Tensor  # [29] int32
    reach_adjacent: torch.Tensor  # [29] int32: directions a mover's piece moves one step (any)
    reach_far: torch.Tensor  # [29] int32: directions a mover's piece slides
    zone_flag: torch.Tensor  # [81] int32: A_PROMOTABLE_IN_ZONE on ranks 0-2
    col_opp: torch.Tensor  # [648] int32: opponent bit tested in column g*81+t
    col_own: torch.Tensor  # [648] int32
    col_king: torch.Tensor  # [648] int32
    col_sides: torch.Tensor  # [2, 648] int32: (col_own | col_king, col_opp), attack_counts' bits
    col_promote: torch.Tensor  # [648] int32: A_PROMOTABLE if t in zone else A_PROMOTABLE_IN_ZONE
    col_dead: torch.Tensor  # [648] int32: A_DEAD on rank-0 destinations
    pin_keep: torch.Tensor  # [8] int32: descriptor bits kept for a piece pinned on direction d
    slide_bits: torch.Tensor  # [15] int32: sliding directions per piece type
    step_bits: torch.Tensor  # [15] int32: one-step directions per piece type (incl. sliders)
    line_of_dir: torch.Tensor  # [8] long: 0 file, 1 rank, 2 and 3 the diagonals
    opposite: torch.Tensor  # [8] long: OPPOSITE
    rank: torch.Tensor  # [81] long
    zone: torch.Tensor  # [81] bool (ranks 0-2)
    obs_plane: torch.Tensor  # [29] long, index code + 14
    zobrist_board: torch.Tensor  # [31*81] int64
    zobrist_hand: torch.Tensor  # [2*7*19] int64
    zobrist_side: torch.Tensor  # [] int64
    impasse_points: torch.Tensor  # [15] int32: 5 for B R +B +R, 0 for K, else 1


def _build_numpy() -> dict:
    nb_dir = np.full((8, 81), OFF, np.int64)  # by direction d
    for d, v in enumerate(DIR_VECTORS):
        for s in range(81):
            nb_dir[d, s] = _offset(s, v)
    nb = nb_dir[list(OPPOSITE)]  # by row group g: look direction OPPOSITE[g]
    first_empty = np.where(nb == OFF, OFF, 255).astype(np.int64)
    shifts = []
    for k in (1, 2, 4):
        idx = np.zeros((8, 81), np.int64)
        for g in range(8):
            for s in range(81):
                t = _offset(s, DIR_VECTORS[OPPOSITE[g]], k)
                idx[g, s] = g * 81 + (t if t != OFF else s)  # off-board entries are never read
        shifts.append(idx.reshape(-1))
    ksrc = np.full((2, 81), OFF, np.int64)
    oksrc = np.full((2, 81), OFF, np.int64)
    for j, (df, dr) in enumerate(KNIGHT_VECTORS):
        for s in range(81):
            ksrc[j, s] = _offset(s, (-df, -dr))  # own knight moves (df, dr) to reach s
            oksrc[j, s] = _offset(s, (df, dr))  # opponent knight moves (-df, -dr) to reach s
    ray = np.full((81, 8, 9), OFF, np.int64)
    for s in range(81):
        for d, v in enumerate(DIR_VECTORS):
            for k in range(1, 9):
                ray[s, d, k - 1] = _offset(s, v, k)
    between = np.zeros((82, 82, 81), bool)
    for a in range(81):
        for d in range(8):
            for k in range(1, 9):
                b = ray[a, d, k - 1]
                if b == OFF:
                    break
                for j in range(1, k):
                    between[a, b, ray[a, d, j - 1]] = True
    xray = np.full((8, 82), OFF, np.int64)
    xray[:, :81] = nb_dir[list(OPPOSITE)]
    step_bits = np.zeros(15, np.int64)
    slide_bits = np.zeros(15, np.int64)
    for t, (steps, slides) in PIECE_MOVES.items():
        step_bits[t] = sum(1 << d for d in set(steps) | set(slides))
        slide_bits[t] = sum(1 << d for d in slides)

    def rotated(bits: int) -> int:  # bit d set iff the piece moves in direction OPPOSITE[d]
        return sum(1 << d for d in range(8) if bits >> OPPOSITE[d] & 1)

    desc_adj = np.zeros(29, np.int64)
    desc_far = np.zeros(29, np.int64)
    for t in range(1, 15):
        desc_adj[14 - t] = step_bits[t] << A_OPP
        desc_far[14 - t] = slide_bits[t] << A_OPP
        shift = A_KING if t == KING else A_OWN
        flags = ((A_PROMOTABLE if t in (PAWN, LANCE, KNIGHT, SILVER, BISHOP, ROOK) else 0)
                 | (A_DEAD if t in (PAWN, LANCE) else 0))
        desc_adj[14 + t] = (step_bits[t] << shift) | flags
        desc_far[14 + t] = (slide_bits[t] << shift) | flags
    reach_adj = np.zeros(29, np.int64)
    reach_far = np.zeros(29, np.int64)
    reach_adj[15:] = step_bits[1:]
    reach_far[15:] = slide_bits[1:]
    obs_plane = np.full(29, 28, np.int64)
    for t, p in _OWN_PLANE.items():
        obs_plane[14 + t] = p
        obs_plane[14 - t] = p + 14
    points = np.ones(15, np.int64)
    points[[0, KING]] = 0
    points[[BISHOP, ROOK, HORSE, DRAGON]] = 5
    # Zobrist keys below 2**56, so that a sum of ~100 of them never overflows int64: torch has
    # no xor-reduction, and an additive hash with independent random keys is as collision-free.
    rng = np.random.default_rng(0x5EED_5409)
    zb = rng.integers(1, 1 << 56, size=(31, 81), dtype=np.int64)
    zb[0] = 0
    zh = rng.integers(1, 1 << 56, size=(2, 7, 19), dtype=np.int64)
    zh[:, :, 0] = 0
    zs = rng.integers(1, 1 << 56, dtype=np.int64)
    # Sanity checks on the tables (cheap, run once).
    assert (nb != OFF).sum() == 2 * (2 * 9 * 8) + 2 * (2 * 8 * 8)  # orthogonal + diagonal links
    assert between.sum() == sum(max(k - 1, 0) for a in range(81) for d in range(8)
                                for k in range(1, 9) if ray[a, d, k - 1] != OFF)
    assert all(OPPOSITE[OPPOSITE[d]] == d for d in range(8))
    return dict(nb=nb, first_empty=first_empty, shifts=shifts, ksrc=ksrc, oksrc=oksrc, ray=ray,
                between=between, xray=xray, step_bits=step_bits, slide_bits=slide_bits,
                desc_adj=desc_adj, desc_far=desc_far, reach_adj=reach_adj, reach_far=reach_far,
                obs_plane=obs_plane, points=points,
                zb=zb, zh=zh, zs=zs)


@functools.lru_cache(maxsize=None)
def _numpy_tables() -> dict:
    return _build_numpy()


@functools.lru_cache(maxsize=None)
def _tables_for(device: torch.device) -> Tables:
    n = _numpy_tables()

    def t(x, dtype=torch.long):
        return torch.as_tensor(np.asarray(x), device=device).to(dtype)

    i32, u8 = torch.int32, torch.uint8
    nb = n["nb"].reshape(-1, 1)
    fe = n["first_empty"].reshape(-1, 1)
    return Tables(
        neighbor=t(n["nb"].reshape(-1)),
        first_empty_value=t(fe, u8),
        neighbor_minus_empty=t((nb - fe) % 256, u8),
        shift_index=tuple(t(s) for s in n["shifts"]),
        knight_src=t(n["ksrc"].reshape(-1)),
        opp_knight_src=t(n["oksrc"].reshape(-1)),
        ray=t(n["ray"]),
        between=t(n["between"].reshape(82 * 82, 81), torch.bool),
        xray_behind=t(n["xray"]),
        desc_adjacent=t(_i32(n["desc_adj"]), i32),
        desc_far=t(_i32(n["desc_far"]), i32),
        reach_adjacent=t(n["reach_adj"], i32),
        reach_far=t(n["reach_far"], i32),
        zone_flag=t([A_PROMOTABLE_IN_ZONE if s % 9 <= 2 else 0 for s in range(81)], i32),
        col_opp=t([1 << (OPPOSITE[c // 81] + A_OPP) for c in range(648)], i32),
        col_own=t([1 << (c // 81 + A_OWN) for c in range(648)], i32),
        col_king=t(_i32([1 << (c // 81 + A_KING) for c in range(648)]), i32),
        col_sides=t(np.stack([_i32([(1 << (c // 81 + A_OWN)) | (1 << (c // 81 + A_KING))
                                    for c in range(648)]),
                              _i32([1 << (OPPOSITE[c // 81] + A_OPP) for c in range(648)])]),
                    i32),
        col_promote=t([A_PROMOTABLE if c % 9 <= 2 else A_PROMOTABLE_IN_ZONE
                       for c in range(648)], i32),
        col_dead=t([A_DEAD if c % 9 == 0 else 0 for c in range(648)], i32),
        pin_keep=t(_i32([~(ALL_DIRS << A_OWN) & 0xFFFFFFFF
                         | ((1 << d) | (1 << OPPOSITE[d])) << A_OWN for d in range(8)]), i32),
        slide_bits=t(n["slide_bits"], i32),
        step_bits=t(n["step_bits"], i32),
        line_of_dir=t([0, 2, 3, 1, 1, 0, 3, 2]),
        opposite=t(OPPOSITE),
        rank=t([s % 9 for s in range(81)]),
        zone=t([s % 9 <= 2 for s in range(81)], torch.bool),
        obs_plane=t(n["obs_plane"]),
        zobrist_board=t(n["zb"].reshape(-1), torch.int64),
        zobrist_hand=t(n["zh"].reshape(-1), torch.int64),
        zobrist_side=t(n["zs"], torch.int64),
        impasse_points=t(n["points"], i32),
    )


# Built tables by device. A plain dict, not only the lru_cache: torch.compile traces through an
# lru_cache into the numpy construction (a graph break), but reads a dict's tensors as constants.
_BUILT: dict[torch.device, Tables] = {}


def tables(device: torch.device | str | None = None) -> Tables:
    """The lookup tables on `device` (built on first use, then cached)."""
    device = torch.device(device if device is not None else "cpu")
    found = _BUILT.get(device)
    if found is None:
        found = _BUILT[device] = _tables_for(device)
    return found
