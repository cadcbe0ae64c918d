"""The value's quality by phase (insight/value_quality.py): the batched replay reads the same
values as a one-game-at-a-time replay, and the statistics are numpy's."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from keisei_fn.agent import evaluate, member_agent
from keisei_fn.arena.match import play_match
from keisei_fn.arena.opponents import make_player, network_player
from keisei_fn.insight.value_quality import (agent_values, format_probes, load_probes,
                                            probe_values, value_quality)
from keisei_fn.models import build_model, state_params
from keisei_fn.shogi import from_sfen, step, usi_to_action
from keisei_fn.shogi.material import material_balance

from _tiny import tiny


def test_values_and_statistics_match_a_game_by_game_replay(tmp_path):
    cfg = tiny(tmp_path / "unused", "total_updates=1")
    torch.manual_seed(3)
    net = build_model(cfg.model)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    agent = member_agent(cfg, state_params(net).detach()[None])
    records = play_match(network_player("agent", agent), make_player("greedy"), 6, max_plies=40,
                         seed=2)
    values = agent_values(agent, records, "agent")
    want_v, want_result, want_to_end, want_material = [], [], [], []
    for r in records:  # one game at a time, from its own start
        state = from_sfen([r.start_sfen], max_plies=len(r.moves) + 1)
        me = 0 if r.black == "agent" else 1
        for ply, move in enumerate(r.moves):
            if int(state["side_to_move"][0]) == me:
                want_v.append(float(evaluate(agent, state)[1][0]))
                want_result.append(r.score_for("agent"))
                want_to_end.append(len(r.moves) - ply)
                want_material.append(math.tanh(float(material_balance(state)[0]) / 10))
            state = step(state, usi_to_action(state, [move]))
    order = np.lexsort((np.array(want_v), np.array(want_to_end)))
    got = np.lexsort((values["v"].numpy(), values["to_end"].numpy()))
    np.testing.assert_allclose(values["v"].numpy()[got], np.array(want_v)[order], atol=1e-5)
    np.testing.assert_array_equal(values["to_end"].numpy()[got], np.array(want_to_end)[order])
    np.testing.assert_allclose(values["material"].numpy()[got], np.array(want_material)[order],
                               atol=1e-6)
    report = value_quality(values)
    v, result = np.array(want_v), np.array(want_result)
    assert report["all"]["n"] == len(v)
    np.testing.assert_allclose(report["all"]["brier"], np.mean(((v + 1) / 2 - result) ** 2),
                               rtol=1e-5)
    # the games at a 40-ply cap are drawn: correlations want decisive results, so the statistics
    # are checked again with made-up ones on the same positions
    made_up = dict(values, result=(values["to_end"] % 3 == 0).float())
    mixed = value_quality(made_up)["all"]
    result = made_up["result"].numpy()
    assert result.std() > 0 and float(values["material"].std()) > 0
    for key, x in (("", values["v"].numpy()), ("material_", values["material"].numpy())):
        np.testing.assert_allclose(mixed[f"{key}brier"], np.mean(((x + 1) / 2 - result) ** 2),
                                   rtol=1e-5)
        np.testing.assert_allclose(mixed[f"{key}corr"], np.corrcoef(x, 2 * result - 1)[0, 1],
                                   rtol=1e-4)
    near = np.array(want_to_end) < 10
    np.testing.assert_allclose(report["to_end_0-10"]["mean_abs"], np.abs(v[near]).mean(),
                               rtol=1e-5)


def test_the_probe_set_holds_what_it_says_by_cshogi():
    """Every `mate1` probe mates in one and every `mate3` in three but not one, by cshogi's own
    mate search; `rook_up`/`rook_down` are a rook or more ahead/behind, not in check."""
    import cshogi

    from keisei_fn.shogi.material import material_balance

    probes = load_probes()
    assert {kind: len(s) for kind, s in probes.items()} == {
        "mate1": 100, "mate3": 100, "rook_up": 100, "rook_down": 100}
    for sfen in probes["mate1"]:
        assert cshogi.Board(sfen).mate_move_in_1ply(), sfen
    for sfen in probes["mate3"]:
        board = cshogi.Board(sfen)
        assert not board.mate_move_in_1ply() and board.mate_move(3), sfen
    for kind, sign in (("rook_up", 1), ("rook_down", -1)):
        balance = material_balance(from_sfen(list(probes[kind])))
        assert bool((sign * balance >= 10).all()), kind
        assert not any(cshogi.Board(s).is_check() for s in probes[kind]), kind


def test_probe_values_read_the_value_as_search_reads_it(tmp_path):
    """With a large material prior the value is the material's sign: rook_up near +1, rook_down
    near -1; the report matches `evaluate` position by position."""
    cfg = tiny(tmp_path / "unused", "total_updates=1")
    torch.manual_seed(0)
    agent = replace(member_agent(cfg, state_params(build_model(cfg.model)).detach()[None]),
                    value_prior=0.5)
    report = probe_values(agent)
    assert report["rook_up"]["mean"] > 0.9 and report["rook_up"]["positive"] == 1.0
    assert report["rook_down"]["mean"] < -0.9 and report["rook_down"]["positive"] == 0.0
    sfens = list(load_probes()["mate3"])
    want = evaluate(agent, from_sfen(sfens))[1]
    assert report["mate3"]["mean"] == pytest.approx(float(want.mean()), abs=1e-6)
    assert report["mate3"]["n"] == 100
    assert "mate1" in format_probes(report)
