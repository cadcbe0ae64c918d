"""The rules of Shogi as pure, batched tensor functions over a game-state TensorDict.

See docs/engine_api.md for the state layout, codes and action labels.
"""

from ._attacks import attack_counts
from ._checks import may_check
from ._compiled import bucket as compiled_bucket
from ._compiled import largest_bucket as largest_compiled_bucket
from ._compiled import COMPILE_OPTIONS, call_padded, compiled_step
from ._movegen import analyze
from ._observe import ATTACK_PLANE_MAX, ATTACK_PLANES, observe
from ._sfen import from_sfen, initial_state, to_sfen
from ._state import STARTPOS_SFEN, make_state, position_hash, reset_where
from ._step import declarable, step
from ._tables import MAX_LEGAL_MOVES, NUM_ACTIONS, NUM_OBS_PLANES, Reason
from ._usi import action_to_usi, usi_to_action
from .perft import perft


def legal_mask(state):
    """Bool [B, 2187]: legal action labels of each game's side to move (cached in the state)."""
    return state["legal_mask"]


__all__ = [
    "ATTACK_PLANE_MAX", "ATTACK_PLANES", "COMPILE_OPTIONS", "MAX_LEGAL_MOVES", "NUM_ACTIONS",
    "NUM_OBS_PLANES", "Reason", "STARTPOS_SFEN",
    "action_to_usi", "analyze", "attack_counts", "call_padded", "compiled_bucket",
    "compiled_step", "declarable",
    "largest_compiled_bucket",
    "from_sfen",
    "initial_state",
    "legal_mask", "may_check", "observe", "perft",
    "make_state", "position_hash", "reset_where", "step", "to_sfen", "usi_to_action",
]
