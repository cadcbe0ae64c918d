"""The self-play policy of Gumbel AlphaZero: every move chosen by batched Gumbel search
(search/gumbel.py) with the members' own network as its evaluator.

`SearchPolicy` is the TorchRL module the same collection loop calls (collect/rollout.py): it reads
the games in progress ("game", "action_mask") and writes the move, the improved policy packed over
the legal moves, the search's root value and the network's raw one. Member k searches its own rows
k*B ... with its own parameters and its own Gumbel stream (`generators[k]`, the train state's, so
a resumed run draws the same noise).
"""

from __future__ import annotations

import time

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModuleBase, TensorDictParams

from .targets import pack_policy
from ...agent import Agent, evaluator
from ...models import NetSpec
from ...env.compact import engine_state
from ...search.gumbel import search


class SearchPolicy(TensorDictModuleBase):
    """Gumbel search's move for every game of K members' [K*B] env batch."""

    in_keys = ["game", "action_mask"]
    out_keys = ["action", "search_policy", "root_value", "raw_value", "learner_move"]

    def __init__(self, params: TensorDict, generators, az, impasse: bool, spec: NetSpec,
                 precision: str = "fp32", simulations: list[int] | None = None):
        super().__init__()
        self.architecture = spec
        self.members = params.batch_size[0]
        # member k's simulations per move (population.simulations), else gumbel_az.simulations
        self.simulations = list(simulations or [az.simulations] * self.members)
        self.params = TensorDictParams(params, no_convert=True)
        self.generators = generators
        self.az, self.impasse, self.precision = az, impasse, precision
        self.simulations_done = 0
        self.search_seconds = 0.0

    def member(self, k: int) -> Agent:
        """Member k as the players see it: the same forward, with the material prior its value
        head learned without (algos/gumbel_az/targets.py)."""
        return Agent(
            self.params[k : k + 1], self.architecture, self.az.material_prior, self.precision
        )

    @torch.no_grad()
    def forward(self, td: TensorDictBase) -> TensorDictBase:
        start = time.perf_counter()
        root = engine_state(td)  # the positions search expands from
        rows = root.batch_size[0] // self.members
        outs = []
        for k in range(self.members):
            out = search(root[k * rows:(k + 1) * rows],
                         evaluator(self.member(k)),
                         self.generators[k], simulations=self.simulations[k],
                         max_considered=self.az.max_considered,
                         gumbel_scale=self.az.gumbel_scale, impasse=self.impasse,
                         batched_rounds=self.az.batched_rounds, q_range=self.az.q_range)
            outs.append(out.exclude("tree", "pv", "visits", "q"))
        out = torch.cat(outs)
        mask = td.get("action_mask")
        td.set("action", out.get("action"))
        td.set("search_policy", pack_policy(out.get("policy"), mask))
        td.set("root_value", out.get("value").float())
        td.set("raw_value", out.get("raw_value").float())
        td.set("learner_move", torch.ones_like(mask[:, 0]))
        self.simulations_done += int(out.get("simulations").sum())
        self.search_seconds += time.perf_counter() - start
        return td
