"""SFEN reading and writing (cshogi's format). String I/O: loops over games are fine here."""

from __future__ import annotations

import re

import torch
from tensordict import TensorDict

from ._movegen import analyze, hands_to_canonical, to_canonical
from ._state import STARTPOS_SFEN, make_state
from ._tables import DEFAULT_MAX_PLIES, HAND_MAX, KING, WHITE_OFFSET

_LETTERS = "PLNSBRGK"  # index + 1 = piece type
_PROMOTABLE = "PLNSBR"
_HAND_WRITE_ORDER = "RBGSNLP"  # cshogi writes hands in this order, Black's (upper case) first
_HAND_RE = re.compile(r"(\d*)([A-Za-z])")


def _square(file: int, rank: int) -> int:
    return (file - 1) * 9 + (rank - 1)


def _parse_one(sfen: str):
    def fail(why: str):
        raise ValueError(f"invalid SFEN {sfen!r}: {why}")

    if not isinstance(sfen, str):
        raise ValueError(f"invalid SFEN {sfen!r}: expected a string")
    fields = sfen.split()
    if fields and fields[0] == "sfen":
        fields = fields[1:]
    if len(fields) == 3:
        fields.append("1")
    if len(fields) != 4:
        fail("expected 'board side hands movenumber' (4 space-separated fields)")
    board_s, side_s, hands_s, move_s = fields

    board = [0] * 81
    ranks = board_s.split("/")
    if len(ranks) != 9:
        fail(f"the board has {len(ranks)} ranks, expected 9")
    for r, rank in enumerate(ranks):
        file, promoted = 9, False
        for ch in rank:
            if ch.isdigit():
                if promoted:
                    fail(f"'+' followed by a digit in rank {r + 1}")
                if ch == "0":
                    fail(f"empty-square count 0 in rank {r + 1}")
                file -= int(ch)
            elif ch == "+":
                if promoted:
                    fail(f"'++' in rank {r + 1}")
                promoted = True
                continue
            elif ch.upper() in _LETTERS:
                if file < 1:
                    fail(f"rank {r + 1} has more than 9 squares")
                kind = _LETTERS.index(ch.upper()) + 1
                if promoted:
                    if ch.upper() not in _PROMOTABLE:
                        fail(f"'+{ch}' cannot be promoted")
                    kind += 8
                board[_square(file, r + 1)] = kind + (WHITE_OFFSET if ch.islower() else 0)
                file -= 1
            else:
                fail(f"bad piece letter {ch!r} in rank {r + 1}")
            promoted = False
            if file < 0:
                fail(f"rank {r + 1} has more than 9 squares")
        if promoted:
            fail(f"'+' at the end of rank {r + 1}")
        if file != 0:
            fail(f"rank {r + 1} has {9 - file} squares, expected 9")

    if side_s not in ("b", "w"):
        fail(f"side to move must be 'b' or 'w', got {side_s!r}")
    side = 0 if side_s == "b" else 1

    hands = [[0] * 7, [0] * 7]
    if hands_s != "-":
        pos = 0
        for m in _HAND_RE.finditer(hands_s):
            if m.start() != pos:
                fail(f"malformed hands {hands_s!r}")
            pos = m.end()
            count_s, ch = m.groups()
            if ch.upper() not in "PLNSBRG":
                fail(f"bad piece letter {ch!r} in hands")
            count = int(count_s) if count_s else 1
            if count < 1:
                fail(f"hand count {count_s} for {ch!r}")
            colour = 1 if ch.islower() else 0
            k = "PLNSBRG".index(ch.upper())
            if hands[colour][k]:
                fail(f"piece {ch!r} listed twice in hands")
            hands[colour][k] = count
        if pos != len(hands_s):
            fail(f"malformed hands {hands_s!r}")

    if not move_s.isdigit() or int(move_s) < 1:
        fail(f"move number must be a positive integer, got {move_s!r}")
    move_number = int(move_s)
    if move_number > 2**31 - 1:
        fail("move number too large")

    _check_material(board, hands, fail)
    return board, hands, side, move_number


def _check_material(board, hands, fail):
    kings = [0, 0]
    totals = [0] * 7  # per kind, promoted pieces counted as their base kind
    pawn_files = set()
    for sq, code in enumerate(board):
        if not code:
            continue
        colour, kind = code >> 4, code & 15
        if kind == KING:
            kings[colour] += 1
        if kind != KING:
            totals[(kind - 8 if kind > 8 else kind) - 1] += 1
        file, rank = sq // 9 + 1, sq % 9 + 1
        rel_rank = rank if colour == 0 else 10 - rank  # 1 = the owner's last rank
        name = "PLNSBRGK"[kind - 1] if kind <= 8 else "+" + "PLNSBR"[kind - 9]
        name = name if colour == 0 else name.lower()
        if kind in (1, 2) and rel_rank == 1:
            fail(f"{name} on square {file}{'abcdefghi'[rank - 1]} can never move")
        if kind == 3 and rel_rank <= 2:
            fail(f"{name} on square {file}{'abcdefghi'[rank - 1]} can never move")
        if kind == 1:
            if (colour, file) in pawn_files:
                fail(
                    f"two unpromoted {'Black' if colour == 0 else 'White'} pawns on file "
                    f"{file} (nifu)"
                )
            pawn_files.add((colour, file))
    # Board + both hands per kind (a total that legal play keeps): P 18, L N S G 4 as in a set.
    # Bishops and rooks are not limited to 2: standard test positions have more (perft's
    # "promoted pieces" holds three of each, cshogi accepts them); any kind is limited to 18.
    for k in range(7):
        total = totals[k] + hands[0][k] + hands[1][k]
        limit = HAND_MAX[k] if "PLNSBRG"[k] not in "BR" else HAND_MAX[0]
        if total > limit:
            fail(f"{total} pieces of kind {'PLNSBRG'[k]} on the board and in hands, at most "
                 f"{limit} exist")
    for colour, n in enumerate(kings):
        if n != 1:
            fail(f"{'Black' if colour == 0 else 'White'} has {n} kings, expected exactly 1")


def from_sfen(sfens: list[str], device=None, max_plies: int = DEFAULT_MAX_PLIES) -> TensorDict:
    """Games at the given SFEN positions (one per string). Raises ValueError on a bad SFEN."""
    if isinstance(sfens, str):
        sfens = [sfens]
    if len(sfens) == 0:
        raise ValueError("from_sfen needs at least one SFEN")
    parsed = [_parse_one(s) for s in sfens]
    board = torch.tensor([p[0] for p in parsed], dtype=torch.int8, device=device)
    hands = torch.tensor([p[1] for p in parsed], dtype=torch.int8, device=device)
    side = torch.tensor([p[2] for p in parsed], dtype=torch.int8, device=device)
    moves = torch.tensor([p[3] for p in parsed], dtype=torch.int32, device=device)
    # The side that is not to move must not be in check: that position cannot arise.
    other = 1 - side
    _, other_in_check = analyze(to_canonical(board, other), hands_to_canonical(hands, other))
    bad = other_in_check.nonzero().flatten().tolist()
    if bad:
        raise ValueError(f"invalid SFEN {sfens[bad[0]]!r}: the side not to move is in check")
    return make_state(board, hands, side, moves, max_plies=max_plies)


def to_sfen(state: TensorDict) -> list[str]:
    """SFEN of every game, exactly as cshogi writes it."""
    boards = state["board"].cpu().tolist()
    hands = state["hands"].cpu().tolist()
    sides = state["side_to_move"].cpu().tolist()
    moves = state["move_number"].cpu().tolist()
    out = []
    for board, hand, side, move in zip(boards, hands, sides, moves):
        ranks = []
        for rank in range(1, 10):
            row, empty = "", 0
            for file in range(9, 0, -1):
                code = board[_square(file, rank)]
                if code == 0:
                    empty += 1
                    continue
                if empty:
                    row, empty = row + str(empty), 0
                kind = code & 15
                s = _LETTERS[kind - 1] if kind <= 8 else "+" + _PROMOTABLE[kind - 9]
                row += s if code < WHITE_OFFSET else s.lower()
            ranks.append(row + (str(empty) if empty else ""))
        hs = ""
        for colour in (0, 1):
            for ch in _HAND_WRITE_ORDER:
                n = hand[colour]["PLNSBRG".index(ch)]
                if n:
                    hs += (str(n) if n > 1 else "") + (ch if colour == 0 else ch.lower())
        out.append(f"{'/'.join(ranks)} {'bw'[side]} {hs or '-'} {move}")
    return out


def initial_state(batch_size: int, device=None, max_plies: int = DEFAULT_MAX_PLIES) -> TensorDict:
    """`batch_size` games at the standard start position (defined by its SFEN, in one place)."""
    one = from_sfen([STARTPOS_SFEN], device=device, max_plies=max_plies)
    return one.expand(batch_size).clone()
