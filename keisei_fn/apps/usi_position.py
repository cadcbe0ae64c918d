"""Positions of the USI engine: a base SFEN, the moves played from it and the engine state
after them, built incrementally as a GUI resends the game before every `go`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from tensordict import TensorDict

from ..shogi import STARTPOS_SFEN, from_sfen, step, usi_to_action

# Plies of history room past the moves given: a GUI resends the whole game before every `go`, and
# with room to spare the next `position` only plays the new moves (see `parse_position`).
HISTORY_SLACK = 256


@dataclass(frozen=True)
class Position:
    base: str                  # the SFEN the moves start from
    moves: tuple[str, ...]     # USI moves played from `base`
    state: TensorDict          # [1] engine state after the moves (on the CPU)



def start_position(base: str = STARTPOS_SFEN, plies: int = 0) -> Position:
    """`base` with no moves played and history room for `plies` moves plus `HISTORY_SLACK`,
    rounded up to a multiple of it, and at least twice it: the room is a shape of the engine
    state, and the compiled search compiles once per shape (apps/usi_warmup.py), so every game
    shorter than HISTORY_SLACK plies has the same one, from whatever ply a GUI starts to send."""
    room = HISTORY_SLACK * max(2, 1 + -(-plies // HISTORY_SLACK))
    return Position(base, (), from_sfen([base], max_plies=room))


def play_moves(position: Position, moves: Iterable[str]) -> Position:
    """`position` after the USI `moves`; ValueError naming the first malformed or illegal one."""
    state, played = position.state, list(position.moves)
    for move in moves:
        try:
            action = usi_to_action(state, [move])
        except ValueError as err:
            raise ValueError(f"move {len(played) + 1}: {err}") from None
        state = step(state, action)
        played.append(move)
    return Position(position.base, tuple(played), state)


def _history_room(state: TensorDict) -> int:
    return state["hash_history"].shape[1] - 1


def parse_position(args: list[str], previous: Position | None = None) -> Position:
    """The position of a `position` command's arguments: `startpos|sfen <sfen> [moves m1 ...]`.

    ValueError for a malformed command, a bad SFEN or a malformed/illegal move. When `previous`
    starts from the same SFEN and its moves begin these, only the new moves are played (a whole
    game costs linear, not quadratic, time); history room is kept for the 1-ply search's move.
    """
    if args[:1] == ["startpos"]:
        base, rest = STARTPOS_SFEN, args[1:]
    elif args[:1] == ["sfen"]:
        end = args.index("moves") if "moves" in args else len(args)
        base, rest = " ".join(args[1:end]), args[end:]
        if not base:
            raise ValueError("position sfen: the SFEN is missing")
    else:
        raise ValueError("position: expected 'startpos' or 'sfen <sfen>', then 'moves ...'")
    if rest and rest[0] != "moves":
        raise ValueError(f"position: expected 'moves' after the position, got {rest[0]!r}")
    moves = tuple(rest[1:])
    reusable = (previous is not None and previous.base == base
                and moves[:len(previous.moves)] == previous.moves
                and _history_room(previous.state) > len(moves))
    start = previous if reusable else start_position(base, len(moves))
    return play_moves(start, moves[len(start.moves):])
