"""A trained agent: its network as a value (`Agent`, `evaluate`, `load_agent`) and how it picks
moves (`decide` with `Settings`/`SearchConfig`, returning `Decisions`)."""

from .decision import (PLAY_BATCHED_ROUNDS, PLAY_MATERIAL_MARGIN, PLAY_MATERIAL_QUIET, SEARCHES,
                       Decisions, SearchConfig, Settings, decide, mate_in_one, one_ply_scores,
                       player_settings, warm_compiled_search)
from .moves import usi_moves, variation_moves
from .network import (MATERIAL_VALUE_PAWNS, MAX_CAPTURE_FLOOR, Agent, compiled_evaluator,
                      evaluate, evaluator, load_agent, member_agent, resolve_checkpoint,
                      with_value_prior)

__all__ = ["Agent", "Decisions", "MATERIAL_VALUE_PAWNS", "MAX_CAPTURE_FLOOR",
           "PLAY_BATCHED_ROUNDS",
           "PLAY_MATERIAL_MARGIN", "PLAY_MATERIAL_QUIET", "SEARCHES",
           "SearchConfig", "Settings", "compiled_evaluator", "decide", "evaluate", "evaluator",
           "load_agent", "mate_in_one", "member_agent", "one_ply_scores", "player_settings",
           "resolve_checkpoint",
           "usi_moves", "variation_moves", "warm_compiled_search", "with_value_prior"]
