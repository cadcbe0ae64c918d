"""Reference-side helpers built only on cshogi (the independent reference engine).

Nothing here imports the engine under test, so these helpers can be used to validate the test
positions themselves.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cshogi
import numpy as np
from cshogi.dlshogi import make_move_label

STARTPOS = "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"

PLANE_NAMES = [
    "UP", "UP_LEFT", "UP_RIGHT", "LEFT", "RIGHT", "DOWN", "DOWN_LEFT", "DOWN_RIGHT",
    "UP2_LEFT", "UP2_RIGHT",
]
PLANE_NAMES = PLANE_NAMES + [n + "_PROMOTE" for n in PLANE_NAMES] + [
    "DROP_P", "DROP_L", "DROP_N", "DROP_S", "DROP_B", "DROP_R", "DROP_G",
]
N_LABELS = 27 * 81

# termination reasons of the engine contract
NONE, MATE, REPETITION, PERPETUAL_CHECK, MOVE_CAP, IMPASSE = 0, 1, 2, 3, 4, 5


# --------------------------------------------------------------------------- reference data
# Vendored into the repository (tests/data/perft.json: counts computed with cshogi 1.1.0, which
# agree with published perft tables): a clone must test itself with nothing outside it.
PERFT_JSON = Path(__file__).resolve().parent / "data" / "perft.json"


def load_perft_positions() -> list[dict]:
    """Positions of tests/data/perft.json."""
    with open(PERFT_JSON) as fh:
        return json.load(fh)["positions"]


def perft_sfens() -> dict[str, str]:
    return {p["name"]: p["sfen"] for p in load_perft_positions()}


# --------------------------------------------------------------------------- squares / USI
def sq_name(sq: int) -> str:
    return f"{sq // 9 + 1}{'abcdefghi'[sq % 9]}"


def describe_label(label: int, turn: int) -> str:
    """Human-readable form of a dlshogi move label: plane name and absolute destination square."""
    plane, dest = divmod(int(label), 81)
    sq = dest if turn == 0 else 80 - dest
    name = PLANE_NAMES[plane] if 0 <= plane < len(PLANE_NAMES) else f"plane{plane}"
    return f"label {label} ({name} to {sq_name(sq)})"


def flip_sq_usi(sq: str) -> str:
    return f"{10 - int(sq[0])}{'abcdefghi'[8 - 'abcdefghi'.index(sq[1])]}"


def flip_usi(usi: str) -> str:
    """Move in the colour-flipped position (board rotated 180 degrees, colours swapped)."""
    if usi[1] == "*":
        return usi[:2] + flip_sq_usi(usi[2:4])
    return flip_sq_usi(usi[0:2]) + flip_sq_usi(usi[2:4]) + usi[4:]


def _expand_board(board: str) -> list[list[str]]:
    grid = []
    for row in board.split("/"):
        cells, i = [], 0
        while i < len(row):
            c = row[i]
            if c.isdigit():
                cells += [""] * int(c)
                i += 1
            elif c == "+":
                cells.append("+" + row[i + 1])
                i += 2
            else:
                cells.append(c)
                i += 1
        grid.append(cells)
    return grid


def _compress_board(grid: list[list[str]]) -> str:
    out = []
    for r in grid:
        s, n = "", 0
        for x in r:
            if not x:
                n += 1
            else:
                if n:
                    s += str(n)
                    n = 0
                s += x
        if n:
            s += str(n)
        out.append(s)
    return "/".join(out)


def flip_sfen(sfen: str) -> str:
    """The same position seen from the other side: board rotated, colours and side swapped.

    Returned in cshogi's canonical form.
    """
    board, side, hand, num = sfen.split()
    grid = _expand_board(board)
    g2 = [[(x[:-1] + x[-1].swapcase()) if x else "" for x in reversed(r)] for r in reversed(grid)]
    hand2 = "-" if hand == "-" else hand.swapcase()
    s = f"{_compress_board(g2)} {'w' if side == 'b' else 'b'} {hand2} {num}"
    return cshogi.Board(s).sfen()


def sfen_key(sfen: str) -> str:
    """Position identity for repetition: board, side to move and hands (no move number)."""
    return " ".join(sfen.split()[:3])


# --------------------------------------------------------------------------- reference moves
def ref_moves(board: cshogi.Board) -> dict[int, int]:
    """label -> cshogi move for all legal moves (labels are unique among legal moves)."""
    out = {}
    turn = board.turn
    for m in board.legal_moves:
        lab = make_move_label(m, turn)
        assert lab not in out, f"label collision in reference at {board.sfen()}"
        out[lab] = m
    return out


def ref_usis(board: cshogi.Board) -> set[str]:
    return {cshogi.move_to_usi(m) for m in board.legal_moves}


_DROP_ORDER = "PLNSBRG"


def usi_square(s: str) -> int:
    return (int(s[0]) - 1) * 9 + "abcdefghi".index(s[1])


def usi_label(usi: str, turn: int) -> int:
    """dlshogi label of a USI move text (also for illegal moves), same as make_move_label.

    Destination and origin are taken in the mover's frame (square s -> 80 - s for White); the
    direction is the move's vector in that frame; "LEFT" is towards higher file numbers.
    Checked against cshogi in test_rules.test_usi_label_helper_matches_cshogi.
    """
    if usi[1] == "*":
        to = usi_square(usi[2:4])
        if turn:
            to = 80 - to
        return (20 + _DROP_ORDER.index(usi[0])) * 81 + to
    fr, to = usi_square(usi[0:2]), usi_square(usi[2:4])
    if turn:
        fr, to = 80 - fr, 80 - to
    fx, fy = divmod(fr, 9)
    tx, ty = divmod(to, 9)
    dx, dy = fx - tx, ty - fy  # dx > 0: towards lower file numbers in the mover's frame
    if dx == 0 and dy < 0:
        d = 0
    elif dy == -2 and abs(dx) == 1:
        d = 8 if dx < 0 else 9
    elif dy < 0:
        d = 1 if dx < 0 else 2
    elif dy == 0:
        d = 3 if dx < 0 else 4
    elif dx == 0:
        d = 5
    else:
        d = 6 if dx < 0 else 7
    if usi.endswith("+"):
        d += 10
    return d * 81 + to


def ref_label_of_usi(board: cshogi.Board, usi: str) -> int:
    for m in board.legal_moves:
        if cshogi.move_to_usi(m) == usi:
            return make_move_label(m, board.turn)
    raise AssertionError(f"test bug: {usi} is not legal in reference position {board.sfen()}")


# --------------------------------------------------------------------------- position generation
def random_walk_sfens(
    seed: int,
    n: int,
    start: str = STARTPOS,
    min_plies: int = 0,
    max_plies: int = 150,
    capture_bias: float = 0.0,
) -> list[str]:
    """n positions reached by seeded random play in cshogi (never game-over positions).

    capture_bias: probability of preferring a capture when one exists (fills the hands).
    """
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        b = cshogi.Board(start)
        target = int(rng.integers(min_plies, max_plies + 1))
        for _ in range(target):
            ms = sorted(b.legal_moves)
            if not ms:
                break
            if capture_bias and rng.random() < capture_bias:
                caps = [m for m in ms if cshogi.move_cap(m)]
                if caps:
                    ms = caps
            b.push(ms[int(rng.integers(len(ms)))])
        if b.is_game_over():
            continue
        out.append(b.sfen())
    return out


class RepetitionTracker:
    """Own bookkeeping of positions and checks of one game, for the repetition rules."""

    def __init__(self, board: cshogi.Board):
        self.keys = [sfen_key(board.sfen())]
        self.checks = [bool(board.is_check())]
        self.counts = Counter(self.keys)

    def push(self, board: cshogi.Board) -> None:
        k = sfen_key(board.sfen())
        self.keys.append(k)
        self.checks.append(bool(board.is_check()))
        self.counts[k] += 1

    @property
    def ply(self) -> int:
        return len(self.keys) - 1

    def occurrences(self) -> int:
        return self.counts[self.keys[-1]]

    def _checked_since(self, start: int) -> tuple[bool, bool]:
        """(mover checked on each of its moves, opponent checked on each of its moves) over the
        moves played after position index `start` up to the current position."""
        t = self.ply
        mover = all(self.checks[i] for i in range(t, start, -2))
        opponent = all(self.checks[i] for i in range(t - 1, start, -2))
        return mover, opponent

    def perpetual_since_first(self) -> tuple[bool, bool]:
        first = self.keys.index(self.keys[-1])
        return self._checked_since(first)

    def expected_cshogi_is_draw(self) -> int | None:
        """What cshogi's is_draw() reports now (it looks back only to the nearest earlier position
        with the same board and side); None when that position differs in hands (superior/inferior)
        or when there is none."""
        t = self.ply
        cur_board = self.keys[-1].rsplit(" ", 1)[0]
        for j in range(t - 4, -1, -2):
            if self.keys[j].rsplit(" ", 1)[0] == cur_board:
                if self.keys[j] != self.keys[-1]:
                    return None
                mover, opponent = self._checked_since(j)
                if opponent:  # side to move kept checking: it loses
                    return cshogi.REPETITION_LOSE
                if mover:
                    return cshogi.REPETITION_WIN
                return cshogi.REPETITION_DRAW
        return None


# --------------------------------------------------------------------------- reference attacks
# Steps and slides of each cshogi piece type (code & 15) for Black, as (file, rank) offsets:
# rank -1 is forward (towards rank a), file +-1 is symmetric. White's are negated.
_GOLD_STEPS = ((0, -1), (1, -1), (-1, -1), (1, 0), (-1, 0), (0, 1))
_DIAGONAL = ((1, -1), (-1, -1), (1, 1), (-1, 1))
_ORTHOGONAL = ((0, -1), (0, 1), (1, 0), (-1, 0))
_PIECE_RULES = {  # type: (steps, slides)
    1: (((0, -1),), ()),
    2: ((), ((0, -1),)),
    3: (((1, -2), (-1, -2)), ()),
    4: (((0, -1), (1, -1), (-1, -1), (1, 1), (-1, 1)), ()),
    5: ((), _DIAGONAL),
    6: ((), _ORTHOGONAL),
    7: (_GOLD_STEPS, ()),
    8: (_DIAGONAL + _ORTHOGONAL, ()),
    9: (_GOLD_STEPS, ()), 10: (_GOLD_STEPS, ()), 11: (_GOLD_STEPS, ()), 12: (_GOLD_STEPS, ()),
    13: (_ORTHOGONAL, _DIAGONAL),
    14: (_DIAGONAL, _ORTHOGONAL),
}


def ref_attackers(board: cshogi.Board) -> list[list[set[int]]]:
    """[colour][square] -> the squares of that colour's pieces attacking it: one-step moves,
    slides up to and including the first occupied square, knight jumps; pins and the king's
    safety ignored. Squares are cshogi's (file * 9 + rank), colours 0 Black, 1 White."""
    out = [[set() for _ in range(81)] for _ in range(2)]
    pieces = board.pieces
    for sq, code in enumerate(pieces):
        if code == 0:
            continue
        colour, sign = (1, -1) if code >= 16 else (0, 1)
        steps, slides = _PIECE_RULES[code & 15]
        f0, r0 = divmod(sq, 9)
        for df, dr in steps:
            f, r = f0 + sign * df, r0 + sign * dr
            if 0 <= f < 9 and 0 <= r < 9:
                out[colour][f * 9 + r].add(sq)
        for df, dr in slides:
            f, r = f0 + sign * df, r0 + sign * dr
            while 0 <= f < 9 and 0 <= r < 9:
                out[colour][f * 9 + r].add(sq)
                if pieces[f * 9 + r]:
                    break
                f, r = f + sign * df, r + sign * dr
    return out
