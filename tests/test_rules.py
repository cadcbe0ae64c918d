"""Hand-built positions, one rule each.

For every position: the engine's legal label set and legal USI set must equal cshogi's, and the
specific moves that the rule is about must be present / absent (checked by USI text and by label).
Every case also runs colour-flipped (White to move, board rotated): labels are in the mover's frame,
so the flipped position must have exactly the same label set.
"""

from __future__ import annotations

import cshogi
import pytest
import torch

import keisei_fn.shogi as E
from _engine_check import assert_same_moves, engine_label_sets, engine_usi_sets
from _shogi_ref import (
    MATE,
    NONE,
    flip_sfen,
    flip_usi,
    random_walk_sfens,
    ref_label_of_usi,
    ref_usis,
    usi_label,
)
from cshogi.dlshogi import make_move_label

# (id, sfen, present, absent, extra) ; extra keys: in_check (bool), king_only (bool),
# no_moves (bool)
CASES = [
    # ---------------------------------------------------------------- drops
    ("nifu", "4k4/9/9/9/9/9/4P4/9/4K4 b P 1",
     ["P*4e", "P*6c", "P*1b"], ["P*5e", "P*5c", "P*5h", "P*5b"], {}),
    ("nifu-promoted-pawn-ok", "4k4/9/9/9/9/9/4+P4/9/4K4 b P 1",
     ["P*5e", "P*5c", "P*5h"], [], {}),
    ("nifu-opponent-pawn-ok", "4k4/4p4/9/9/9/9/9/9/4K4 b P 1",
     ["P*5e", "P*5h"], [], {}),
    ("drop-dead-squares", "4k4/9/9/9/9/9/9/9/4K4 b PLN 1",
     ["P*1b", "L*1b", "N*1c", "P*9b", "L*9b", "N*9c", "N*5c"],
     ["P*1a", "P*9a", "L*1a", "L*9a", "N*1a", "N*1b", "N*9b", "N*4b", "N*6a"], {}),
    ("drop-only-on-empty-and-from-hand", "4k4/9/9/9/9/9/9/9/4K4 b G 1",
     ["G*5b", "G*1a", "G*9i"], ["G*5a", "G*5i", "P*5e", "S*5e", "R*5e"], {}),
    ("drops-all-types", "4k4/9/9/9/9/9/9/9/4K4 b RBGSNLP 1",
     ["R*1a", "B*1a", "G*1a", "S*1a", "N*1c", "L*1b", "P*1b"], ["N*1b", "L*1a", "P*1a"], {}),
    # ---------------------------------------------------------------- promotion
    ("forced-promotion-pawn", "4k4/8P/9/9/9/9/9/9/4K4 b - 1",
     ["1b1a+"], ["1b1a"], {}),
    ("optional-promotion-pawn-rank3", "4k4/9/9/8P/9/9/9/9/4K4 b - 1",
     ["1d1c", "1d1c+"], [], {}),
    ("no-promotion-outside-zone", "4k4/9/9/9/8P/9/9/9/4K4 b - 1",
     ["1e1d"], ["1e1d+"], {}),
    ("forced-promotion-lance", "4k4/9/9/9/9/9/9/9/L3K4 b - 1",
     ["9i9a+", "9i9b", "9i9b+", "9i9c", "9i9c+", "9i9d"], ["9i9a", "9i9d+"], {}),
    ("forced-promotion-knight-rank1", "4k4/9/7N1/9/9/9/9/9/4K4 b - 1",
     ["2c1a+", "2c3a+"], ["2c1a", "2c3a"], {}),
    ("forced-promotion-knight-rank2", "4k4/9/9/7N1/9/9/9/9/4K4 b - 1",
     ["2d1b+", "2d3b+"], ["2d1b", "2d3b"], {}),
    ("optional-promotion-knight-rank3", "4k4/9/9/9/7N1/9/9/9/4K4 b - 1",
     ["2e1c", "2e1c+", "2e3c", "2e3c+"], [], {}),
    ("promotion-entering-zone", "4k4/9/9/4S4/9/9/9/9/4K4 b - 1",
     ["5d5c", "5d5c+", "5d4c", "5d4c+", "5d6e"], ["5d6e+"], {}),
    ("promotion-leaving-zone", "k8/9/4S4/9/9/9/9/9/4K4 b - 1",
     ["5c4d", "5c4d+", "5c6d", "5c6d+", "5c5b", "5c5b+"], [], {}),
    ("promotion-within-zone", "k8/7R1/9/9/9/9/9/9/4K4 b - 1",
     ["2b2a", "2b2a+", "2b3b", "2b3b+", "2b2h", "2b2h+", "2b2d+"], [], {}),
    ("bishop-promotion-into-zone", "k8/9/9/9/9/9/9/9/4K2B1 b - 1",
     ["2i9b", "2i9b+", "2i8c+", "2i7d"], ["2i7d+", "2i5f+"], {}),
    ("no-promotion-gold-king-promoted", "k8/9/9/4G4/5+P3/9/9/9/4K4 b - 1",
     ["5d5c", "4e4d"], ["5d5c+", "4e4d+"], {}),
    # ---------------------------------------------------------------- pins
    ("pinned-silver-on-file", "4r3k/9/9/9/9/9/9/4S4/4K4 b - 1",
     ["5h5g"], ["5h4g", "5h6g", "5h4i", "5h6i"], {}),
    ("pinned-rook-captures-pinner", "4r3k/9/9/9/9/9/9/4R4/4K4 b - 1",
     ["5h5a", "5h5a+", "5h5b", "5h5g"], ["5h4h", "5h6h", "5h1h"], {}),
    ("pinned-gold-on-diagonal", "k8/9/9/9/8b/9/9/5G3/4K4 b - 1",
     ["4h3g"], ["4h4g", "4h5g", "4h3h", "4h5h", "4h4i"], {}),
    ("pinned-bishop-by-far-lance", "4l3k/9/9/9/9/9/4B4/9/4K4 b - 1",
     [], ["5g4f", "5g6f", "5g4h", "5g6h", "5g1c", "5g9c"], {}),
    ("pinned-bishop-captures-pinner", "8k/9/9/9/8b/9/6B2/9/4K4 b - 1",
     ["3g1e", "3g2f", "3g4h"], ["3g4f", "3g2h", "3g5e"], {}),
    # ---------------------------------------------------------------- king safety
    ("king-not-along-checking-file", "4r3k/9/9/9/9/9/9/9/4K4 b - 1",
     ["5i4h", "5i6h", "5i4i", "5i6i"], ["5i5h"], {"in_check": True}),
    ("king-not-backwards-along-checking-rook", "4r3k/9/9/9/4K4/9/9/9/9 b - 1",
     ["5e4f", "5e6d", "5e4e", "5e6e"], ["5e5f", "5e5d"], {"in_check": True}),
    ("king-not-along-checking-diagonal", "8b/9/9/9/4K4/9/9/9/k8 b - 1",
     ["5e4f", "5e6d", "5e5d", "5e5f", "5e4e", "5e6e"], ["5e6f", "5e4d"], {"in_check": True}),
    ("king-not-into-pawn-or-knight-attack", "9/3n5/5p3/9/4K4/9/9/9/k8 b - 1",
     ["5e6d", "5e4e", "5e6e"], ["5e4d", "5e5d"], {"in_check": False}),
    ("king-cannot-capture-defended-checker", "9/9/4s4/4g4/4K4/9/9/9/k8 b - 1",
     ["5e5f", "5e4f", "5e6f"], ["5e5d", "5e4d", "5e6d", "5e4e", "5e6e"], {"in_check": True}),
    ("king-not-next-to-king", "9/9/9/4k4/9/4K4/9/9/9 b - 1",
     ["5f5g", "5f4g", "5f4f", "5f6f"], ["5f5e", "5f4e", "5f6e"], {"in_check": False}),
    ("king-cannot-capture-checker-defended-by-pinned-piece", "5k3/9/9/9/9/9/5s3/4g4/4KR3 b - 1",
     [], ["5i5h", "4i4g", "5i4h", "5i6h"], {"in_check": True, "no_moves": True}),
    # ---------------------------------------------------------------- checks
    ("double-check-only-king-moves", "4r3k/9/9/9/9/9/5n3/5S3/4K4 b G 1",
     ["5i4i", "5i6h", "5i6i"], ["4h4g", "G*5h", "5i5h"], {"in_check": True, "king_only": True}),
    ("interpose-by-move-and-drop", "4r3k/9/9/9/9/9/5S3/9/4K4 b G 1",
     ["G*5b", "G*5e", "G*5h", "4g5f", "5i4h"], ["G*4e", "4g4f", "4g3f", "5i5h"],
     {"in_check": True}),
    ("check-by-far-lance-drop-interpose", "4l3k/9/9/9/9/9/9/9/4K4 b P 1",
     ["P*5b", "P*5h", "5i4h"], ["P*4e", "5i5h"], {"in_check": True}),
    ("check-by-knight-cannot-interpose", "4k4/9/9/9/9/3n5/3S5/4K4/9 b G 1",
     ["6g6f", "5h4h", "5h4i"], ["G*5g", "G*6g", "6g5f", "5h7h"], {"in_check": True}),
    ("check-by-lance-capture-from-far", "R3l3k/9/9/9/9/9/9/9/4K4 b - 1",
     ["5i4h", "9a5a", "9a5a+"], ["9a8a", "9a6a", "5i5h"], {"in_check": True}),
    # ---------------------------------------------------------------- uchifuzume
    ("uchifuzume-simple", "8k/6G2/7G1/9/9/9/9/9/4K4 b P 1",
     ["P*1c", "P*2b"], ["P*1b"], {}),
    ("uchifuzume-pinned-defender", "8k/6Sg1/7G1/5B3/9/9/9/9/4K4 b P 1",
     ["P*1c"], ["P*1b"], {}),
    ("uchifuzume-free-defender", "8k/6Sg1/7G1/9/9/9/9/9/4K4 b P 1",
     ["P*1b"], [], {}),
    ("pawn-drop-check-king-escapes", "8k/9/7G1/9/9/9/9/9/4K4 b P 1",
     ["P*1b"], [], {}),
    ("pawn-drop-check-king-captures", "8k/9/9/9/9/9/9/9/4K4 b P 1",
     ["P*1b"], [], {}),
    ("uchifuzume-drop-blocks-rook-line-escape-opens", "7k1/R8/7N1/9/9/9/9/9/4K4 b P 1",
     ["P*2b"], [], {}),
    ("uchifuzume-drop-blocks-rook-line-but-lance-covers", "7k1/R8/7N1/9/9/9/9/9/4K3L b P 1",
     ["P*2e"], ["P*2b"], {}),
    ("uchifuzume-defended-by-far-bishop", "8k/6S2/9/8N/9/4B4/9/9/4K4 b P 1",
     [], ["P*1b"], {}),
    ("uchifuzume-defender-pinned-to-own-king-still-defends", "7rk/9/7G1/9/9/9/9/9/7K1 b P 1",
     ["P*1c"], ["P*1b"], {}),
    ("pawn-push-mate-is-legal", "8k/6S2/7GP/9/9/9/9/9/4K4 b - 1",
     ["1c1b", "1c1b+"], [], {}),
    ("pawn-drop-same-pattern-illegal", "8k/6S2/7G1/9/9/9/9/9/4K4 b P 1",
     [], ["P*1b"], {}),
    ("lance-drop-mate-is-legal", "8k/6S2/7G1/9/9/9/9/9/4K4 b L 1",
     ["L*1b", "L*1e"], [], {}),
    # ---------------------------------------------------------------- no legal move
    ("no-legal-move-not-in-check", "8k/6S2/8G/9/9/9/9/9/4K4 w - 1",
     [], ["1a2a", "1a2b", "1a1b"], {"in_check": False, "no_moves": True}),
    ("checkmated", "8k/8G/7G1/9/9/9/9/9/4K4 w - 1",
     [], ["1a1b", "1a2a", "1a2b"], {"in_check": True, "no_moves": True}),
]

CASE_IDS = [c[0] for c in CASES]


def _flip_case(case):
    cid, sfen, present, absent, extra = case
    return (cid + "-white", flip_sfen(sfen), [flip_usi(u) for u in present],
            [flip_usi(u) for u in absent], extra)


def _check_reference(cid, sfen, present, absent, extra):
    """The test's own expectations must hold in cshogi (else the TEST is wrong)."""
    b = cshogi.Board(sfen)
    f = sfen.split()
    f[1] = "w" if f[1] == "b" else "b"
    assert not cshogi.Board(" ".join(f)).is_check(), (
        f"TEST BUG [{cid}]: side not to move in check {sfen}"
    )
    ref = ref_usis(b)
    for u in present:
        assert u in ref, f"TEST BUG [{cid}]: {u} expected legal but cshogi disagrees at {sfen}"
    for u in absent:
        assert u not in ref, (
            f"TEST BUG [{cid}]: {u} expected illegal but cshogi disagrees at {sfen}"
        )
    if "in_check" in extra:
        assert bool(b.is_check()) == extra["in_check"], f"TEST BUG [{cid}] in_check at {sfen}"
    if extra.get("king_only"):
        ksq = b.king_square(b.turn)
        assert all(cshogi.move_from(m) == ksq and not cshogi.move_is_drop(m) for m in b.legal_moves)
    if extra.get("no_moves"):
        assert not ref and b.is_game_over(), f"TEST BUG [{cid}] expected no legal move at {sfen}"
    return b


def _run_case(cid, sfen, present, absent, extra):
    b = _check_reference(cid, sfen, present, absent, extra)
    st = E.from_sfen([sfen])
    assert_same_moves(st, [b], context=[f"rule case {cid}"])
    labels = engine_label_sets(st)[0]
    usis = set(engine_usi_sets(st)[0].values())
    for u in present:
        lab = ref_label_of_usi(b, u)
        assert u in usis and lab in labels, f"[{cid}] {u} must be legal at {sfen} (label {lab})"
    for u in absent:
        assert u not in usis, f"[{cid}] {u} must be illegal at {sfen}"
        if u[1] == "*" or len(u) >= 4:
            lab = usi_label(u, b.turn)
            assert lab not in labels, f"[{cid}] label {lab} of illegal {u} is set at {sfen}"
    if "in_check" in extra:
        got = bool(st["in_check"][0])
        assert got == extra["in_check"], (
            f"[{cid}] in_check engine {got} expected {extra['in_check']} at {sfen}"
        )
    if extra.get("no_moves"):
        assert not bool(st["legal_mask"].any()), f"[{cid}] legal_mask must be empty at {sfen}"
    return labels


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_rule_black(case):
    _run_case(*case)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_rule_white_flipped(case):
    black_labels = _run_case(*case)
    flipped = _flip_case(case)
    white_labels = _run_case(*flipped)
    assert black_labels == white_labels, (
        f"[{case[0]}] label sets of a position and its colour-flipped twin must be equal:\n"
        f"  {case[1]}\n  {flipped[1]}\n  only black: {sorted(black_labels - white_labels)}\n"
        f"  only white: {sorted(white_labels - black_labels)}"
    )


def test_all_rule_cases_in_one_batch():
    """Same answers when all rule positions (both colours) are loaded as one batch."""
    cases = list(CASES) + [_flip_case(c) for c in CASES]
    boards = [cshogi.Board(c[1]) for c in cases]
    st = E.from_sfen([c[1] for c in cases])
    assert_same_moves(st, boards, context=[c[0] for c in cases])


def test_usi_label_helper_matches_cshogi():
    """Sanity check of the test helper usi_label (used for illegal moves) against cshogi."""
    for s in random_walk_sfens(11, 60, max_plies=160, capture_bias=0.3):
        b = cshogi.Board(s)
        for m in b.legal_moves:
            assert usi_label(cshogi.move_to_usi(m), b.turn) == make_move_label(m, b.turn), (s, m)


# ---------------------------------------------------------------------------- step-level rules
def _step_usi(sfen: str, usi: str):
    st = E.from_sfen([sfen])
    b = cshogi.Board(sfen)
    lab = ref_label_of_usi(b, usi)
    nxt = E.step(st, torch.tensor([lab], dtype=torch.long))
    b.push_usi(usi)
    return nxt, b


@pytest.mark.parametrize("flip", [False, True], ids=["black", "white"])
@pytest.mark.parametrize(
    "sfen,usi,expect_sfen_after",
    [
        ("4k4/8P/9/9/9/9/9/9/4K4 b - 1", "1b1a+", "4k3+P/9/9/9/9/9/9/9/4K4 w - 2"),
        ("4k4/9/9/9/9/9/9/9/L3K4 b - 1", "9i9c+", "4k4/9/+L8/9/9/9/9/9/4K4 w - 2"),
        # capturing a promoted piece puts the unpromoted piece in hand
        ("4k4/9/9/9/4+r4/9/9/4R4/4K4 b - 1", "5h5e", "4k4/9/9/9/4R4/9/9/9/4K4 w R 2"),
        ("4k4/9/9/9/4+p4/9/9/4R4/4K4 b P 1", "5h5e", "4k4/9/9/9/4R4/9/9/9/4K4 w 2P 2"),
        ("4k4/9/4+b4/9/9/9/9/4L4/4K4 b - 1", "5h5c+", "4k4/9/4+L4/9/9/9/9/9/4K4 w B 2"),
        ("4k4/9/9/9/4n4/9/9/4L4/4K4 b 17p 1", "5h5e", "4k4/9/9/9/4L4/9/9/9/4K4 w N17p 2"),
        ("4k4/9/9/9/9/9/9/9/4K4 b 2P 7", "P*5e", "4k4/9/9/9/4P4/9/9/9/4K4 w P 8"),
    ],
)
def test_step_result_position(sfen, usi, expect_sfen_after, flip):
    if flip:
        sfen, usi = flip_sfen(sfen), flip_usi(usi)
        expect_sfen_after = flip_sfen(expect_sfen_after)
    nxt, b = _step_usi(sfen, usi)
    assert b.sfen() == expect_sfen_after, "TEST BUG: expectation disagrees with cshogi"
    got = E.to_sfen(nxt)[0]
    assert got == expect_sfen_after, (
        f"after {usi} from {sfen}: engine {got!r} expected {expect_sfen_after!r}"
    )
    assert not bool(nxt["terminated"][0]) and int(nxt["termination_reason"][0]) == NONE


@pytest.mark.parametrize("flip", [False, True], ids=["black", "white"])
@pytest.mark.parametrize(
    "sfen,usi",
    [
        ("8k/6S2/9/8G/9/9/9/9/4K4 b - 1", "1d1c"),  # no legal reply although not in check: loses
        ("8k/9/7G1/9/9/9/9/9/R3K4 b - 1", "9i9a"),  # rook mate from far
        ("8k/6S2/7GP/9/9/9/9/9/4K4 b - 1", "1c1b"),  # pawn-push mate is a legal win
        ("8k/6S2/7G1/9/9/9/9/9/4K4 b L 1", "L*1b"),  # lance-drop mate
        ("8k/6S2/7G1/9/9/9/9/9/4K4 b G 1", "G*1b"),  # gold-drop mate
    ],
)
def test_step_mate_terminates(sfen, usi, flip):
    if flip:
        sfen, usi = flip_sfen(sfen), flip_usi(usi)
    nxt, b = _step_usi(sfen, usi)
    assert b.is_game_over(), f"TEST BUG: {usi} from {sfen} should leave no legal reply"
    assert bool(nxt["terminated"][0]), f"{usi} from {sfen}: no legal reply, game must be terminated"
    assert int(nxt["termination_reason"][0]) == MATE, (
        f"{usi} from {sfen}: reason {int(nxt['termination_reason'][0])}, expected MATE (1)")
    assert float(nxt["reward"][0]) == 1.0, (
        f"{usi} from {sfen}: mover's reward {float(nxt['reward'][0])}"
    )
    assert not bool(nxt["truncated"][0])
    assert not bool(nxt["legal_mask"].any())
