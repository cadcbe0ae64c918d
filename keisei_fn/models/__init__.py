"""Actor-critic networks over the engine's observation, used through functional parameters, and
the distribution their policy head defines over the 2187 labels."""

from ._distribution import gumbel_max, gumbel_sample, masked_entropy, masked_log_softmax
from ._functional import param_count, policy_forward, state_params
from ._nets import ActorCritic, build_model
from ._population import NetSpec, members_forward, net_spec

__all__ = [
    "ActorCritic",
    "NetSpec",
    "net_spec",
    "build_model",
    "gumbel_max",
    "gumbel_sample",
    "masked_entropy",
    "masked_log_softmax",
    "members_forward",
    "param_count",
    "policy_forward",
    "state_params",
]
