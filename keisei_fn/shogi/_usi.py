"""USI move strings <-> action labels (dlshogi's 2187 labels)."""

from __future__ import annotations

import re

import torch
from tensordict import TensorDict

from ._movegen import to_canonical
from ._sfen import to_sfen
from ._step import move_source
from ._tables import (
    DOWN, DOWN_LEFT, DOWN_RIGHT, DROP_PLANE0, LEFT, NUM_ACTIONS, PROMO_PLANE0, RIGHT, UP, UP2_LEFT,
    UP2_RIGHT, UP_LEFT, UP_RIGHT,
)

_RANKS = "abcdefghi"
_DROP_LETTERS = "PLNSBRG"  # drop planes 20-26
_USI_RE = re.compile(r"^(?:([1-9][a-i])([1-9][a-i])(\+?)|([PLNSBRG])\*([1-9][a-i]))$")


def _sq_name(sq: int) -> str:
    return f"{sq // 9 + 1}{_RANKS[sq % 9]}"


def _sq_parse(name: str) -> int:
    return (int(name[0]) - 1) * 9 + _RANKS.index(name[1])


def _direction(d_file: int, d_rank: int) -> int:
    """dlshogi's classification of a board move's direction (canonical frame)."""
    if d_rank == -2 and abs(d_file) == 1:
        return UP2_LEFT if d_file == 1 else UP2_RIGHT
    if d_rank < 0:
        return UP if d_file == 0 else (UP_LEFT if d_file > 0 else UP_RIGHT)
    if d_rank == 0:
        return LEFT if d_file > 0 else RIGHT
    return DOWN if d_file == 0 else (DOWN_LEFT if d_file > 0 else DOWN_RIGHT)


def action_to_usi(state: TensorDict, action: torch.Tensor) -> list[str]:
    """USI text of each game's action label (the label must be legal in that game)."""
    action = torch.as_tensor(action, device=state.device).long().view(-1)
    side = state["side_to_move"]
    cb = to_canonical(state["board"], side)
    src = move_source(cb, action).cpu().tolist()
    out = []
    for a, s, white in zip(action.cpu().tolist(), src, side.cpu().tolist()):
        if not 0 <= a < NUM_ACTIONS:
            raise ValueError(f"action label {a} out of range 0..{NUM_ACTIONS - 1}")
        plane, to = divmod(a, 81)
        if white:
            to, s = 80 - to, 80 - s
        if plane >= DROP_PLANE0:
            out.append(f"{_DROP_LETTERS[plane - DROP_PLANE0]}*{_sq_name(to)}")
        else:
            out.append(_sq_name(s) + _sq_name(to) + ("+" if plane >= PROMO_PLANE0 else ""))
    return out


def usi_to_action(state: TensorDict, usi: list[str]) -> torch.Tensor:
    """Action labels [B] of USI moves, one per game. ValueError if malformed or illegal."""
    if isinstance(usi, str):
        usi = [usi]
    if len(usi) != state.batch_size[0]:
        raise ValueError(f"got {len(usi)} USI moves for {state.batch_size[0]} games")
    sides = state["side_to_move"].cpu().tolist()
    labels = []
    for move, white in zip(usi, sides):
        m = _USI_RE.match(move) if isinstance(move, str) else None
        if m is None:
            raise ValueError(f"malformed USI move {move!r} (expected e.g. 7g7f, 8h2b+, P*5e)")
        if m.group(4):
            to = _sq_parse(m.group(5))
            to = 80 - to if white else to
            labels.append((DROP_PLANE0 + _DROP_LETTERS.index(m.group(4))) * 81 + to)
            continue
        frm, to = _sq_parse(m.group(1)), _sq_parse(m.group(2))
        if frm == to:
            raise ValueError(f"malformed USI move {move!r}: source equals destination")
        if white:
            frm, to = 80 - frm, 80 - to
        d = _direction(to // 9 - frm // 9, to % 9 - frm % 9)
        labels.append((d + (PROMO_PLANE0 if m.group(3) else 0)) * 81 + to)
    action = torch.tensor(labels, dtype=torch.long, device=state.device)
    legal = state["legal_mask"].gather(1, action[:, None]).squeeze(1).cpu().tolist()
    # A label fixes the destination and direction; the source must also be the piece it names.
    back = action_to_usi(state, action)
    for i, (ok, move, again) in enumerate(zip(legal, usi, back)):
        if not ok or move != again:
            raise ValueError(
                f"illegal USI move {move!r} in position {to_sfen(state[i : i + 1])[0]!r}"
            )
    return action
