"""ResNet tower with Squeeze-Excitation, or a small plain CNN, with a convolutional policy head.

Layout is fixed by the engine: input [B, 46, 9, 9] whose spatial axes are (file, rank) of the
mover's frame, and 2187 logits = 27 move planes x 81 destination squares of the same frame, so a
1x1 convolution to 27 channels flattened as [plane, file, rank] is exactly the label order.

No batch norm: running statistics would be hidden mutable state that breaks the pure
`policy(params, td)` contract and vmapping over a population. Residual branches start at zero
(last conv zero-initialised) so a deep tower starts as the identity and trains stably without it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..shogi import NUM_ACTIONS, NUM_OBS_PLANES

MOVE_PLANES = NUM_ACTIONS // 81


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, ratio: int):
        super().__init__()
        hidden = max(1, channels // ratio)
        self.reduce = nn.Linear(channels, hidden)
        self.expand = nn.Linear(hidden, 2 * channels)

    def forward(self, x):
        # Leela-style SE: per-channel scale and bias from the board-wide mean.
        w, b = self.expand(torch.relu(self.reduce(x.mean((2, 3))))).chunk(2, dim=1)
        return x * torch.sigmoid(w)[:, :, None, None] + b[:, :, None, None]


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, se_ratio: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.se = SqueezeExcite(channels, se_ratio) if se_ratio > 0 else nn.Identity()

    def forward(self, x):
        return torch.relu(x + self.se(self.conv2(torch.relu(self.conv1(x)))))


class PlainBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x))


class ActorCritic(nn.Module):
    """Trunk + policy head (2187 logits) + value head (tanh, in [-1, 1] for the side to move);
    with `material_head`, a second output beside the value's from the value head's hidden layer
    (an auxiliary target's, algos/ppo/batch.py `material_ahead`); with `reply_head`, 2187 more
    logits from the trunk, for the opponent's reply (algos/ppo/batch.py `next_move`)."""

    def __init__(self, arch: str = "resnet", blocks: int = 4, channels: int = 64,
                 se_ratio: int = 4, value_hidden: int = 128, policy_gain: float = 0.01,
                 material_head: bool = False, reply_head: bool = False):
        super().__init__()
        if arch not in ("resnet", "cnn"):
            raise ValueError(f"model.arch must be 'resnet' or 'cnn', got {arch!r}")
        if blocks < 0 or channels < 1:
            raise ValueError("model.blocks must be >= 0 and model.channels >= 1")
        self.stem = nn.Conv2d(NUM_OBS_PLANES, channels, 3, padding=1)
        if arch == "resnet":
            tower = [ResidualBlock(channels, se_ratio) for _ in range(blocks)]
        else:
            tower = [PlainBlock(channels) for _ in range(blocks)]
        self.tower = nn.Sequential(*tower)
        self.policy_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.policy_out = nn.Conv2d(channels, MOVE_PLANES, 1)
        self.value_conv = nn.Conv2d(channels, 4, 1)
        self.value_fc = nn.Linear(4 * 81, value_hidden)
        self.value_out = nn.Linear(value_hidden, 1)
        self._init(policy_gain)
        if material_head:  # after the rest, from a forked stream: the same network as without
            with torch.random.fork_rng(devices=[]):
                self.material_out = nn.Linear(value_hidden, 1)
                nn.init.orthogonal_(self.material_out.weight, gain=1.0)
                nn.init.zeros_(self.material_out.bias)
        if reply_head:  # likewise: a 1x1 convolution, as policy_out
            with torch.random.fork_rng(devices=[]):
                self.reply_out = nn.Conv2d(channels, MOVE_PLANES, 1)
                nn.init.orthogonal_(self.reply_out.weight, gain=policy_gain)
                nn.init.zeros_(self.reply_out.bias)

    def _init(self, policy_gain: float):
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.orthogonal_(m.weight, gain=math.sqrt(2))
                nn.init.zeros_(m.bias)
        for block in self.tower:
            if isinstance(block, ResidualBlock):
                nn.init.zeros_(block.conv2.weight)
        # Near-uniform initial policy over the legal moves, and a value near 0.
        nn.init.orthogonal_(self.policy_out.weight, gain=policy_gain)
        nn.init.orthogonal_(self.value_out.weight, gain=1.0)

    def forward(self, observation: torch.Tensor, material: bool = False, reply: bool = False):
        """(logits, value), then with `material` the material head's output [B, 1], then with
        `reply` the reply head's logits [B, 2187] (in this position's frame, `members_forward`)."""
        x = torch.relu(self.stem(observation))
        x = self.tower(x)
        logits = self.policy_out(torch.relu(self.policy_conv(x))).flatten(1)
        v = torch.relu(self.value_conv(x)).flatten(1)
        hidden = torch.relu(self.value_fc(v))
        value = torch.tanh(self.value_out(hidden))
        extra = (torch.tanh(self.material_out(hidden)),) if material else ()
        if reply:
            extra = (*extra, self.reply_out(x).flatten(1))
        return (logits, value, *extra)


def build_model(cfg) -> ActorCritic:
    """The network described by a `model` config section (see keisei_fn/config/schema.py)."""
    return ActorCritic(arch=cfg.arch, blocks=cfg.blocks, channels=cfg.channels,
                       se_ratio=cfg.se_ratio, value_hidden=cfg.value_hidden,
                       policy_gain=cfg.policy_gain,
                       material_head=getattr(cfg, "material_head", 0) > 0,
                       reply_head=bool(getattr(cfg, "reply_head", False)))
