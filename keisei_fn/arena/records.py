"""Game records: start SFEN + USI moves + result + reason + players, and their CSA and KIF text.

The record is plain data (JSON-ready); CSA and KIF are written from it by replaying the moves on
a small pure-Python board (both name the moving piece, USI does not). No legality checks here:
records are written from games the rules engine refereed. cshogi's CSA and KIF parsers read the
output (tested); KIF is what Shogi GUIs and kifu sites read.
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
HAND_ORDER = "RBGSNLP"  # most valuable first, as Shogi books print hands
RANKS = "abcdefghi"  # USI's rank letters, top (White's side) to bottom
# One character per piece, as boards are drawn (KIF's own names are below).
KANJI = {"P": "歩", "L": "香", "N": "桂", "S": "銀", "G": "金", "B": "角", "R": "飛", "K": "玉",
         "+P": "と", "+L": "杏", "+N": "圭", "+S": "全", "+B": "馬", "+R": "龍"}


def to_csa(record: GameRecord) -> str:
    """CSA v2.2 text of the game (players, start position, moves, ending, our reason)."""
    board, hands, side = parse_sfen(record.start_sfen)
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


def parse_sfen(sfen: str):
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
                board[f"{f}{RANKS[r]}"] = ("+" if promoted else "") + ch
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
    return f"{name[0]}{RANKS.index(name[1]) + 1}"


def _apply(board: dict, hands: dict, side: str, move: str) -> tuple[str, str | None, str, bool]:
    """Play the USI move on `board`/`hands` in place: (the moving piece as it was, e.g. 'P' or
    '+R' in upper case, its square or None for a drop, the destination, promoted)."""
    if move[1] == "*":
        letter, to = move[0], move[2:4]
        hands[side][letter] -= 1
        board[to] = letter if side == "b" else letter.lower()
        return letter, None, to, False
    frm, to, promote = move[:2], move[2:4], move.endswith("+")
    piece = board.pop(frm)
    captured = board.get(to)
    if captured is not None:
        hands[side][captured.lstrip("+").upper()] = hands[side].get(
            captured.lstrip("+").upper(), 0) + 1
    board[to] = "+" + piece if promote else piece
    return piece.upper(), frm, to, promote


def _csa_move(board: dict, hands: dict, side: str, move: str) -> str:
    """CSA move text ('7776FU'), applying the USI move to `board`/`hands` in place."""
    piece, frm, to, promote = _apply(board, hands, side, move)
    if frm is None:
        return "00" + _csa_square(to) + _CSA[piece]
    return _csa_square(frm) + _csa_square(to) + _CSA["+" + piece if promote else piece]


def _diagram_rows(board: dict, empty: str, cell) -> list[str]:
    """The board's 9 ranks, files 9 to 1, each square `empty` or `cell(piece, is_white)`."""
    rows = []
    for r in range(9):
        pieces = (board.get(f"{f}{RANKS[r]}") for f in range(9, 0, -1))
        rows.append("".join(empty if p is None else cell(p.upper(), p.lstrip("+").islower())
                            for p in pieces))
    return rows


def _csa_position(board: dict, hands: dict, side: str) -> list[str]:
    rows = _diagram_rows(board, " * ", lambda p, white: ("-" if white else "+") + _CSA[p])
    lines = [f"P{r + 1}{row}" for r, row in enumerate(rows)]
    for owner, sign in (("b", "+"), ("w", "-")):
        pieces = "".join(f"00{_CSA[p]}" * hands[owner].get(p, 0) for p in HAND_ORDER)
        if pieces:
            lines.append(f"P{sign}{pieces}")
    lines.append("+" if side == "b" else "-")
    return lines


# --- KIF --------------------------------------------------------------------------------------

_KIF_PIECE = {"P": "歩", "L": "香", "N": "桂", "S": "銀", "G": "金", "B": "角", "R": "飛",
              "K": "玉", "+P": "と", "+L": "成香", "+N": "成桂", "+S": "成銀", "+B": "馬",
              "+R": "龍"}
_KIF_FILES = "０１２３４５６７８９"
_KIFRANKS = "〇一二三四五六七八九"
_KIF_SIDE = {"black": "先手", "white": "後手"}


def to_kif(record: GameRecord) -> str:
    """KIF text of the game (Kifu for Windows layout: header, one numbered move per line, the
    ending and the 'まで' result line), with our reason in a comment.

    A game from the start position is written as 平手; any other start as a board diagram
    (BOD), which GUIs read (cshogi's parser reads only the 平手/handicap headers)."""
    board, hands, side = parse_sfen(record.start_sfen)
    lines = ["# KIF形式棋譜ファイル keisei-fn", f"先手：{record.black}", f"後手：{record.white}"]
    if record.start_sfen == STARTPOS_SFEN:
        lines.insert(1, "手合割：平手")
    else:
        lines[1:1] = _kif_diagram(board, hands, side)
    lines.append("手数----指手---------消費時間--")
    last_to = None
    for number, move in enumerate(record.moves, 1):
        piece, frm, to, promote = _apply(board, hands, side, move)
        where = "同　" if to == last_to else _KIF_FILES[int(to[0])] + _KIFRANKS[
            RANKS.index(to[1]) + 1]
        name = _KIF_PIECE[piece]
        if frm is None:
            text = f"{where}{name}打"
        else:
            text = (f"{where}{name}{'成' if promote else ''}"
                    f"({frm[0]}{RANKS.index(frm[1]) + 1})")
        lines.append(f"{number:>4} {text}")
        last_to, side = to, ("w" if side == "b" else "b")
    ending, result = _kif_ending(record, side, len(record.moves))
    if ending:
        lines.append(f"{len(record.moves) + 1:>4} {ending}")
    lines.append(result)
    lines.append(f"*keisei-fn: winner {record.winner}, reason {record.reason}"
                 + (f" ({record.detail})" if record.detail else ""))
    return "\n".join(lines) + "\n"


def _kif_ending(record: GameRecord, to_move: str, plies: int) -> tuple[str, str]:
    """(the ending move text, the 'まで' line), chosen so that KIF readers infer our winner."""
    if record.winner == "draw":
        if record.reason == "repetition":
            return "千日手", f"まで{plies}手で千日手"
        return "持将棋", f"まで{plies}手で持将棋"  # the move cap, and any other draw
    winner = _KIF_SIDE[record.winner]
    loser_to_move = (record.winner == "black") == (to_move == "w")
    if record.reason == "impasse":
        return "入玉勝ち", f"まで{plies}手で{winner}の入玉勝ち"
    if record.reason == "mate":
        return "詰み", f"まで{plies}手で{winner}の勝ち"
    if record.reason == "engine_timeout" and loser_to_move:
        return "切れ負け", f"まで{plies}手で{winner}の勝ち"
    if record.reason in ("resign", "engine_crash", "engine_error") and loser_to_move:
        return "投了", f"まで{plies}手で{winner}の勝ち"
    # perpetual check, an illegal or garbled move, or a loss of the side that just moved
    return "反則勝ち", f"まで{plies}手で{winner}の反則勝ち"


def _kif_diagram(board: dict, hands: dict, side: str) -> list[str]:
    """The position as a KIF board diagram (BOD)."""
    def in_hand(owner):
        counts = [(p, hands[owner].get(p, 0)) for p in HAND_ORDER]
        text = "　".join(_KIF_PIECE[p] + (_kanji_count(n) if n > 1 else "")
                        for p, n in counts if n)
        return text or "なし"

    lines = [f"後手の持駒：{in_hand('w')}", "  ９ ８ ７ ６ ５ ４ ３ ２ １",
             "+---------------------------+"]
    short = {"成香": "杏", "成桂": "圭", "成銀": "全"}  # one character a square
    rows = _diagram_rows(board, " ・", lambda p, white: ("v" if white else " ")
                         + short.get(_KIF_PIECE[p], _KIF_PIECE[p]))
    lines += [f"|{row}|{_KIFRANKS[r + 1]}" for r, row in enumerate(rows)]
    lines += ["+---------------------------+", f"先手の持駒：{in_hand('b')}"]
    if side == "w":
        lines.append("後手番")
    return lines


def _kanji_count(n: int) -> str:
    return ("十" if n >= 10 else "") + ("" if n % 10 == 0 else _KIFRANKS[n % 10])
