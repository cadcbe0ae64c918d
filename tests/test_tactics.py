"""PPO's search-labelled policy loss (ppo.tactics_coef, algos/ppo/tactics.py): the labels
against a brute-force 2-ply search over cshogi, the loss against its definition, and a run that
uses it resumes exactly."""

from __future__ import annotations

import json

import pytest
import torch
from _tiny import assert_resumes_exactly, tiny
from tensordict import TensorDict
from test_minimax import _positions, reference_values

from keisei_fn.algos.ppo.tactics import label_rows, near_best, tactics_terms
from keisei_fn.config import ConfigError, load_config
from keisei_fn.env.compact import pack_mask
from keisei_fn.shogi import from_sfen


@pytest.mark.parametrize(("margin", "quiet"), [(0.5, 0), (3.0, 0), pytest.param(
    3.0, 1, marks=pytest.mark.slow)])  # the quiescence's brute force: ~12 s, the slow lane
def test_labels_are_the_moves_near_the_brute_force_best(margin, quiet):
    """ppo.tactics_quiet: the labelling search with a quiescence, as the brute force plays it."""
    sfens = _positions()
    state = from_sfen(sfens)
    # only what a stored sample keeps of the position: board, hands, side to move
    stored = state.select("board", "hands", "side_to_move", "ply")
    good = near_best(stored, margin, quiet)
    sizes = []
    for i, sfen in enumerate(sfens):
        values = reference_values(sfen, 2, quiet)
        best = max(values.values())
        expected = sorted(label for label, v in values.items() if v >= best - margin - 1e-3)
        assert good[i].nonzero().squeeze(1).tolist() == expected, sfen
        sizes.append(len(expected) / len(values))
    assert min(sizes) < 0.5 < max(sizes)  # some positions have blunders to reject, some few


def test_the_loss_is_minus_log_the_probability_of_the_good_moves():
    torch.manual_seed(0)
    k, m, n = 2, 6, 2187
    legal = torch.rand(k, m, n) < 0.05
    legal[..., 0] = True
    good = legal & (torch.rand(k, m, n) < 0.5)
    good[..., 0] = True
    labelled = torch.tensor([[True, False, True, True, False, True]] * k)
    logits = torch.randn(k, m, n, requires_grad=True)
    batch = TensorDict(action_mask=legal, tactics_bits=pack_mask(good), labelled=labelled,
                       batch_size=[k, m])
    loss, rejected = tactics_terms(logits, batch)
    probs = torch.softmax(logits.detach().masked_fill(~legal, -torch.inf), -1)
    good_mass = (probs * good).sum(-1)
    expected = (-good_mass.log() * labelled).sum(-1) / labelled.sum(-1)
    torch.testing.assert_close(loss.detach(), expected)
    torch.testing.assert_close(rejected, ((1 - good_mass) * labelled).sum(-1) / labelled.sum(-1))
    loss.sum().backward()
    assert logits.grad[~labelled].abs().max() == 0  # unlabelled samples are PPO's alone
    # a step down the gradient moves probability onto the good moves
    _, after = tactics_terms(logits.detach() - 10.0 * logits.grad, batch)
    assert (after < rejected).all()


def test_labelled_rows_are_spread_over_the_batch():
    assert label_rows(1024, 4, "cpu").tolist() == [0, 256, 512, 768]
    assert label_rows(3, 8, "cpu").tolist() == [0, 1, 2]


def test_options_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="tactics_coef"):
        load_config(None, ["ppo.tactics_coef=-1"])
    with pytest.raises(ConfigError, match="ppo.tactics_quiet: must be a whole number"):
        load_config(None, ["ppo.tactics_quiet=5"])
    with pytest.raises(ConfigError, match="population.backend=loop reference"):
        load_config(None, ["ppo.tactics_coef=1", "population.backend=loop"])
    assert tiny(tmp_path, "ppo.tactics_coef=1", "total_updates=1").ppo.tactics_positions == 128


def test_a_run_with_the_tactics_loss_resumes_exactly(tmp_path):
    assert_resumes_exactly(tmp_path, "ppo.tactics_coef=1", "ppo.tactics_positions=8")
    records = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").open()]
    tactics = [r["losses/loss_tactics"] for r in records if r["kind"] == "iteration"]
    assert len(tactics) == 4 and min(tactics) >= 0 and max(tactics) > 0
