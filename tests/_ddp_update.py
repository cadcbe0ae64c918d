"""Run under torchrun by tests/test_distributed.py: one data-parallel update step per rank.

Each rank collects its own rollout, takes one minibatch and applies one update through the
configured (compiled or eager) update step, whose gradients are averaged over the group; it saves
its minibatch and the parameters before and after for the test to check against the same
arithmetic done in one process.
"""

import sys

import torch
import torch._dynamo
from torch._dynamo.utils import counters

from keisei_fn.algos.ppo.batch import rollout_to_batch
from keisei_fn.env.compact import network_input
from keisei_fn.collect.policy import bind
from keisei_fn.config import load_config
from keisei_fn.learn.compile import compile_update
from keisei_fn.algos.ppo.advantage import make_gae
from keisei_fn.algos.registry import make_update
from keisei_fn.run import distributed
from keisei_fn.run.parts import build
from keisei_fn.run.snapshot import fresh_state


def main(out_dir: str, mode: str, *overrides: str) -> None:
    """mode: 'eager' or 'compiled' (only the update step is compiled: what the all-reduce is in;
    Dynamo's graph and break counts of its compile saved too)."""
    cfg = load_config(None, [*overrides, "optim.compile=off"])
    group = distributed.join(cfg)
    cfg = distributed.rank_config(cfg, group)
    torch.manual_seed(cfg.seed)
    parts = build(cfg, log=lambda *a: None, group=group)
    state = fresh_state(cfg, parts)
    distributed.broadcast_tensors(group, state.params)
    bind(parts.policy, state.params, list(state.policy))
    _, rollout, after = parts.collector.next_rollout(parts.policy, state.games,
                                                     cfg.ppo.rollout_steps)
    batch = rollout_to_batch(
        rollout,
        after,
        lambda obs: parts.policy.outputs(obs)[1][0],
        make_gae(cfg.ppo.gamma, cfg.ppo.gae_lambda),
        cfg.ppo,
    )[: cfg.ppo.minibatch_size].unsqueeze(0)
    batch = network_input(batch, cfg.env.max_plies, attacks=cfg.model.attack_planes)
    lr = torch.tensor([cfg.optim.lr])
    explained = {}
    if mode == "compiled":
        # the all-reduce must not break the update's graph: Dynamo's counters over the compile
        # (one trace: torch._dynamo.explain would trace it a second time)
        torch._dynamo.reset()
        counters.clear()
        parts.update = compile_update(make_update(cfg, parts.net,
                                                  distributed.gradient_mean(group)),
                                      "default", log=print)
    before = state.params.clone()
    params, _, metrics = parts.update(state.params, state.opt_state, batch, lr)
    if mode == "compiled":
        explained = {"graphs": int(counters["stats"]["unique_graphs"]),
                     "breaks": int(sum(counters["graph_break"].values()))}
    torch.save({"batch": batch.to_dict(), "before": before.to_dict(), "after": params.to_dict(),
                "skipped": float(metrics["skipped"][0]), "explained": explained},
               f"{out_dir}/rank{group.rank}.pt")
    parts.collector.shutdown()
    distributed.leave(group)


if __name__ == "__main__":
    main(*sys.argv[1:])
