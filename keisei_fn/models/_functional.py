"""The network as a pure function of a parameter TensorDict."""

from __future__ import annotations

import torch
from tensordict import TensorDict
from torch import nn


def state_params(net: nn.Module) -> TensorDict:
    """The network's parameters as a TensorDict (shares storage with the module)."""
    return TensorDict.from_module(net)


def policy_forward(params: TensorDict, net: nn.Module, observation: torch.Tensor):
    """(logits [B, 2187], value [B, 1]) of `net` evaluated with `params` (pure: net unchanged)."""
    with params.to_module(net):
        return net(observation)


def param_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
