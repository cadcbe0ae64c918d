"""Which squares drive the value (insight/saliency.py): integrated gradients of the value as
search reads it, checked by their own completeness, by the board's symmetry (an independent
check of the squares' frame) and on a position with a hanging rook."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from keisei_fn.agent import evaluate, load_agent
from keisei_fn.insight.saliency import top_squares, value_saliency
from keisei_fn.shogi import from_sfen, observe

HANGING_ROOK = "lnsgkgsnl/7b1/ppppppppp/9/4r4/4P4/PPPP1PPPP/1B5R1/LNSGKGSNL b - 1"  # 5f takes 5e
POSITIONS = ("lnsgkgsnl/1r5b1/ppppppppp/9/9/2P6/PP1PPPPPP/1B5R1/LNSGKGSNL w - 2",
             "lnsgkgsnl/7b1/ppppppppp/9/4r4/9/PPPPPPPPP/1B7/LNSGKGSNL b Rr 1",
             "ln1gkgsnl/1r1s3b1/p1ppp2pp/6p2/1p7/2P4P1/PPBPPP2P/7R1/LNSGKGSNL w Pp 8",
             HANGING_ROOK)


# A fixed trained network, not the packaged `reference`: the tests are about the method, and a
# re-trained reference may weigh the hanging rook differently (its value is near 0 there).
NETWORK = Path(__file__).parent / "data" / "saliency" / "network.pt"


@pytest.fixture(scope="module")
def reference():
    return load_agent(str(NETWORK))[0]


def _mirror(sfen: str) -> str:
    """The same position with the colours swapped and the board turned round."""
    board, side, hands, number = sfen.split()
    rows = [r[::-1].swapcase() for r in board.split("/")][::-1]
    return " ".join(["/".join(rows), "w" if side == "b" else "b",
                     hands.swapcase() if hands != "-" else "-", number])


def _mirror_square(square: str) -> str:
    return f"{10 - int(square[0])}{'abcdefghi'[8 - 'abcdefghi'.index(square[1])]}"


@pytest.mark.parametrize("sfen", POSITIONS)
def test_the_attributions_sum_to_the_value_s_difference_within_one_percent(reference, sfen):
    state = from_sfen([sfen])
    report = value_saliency(reference, state)
    _, value = evaluate(reference, state)
    assert report["value"] == pytest.approx(float(value), abs=1e-5)  # as search reads it
    total = sum(report["squares"].values()) + sum(
        a for hand in report["hands"].values() for a in hand.values())
    assert abs(total - (report["value"] - report["baseline"])) <= 0.01 * abs(
        report["value"] - report["baseline"])
    assert total - (report["value"] - report["baseline"]) == pytest.approx(
        report["completeness"], abs=1e-6)


def test_the_mirrored_position_has_the_mirrored_attributions(reference):
    """Black's position and White's mirror image of it differ in one input plane (42, who is to
    move); a network blind to it sees one position, so each square's attribution must come back
    on the mirrored square: a check of the squares' frame that does not use its code."""
    sfen = POSITIONS[2]
    one, other = observe(from_sfen([sfen])), observe(from_sfen([_mirror(sfen)]))
    differ = (one != other).flatten(2).any(-1)[0].nonzero().flatten().tolist()
    assert differ == [42]
    params = reference.params.clone()
    params["stem", "weight"][:, :, 42] = 0
    blind = replace(reference, params=params)
    a = value_saliency(blind, from_sfen([sfen]), steps=256)
    b = value_saliency(blind, from_sfen([_mirror(sfen)]), steps=256)
    for square, weight in a["squares"].items():
        assert b["squares"][_mirror_square(square)] == pytest.approx(weight, abs=1e-5)
    assert b["hands"]["w"] == pytest.approx(a["hands"]["b"], abs=1e-5)
    assert b["hands"]["b"] == pytest.approx(a["hands"]["w"], abs=1e-5)
    assert any(a["hands"]["b"].values())  # pawns in hand were attributed


def test_a_hanging_rook_s_square_is_among_the_top_three(reference):
    assert "5e" in top_squares(value_saliency(reference, from_sfen([HANGING_ROOK])), 3)


def test_one_position_at_a_time(reference):
    with pytest.raises(ValueError, match="one position"):
        value_saliency(reference, from_sfen([HANGING_ROOK] * 2))
