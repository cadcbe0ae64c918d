"""Perft counts of tests/data/perft.json (ground truth computed with cshogi 1.1.0; the counts agree
with published perft tables).

Every count up to depth 3 is its own test, plus the start position at depth 4.
"""

from __future__ import annotations

import pytest

from _shogi_ref import load_perft_positions

MAX_DEPTH = 3
EXTRA = {("startpos", 4)}
SLOW = {("startpos", 4), ("drops-heavy", 3), ("max-moves", 3)}


def _cases():
    cases = []
    for pos in load_perft_positions():
        for depth, count in enumerate(pos["counts"], start=1):
            key = (pos["name"], depth)
            if depth > MAX_DEPTH and key not in EXTRA:
                continue
            marks = [pytest.mark.slow] if key in SLOW else []
            cases.append(pytest.param(pos["name"], pos["sfen"], depth, count,
                                      id=f"{pos['name']}-d{depth}", marks=marks))
    return cases


def test_perft_reference_present():
    names = {p["name"] for p in load_perft_positions()}
    assert {"startpos", "matsuri", "max-moves", "drops-heavy", "uchifuzume-simple",
            "uchifuzume-pinned-defender", "uchifuzume-free-defender"} <= names


@pytest.mark.parametrize("name,sfen,depth,expected", _cases())
def test_perft(name, sfen, depth, expected):
    from keisei_fn.shogi.perft import perft

    got = perft(sfen, depth)
    assert int(got) == expected, (
        f"perft mismatch for {name} at depth {depth}: expected {expected}, got {got}\n  sfen {sfen}"
    )


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_perft_chunking_does_not_change_counts(chunk_size):
    """Batched perft must give the same counts whatever the chunk size."""
    from keisei_fn.shogi.perft import perft

    positions = {p["name"]: p for p in load_perft_positions()}
    for name, depth in (("matsuri", 2), ("uchifuzume-pinned-defender", 2), ("startpos", 2)):
        pos = positions[name]
        got = perft(pos["sfen"], depth, chunk_size=chunk_size)
        assert int(got) == pos["counts"][depth - 1], (
            f"perft({name}, {depth}, chunk_size={chunk_size}) = {got}, "
            f"expected {pos['counts'][depth - 1]}"
        )
