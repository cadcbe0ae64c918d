"""A population of K networks of one architecture evaluated as one network: members folded into
grouped convolutions.

`members_forward(params, observation, spec)` takes the members' parameters stacked on a leading
[K] dimension (the TensorDict `torch.stack` of K `state_params(net)`), observations
[K, B, 46, 9, 9] and the architecture (`NetSpec`, from the model config: the parameters' names
are not read to guess it), and returns what each member's `ActorCritic.forward` returns, stacked:
logits [K, B, 2187] and values [K, B, 1]. It is the one forward of the package: acting, learning,
self-play search and every player (`agent.evaluate`) run it; `ActorCritic` initialises the
parameters and is the tests' oracle.

Why not `torch.func.vmap` over the module: vmap's batching rule for conv2d also folds members into
groups, but in the contiguous layout, where oneDNN's grouped convolution (and above all its
backward) is slower on CPU than K separate convolutions; measured 1.2-1.4x slower than a Python
loop over members for the PPO update (docs/training.md, "Populations"). Folding by hand lets the
activations
live channels-last, where the grouped kernels are as fast per member as the single ones, and it
keeps every op one call for all members instead of K.

Layout: activations are [B, K * C, 9, 9] (member-major channels), so member k's channels are
k*C ... k*C + C - 1 and a convolution with `groups=K` applies member k's kernels to them only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tensordict import TensorDictBase

from ..shogi import NUM_ACTIONS


@dataclass(frozen=True)
class NetSpec:
    """What the folded forward needs to know of the architecture, and what its input holds
    (hashable: a constant to `torch.compile`)."""
    arch: str = "resnet"  # 'resnet' or 'cnn'
    blocks: int = 2
    squeeze_excite: bool = True
    attacks: bool = False  # its input has the attack planes (shogi.observe's `attacks`)


def net_spec(model) -> NetSpec:
    """The `NetSpec` of a `model` config section (keisei_fn/config/schema.py, ModelConfig)."""
    return NetSpec(str(model.arch), int(model.blocks), int(model.se_ratio) > 0,
                   bool(model.attack_planes))

_CL = torch.channels_last


def _conv(x: torch.Tensor, p: TensorDictBase, members: int, padding: int) -> torch.Tensor:
    weight = p["weight"]  # [K, C_out, C_in, kh, kw]
    return F.conv2d(x, weight.flatten(0, 1), p["bias"].flatten(), padding=padding, groups=members)


def _linear(x: torch.Tensor, p: TensorDictBase) -> torch.Tensor:
    """x [B, K, in] -> [B, K, out] with member k's weight [out, in]."""
    weight, bias = p["weight"], p["bias"]
    if weight.shape[0] == 1:  # one member (a player, a single agent): a plain matmul is cheaper
        return F.linear(x[:, 0], weight[0], bias[0])[:, None]
    return torch.einsum("bki,koi->bko", x, weight) + bias


def _squeeze_excite(x: torch.Tensor, p: TensorDictBase, members: int) -> torch.Tensor:
    batch = x.shape[0]
    pooled = x.mean((2, 3)).view(batch, members, -1)
    w, b = _linear(torch.relu(_linear(pooled, p["reduce"])), p["expand"]).chunk(2, dim=-1)
    return x * torch.sigmoid(w).reshape(batch, -1, 1, 1) + b.reshape(batch, -1, 1, 1)


def _block(x: torch.Tensor, p: TensorDictBase, members: int, spec: NetSpec) -> torch.Tensor:
    if spec.arch == "cnn":
        return torch.relu(_conv(x, p["conv"], members, 1))
    y = _conv(torch.relu(_conv(x, p["conv1"], members, 1)), p["conv2"], members, 1)
    if spec.squeeze_excite:
        y = _squeeze_excite(y, p["se"], members)
    return torch.relu(x + y)


def members_forward(params: TensorDictBase, observation: torch.Tensor, spec: NetSpec,
                    material: bool = False, reply: bool = False):
    """(logits [K, B, 2187], value [K, B, 1]) of K members on their own observations [K, B, ...];
    with `material`, then the material head's output [K, B, 1] (`ActorCritic(material_head)`);
    with `reply`, then the reply head's logits [K, B, 2187] (`ActorCritic(reply_head)`): the
    opponent's next move, destinations in this position's frame (label order of the mover's own
    moves, so that a 1x1 convolution reads each destination's own features)."""
    members, batch = observation.shape[:2]
    x = observation.transpose(0, 1).reshape(batch, -1, *observation.shape[-2:])
    x = torch.relu(_conv(x.contiguous(memory_format=_CL), params["stem"], members, 1))
    for block in range(spec.blocks):
        x = _block(x, params["tower", str(block)], members, spec)
    policy = _conv(torch.relu(_conv(x, params["policy_conv"], members, 1)),
                   params["policy_out"], members, 0)
    logits = policy.reshape(batch, members, NUM_ACTIONS).transpose(0, 1)
    v = torch.relu(_conv(x, params["value_conv"], members, 0)).reshape(batch, members, -1)
    hidden = torch.relu(_linear(v, params["value_fc"]))
    value = torch.tanh(_linear(hidden, params["value_out"])).transpose(0, 1)
    extra = ((torch.tanh(_linear(hidden, params["material_out"])).transpose(0, 1),)
             if material else ())
    if reply:
        moves = _conv(x, params["reply_out"], members, 0)
        extra = (*extra, moves.reshape(batch, members, NUM_ACTIONS).transpose(0, 1))
    return (logits, value, *extra)
