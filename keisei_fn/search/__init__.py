"""Search over the batched rules engine: pure functions of a game-state TensorDict [B].

The public names, mctx-style: Gumbel search (`search`) and what its tree proves, and the
full-width material minimax of the ladder's `minimax` player."""

from .gumbel import ROUNDS, considered_visits_table, search
from .proof import forced_results, move_results, principal_variation, proven_moves
from .minimax import minimax_choose, move_values, position_value

__all__ = ["ROUNDS", "considered_visits_table", "forced_results", "minimax_choose",
           "move_results", "move_values", "position_value", "principal_variation",
           "proven_moves", "search"]
