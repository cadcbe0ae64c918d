"""Actor-critic networks over the engine's observation, used through functional parameters."""

from ._nets import ActorCritic, build_model
from ._functional import param_count, policy_forward, state_params

__all__ = ["ActorCritic", "build_model", "param_count", "policy_forward", "state_params"]
