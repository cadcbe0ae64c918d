"""SFEN and USI input/output: exact round trips, cshogi agreement, ValueError on bad input."""

from __future__ import annotations

import cshogi
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import keisei_fn.shogi as E
from _engine_check import engine_label_sets
from _shogi_ref import STARTPOS, perft_sfens, random_walk_sfens, ref_moves

HAND_SFENS = [
    "4k4/9/9/9/9/9/9/9/4K4 b 17p 5",
    "4k4/9/9/9/9/9/9/9/4K4 w 18P 2",
    "4k4/9/9/9/9/9/9/9/4K4 b 2R2B4G4S4N4L18P 1",
    "4k4/9/9/9/9/9/9/9/4K4 w 2r2b4g4s4n4l18p 300",
    "4k4/9/9/9/9/9/9/9/4K4 b RBGSNLPrbgsnlp 77",
    "4k4/9/9/9/9/9/9/9/4K4 b R10P2b3g4s2n3lp 12",
    "9/9/9/3k5/9/5K3/9/9/9 b RB2G2S2N2L9Prb2g2s2n2l9p 1",
    "l6nl/5+P1gk/2np1S3/p1p4Pp/3P2Sp1/1PPb2P1P/P5GS1/R8/LN4bKL w RGgsn5p 1",
    "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL w - 2",
    "k8/9/9/9/9/9/9/9/8K b - 1000",
    "+l+n+sgkg+s+n+l/1+r5+b1/+p+p+p+p+p+p+p+p+p/9/9/9/+P+P+P+P+P+P+P+P+P/1+B5+R1/+L+N+SGKG+S+N+L"
    " b - 1",
]


def _canonical(sfens):
    return [cshogi.Board(s).sfen() for s in sfens]


def _round_trip_sfens() -> list[str]:
    return [STARTPOS] + _canonical(perft_sfens().values()) + HAND_SFENS + random_walk_sfens(
        5, 120, min_plies=1, max_plies=250, capture_bias=0.3)


def test_round_trip_exact():
    sfens = _round_trip_sfens()
    for s in sfens:
        assert cshogi.Board(s).sfen() == s, f"TEST BUG: not canonical {s}"
    out = E.to_sfen(E.from_sfen(sfens))
    bad = [(s, o) for s, o in zip(sfens, out) if s != o]
    assert not bad, "to_sfen(from_sfen(s)) != s:\n" + "\n".join(
        f"  in  {s!r}\n  out {o!r}" for s, o in bad[:10]
    )


def test_round_trip_one_at_a_time_matches_batch():
    sfens = _round_trip_sfens()[:40]
    for s in sfens:
        assert E.to_sfen(E.from_sfen([s])) == [s]


def test_sfen_prefix_tolerated():
    s = _canonical([perft_sfens().get("midgame-1", STARTPOS)])[0]
    assert E.to_sfen(E.from_sfen(["sfen " + s])) == [s]


def test_non_canonical_hand_order_normalized_like_cshogi():
    # perft.json itself lists two positions with hands in non-canonical order (matsuri, midgame-1)
    for s in ["4k4/9/9/9/9/9/9/9/4K4 b 2p16P 5", "4k4/9/9/9/9/9/9/9/4K4 b PLNSGBR 1",
              "4k4/9/9/9/9/9/9/9/4K4 w prG 3"] + list(perft_sfens().values()):
        want = cshogi.Board(s).sfen()
        assert E.to_sfen(E.from_sfen([s])) == [want], s


def test_state_fields_from_sfen():
    s = "l7l/3s5/prnp2kp1/2p1Gppnp/1P7/PnPP1P3/3BP2PP/1S1G5/LN1K1G1+rL b SBG3ps 91"
    stt = E.from_sfen([s, STARTPOS], max_plies=100)
    b = cshogi.Board(s)
    assert stt.batch_size == torch.Size([2])
    assert stt["board"][0].tolist() == list(b.pieces), "board codes must be cshogi's"
    # hands in drop order P L N S B R G; cshogi pieces_in_hand order is P L N S G B R
    for c in (0, 1):
        p, lance, n, s_, g, bb, r = b.pieces_in_hand[c]
        assert stt["hands"][0, c].tolist() == [p, lance, n, s_, bb, r, g]
    assert stt["side_to_move"].tolist() == [0, 0]
    assert stt["ply"].tolist() == [0, 0]
    assert stt["move_number"].tolist() == [91, 1]
    assert stt["hash_history"].shape == (2, 101)
    assert stt["check_history"].shape == (2, 101)
    assert not stt["terminated"].any() and not stt["truncated"].any()
    init = E.initial_state(3)
    assert E.to_sfen(init) == [STARTPOS] * 3
    assert init["hash_history"].shape == (3, 513)


def test_round_trip_positions_reached_from_every_perft_position():
    """Every position reachable by legal play from an accepted SFEN must be accepted too."""
    sfens = []
    for i, start in enumerate(perft_sfens().values()):
        sfens += random_walk_sfens(100 + i, 12, start=start, min_plies=1, max_plies=40)
    bad = []
    for s in sfens:
        try:
            out = E.to_sfen(E.from_sfen([s]))[0]
        except ValueError as exc:
            bad.append(f"{s!r}: ValueError {exc}")
            continue
        if out != s:
            bad.append(f"{s!r}: to_sfen gives {out!r}")
    assert not bad, (
        f"{len(bad)} of {len(sfens)} reachable positions fail the round trip:\n  "
        + "\n  ".join(bad[:8])
    )


@pytest.mark.parametrize("start,usi", [
    # perft "promoted-pieces" has 2 rooks/bishops on the board and 1 of each in hand: dropping one
    # gives 3 on the board, a legal position
    ("k+n7/sg7/9/9/9/9/+r5K1g/7L1/2LN1R1+Bb b RBGSNLP 1", "R*5g"),
    ("k+n7/sg7/9/9/9/9/+r5K1g/7L1/2LN1R1+Bb b RBGSNLP 1", "B*5g"),
])
def test_position_after_legal_drop_is_accepted(start, usi):
    b = cshogi.Board(start)
    assert usi in {cshogi.move_to_usi(m) for m in b.legal_moves}
    stt = E.from_sfen([start])
    nxt = E.step(stt, E.usi_to_action(stt, [usi]))
    b.push_usi(usi)
    assert E.to_sfen(nxt) == [b.sfen()]
    assert E.to_sfen(E.from_sfen([b.sfen()])) == [b.sfen()], f"from_sfen rejects {b.sfen()!r}"


# ------------------------------------------------------------------------------- malformed SFEN
BAD_SFENS = {
    "bad-piece-letter": "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNX b - 1",
    "eight-ranks": "lnsgkgsnl/1r5b1/ppppppppp/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1",
    "ten-ranks": "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1",
    "rank-too-many-squares": "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R2/LNSGKGSNL b - 1",
    "rank-too-many-pieces": "lnsgkgsnlp/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1",
    "rank-too-few-squares": "lnsgkgsnl/1r5b1/ppppppppp/9/8/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1",
    "bad-side": "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL x - 1",
    "bad-hand-letter": "4k4/9/9/9/9/9/9/9/4K4 b X 1",
    "king-in-hand": "4k4/9/9/9/9/9/9/9/4K4 b K 1",
    "hand-count-without-piece": "4k4/9/9/9/9/9/9/9/4K4 b 2 1",
    # Piece counts. The rule must be closed under legal play, so it is a limit on board + both
    # hands per kind (captures and drops keep that total). perft.json's "promoted-pieces" position
    # has 3 rooks and 3 bishops, so rooks and bishops cannot be limited to the standard 2; pawns,
    # lances, knights, silvers and golds are limited to the standard set (18, 4, 4, 4, 4).
    "nineteen-pawns-in-hand": "4k4/9/9/9/9/9/9/9/4K4 b 19P 1",
    "nineteen-pawns-in-white-hand": "4k4/9/9/9/9/9/9/9/4K4 b 19p 1",
    "nineteen-pawns-in-both-hands": "4k4/9/9/9/9/9/9/9/4K4 b 10P9p 1",
    "nineteen-pawns-board-and-hand":
        "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b P 1",
    "five-golds-in-hand": "4k4/9/9/9/9/9/9/9/4K4 b 5G 1",
    "five-golds-board-and-hand": "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b G 1",
    "five-lances-in-hand": "4k4/9/9/9/9/9/9/9/4K4 b 5l 1",
    "five-knights-board-and-hand":
        "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL w n 1",
    "two-black-kings": "4k4/9/9/9/9/9/9/9/K3K4 b - 1",
    "two-white-kings": "k3k4/9/9/9/9/9/9/9/4K4 b - 1",
    "no-black-king": "4k4/9/9/9/9/9/9/9/9 b - 1",
    "no-white-king": "9/9/9/9/9/9/9/9/4K4 b - 1",
    "black-pawn-last-rank": "P3k4/9/9/9/9/9/9/9/4K4 b - 1",
    "white-pawn-last-rank": "4k4/9/9/9/9/9/9/9/p3K4 b - 1",
    "black-lance-last-rank": "L3k4/9/9/9/9/9/9/9/4K4 b - 1",
    "white-lance-last-rank": "4k4/9/9/9/9/9/9/9/l3K4 b - 1",
    "black-knight-rank-a": "N3k4/9/9/9/9/9/9/9/4K4 b - 1",
    "black-knight-rank-b": "4k4/N8/9/9/9/9/9/9/4K4 b - 1",
    "white-knight-rank-h": "4k4/9/9/9/9/9/9/n8/4K4 b - 1",
    "nifu-on-board": "4k4/9/P8/P8/9/9/9/9/4K4 b - 1",
    "nifu-on-board-white": "4k4/9/9/9/9/p8/p8/9/4K4 b - 1",
    "side-not-to-move-in-check": "4k4/9/9/9/9/9/9/9/4RK3 b - 1",
    "promoted-king": "4+k4/9/9/9/9/9/9/9/4K4 b - 1",
    "promoted-gold": "4k4/9/9/4+G4/9/9/9/9/4K4 b - 1",
    "dangling-plus": "4k4/9/9/9/9/9/9/9/4K3+ b - 1",
    "missing-fields": "4k4/9/9/9/9/9/9/9/4K4 b",
    "bad-move-number": "4k4/9/9/9/9/9/9/9/4K4 b - x",
    "empty": "",
    "garbage": "hello world",
}


@pytest.mark.parametrize("name", list(BAD_SFENS))
def test_malformed_sfen_raises_value_error(name):
    s = BAD_SFENS[name]
    with pytest.raises(ValueError) as exc:
        E.from_sfen([s])
    assert str(exc.value).strip(), f"ValueError for {name} ({s!r}) has an empty message"


def test_malformed_sfen_in_batch_raises():
    with pytest.raises(ValueError):
        E.from_sfen([STARTPOS, BAD_SFENS["nineteen-pawns-in-hand"], STARTPOS])


@pytest.mark.parametrize("s", [
    "4k4/9/9/9/9/9/9/9/4K4 b 18P 1",  # the maximum number of pawns
    "4k4/9/9/9/9/9/4+P4/4+P4/4K4 b - 1",  # promoted pawns on one file are not nifu
    "4k4/9/9/9/9/9/4P4/4p4/4K4 b - 1",  # own and opposing pawn on one file
    "4k4/+N8/9/9/9/9/9/9/+L3K3+P b - 1",  # promoted pieces anywhere
    "k+n7/sg7/9/9/9/9/+r5K1g/7L1/2LN1R1+Bb b RBGSNLP 1",  # perft "promoted-pieces": 3 R, 3 B
    # reachable from "promoted-pieces" (all of its rooks / bishops on the board or in one hand)
    "k+n7/sg7/9/9/9/9/+r3R1K1g/7L1/2LN1R1+Bb w BGSNLP 2",
    "k+n7/sg7/9/9/9/9/6K1g/7L1/2LN3+Bb b 3RBGSNLP 1",
    "k+n7/sg7/9/9/9/9/+r5K1g/7L1/2LN1R3 b R3BGSNLP 1",
])
def test_edge_valid_sfen_accepted(s):
    assert E.to_sfen(E.from_sfen([s])) == [cshogi.Board(s).sfen()]


# ------------------------------------------------------------------------------- USI
def _usi_positions() -> list[str]:
    return [STARTPOS] + _canonical(perft_sfens().values()) + random_walk_sfens(
        6, 60, min_plies=1, max_plies=200, capture_bias=0.3)


def test_usi_inverse_on_all_legal_moves():
    sfens = [s for s in _usi_positions() if not cshogi.Board(s).is_game_over()]
    stt = E.from_sfen(sfens)
    labels = engine_label_sets(stt)
    idx, labs, want = [], [], []
    for i, s in enumerate(sfens):
        ref = ref_moves(cshogi.Board(s))
        assert labels[i] == ref.keys(), f"legal labels differ from cshogi at {s}"
        for lab, m in sorted(ref.items()):
            idx.append(i)
            labs.append(lab)
            want.append(cshogi.move_to_usi(m))
    sub = stt[torch.tensor(idx)]
    got_usi = E.action_to_usi(sub, torch.tensor(labs))
    bad = [(sfens[i], label, w, g) for i, label, w, g in zip(idx, labs, want, got_usi) if w != g]
    assert not bad, "action_to_usi wrong:\n" + "\n".join(
        f"  {s} label {label}: expected {w} got {g}" for s, label, w, g in bad[:20])
    back = E.usi_to_action(sub, want).tolist()
    bad = [(sfens[i], w, label, g) for i, w, label, g in zip(idx, want, labs, back) if label != g]
    assert not bad, "usi_to_action wrong:\n" + "\n".join(
        f"  {s} {w}: expected label {label} got {g}" for s, w, label, g in bad[:20])


BAD_USI = [
    (STARTPOS, "7g7"),
    (STARTPOS, "7g7f+"),  # pawn does not reach the zone
    (STARTPOS, "7g7e"),  # pawn cannot move two squares
    (STARTPOS, "P*5e"),  # nothing in hand
    (STARTPOS, "3c3d"),  # opponent's piece
    (STARTPOS, "5i4i"),  # own piece on the destination
    (STARTPOS, "8h2b"),  # bishop blocked by own pawn
    (STARTPOS, "resign"),
    (STARTPOS, ""),
    (STARTPOS, "0a1b"),
    (STARTPOS, "9j9i"),
    (STARTPOS, "7g7f7e"),
    (STARTPOS, "7G7F"),
    ("4k4/9/9/9/9/9/9/9/4K4 b P 1", "P*1a"),  # dead square
    ("4k4/9/9/9/9/9/9/9/4K4 b N 1", "N*1b"),  # dead square
    ("4k4/9/9/9/9/9/9/9/4K4 b P 1", "K*5e"),  # king drop
    ("4k4/9/9/9/9/9/9/9/4K4 b P 1", "P*5a"),  # occupied
    ("4k4/9/9/9/9/9/9/9/4K4 b P 1", "1a1b"),  # from empty square
    ("4k4/9/9/9/9/9/9/9/4K4 b P 1", "5i5i"),
    ("4k4/9/9/9/9/9/4P4/9/4K4 b P 1", "P*5e"),  # nifu
    ("4k4/8P/9/9/9/9/9/9/4K4 b - 1", "1b1a"),  # must promote
    ("4r3k/9/9/9/9/9/9/4S4/4K4 b - 1", "5h4g"),  # pinned
    ("4r3k/9/9/9/9/9/9/9/4K4 b - 1", "5i5h"),  # into check
    ("8k/6G2/7G1/9/9/9/9/9/4K4 b P 1", "P*1b"),  # uchifuzume
    ("k8/9/9/4G4/9/9/9/9/4K4 b - 1", "5d5c+"),  # gold cannot promote
]


@pytest.mark.parametrize(
    "sfen,usi", BAD_USI, ids=[f"{i}-{u or 'empty'}" for i, (_, u) in enumerate(BAD_USI)]
)
def test_bad_usi_raises_value_error(sfen, usi):
    assert usi not in ref_usi_set(sfen), f"TEST BUG: {usi} is legal in {sfen}"
    stt = E.from_sfen([sfen])
    with pytest.raises(ValueError) as exc:
        E.usi_to_action(stt, [usi])
    if usi:
        assert usi in str(exc.value), (
            f"ValueError message must contain the move {usi!r}: {exc.value}"
        )


def ref_usi_set(sfen):
    b = cshogi.Board(sfen)
    return {cshogi.move_to_usi(m) for m in b.legal_moves}


def test_bad_usi_in_batch_names_the_move():
    stt = E.from_sfen([STARTPOS, STARTPOS])
    with pytest.raises(ValueError) as exc:
        E.usi_to_action(stt, ["7g7f", "7g7e"])
    assert "7g7e" in str(exc.value)


def test_action_to_usi_white_frame():
    b = cshogi.Board(STARTPOS)
    b.push_usi("7g7f")
    stt = E.from_sfen([b.sfen()])
    assert E.usi_to_action(stt, ["3c3d"]).tolist() == [59]  # UP to 3d, i.e. 59 in White's frame
    assert E.action_to_usi(stt, torch.tensor([59])) == ["3c3d"]
    st0 = E.from_sfen([STARTPOS])
    assert E.usi_to_action(st0, ["7g7f"]).tolist() == [59]


# ------------------------------------------------------------------------------- hypothesis
@settings(max_examples=40)
@given(seed=st.integers(0, 2**32 - 1), plies=st.integers(0, 300))
def test_property_round_trip_random_play(seed, plies):
    rng = np.random.default_rng(seed)
    b = cshogi.Board()
    b.move_number = int(rng.integers(1, 500))
    for _ in range(plies):
        ms = list(b.legal_moves)
        if not ms:
            break
        caps = [m for m in ms if cshogi.move_cap(m)]
        pool = caps if caps and rng.random() < 0.4 else ms
        b.push(pool[int(rng.integers(len(pool)))])
    s = b.sfen()
    stt = E.from_sfen([s])
    assert E.to_sfen(stt) == [s]
    again = E.from_sfen(E.to_sfen(stt))
    for k in ("board", "hands", "side_to_move", "move_number", "in_check", "legal_mask"):
        assert torch.equal(again[k], stt[k]), f"{k} differs after a second round trip of {s}"


_SFEN_ALPHABET = "0123456789/+ -bwplnsgkrPLNSGKRBx*"


@settings(max_examples=300)
@given(text=st.one_of(st.text(max_size=120), st.text(alphabet=_SFEN_ALPHABET, max_size=120)))
def test_property_from_sfen_only_value_error(text):
    try:
        stt = E.from_sfen([text])
    except ValueError:
        return
    # accepted: it must then be a consistent position
    again = E.to_sfen(stt)
    assert E.to_sfen(E.from_sfen(again)) == again


@st.composite
def mutated_sfen(draw):
    base = draw(st.sampled_from([STARTPOS] + HAND_SFENS))
    chars = list(base)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["replace", "delete", "insert"]))
        pos = draw(st.integers(0, max(len(chars) - 1, 0)))
        c = draw(st.sampled_from(_SFEN_ALPHABET))
        if op == "replace" and chars:
            chars[pos] = c
        elif op == "delete" and chars:
            del chars[pos]
        else:
            chars.insert(pos, c)
    return "".join(chars)


@settings(max_examples=400)
@given(text=mutated_sfen())
def test_property_mutated_sfen_only_value_error(text):
    try:
        stt = E.from_sfen([text])
    except ValueError:
        return
    again = E.to_sfen(stt)
    assert E.to_sfen(E.from_sfen(again)) == again, (
        f"accepted {text!r} but output does not round-trip"
    )


@settings(max_examples=300)
@given(
    text=st.one_of(
        st.text(max_size=12), st.text(alphabet="123456789abcdefghijPLNSGBRK*+", max_size=7)
    )
)
def test_property_usi_to_action_only_value_error(text):
    stt = E.from_sfen([STARTPOS])
    legal = ref_usi_set(STARTPOS)
    if text in legal:
        lab = E.usi_to_action(stt, [text])
        assert E.action_to_usi(stt, lab) == [text]
        return
    with pytest.raises(ValueError):
        E.usi_to_action(stt, [text])
