"""Paired-game statistics (ratings/pentanomial.py) against hand-computed examples, and against
simulated matches of a known Elo difference: the interval covers the truth at its rate, and the
SPRT stops on the right side at its stated error rates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keisei_fn.ratings.elo import expected_score
from keisei_fn.ratings.pentanomial import (estimate, format_paired, pentanomial, sprt_bounds,
                                           sprt_decision, sprt_llr)


def test_pairs_are_tallied_by_their_points():
    pairs = [(0, 0), (0, 0.5), (0.5, 0), (1, 0), (0.5, 0.5), (1, 0.5), (1, 1), (0, 1)]
    assert pentanomial(pairs) == (1, 2, 3, 1, 1)
    with pytest.raises(ValueError, match="a game scores 0, 0.5 or 1"):
        pentanomial([(0.7, 0)])


def test_estimate_by_hand():
    # 10 pairs LL 1, LD 2, DD/WL 4, WD 2, WW 1: per-pair mean scores 0, .25, .5, .75, 1
    # mean 0.5; variance (.25 + 2 x .0625 + 0 + 2 x .0625 + .25) / 10 = 0.075
    r = estimate((1, 2, 4, 2, 1))
    assert r.pairs == 10 and r.score == pytest.approx(0.5) and r.elo == pytest.approx(0.0)
    half = 1.959963984540054 * math.sqrt(0.075 / 10)  # 0.169738
    assert r.score_low == pytest.approx(0.5 - 0.169738, abs=1e-6)
    assert r.score_high == pytest.approx(0.5 + 0.169738, abs=1e-6) == pytest.approx(0.5 + half)
    assert r.elo_high == pytest.approx(-400 * math.log10(1 / 0.669738 - 1), abs=1e-3)  # +122.8
    assert r.elo_low == pytest.approx(-r.elo_high)
    # 10 pairs WD 3, WW 7: mean (3 x .75 + 7) / 10 = 0.925, variance
    # (3 x .175^2 + 7 x .075^2) / 10 = 0.013125; Elo -400 log10(1/0.925 - 1) = +436.4
    r = estimate((0, 0, 0, 3, 7))
    assert r.score == pytest.approx(0.925)
    assert r.elo == pytest.approx(436.4, abs=0.1)
    assert r.score_high == pytest.approx(min(1.0, 0.925 + 1.959964 * math.sqrt(0.0013125)))
    assert "10 pairs (LL 0 LD 0 DD/WL 0 WD 3 WW 7)  score 92.5%" in format_paired(r)


def test_sprt_by_hand():
    # counts (1, 2, 4, 2, 1): mean 0.5; the variance with one virtual pair per category
    # (2, 3, 5, 3, 2): (2 x .25 + 3 x .0625 + 0 + 3 x .0625 + 2 x .25) / 15 = 0.091667;
    # H0 0 Elo (s0 = 0.5), H1 10 Elo (s1 = 0.514387): LLR = 10 (s1 - s0)(1 - s0 - s1) / (2 v)
    s1 = 1 / (1 + 10 ** (-10 / 400))
    expected = 10 * (s1 - 0.5) * (1 - 0.5 - s1) / (2 * 0.091667)  # -0.0113
    assert sprt_llr((1, 2, 4, 2, 1), 0, 10) == pytest.approx(expected, rel=1e-3)
    lower, upper = sprt_bounds(0.05, 0.05)
    assert lower == pytest.approx(math.log(0.05 / 0.95)) and upper == pytest.approx(-lower)
    assert sprt_decision((1, 2, 4, 2, 1), 0, 10, 0.05, 0.05) is None
    assert sprt_decision((0, 0, 0, 10, 40), 0, 10, 0.05, 0.05) == "H1"
    assert sprt_decision((40, 10, 0, 0, 0), 0, 10, 0.05, 0.05) == "H0"
    with pytest.raises(ValueError, match="elo0 < elo1"):
        sprt_decision((1, 1, 1, 1, 1), 10, 0, 0.05, 0.05)
    with pytest.raises(ValueError, match="error rates"):
        sprt_bounds(0.7, 0.05)


def simulate_pairs(rng, elo: float, matches: int, pairs: int, draw: float = 0.3):
    """[matches, pairs] pentanomial categories of a player `elo` stronger than its opponent.

    Each opening favours one colour by a random amount (up to 0.15 of expected score), so the
    two games of a pair are correlated, as with real openings; the bias cancels over the pair, so
    the player's mean score is exactly expected_score(elo)."""
    bias = rng.uniform(-0.15, 0.15, size=(matches, pairs))
    points = np.zeros((matches, pairs))
    for sign in (1, -1):  # the player with each colour
        e = np.clip(expected_score(elo) + sign * bias, 0.0, 1.0)
        d = np.minimum(draw, 2 * np.minimum(e, 1 - e))
        u = rng.random((matches, pairs))
        points += np.where(u < e - d / 2, 1.0, np.where(u < e + d / 2, 0.5, 0.0))
    return np.rint(points * 2).astype(int)


def test_the_interval_covers_the_true_elo_at_its_rate():
    rng = np.random.default_rng(0)
    cats = simulate_pairs(rng, 60.0, matches=400, pairs=100)
    truth = expected_score(60.0)
    covered = 0
    for row in cats:
        r = estimate(np.bincount(row, minlength=5))
        covered += r.score_low <= truth <= r.score_high
    assert 0.92 <= covered / len(cats) <= 0.98, covered


@pytest.mark.parametrize("true_elo, wrong", [(0.0, "H1"), (40.0, "H0")])
def test_sprt_decides_on_the_right_side_at_its_error_rates(true_elo, wrong):
    """H0: 0 Elo, H1: 40 Elo, alpha = beta = 0.05: with the truth at one hypothesis, the test
    accepts the other in at most about 5% of 300 simulated matches, and it stops."""
    rng = np.random.default_rng(int(true_elo) + 7)
    cats = simulate_pairs(rng, true_elo, matches=300, pairs=3000)
    lower, upper = sprt_bounds(0.05, 0.05)
    decisions = []
    for row in cats:
        counts = np.zeros(5, dtype=int)
        decision = None
        for c in row:
            counts[c] += 1
            llr = sprt_llr(counts, 0.0, 40.0)
            if llr >= upper or llr <= lower:
                decision = "H1" if llr >= upper else "H0"
                break
        decisions.append(decision)
    assert decisions.count(None) <= 3  # it stops
    assert decisions.count(wrong) / len(decisions) <= 0.08, decisions.count(wrong)
