"""League play: part of the batch plays frozen past snapshots; only the learner's moves train."""

from __future__ import annotations

import torch

from keisei_fn.config import load_config
from keisei_fn.run.parts import build
from keisei_fn.run.snapshot import fresh_state
from keisei_fn.algos.ppo.advantage import make_gae
from keisei_fn.algos.ppo.batch import rollout_to_batch
from keisei_fn.collect.stats import league_stats
from _tiny import TINY as _TINY, assert_resumes_exactly, collector_of, flat

LEAGUE_TINY = ["env.batch_size=6", "env.max_plies=16", "ppo.rollout_steps=8", "ppo.epochs=1",
               "ppo.material_shaping=0.02"]
TINY = [*_TINY, *LEAGUE_TINY]


def rig_to_prefer_plane(params, plane: int):
    """Parameters [1] whose policy overwhelmingly prefers one move plane (a recognisable
    opponent)."""
    params = params.clone()
    params["policy_out", "weight"].zero_()
    params["policy_out", "bias"].zero_()
    params["policy_out", "bias"][:, plane] = 60.0
    return params


def test_opponent_moves_come_from_the_snapshot_and_are_not_trained_on():
    cfg = load_config(None, TINY + ["total_updates=1", "league.fraction=0.5"])
    parts = build(cfg)
    state = fresh_state(cfg, parts)
    assert parts.learner_side.tolist() == [0, 1, 0, -1, -1, -1]
    # plane 0: UP moves (a pawn push, ...)
    _, rollout, after = collector_of(cfg, parts)(state, rig_to_prefer_plane(state.league[0], 0))
    side = rollout.get(("game", "side_to_move"))
    learner = parts.learner_side[:, None].expand_as(side)
    theirs = (learner >= 0) & (side != learner)
    assert torch.equal(rollout.get("learner_move"), ~theirs)
    planes = rollout.get("action") // 81
    assert (planes[theirs] == 0).all()          # the rigged snapshot moved
    assert (planes[~theirs] != 0).any()         # the near-uniform learner did not always
    batch = rollout_to_batch(rollout, after, lambda obs: parts.policy.outputs(obs)[1][0],
                             make_gae(cfg.ppo.gamma, cfg.ppo.gae_lambda), cfg.ppo)
    assert batch.batch_size[0] == int((~theirs).sum())
    assert torch.equal(batch["action"], rollout.get("action")[~theirs])
    stats = league_stats(rollout, parts.learner_side)
    assert stats["league_wins"] + stats["league_draws"] + stats["league_losses"] == \
        stats["league_games"]
    parts.collector.shutdown()


def test_league_run_resumes_exactly_with_its_pool(tmp_path):
    _, a, b = assert_resumes_exactly(tmp_path, *LEAGUE_TINY, "league.fraction=0.5",
                                     "league.snapshot_every=1", "league.pool_size=2")
    assert len(a["league"]["pool"]) == len(b["league"]["pool"]) == 2
    for sa, sb in zip(a["league"]["pool"], b["league"]["pool"]):
        fa, fb = flat(sa), flat(sb)
        for k in fa:
            assert torch.equal(fa[k], fb[k]), k
