"""Pause and predict (`play --predict`, `watch --predict`): the viewer types the move they expect
the agent to play before it is shown, and is told where that move stands in the agent's policy
(its rank and probability) beside a running score."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    """The viewer's guesses so far."""
    guesses: int = 0
    exact: int = 0      # the agent's move
    top3: int = 0       # among its three favourites
    last: str = ""      # what the last guess was told

    def add(self, guess: str, ranked: list[tuple[str, float]], played: str) -> Score:
        """`ranked`: the agent's moves best first with their probabilities; `played`: its move."""
        moves = [m for m, _ in ranked]
        rank = moves.index(guess) + 1 if guess in moves else None
        if rank is None:
            said = f"you said {guess}: not a legal move here; it plays {played}"
        else:
            said = (f"you said {guess}: the agent's #{rank} ({100 * ranked[rank - 1][1]:.0f}%), "
                    f"it plays {played}")
        return Score(self.guesses + 1, self.exact + (guess == played),
                     self.top3 + (rank is not None and rank <= 3), said)

    def line(self) -> str:
        if not self.guesses:
            return ""
        return (f"{self.last}\nScore: {self.exact}/{self.guesses} exact, "
                f"{self.top3}/{self.guesses} in its top 3")
