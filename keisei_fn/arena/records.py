"""Game records: start SFEN + USI moves + result + reason + players, and their CSA text.

The record is plain data (JSON-ready); CSA is written from it by replaying the moves on a small
pure-Python board (CSA names the moving piece, USI does not). No legality checks here: records
are written from games the rules engine refereed. cshogi's CSA parser reads the output (tested).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

STARTPOS_SFEN = "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"

# Endings and what they mean. `winner` is "black", "white" or "draw".
RULE_REASONS = ("mate", "repetition", "perpetual_check", "move_cap", "impasse")
ENGINE_REASONS = ("engine_timeout", "engine_crash", "engine_error", "garbage_move",
                  "illegal_move", "resign")


@dataclass(frozen=True)
class GameRecord:
    black: str  # player names (specs)
    white: str
    moves: tuple[str, ...]  # USI, from start_sfen
    winner: str  # "black" | "white" | "draw"
    reason: str  # one of RULE_REASONS or ENGINE_REASONS
    start_sfen: str = STARTPOS_SFEN
    detail: str = ""  # free text, e.g. what a failing engine sent
    meta: dict = field(default_factory=dict)  # e.g. {"game": 3, "seed": 0}

    def score_for(self, name: str) -> float:
        """1 / 0.5 / 0 for the player `name` (which must be black or white)."""
        if name not in (self.black, self.white):
            raise ValueError(f"{name!r} did not play this game")
        if self.winner == "draw":
            return 0.5
        side = "black" if name == self.black else "white"
        return 1.0 if self.winner == side else 0.0


def to_json_line(record: GameRecord) -> str:
    return json.dumps(asdict(record) | {"moves": list(record.moves)}, sort_keys=True)


def from_json_line(line: str) -> GameRecord:
    d = json.loads(line)
    return GameRecord(**(d | {"moves": tuple(d["moves"])}))


def usi_position(record: GameRecord) -> str:
    """The USI `position` command argument that replays the whole game."""
    start = "startpos" if record.start_sfen == STARTPOS_SFEN else f"sfen {record.start_sfen}"
    return start + (" moves " + " ".join(record.moves) if record.moves else "")


# --- CSA --------------------------------------------------------------------------------------

_CSA = {"P": "FU", "L": "KY", "N": "KE", "S": "GI", "G": "KI", "B": "KA", "R": "HI", "K": "OU",
        "+P": "TO", "+L": "NY", "+N": "NK", "+S": "NG", "+B": "UM", "+R": "RY"}
_HAND_ORDER = "RBGSNLP"
_RANKS = "abcdefghi"


def to_csa(record: GameRecord) -> str:
    """CSA v2.2 text of the game (players, start position, moves, ending, our reason)."""
    board, hands, side = _parse_sfen(record.start_sfen)
    lines = ["V2.2", f"N+{record.black}", f"N-{record.white}"]
    if record.start_sfen == STARTPOS_SFEN:
        lines += ["PI", "+"]
    else:
        lines += _csa_position(board, hands, side)
    for move in record.moves:
        lines.append(("+" if side == "b" else "-") + _csa_move(board, hands, side, move))
        side = "w" if side == "b" else "b"
    lines.append(_csa_ending(record, side))
    lines.append(f"'keisei-fn: winner {record.winner}, reason {record.reason}"
                 + (f" ({record.detail})" if record.detail else ""))
    return "\n".join(lines) + "\n"


def _csa_ending(record: GameRecord, to_move: str) -> str:
    """The CSA special move; `to_move` ("b"/"w") is the side to move after the last move.

    Chosen so that CSA readers infer our winner: %TORYO and %TIME_UP lose for the side to move,
    %KACHI wins for it, %+ILLEGAL_ACTION / %-ILLEGAL_ACTION lose for Black / White.
    """
    if record.winner == "draw":
        return {"repetition": "%SENNICHITE", "move_cap": "%MAX_MOVES"}.get(record.reason,
                                                                          "%HIKIWAKE")
    loser = "w" if record.winner == "black" else "b"
    if record.reason == "impasse" and loser != to_move:
        return "%KACHI"
    if loser != to_move or record.reason in ("illegal_move", "garbage_move"):
        return "%+ILLEGAL_ACTION" if loser == "b" else "%-ILLEGAL_ACTION"  # e.g. perpetual check
    if record.reason == "engine_timeout":
        return "%TIME_UP"
    return "%TORYO"  # mate, resignation, or an engine that crashed / failed: it resigns


def _parse_sfen(sfen: str):
    """({square name: piece text like 'P', '+R', 'p'}, {side: {letter: n}}, side 'b'|'w')."""
    fields = sfen.removeprefix("sfen ").split()
    rows, side, hand = fields[0], fields[1], fields[2] if len(fields) > 2 else "-"
    board = {}
    for r, row in enumerate(rows.split("/")):
        f, promoted = 9, False
        for ch in row:
            if ch == "+":
                promoted = True
            elif ch.isdigit():
                f -= int(ch)
            else:
                board[f"{f}{_RANKS[r]}"] = ("+" if promoted else "") + ch
                f, promoted = f - 1, False
    hands = {"b": {}, "w": {}}
    count = ""
    for ch in "" if hand == "-" else hand:
        if ch.isdigit():
            count += ch
            continue
        owner = "b" if ch.isupper() else "w"
        hands[owner][ch.upper()] = hands[owner].get(ch.upper(), 0) + int(count or 1)
        count = ""
    return board, hands, side


def _csa_square(name: str) -> str:
    return f"{name[0]}{_RANKS.index(name[1]) + 1}"


def _csa_move(board: dict, hands: dict, side: str, move: str) -> str:
    """CSA move text ('7776FU'), applying the USI move to `board`/`hands` in place."""
    if move[1] == "*":
        letter, to = move[0], move[2:4]
        hands[side][letter] -= 1
        board[to] = letter if side == "b" else letter.lower()
        return "00" + _csa_square(to) + _CSA[letter]
    frm, to, promote = move[:2], move[2:4], move.endswith("+")
    piece = board.pop(frm)
    captured = board.get(to)
    if captured is not None:
        hands[side][captured.lstrip("+").upper()] = hands[side].get(
            captured.lstrip("+").upper(), 0) + 1
    if promote:
        piece = "+" + piece
    board[to] = piece
    return _csa_square(frm) + _csa_square(to) + _CSA[piece.upper()]


def _csa_position(board: dict, hands: dict, side: str) -> list[str]:
    lines = []
    for r in range(9):
        cells = []
        for f in range(9, 0, -1):
            piece = board.get(f"{f}{_RANKS[r]}")
            if piece is None:
                cells.append(" * ")
            else:
                sign = "-" if piece.lstrip("+").islower() else "+"
                cells.append(sign + _CSA[piece.upper()])
        lines.append(f"P{r + 1}" + "".join(cells))
    for owner, sign in (("b", "+"), ("w", "-")):
        pieces = "".join(f"00{_CSA[p]}" * hands[owner].get(p, 0) for p in _HAND_ORDER)
        if pieces:
            lines.append(f"P{sign}{pieces}")
    lines.append("+" if side == "b" else "-")
    return lines
