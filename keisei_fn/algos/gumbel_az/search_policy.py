"""The self-play policy of Gumbel AlphaZero: every move chosen by batched Gumbel search
(search/gumbel.py) with the members' own network as its evaluator.

`SearchPolicy` is the TorchRL module the same collection loop calls (collect/rollout.py): it reads
the games in progress ("game", "action_mask") and writes the move, the improved policy packed over
the legal moves, the search's root value and the network's raw one. Member k searches its own rows
k*B ... with its own parameters and its own Gumbel stream (`generators[k]`, the train state's, so
a resumed run draws the same noise).

Playout cap randomization (KataGo, Wu 2019, section 3.1; `gumbel_az.full_search_prob` < 1): each
game's move is a full search (`simulations`) with that probability, else a fast one
(`gumbel_az.fast_simulations`), the coins drawn from the member's Gumbel stream. Fast moves keep
the games going at a fraction of the cost; only the full ones become training positions
(`full_search`, read by replay.stored), so the policy learns from the deeper search while the
value sees more games for the compute.
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
    out_keys = ["action", "search_policy", "root_value", "raw_value", "learner_move",
                "full_search"]

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
        outs, full = [], []
        for k in range(self.members):
            out, is_full = self._search_member(root[k * rows:(k + 1) * rows], k)
            outs.append(out)
            full.append(is_full)
        out = torch.cat(outs)
        mask = td.get("action_mask")
        td.set("action", out.get("action"))
        td.set("search_policy", pack_policy(out.get("policy"), mask))
        td.set("root_value", out.get("value").float())
        td.set("raw_value", out.get("raw_value").float())
        td.set("learner_move", torch.ones_like(mask[:, 0]))
        td.set("full_search", torch.cat(full))
        self.simulations_done += int(out.get("simulations").sum())
        self.search_seconds += time.perf_counter() - start
        return td

    def _search(self, root, k: int, simulations: int):
        out = search(root, evaluator(self.member(k)), self.generators[k],
                     simulations=simulations, max_considered=self.az.max_considered,
                     gumbel_scale=self.az.gumbel_scale, impasse=self.impasse,
                     batched_rounds=self.az.batched_rounds, q_range=self.az.q_range)
        return out.exclude("tree", "pv", "visits", "q")

    def _search_member(self, root, k: int):
        """Member k's rows searched, and which of them had a full search: all of them unless
        playout caps are randomized, when the coins split the rows into a full and a fast
        search (two batched calls; the rows' order is restored)."""
        rows = root.batch_size[0]
        if self.az.full_search_prob >= 1.0:
            return (self._search(root, k, self.simulations[k]),
                    torch.ones(rows, dtype=torch.bool, device=root.device))
        generator = self.generators[k]
        full = torch.rand(rows, generator=generator, device=generator.device).to(root.device)
        full = full < self.az.full_search_prob
        # the split's sizes are data-dependent: two host syncs per member and move
        parts, order = [], []
        for chosen, simulations in ((full, self.simulations[k]),
                                    (~full, self.az.fast_simulations)):
            index = chosen.nonzero().squeeze(-1)
            if index.numel():
                parts.append(self._search(root[index], k, simulations))
                order.append(index)
        out = torch.cat(parts)[torch.cat(order).argsort()]
        return out, full
