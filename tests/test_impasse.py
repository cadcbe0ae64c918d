"""Entering-king declaration (CSA 27-point rule), optional: checked against cshogi.is_nyugyoku."""

import cshogi
import pytest
import torch

from keisei_fn.shogi import Reason, from_sfen, step, usi_to_action
from keisei_fn.shogi._movegen import hands_to_canonical, to_canonical
from keisei_fn.shogi._step import impasse_declarable

POSITIONS = [
    "K+R+B+P+P+P+P+P1/+P+P+P+P5/9/9/9/9/9/9/8k b - 1",  # 19 points: too few
    "K+R+B+P+P+P+P+P1/+P+P+P+P5/9/9/9/9/9/9/8k b 9P 1",  # Black: exactly 28
    "K+R+B+P+P+P+P+P1/+P+P+P+P5/9/9/9/9/9/9/8k b 8P 1",  # Black: 27 is not enough
    "K+R+B+P+P+P+P2/+P+P+P+P5/9/9/9/9/9/9/8k b 9P 1",  # 10 pieces in the zone, 27 points
    "K+R+B+P+P+P3/+P+P+P+P5/9/9/9/9/9/9/8k b 9P 1",  # only 9 pieces in the zone
    "8K/9/9/9/9/9/5+p+p+p+p/1+p+p+p+p+p+b+rk/9 w 8p 1",  # White: 27 is enough
    "8K/9/9/9/9/9/5+p+p+p+p/1+p+p+p+p+p+b+rk/9 w 7p 1",  # White: 26
    "K+R+B+P+P+P+P+P1/+P+P+P+P5/9/9/9/9/9/9/k8 b 9P 1",  # 28 points, but in check? (no: far)
    "K+R+B+P+P+P+P+P1/+P+P+P+P5/9/9/9/9/9/9/r7k b 9P 1",  # in check by the rook: cannot declare
    "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1",
]


@pytest.mark.parametrize("sfen", POSITIONS)
def test_declaration_condition_matches_cshogi(sfen):
    state = from_sfen([sfen])
    side = state["side_to_move"]
    ours = impasse_declarable(to_canonical(state["board"], side),
                              hands_to_canonical(state["hands"], side), side, state["in_check"])
    assert bool(ours) == cshogi.Board(sfen).is_nyugyoku(), sfen


def test_step_declares_for_the_next_side_only_when_enabled():
    sfen = "K+R+B+P+P+P+P+P1/+P+P+P+P5/9/9/9/9/9/9/8k w 9P 1"  # White moves, then Black qualifies
    state = from_sfen([sfen])
    action = usi_to_action(state, ["1i2i"])
    off = step(state, action)
    assert not bool(off["terminated"]) and int(off["termination_reason"]) == Reason.NONE
    on = step(state, action, impasse=True)
    assert bool(on["terminated"]) and int(on["termination_reason"]) == Reason.IMPASSE
    assert float(on["reward"]) == -1.0  # the White mover loses: Black declares and wins
    assert torch.equal(on["board"], off["board"])
