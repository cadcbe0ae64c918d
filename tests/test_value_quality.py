"""The value's quality by phase (insight/value_quality.py): the batched replay reads the same
values as a one-game-at-a-time replay, and the statistics are numpy's."""

from __future__ import annotations

import numpy as np
import torch

from keisei_fn.agent import evaluate, member_agent
from keisei_fn.arena.match import play_match
from keisei_fn.arena.opponents import agent_player, make_player
from keisei_fn.insight.value_quality import agent_values, value_quality
from keisei_fn.models import build_model, state_params
from keisei_fn.shogi import from_sfen, step, usi_to_action

from _tiny import tiny


def test_values_and_statistics_match_a_game_by_game_replay(tmp_path):
    cfg = tiny(tmp_path / "unused", "total_updates=1")
    torch.manual_seed(3)
    net = build_model(cfg.model)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    agent = member_agent(cfg, state_params(net).detach()[None])
    records = play_match(agent_player("agent", agent), make_player("greedy"), 6, max_plies=40,
                         seed=2)
    values = agent_values(agent, records, "agent")
    want_v, want_result, want_to_end = [], [], []
    for r in records:  # one game at a time, from its own start
        state = from_sfen([r.start_sfen], max_plies=len(r.moves) + 1)
        me = 0 if r.black == "agent" else 1
        for ply, move in enumerate(r.moves):
            if int(state["side_to_move"][0]) == me:
                want_v.append(float(evaluate(agent, state)[1][0]))
                want_result.append(r.score_for("agent"))
                want_to_end.append(len(r.moves) - ply)
            state = step(state, usi_to_action(state, [move]))
    order = np.lexsort((np.array(want_v), np.array(want_to_end)))
    got = np.lexsort((values["v"].numpy(), values["to_end"].numpy()))
    np.testing.assert_allclose(values["v"].numpy()[got], np.array(want_v)[order], atol=1e-5)
    np.testing.assert_array_equal(values["to_end"].numpy()[got], np.array(want_to_end)[order])
    report = value_quality(values)
    v, result = np.array(want_v), np.array(want_result)
    assert report["all"]["n"] == len(v)
    np.testing.assert_allclose(report["all"]["brier"], np.mean(((v + 1) / 2 - result) ** 2),
                               rtol=1e-5)
    if result.std() > 0:
        np.testing.assert_allclose(report["all"]["corr"],
                                   np.corrcoef(v, 2 * result - 1)[0, 1], rtol=1e-4)
    near = np.array(want_to_end) < 10
    np.testing.assert_allclose(report["to_end_0-10"]["mean_abs"], np.abs(v[near]).mean(),
                               rtol=1e-5)
