"""The peer: cshogi (C++) driven by a Python loop, one game after another.

Per game and step it does the work our batched engine does: pick a random legal move, push it,
reset the game when it is over (no legal move, repetition per ``Board.is_draw``, or the 512-ply
cap), then generate the legal moves of the new position, write their dlshogi labels into a
preallocated 2187-wide bool mask and fill dlshogi's 119-plane input features
(``make_input_features``) into preallocated float32 arrays. This is the configuration the peers
measured (docs/results.md)
("+ mask + make_input_features", ~39,000 states/s).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import cshogi
import numpy as np
from cshogi import dlshogi

N_LABELS = 2187
MAX_PLIES = 512
_REPETITION_OVER = (cshogi.REPETITION_DRAW, cshogi.REPETITION_WIN, cshogi.REPETITION_LOSE)


@dataclass
class PeerGames:
    """B cshogi boards plus their preallocated mask and feature buffers."""

    boards: list  # [B] cshogi.Board
    moves: list  # [B] legal moves (list[int]) of each board's side to move
    mask: np.ndarray  # bool [B, 2187]
    features1: np.ndarray  # float32 [B, FEATURES1_NUM, 9, 9]
    features2: np.ndarray  # float32 [B, FEATURES2_NUM, 9, 9]
    rng: random.Random


def _refresh(games: PeerGames, i: int) -> None:
    """Legal moves, 2187 mask and features of game i's current position."""
    board = games.boards[i]
    moves = list(board.legal_moves)
    games.moves[i] = moves
    row = games.mask[i]
    row[:] = False
    turn = board.turn
    row[[dlshogi.make_move_label(m, turn) for m in moves]] = True
    dlshogi.make_input_features(board, games.features1[i], games.features2[i])


def new_games(batch_size: int, seed: int = 0) -> PeerGames:
    games = PeerGames(
        boards=[cshogi.Board() for _ in range(batch_size)],
        moves=[None] * batch_size,
        mask=np.zeros((batch_size, N_LABELS), dtype=bool),
        features1=np.zeros((batch_size, dlshogi.FEATURES1_NUM, 9, 9), dtype=np.float32),
        features2=np.zeros((batch_size, dlshogi.FEATURES2_NUM, 9, 9), dtype=np.float32),
        rng=random.Random(seed),
    )
    for i in range(batch_size):
        _refresh(games, i)
    return games


def step_all(games: PeerGames) -> int:
    """One random legal move in every game (with auto-reset); returns the number of resets."""
    rand = games.rng.random
    resets = 0
    for i, board in enumerate(games.boards):
        moves = games.moves[i]
        board.push(moves[int(rand() * len(moves))])
        if board.move_number > MAX_PLIES or board.is_draw() in _REPETITION_OVER:
            board.reset()
            resets += 1
        _refresh(games, i)
        if not games.moves[i]:  # mate (or stalemate-like: a loss in shogi)
            board.reset()
            resets += 1
            _refresh(games, i)
    return resets


def run(games: PeerGames, steps: int) -> int:
    resets = 0
    for _ in range(steps):
        resets += step_all(games)
    return resets


def warm_up(games: PeerGames, steps: int = 100, restart_prob: float = 0.02) -> PeerGames:
    """Same warm-up as engine_loop.warm_up: play, restarting random games, so plies vary."""
    rand = games.rng.random
    for _ in range(steps):
        step_all(games)
        for i, board in enumerate(games.boards):
            if rand() < restart_prob:
                board.reset()
                _refresh(games, i)
    return games


def mean_ply(games: PeerGames) -> float:
    return sum(b.move_number - 1 for b in games.boards) / len(games.boards)
