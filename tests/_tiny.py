"""The tiny training set-up every test trains with: one home for the config, the run and the
first batch (a 1x8 network, 4 games, 6 steps; seconds per iteration).

`TINY` is a list of overrides so that subprocess tests can pass it to `keisei-fn train`; a test
that needs other settings appends its own (later overrides win). tests/conftest.py exposes the
same as fixtures.
"""

from __future__ import annotations

import torch

from keisei_fn.algos.ppo.batch import policy_batch
from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
from keisei_fn.config import load_config

TINY = [
    "optim.compile=off",
    "env.batch_size=4",
    "env.max_plies=24",
    "ppo.rollout_steps=6",
    "ppo.minibatch_size=8",
    "ppo.epochs=2",
    "ppo.target_kl=0.0",
    "model.blocks=1",
    "model.channels=8",
    "model.value_hidden=8",
    "track.aim=false",
    "track.progress=false",
    "eval.games=2",
    "eval.every_games=2",
    "eval.max_plies=8",
    "eval.openings=none",
    "eval.opponents=[random,greedy]",
    "checkpoint_every=2",
    "keep_checkpoints=5",
    "ppo.material_shaping=0.05",
    "time_budget_s=0",
    # the same arithmetic on every CI machine (auto is bf16 only where the CPU has it);
    # tests/test_precision.py runs bf16 explicitly
    "optim.precision=fp32",
    # one process (auto starts one rank per core); tests/test_launch.py runs the default
    "distributed.ranks=1",
]

# Gumbel AlphaZero on top of TINY: tiny searches, every move a full one (the tests of playout
# cap randomization set it), a buffer that fills in a few iterations.
TINY_AZ = ["algo=gumbel_az", "gumbel_az.simulations=4", "gumbel_az.max_considered=4",
           "gumbel_az.full_search_prob=1",
           "gumbel_az.rollout_steps=6", "gumbel_az.minibatch_size=8", "gumbel_az.min_buffer=16",
           "gumbel_az.buffer_size=512", "eval.max_plies=24"]


def tiny(run_dir, *extra):
    """The tiny config writing to `run_dir`, with `extra` overrides."""
    return load_config(None, TINY + [f"run_dir={run_dir}", *extra])


def final_params(run_dir) -> dict:
    return read_checkpoint(list_checkpoints(run_dir)[-1])["params"]


def flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def collector_of(cfg, parts):
    """`collect(state, opponent=None) -> (state, rollout, after)`, the trainer's own."""
    from keisei_fn.run.session import collect_with_restarts

    return collect_with_restarts(cfg, parts, checkpoint=None, log=lambda *a: None)


def batch_of(cfg, parts, rollout, after):
    """The stored training batch [K, N] of a rollout, as train() makes it."""
    return policy_batch(rollout, after, parts.policy, cfg)


def first_batch(*extra):
    """(cfg, parts, fresh train state, the first rollout's stored batch [K, N]) as train()
    makes them; the collector is shut down."""
    from keisei_fn.run.parts import build
    from keisei_fn.run.snapshot import fresh_state

    torch.manual_seed(0)
    cfg = load_config(None, TINY + ["total_updates=1", *extra])
    parts = build(cfg, log=lambda *a: None)
    state = fresh_state(cfg, parts)
    try:
        _, rollout, after = collector_of(cfg, parts)(state)
        batch = batch_of(cfg, parts, rollout, after)
    finally:
        parts.collector.shutdown()
    return cfg, parts, state, batch


def assert_resumes_exactly(tmp_path, *overrides, total: int = 4, split: int = 2):
    """The one resume-exactness check: train `total` iterations straight, and `split` then
    resumed to `total`, with the tiny config and `overrides`. The final checkpoints must hold
    equal parameters and optimizer state, bit for bit (and parameters that training moved), the
    same frame count and the same games in progress. Returns (the resumed run's summary, the
    straight run's final checkpoint, the resumed run's), for a test's own further checks."""
    from keisei_fn.run.train import resume_config, train

    straight, parted = tmp_path / "straight", tmp_path / "parted"
    train(tiny(straight, *overrides, f"total_updates={total}"), log=lambda *a: None)
    train(tiny(parted, *overrides, f"total_updates={split}"), log=lambda *a: None)
    summary = train(resume_config(parted, [f"total_updates={total}"]), resume=True,
                    log=lambda *a: None)
    assert summary["counters"]["iteration"] == total
    a = read_checkpoint(list_checkpoints(straight)[-1])
    b = read_checkpoint(list_checkpoints(parted)[-1])
    for part in ("params", "opt_state"):
        fa, fb = flat(a[part]), flat(b[part])
        assert fa.keys() == fb.keys() and len(fa) > 5, part
        for k in fa:
            assert torch.equal(fa[k], fb[k]), f"{part}.{k} differs after resuming"
    first = flat(read_checkpoint(list_checkpoints(parted)[0])["params"])
    assert any(not torch.equal(first[k], v) for k, v in flat(a["params"]).items()), (
        "training did not move the parameters: the comparison would prove nothing")
    assert a["counters"]["frames"] == b["counters"]["frames"]
    games_a, games_b = flat(a.get("games") or {}), flat(b.get("games") or {})
    assert games_a.keys() == games_b.keys()
    for k in games_a:
        assert torch.equal(games_a[k], games_b[k]), f"games in progress: {k}"
    return summary, a, b
