"""The acting policy: a sampled legal move per game, with what PPO and GAE need recorded.

`act(params, observation, mask, uniform, spec)` is the self-play policy as one pure function of the
members' parameters [K] and their rows [K, B]: the network (`models.members_forward`, the one
functional network learning also runs), the masked log-softmax and Gumbel-max on given noise.
`CollectPolicy` is the TorchRL module a collector calls; it holds no weights of its own, only the
parameters the trainer binds to it (`bind`) before each collection.
"""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModuleBase, TensorDictParams

from ..models import (NetSpec, gumbel_max, gumbel_sample, masked_log_softmax, members_forward,
                      policy_forward)
from ..search.mate import mate_in_one
from ..env.compact import engine_state
from ..models import precision as _precision


def act(params: TensorDictBase, observation: torch.Tensor, mask: torch.Tensor,
        uniform: torch.Tensor, spec: NetSpec):
    """(action, its log-probability, value) of a sampled move per row of K members' rows [K, B]:
    one function of tensors, which `torch.compile` fuses (optim.compile_acting)."""
    logits, value = members_forward(params, observation, spec)
    log_probs = masked_log_softmax(logits.float(), mask)
    action = gumbel_max(log_probs, uniform)
    return action, log_probs.gather(-1, action[..., None]).squeeze(-1), value.float()


def split_members(x: torch.Tensor, members: int) -> torch.Tensor:
    """[K*B, ...] rows -> [K, B, ...]: member k owns rows k*B ... k*B + B - 1."""
    return x.reshape(members, x.shape[0] // members, *x.shape[1:])


class CollectPolicy(TensorDictModuleBase):
    """The acting policy of K members over a [K*B] env batch (K = 1: a single agent).

    Reads "observation", "action_mask" (and ("game", "side_to_move") in league play); writes
    "action", "action_log_prob", "state_value", "learner_move" and "forced".

    - `generators[k]` is member k's sampler, whose state the train state holds and checkpoints;
      None: the global torch RNG (inside collector worker processes, seeded per worker).
    - `backend`: "folded" runs every member at once through `act`; "loop" (the population's
      reference) runs member k's parameters through the `net` module one member at a time.
    - `precision`: the network's arithmetic, the update's (models/precision.py).
    - League play (a single agent): `learner_side` [B] holds, per game row, the colour the learner
      plays (0 Black, 1 White) or -1 for self-play. On the other colour's turns the bound
      `opponent` parameters (a frozen past snapshot) pick the move; those steps are marked
      learner_move = False so the loss skips them, while GAE still runs through them (their
      values come from the learner's critic).

    The parameters are registered (TensorDictParams) so that TorchRL's weight sync reaches the
    copies of this module in collector workers.
    """

    in_keys = ["observation", "action_mask", ("game", "side_to_move")]
    out_keys = ["action", "action_log_prob", "state_value", "learner_move", "forced"]

    def __init__(self, params: TensorDict, generators: list[torch.Generator] | None,
                 spec: NetSpec, backend: str = "folded", net=None,
                 learner_side: torch.Tensor | None = None, act_fn=act, precision: str = "fp32",
                 mate_in_one: bool = False):
        super().__init__()
        self.mate_in_one = mate_in_one  # ppo.mate_in_one
        # not `spec`: TorchRL's collectors read a policy's `spec` as its output spec
        self.architecture = spec
        self.members = params.batch_size[0]
        self.params = TensorDictParams(params, no_convert=True)
        self.opponent = (TensorDictParams(params[:1].clone(), no_convert=True)
                         if learner_side is not None else None)
        self.generators = generators
        self.backend = backend
        self.net = net  # the loop backend's module (parameters swapped in per member)
        self.learner_side = learner_side
        self.act_fn = act_fn  # `act`, or it compiled (learn/compile.py)
        self.precision = precision

    def outputs(self, observation: torch.Tensor):
        """(logits [K, B, 2187], value [K, B, 1]) of every member on its own rows [K*B], float32
        (computed in the policy's precision)."""
        obs = split_members(observation, self.members)
        with _precision.autocast(self.precision, observation.device):
            if self.backend == "folded":
                logits, value = members_forward(self.params, obs, self.architecture)
            else:
                outs = [policy_forward(self.params[k], self.net, obs[k])
                        for k in range(self.members)]
                logits, value = torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])
        return logits.float(), value.float()

    def _uniform(self, mask: torch.Tensor) -> torch.Tensor:
        """Each member's noise from its own stream: exactly what its single run would draw."""
        shape = mask.shape[1:]
        if self.generators is None:
            return torch.rand(mask.shape, device=mask.device)
        return torch.stack([torch.rand(shape, generator=g, device=mask.device)
                            for g in self.generators])

    @torch.no_grad()
    def forward(self, td: TensorDictBase) -> TensorDictBase:
        mask = split_members(td.get("action_mask"), self.members)
        observation = td.get("observation")
        if self.opponent is None and self.backend == "folded" and not self.mate_in_one:
            # the one-function fast path
            with _precision.autocast(self.precision, observation.device):
                action, chosen, value = self.act_fn(
                    self.params, split_members(observation, self.members), mask,
                    self._uniform(mask), self.architecture)
            return write_outputs(td, action.flatten(), chosen.flatten(), value.flatten(0, 1))
        logits, value = self.outputs(observation)
        log_probs = masked_log_softmax(logits.float(), mask)
        learner_move = None
        if self.opponent is not None:
            side = td.get(("game", "side_to_move"))
            theirs = (self.learner_side >= 0) & (side != self.learner_side)
            rows = theirs.nonzero().squeeze(-1)
            if rows.numel():
                with _precision.autocast(self.precision, observation.device):
                    their_logits, _ = members_forward(
                        self.opponent, observation.index_select(0, rows)[None], self.architecture)
                log_probs = log_probs.index_copy(1, rows, masked_log_softmax(
                    their_logits.float(), mask.index_select(1, rows)))
            learner_move = ~theirs
        if self.generators is None:
            action = gumbel_sample(log_probs, None)
        else:
            action = torch.stack([gumbel_sample(lp, g)
                                  for lp, g in zip(log_probs, self.generators)])
        forced = None
        if self.mate_in_one:  # a mate in one is played (with its probability under the policy)
            # only the moves that may give check are stepped (~8% of them): every mate is one
            mates = split_members(mate_in_one(engine_state(td), checks_only=True), self.members)
            action = torch.where(mates >= 0, mates, action)
            forced = (mates >= 0).flatten()
        chosen = log_probs.gather(-1, action[..., None]).squeeze(-1)
        return write_outputs(td, action.flatten(), chosen.flatten(), value.float().flatten(0, 1),
                             learner_move, forced)


def bind(policy: CollectPolicy, params: TensorDictBase,
         generators: list[torch.Generator] | None = None,
         opponent: TensorDictBase | None = None) -> None:
    """What the policy acts with from now on: the parameters [K], the samplers (None: the global
    RNG, in collector workers) and a league opponent's parameters [1].

    The collector holds the policy, so the train state reaches it here: in this process by
    reference (no copy: the policy acts with the state's own tensors and generators), and in
    collector workers through the backend's `sync_weights`, which pushes the parameters bound
    here."""
    policy.params = TensorDictParams(params, no_convert=True)
    policy.generators = generators
    if opponent is not None:
        policy.opponent = TensorDictParams(opponent, no_convert=True)


def write_outputs(td: TensorDictBase, action: torch.Tensor, log_prob: torch.Tensor,
                  value: torch.Tensor, learner_move: torch.Tensor | None = None,
                  forced: torch.Tensor | None = None):
    """An acting policy's outputs into `td` (learner_move None: every move is the learner's;
    forced None: every move was sampled from the policy, none played by a mate search)."""
    if learner_move is None:
        learner_move = torch.ones(action.shape, dtype=torch.bool, device=action.device)
    if forced is None:
        forced = torch.zeros(action.shape, dtype=torch.bool, device=action.device)
    td.set("action", action)
    td.set("action_log_prob", log_prob)
    td.set("state_value", value)
    td.set("learner_move", learner_move)
    td.set("forced", forced)
    return td
