"""The functional update machinery: pure update steps, Adam, population folding, compilation."""

from .compile import compile_mode, compile_seconds, compile_update
from .optim import adam_init, adam_step, clip_by_global_norm, global_norm
from .population import (TrainingDiverged, gather_minibatch, init_members, learn,
                         make_population_update, member_config)
from .state import TrainState, fresh_counters
from .update import make_update_step, total_loss

__all__ = ["TrainState", "TrainingDiverged", "adam_init", "adam_step", "clip_by_global_norm",
           "compile_mode", "compile_seconds", "compile_update", "fresh_counters",
           "gather_minibatch", "global_norm", "init_members", "learn", "make_population_update",
           "make_update_step", "member_config", "total_loss"]
