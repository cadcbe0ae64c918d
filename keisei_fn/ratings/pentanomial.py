"""Game pairs scored as pentanomial outcomes, Elo with an interval from the pair variance, and
the sequential probability ratio test (SPRT), as fishtest scores engine tests.

A pair is one opening played twice, colours swapped. Its outcome is the points the player took
in the two games: 0 (LL), 0.5 (LD), 1 (DD or WL), 1.5 (WD), 2 (WW). The games of a pair are
correlated (the opening favours one colour), so the variance of the mean score is the variance
of the pair scores over the number of pairs, not a per-game binomial one; it is usually smaller,
which is why paired openings measure more sharply (Van den Bergh, "Normalized Elo practical",
and fishtest's `stat_util`).

The SPRT is the generalized SPRT under the normal approximation fishtest uses: for hypotheses
H0: Elo = elo0 and H1: Elo = elo1 (logistic Elo of the player against its opponent),

    LLR = N (s1 - s0) (2 m - s0 - s1) / (2 v),   s_i = 1 / (1 + 10^(-elo_i / 400))

with m and v the mean and variance of the per-pair mean score over N pairs (v with one virtual
pair per category, see _VARIANCE_PRIOR). The test accepts H1
when LLR >= log((1 - beta) / alpha), H0 when LLR <= log(beta / (1 - alpha)), and goes on
otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .elo import Z95, expected_score

# Points of a pair, index = pentanomial category.
PAIR_POINTS = (0.0, 0.5, 1.0, 1.5, 2.0)
LABELS = ("LL", "LD", "DD/WL", "WD", "WW")
# Virtual pairs added to every category when the SPRT estimates the variance (not the mean):
# the first pairs say little about the variance (one WW pair: none at all), and a variance
# estimated near 0 would let one lucky pair decide the test. One pair per category keeps the
# stated error rates when the LLR is checked after every pair (tests/test_pentanomial.py).
_VARIANCE_PRIOR = 1.0


def pentanomial(pairs) -> tuple[int, int, int, int, int]:
    """Counts of each pair outcome from (first game's score, second game's score) pairs, each
    score 0, 0.5 or 1 from the player's side."""
    counts = [0] * 5
    for a, b in pairs:
        if not (a in (0, 0.5, 1) and b in (0, 0.5, 1)):
            raise ValueError(f"a game scores 0, 0.5 or 1, got the pair ({a}, {b})")
        counts[round((a + b) * 2)] += 1
    return tuple(counts)


def _moments(counts, prior: float = 0.0) -> tuple[float, float, float]:
    """(pairs, mean per-game score, variance of the per-pair mean score)."""
    weights = [c + prior for c in counts]
    n = sum(weights)
    if n <= 0:
        raise ValueError("no game pairs")
    scores = [p / 2 for p in PAIR_POINTS]
    mean = sum(w * s for w, s in zip(weights, scores)) / n
    var = sum(w * (s - mean) ** 2 for w, s in zip(weights, scores)) / n
    return n, mean, var


def score_to_elo(score: float) -> float:
    """Logistic Elo of a mean score (+-inf at 1 and 0)."""
    if score <= 0.0:
        return -math.inf
    if score >= 1.0:
        return math.inf
    return -400.0 * math.log10(1.0 / score - 1.0)


@dataclass(frozen=True)
class PairedResult:
    counts: tuple[int, int, int, int, int]
    """pentanomial counts: LL, LD, DD/WL, WD, WW"""
    score: float
    """mean score per game"""
    score_low: float
    score_high: float
    elo: float
    elo_low: float
    elo_high: float
    """95% interval from the variance of the pair scores"""

    @property
    def pairs(self) -> int:
        return sum(self.counts)


def estimate(counts, z: float = Z95) -> PairedResult:
    """Mean score and Elo of a pentanomial tally, with a normal interval from the pair variance
    (z standard errors either side; the score interval is clipped to [0, 1])."""
    counts = tuple(int(c) for c in counts)
    n, mean, var = _moments(counts)
    half = z * math.sqrt(var / n)
    low, high = max(0.0, mean - half), min(1.0, mean + half)
    return PairedResult(counts, mean, low, high, score_to_elo(mean), score_to_elo(low),
                        score_to_elo(high))


def sprt_llr(counts, elo0: float, elo1: float) -> float:
    """The log-likelihood ratio of H1 (Elo = elo1) against H0 (Elo = elo0) after these pairs."""
    n, mean, _ = _moments(counts)
    _, _, var = _moments(counts, prior=_VARIANCE_PRIOR)
    s0, s1 = float(expected_score(elo0)), float(expected_score(elo1))
    return n * (s1 - s0) * (2 * mean - s0 - s1) / (2 * var)


def sprt_bounds(alpha: float, beta: float) -> tuple[float, float]:
    """(lower, upper) LLR bounds: H0 is accepted at or below the lower, H1 at or above the upper."""
    if not (0 < alpha < 0.5 and 0 < beta < 0.5):
        raise ValueError(f"SPRT error rates must be in (0, 0.5), got alpha={alpha}, beta={beta}")
    return math.log(beta / (1 - alpha)), math.log((1 - beta) / alpha)


def sprt_decision(counts, elo0: float, elo1: float, alpha: float, beta: float) -> str | None:
    """'H1' (the player is at least elo1 stronger), 'H0' (at most elo0), or None: play on."""
    if elo1 <= elo0:
        raise ValueError(f"SPRT needs elo0 < elo1, got elo0={elo0}, elo1={elo1}")
    if sum(counts) == 0:
        return None
    lower, upper = sprt_bounds(alpha, beta)
    llr = sprt_llr(counts, elo0, elo1)
    if llr >= upper:
        return "H1"
    if llr <= lower:
        return "H0"
    return None


def format_paired(result: PairedResult) -> str:
    tally = " ".join(f"{label} {c}" for label, c in zip(LABELS, result.counts))
    head = f"{result.pairs} pairs ({tally})  score {100 * result.score:.1f}%"
    if not math.isfinite(result.elo):  # every pair won or every pair lost
        return f"{head}  Elo {_elo(result.elo)} (no finite estimate from such a score)"
    return (f"{head} [{100 * result.score_low:.1f}, {100 * result.score_high:.1f}]  Elo "
            f"{_elo(result.elo)} [{_elo(result.elo_low)}, {_elo(result.elo_high)}]")


def _elo(value: float) -> str:
    if not math.isfinite(value):
        return "+inf" if value > 0 else "-inf"
    return f"{value + 0.0:+.0f}" if round(value) != 0 else "+0"  # never "-0"
