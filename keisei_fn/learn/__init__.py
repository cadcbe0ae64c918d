"""The generic update machinery every algorithm uses: pure update steps, Adam, population folding,
compilation, the data-parallel group's collectives, the train state. Nothing here knows an
algorithm (algos/ sits above)."""

from .compile import compile_mode, compile_seconds, compile_update
from .group import SINGLE, Group
from .optim import adam_init, adam_step, clip_by_global_norm, global_norm
from .population import (TrainingDiverged, apply_updates, gather_minibatch, init_members,
                         make_population_update, member_config)
from .state import Counters, TrainState, fresh_counters
from .update import make_update_step

__all__ = ["Counters", "Group", "SINGLE", "TrainState", "TrainingDiverged", "adam_init",
           "adam_step", "apply_updates", "clip_by_global_norm", "compile_mode", "compile_seconds",
           "compile_update", "fresh_counters", "gather_minibatch", "global_norm", "init_members",
           "make_population_update", "make_update_step", "member_config"]
