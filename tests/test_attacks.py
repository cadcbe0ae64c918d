"""Attack counts (`shogi.attack_counts`, the network's attack planes 44-45 with
`model.attack_planes`) against a reference built on cshogi alone (`_shogi_ref.ref_attackers`),
which is itself held to cshogi's own move generation."""

from __future__ import annotations

import cshogi
import numpy as np
import pytest
import torch
from cshogi.dlshogi import make_move_label

import keisei_fn.shogi as E
from _shogi_ref import STARTPOS, perft_sfens, random_walk_sfens, ref_attackers


def _sfens() -> list[str]:
    return [STARTPOS, "4k4/9/9/9/4B4/9/9/9/4K4 b RL2Pr 1",  # long slides, a hand
            "+R3k3+B/9/4g4/9/2N1L1n2/9/4G4/9/4K4 w - 1"] + list(perft_sfens().values()) \
        + random_walk_sfens(41, 60, min_plies=1, max_plies=250, capture_bias=0.4)


def _king(board: cshogi.Board, colour: int) -> int:
    return board.king_square(colour)


def test_the_reference_is_cshogis_move_sources():
    """On every square that is empty or holds an opponent's piece, the mover's attackers (its
    king aside) are exactly the sources of cshogi's pseudo-legal board moves to it; the other
    colour's too, after a pass. Own-occupied squares (defence) follow the same code."""
    checked = 0
    for sfen in _sfens():
        board = cshogi.Board(sfen)
        for _ in range(2):
            if board.is_check():  # cshogi generates evasions only: not every attack
                break
            mover, king = board.turn, _king(board, board.turn)
            sources = [set() for _ in range(81)]
            for m in board.pseudo_legal_moves:
                if not cshogi.move_is_drop(m) and cshogi.move_from(m) != king:
                    sources[cshogi.move_to(m)].add(cshogi.move_from(m))
            want = ref_attackers(board)[mover]
            for t, code in enumerate(board.pieces):
                if code == 0 or (code >= 16) != (mover == 1):
                    assert sources[t] == want[t] - {king}, (sfen, mover, t)
                    checked += 1
            board.push_pass()
    assert checked > 5000


def _expected(sfens: list[str]) -> np.ndarray:
    """[B, 2, 81] reference counts, mover first, in the mover's frame."""
    out = np.zeros((len(sfens), 2, 81), np.int64)
    for i, sfen in enumerate(sfens):
        board = cshogi.Board(sfen)
        attackers = ref_attackers(board)
        us = board.turn
        for row, colour in enumerate((us, 1 - us)):
            for sq in range(81):
                out[i, row, sq if us == 0 else 80 - sq] = len(attackers[colour][sq])
    return out


def test_attack_counts_are_the_references():
    sfens = _sfens()
    got = E.attack_counts(E.from_sfen(sfens))
    assert got.shape == (len(sfens), 2, 81) and got.dtype == torch.int32
    want = _expected(sfens)
    for i, sfen in enumerate(sfens):
        np.testing.assert_array_equal(got[i].numpy(), want[i], err_msg=sfen)
    assert want.max() >= 4  # some square is attacked several times over


def test_attack_counts_along_games_after_steps():
    """After the engine's own steps (promotions, captures, drops, both colours to move)."""
    rng = np.random.default_rng(5)
    sfens = random_walk_sfens(9, 16, min_plies=10, max_plies=60, capture_bias=0.5)
    boards = [cshogi.Board(s) for s in sfens]
    state = E.from_sfen(sfens)
    for _ in range(30):
        moves = [sorted(b.legal_moves) for b in boards]
        if not all(moves):
            break
        picks = [ms[int(rng.integers(len(ms)))] for ms in moves]
        labels = [make_move_label(m, b.turn) for b, m in zip(boards, picks)]
        state = E.step(state, torch.tensor(labels))
        for b, m in zip(boards, picks):
            b.push(m)
        if bool(state["terminated"].any()):
            break
        np.testing.assert_array_equal(E.attack_counts(state).numpy(),
                                      _expected([b.sfen() for b in boards]))


@pytest.mark.parametrize("attacks", [False, True])
def test_the_observation_carries_them_only_when_asked(attacks):
    sfens = _sfens()
    state = E.from_sfen(sfens)
    plain, obs = E.observe(state), E.observe(state, attacks=attacks)
    assert torch.equal(obs[:, :44], plain[:, :44])
    planes = obs.view(len(sfens), 46, 81)[:, 44:]
    if not attacks:
        assert planes.eq(0).all()
        return
    want = torch.from_numpy(_expected(sfens)).clamp(max=E.ATTACK_PLANE_MAX) / E.ATTACK_PLANE_MAX
    torch.testing.assert_close(planes, want.float(), rtol=0, atol=0)


def _minibatch_planes(monkeypatch, module: str, name: str, stored: list | None = None
                      ) -> list[bool]:
    """Wrap `module.name` (a minibatch builder): the list fills with whether each minibatch's
    input had attack planes; `stored`, with whether it read them from the counts the rollout
    stored (and they equal the planes rebuilt from the positions)."""
    import importlib

    from keisei_fn.env.compact import ATTACK_KEY, network_input

    target = importlib.import_module(module)
    inner, seen = getattr(target, name), []

    def spy(*args, **kwargs):
        out = inner(*args, **kwargs)
        seen.append(bool(out.get("observation")[..., 44:, :, :].any()))
        if stored is not None:
            batch, index = args[0], args[1]
            rows = torch.arange(index.shape[0])[:, None]
            picked = batch.apply(lambda x: x[rows, index], batch_size=list(index.shape))
            rebuilt = network_input(picked.exclude(ATTACK_KEY), args[2], attacks=True)
            stored.append(ATTACK_KEY in batch.keys()
                          and torch.equal(rebuilt["observation"], out["observation"]))
        return out

    monkeypatch.setattr(target, name, spy)
    return seen


def test_a_network_with_attack_planes_trains_reads_them_and_plays(tmp_path, monkeypatch):
    """`model.attack_planes=true`: the run trains (collection and the rebuilt minibatches carry
    the planes: tests/test_rollout.py), its checkpoint loads as a player that reads them, and
    saliency's attributions still add up; every network before it reads zeros there."""
    from _tiny import tiny

    from omegaconf import OmegaConf

    import keisei_fn.config as config
    from keisei_fn.agent import evaluate, load_agent
    from keisei_fn.config import from_yaml, load_config
    from keisei_fn.insight.saliency import value_saliency
    from keisei_fn.models import masked_log_softmax, members_forward
    from keisei_fn.run.train import resume_config, train

    stored = []
    seen = _minibatch_planes(monkeypatch, "keisei_fn.algos.ppo.learn", "gather_minibatch",
                             stored)
    train(tiny(tmp_path, "model.attack_planes=true", "total_updates=2"), log=lambda *a: None)
    assert seen and all(seen)  # every minibatch the loss read had them
    assert len(stored) == len(seen) and all(stored)  # from the rollout's counts, exactly
    with pytest.raises(ValueError, match="model.attack_planes cannot change"):
        resume_config(tmp_path, ["model.attack_planes=false"])
    assert resume_config(tmp_path, ["model.attack_planes=true", "total_updates=3"])
    agent, cfg = load_agent(tmp_path)
    assert cfg.model.attack_planes and agent.spec.attacks
    state = E.from_sfen(_sfens()[:8])
    log_probs, _ = evaluate(agent, state)
    for attacks, same in ((True, True), (False, False)):
        logits, _ = members_forward(agent.params, E.observe(state, attacks=attacks)[None],
                                    agent.spec)
        mine = masked_log_softmax(logits[0], state["legal_mask"])
        assert torch.allclose(mine, log_probs, rtol=0, atol=1e-6) == same
    report = value_saliency(agent, state[2:3])
    total = sum(report["squares"].values()) + sum(
        a for hand in report["hands"].values() for a in hand.values())
    assert abs(total - (report["value"] - report["baseline"])) <= 0.01 * abs(
        report["value"] - report["baseline"]) + 1e-6

    assert not load_agent("reference")[0].spec.attacks
    assert config.SAVED_BEFORE_THE_KEY["model.attack_planes"] is False  # whatever the default
    saved = OmegaConf.to_container(load_config(None, []), resolve=True)
    del saved["model"]["attack_planes"]  # a config saved before the key
    assert from_yaml(OmegaConf.to_yaml(saved)).model.attack_planes is False


def test_gumbel_az_trains_with_attack_planes(tmp_path, monkeypatch):
    """Its search reads them through the agent (`NetSpec.attacks`), its replay minibatches are
    rebuilt with them."""
    from _tiny import TINY_AZ, tiny

    from keisei_fn.agent import load_agent
    from keisei_fn.run.train import train

    seen = _minibatch_planes(monkeypatch, "keisei_fn.algos.gumbel_az.algorithm",
                             "sample_minibatch")
    summary = train(tiny(tmp_path, *TINY_AZ, "model.attack_planes=true", "total_updates=4"),
                    log=lambda *a: None)
    assert summary["counters"]["iteration"] == 4
    assert seen and all(seen)
    assert load_agent(tmp_path)[0].spec.attacks


@pytest.mark.slow
def test_the_compiled_search_reads_the_planes_as_the_eager_one():
    """`attack_counts` compiles whole (`compiled_evaluator` is fullgraph): a network that reads
    the planes searches the same under torch.compile. Slow: it compiles."""
    from dataclasses import replace

    from keisei_fn.agent import compiled_evaluator, evaluator, load_agent
    from keisei_fn.search import search

    agent, _ = load_agent("reference")
    agent = replace(agent, spec=replace(agent.spec, attacks=True))
    fast, plain = compiled_evaluator(agent), evaluator(agent)
    states = E.from_sfen(random_walk_sfens(3, 3, min_plies=10, max_plies=60))
    for i in range(states.batch_size[0]):
        state = states[i:i + 1]
        slow = search(state, plain, torch.Generator().manual_seed(1), impasse=True,
                      simulations=16, max_considered=4)
        with torch.no_grad():
            out = search(state, fast, torch.Generator().manual_seed(1), impasse=True,
                         simulations=16, max_considered=4, compiled=True)
        assert torch.equal(slow["visits"], out["visits"]) and torch.equal(slow["action"],
                                                                           out["action"])
        torch.testing.assert_close(slow["value"], out["value"], rtol=0, atol=1e-5)
