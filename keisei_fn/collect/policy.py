"""The acting policy: a sampled legal move per game, with what PPO and GAE need recorded.

It reads the network's outputs through models' distribution functions, as the loss and the
evaluation do.
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torch import nn

from ..models import gumbel_max, gumbel_sample, masked_log_softmax


def act(net: nn.Module, observation: torch.Tensor, mask: torch.Tensor, uniform: torch.Tensor):
    """(action, its log-probability, value) of a sampled move per row: the self-play policy as one
    function of tensors, which `torch.compile` fuses (optim.compile)."""
    logits, value = net(observation)
    log_probs = masked_log_softmax(logits.float(), mask)
    action = gumbel_max(log_probs, uniform)
    return action, log_probs.gather(-1, action[..., None]).squeeze(-1), value.float()


class CollectPolicy(TensorDictModuleBase):
    """The acting policy: samples a legal move per game and records what PPO and GAE need.

    Reads "observation", "action_mask" (and ("game", "side_to_move") in league play); writes
    "action", "action_log_prob", "state_value" and "learner_move". Randomness comes from the
    policy's own generator, whose state is checkpointed.

    League play: `learner_side` [B] holds, per game row, the colour the learner plays (0 Black,
    1 White) or -1 for self-play. On the other colour's turns the `opponent` network (a frozen
    past snapshot) picks the move; those steps are marked learner_move = False so the loss skips
    them, while GAE still runs through them (their values come from the learner's critic).
    """

    in_keys = ["observation", "action_mask", ("game", "side_to_move")]
    out_keys = ["action", "action_log_prob", "state_value", "learner_move"]

    def __init__(self, net: nn.Module, generator: torch.Generator, greedy: bool = False,
                 opponent: nn.Module | None = None, learner_side: torch.Tensor | None = None,
                 act_fn=act):
        super().__init__()
        self.net = net
        self.generator = generator
        self.greedy = greedy
        self.opponent = opponent
        self.learner_side = learner_side
        self.act_fn = act_fn  # `act`, or it compiled (learn/compile.py)

    @torch.no_grad()
    def forward(self, td: TensorDictBase) -> TensorDictBase:
        mask = td.get("action_mask")
        observation = td.get("observation")
        if self.opponent is None and not self.greedy:  # self-play: the one-function fast path
            uniform = torch.rand(mask.shape, generator=self.generator, device=mask.device)
            return write_outputs(td, *self.act_fn(self.net, observation, mask, uniform))
        logits, value = self.net(observation)
        log_probs = masked_log_softmax(logits.float(), mask)
        learner_move = None
        if self.opponent is not None:
            side = td.get(("game", "side_to_move"))
            theirs = (self.learner_side >= 0) & (side != self.learner_side)
            rows = theirs.nonzero().squeeze(-1)
            if rows.numel():
                their_logits, _ = self.opponent(observation.index_select(0, rows))
                log_probs = log_probs.index_copy(
                    0, rows, masked_log_softmax(their_logits.float(), mask.index_select(0, rows)))
            learner_move = ~theirs
        if self.greedy:
            action = log_probs.argmax(-1)
        else:
            action = gumbel_sample(log_probs, self.generator)
        return write_outputs(td, action, log_probs.gather(-1, action[..., None]).squeeze(-1),
                             value.float(), learner_move)


def write_outputs(td: TensorDictBase, action: torch.Tensor, log_prob: torch.Tensor,
                  value: torch.Tensor, learner_move: torch.Tensor | None = None):
    """An acting policy's outputs into `td` (learner_move None: every move is the learner's)."""
    if learner_move is None:
        learner_move = torch.ones(action.shape, dtype=torch.bool, device=action.device)
    td.set("action", action)
    td.set("action_log_prob", log_prob)
    td.set("state_value", value)
    td.set("learner_move", learner_move)
    return td


