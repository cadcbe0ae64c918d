"""Maximum-likelihood Bradley-Terry Elo over all games between all players, with 95% intervals.

Model: P(i scores against j) = 1 / (1 + 10^(-(R_i - R_j) / 400)); a draw counts as half a win
for each side (the score s_ij is the sum of points, n_ij the games). One player is the anchor
(R = 0: `random` when it played, else the first name in sorted order). The log-likelihood
  L(R) = sum_pairs s_ij log p_ij + (n_ij - s_ij) log(1 - p_ij)
is concave, so Newton's method with step halving finds the maximum; the intervals are
R_i +- 1.96 * sqrt(diag(I^-1)), I the observed Fisher information (-Hessian) with the anchor's
row and column removed, i.e. uncertainty relative to the anchor.

A player who won (or lost) every game has no finite maximum: then `prior_draws` virtual draws
are added to every pairing that was played (BayesElo's trick) and the result says so
(`regularized`). Players with no path of games to the anchor cannot be rated: ValueError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ELO_PER_NAT = 400.0 / math.log(10.0)  # R = ELO_PER_NAT * theta, theta in natural log-odds
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Ratings:
    names: tuple[str, ...]
    elo: tuple[float, ...]  # anchor = 0
    low: tuple[float, ...]  # 95% interval
    high: tuple[float, ...]
    anchor: str
    games: int
    regularized: bool  # virtual draws were added (some score was 0% or 100%)

    def of(self, name: str) -> tuple[float, float, float]:
        i = self.names.index(name)
        return self.elo[i], self.low[i], self.high[i]


def expected_score(diff: float | np.ndarray) -> float | np.ndarray:
    """Expected score of a player `diff` Elo above its opponent."""
    return 1.0 / (1.0 + 10.0 ** (-np.asarray(diff) / 400.0))


def score_interval(score: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson 95% interval of a mean score over n games (draws as half points)."""
    denom = 1 + z * z / n
    centre = (score + z * z / (2 * n)) / denom
    half = z * math.sqrt(score * (1 - score) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def fit(results, anchor: str | None = None, prior_draws: float | None = None) -> Ratings:
    """Ratings from `results`: iterable of (player_a, player_b, score_of_a in {0, 0.5, 1}).

    `prior_draws=None`: exact maximum likelihood, or 1 virtual draw per pairing when that has no
    finite solution; a number forces that many virtual draws per pairing.
    """
    names, score, count = _tally(results)
    if anchor is None:
        anchor = "random" if "random" in names else names[0]
    if anchor not in names:
        raise ValueError(f"anchor {anchor!r} played no game")
    a = names.index(anchor)
    _check_connected(count, a, names)
    if prior_draws is None:
        theta, cov, ok = _newton(score, count, a)
        regularized = not ok
        if regularized:
            theta, cov, _ = _newton(*_with_prior(score, count, 1.0), a)
    else:
        regularized = prior_draws > 0
        theta, cov, _ = _newton(*_with_prior(score, count, prior_draws), a)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None)) * ELO_PER_NAT
    elo = theta * ELO_PER_NAT
    return Ratings(tuple(names), tuple(elo.tolist()), tuple((elo - Z95 * se).tolist()),
                   tuple((elo + Z95 * se).tolist()), anchor, int(count.sum() // 2), regularized)


def format_ratings(r: Ratings) -> str:
    order = sorted(range(len(r.names)), key=lambda i: -r.elo[i])
    prior = ", virtual draws added: a 0% or 100% score has no finite estimate" if r.regularized \
        else ""
    lines = [f"Elo (anchor {r.anchor} = 0, 95% interval{prior}; {r.games} games):"]
    for i in order:
        lines.append(f"  {r.elo[i]:+7.0f}  [{r.low[i]:+.0f}, {r.high[i]:+.0f}]  {r.names[i]}")
    return "\n".join(lines)


def _tally(results):
    """Player names (sorted) and the points / games matrices [P, P] (score[i, j]: i's points)."""
    rows = [(str(x), str(y), float(s)) for x, y, s in results]
    if not rows:
        raise ValueError("no games to rate")
    names = sorted({x for x, _, _ in rows} | {y for _, y, _ in rows})
    index = {n: i for i, n in enumerate(names)}
    score = np.zeros((len(names), len(names)))
    count = np.zeros_like(score)
    for x, y, s in rows:
        if x == y:
            raise ValueError(f"{x!r} played itself: such games carry no rating information")
        if s not in (0.0, 0.5, 1.0):
            raise ValueError(f"score must be 0, 0.5 or 1, got {s}")
        i, j = index[x], index[y]
        score[i, j] += s
        score[j, i] += 1.0 - s
        count[i, j] += 1
        count[j, i] += 1
    return names, score, count


def _with_prior(score, count, draws):
    played = count > 0
    return score + 0.5 * draws * played, count + draws * played


def _check_connected(count, anchor: int, names) -> None:
    seen, todo = {anchor}, [anchor]
    while todo:
        i = todo.pop()
        for j in np.nonzero(count[i])[0].tolist():
            if j not in seen:
                seen.add(j)
                todo.append(j)
    missing = [names[i] for i in range(len(names)) if i not in seen]
    if missing:
        raise ValueError(f"no games connect {', '.join(missing)} to the anchor {names[anchor]}")


def _log_likelihood(theta, score, count):
    # score[i, j] log p_ij over ordered pairs covers both results of every game once;
    # log p = -log(1 + e^-d), computed stably.
    d = theta[:, None] - theta[None, :]
    return float((score * -np.logaddexp(0.0, -d)).sum())


def _newton(score, count, anchor: int, iters: int = 100):
    """(theta [P] with theta[anchor] = 0, covariance [P, P] (zero for the anchor), converged).

    Not converged means the likelihood keeps rising towards infinite ratings (a 0% or 100%
    score somewhere), detected as ratings beyond +-4000 Elo.
    """
    p = score.shape[0]
    free = np.array([i for i in range(p) if i != anchor])
    theta = np.zeros(p)
    limit = 4000.0 / ELO_PER_NAT
    converged = False
    for _ in range(iters):
        grad, info = _grad_info(theta, score, count)
        g, h = grad[free], info[np.ix_(free, free)]
        delta = np.linalg.solve(h, g)
        t, base = 1.0, _log_likelihood(theta, score, count)
        while t > 1e-6:
            trial = theta.copy()
            trial[free] += t * delta
            if _log_likelihood(trial, score, count) >= base - 1e-12:
                break
            t *= 0.5
        theta = trial
        if np.abs(theta).max() > limit:
            break
        if np.abs(t * delta).max() < 1e-10:
            converged = True
            break
    _, info = _grad_info(theta, score, count)
    cov = np.zeros((p, p))
    cov[np.ix_(free, free)] = np.linalg.inv(info[np.ix_(free, free)])
    return theta, cov, converged


def _grad_info(theta, score, count):
    """Gradient of the log-likelihood and the observed information (-Hessian), both over all P."""
    prob = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
    grad = (score - count * prob).sum(axis=1)
    w = count * prob * (1.0 - prob)
    info = np.diag(w.sum(axis=1)) - w
    return grad, info


def place(results, ratings: dict[str, float], prior_draws: float | None = None
          ) -> tuple[float, float, float, bool]:
    """One player's Elo against opponents of known, fixed rating (a ladder's anchors): the
    maximum-likelihood R of P(score) = 1 / (1 + 10^(-(R - R_opponent) / 400)), a 95% interval
    from the observed information, and whether virtual draws were needed.

    `results`: (opponent name, score in {0, 0.5, 1}) per game. As in `fit`, when every game was
    won or every game lost the maximum is infinite: then `prior_draws` (default 1) virtual draws
    are added against each opponent played, and the result says so.
    """
    score: dict[str, float] = {}
    count: dict[str, float] = {}
    for opponent, s in results:
        if opponent not in ratings:
            raise ValueError(f"{opponent!r} has no rating on this ladder")
        if s not in (0.0, 0.5, 1.0):
            raise ValueError(f"score must be 0, 0.5 or 1, got {s}")
        score[opponent] = score.get(opponent, 0.0) + s
        count[opponent] = count.get(opponent, 0.0) + 1
    if not count:
        raise ValueError("no games to place the player with")
    total, games = sum(score.values()), sum(count.values())
    regularized = prior_draws is not None and prior_draws > 0
    if prior_draws is None and total in (0.0, games):
        prior_draws, regularized = 1.0, True
    if prior_draws:
        for name in count:
            score[name] += 0.5 * prior_draws
            count[name] += prior_draws
    names = sorted(count)
    r_opp = np.array([ratings[n] for n in names]) / ELO_PER_NAT
    s, n = np.array([score[x] for x in names]), np.array([count[x] for x in names])
    theta = float(np.average(r_opp, weights=n))
    for _ in range(200):  # Newton on a concave function of one variable
        p = 1.0 / (1.0 + np.exp(-(theta - r_opp)))
        grad, info = float((s - n * p).sum()), float((n * p * (1 - p)).sum())
        step = grad / info
        theta += float(np.clip(step, -2.0, 2.0))
        if abs(step) < 1e-12:
            break
    p = 1.0 / (1.0 + np.exp(-(theta - r_opp)))
    se = math.sqrt(1.0 / float((n * p * (1 - p)).sum())) * ELO_PER_NAT
    elo = theta * ELO_PER_NAT
    return elo, elo - Z95 * se, elo + Z95 * se, regularized
