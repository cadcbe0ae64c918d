"""Batch independence, device handling, dtypes/shapes of the contract, and purity (no mutation)."""

from __future__ import annotations

import cshogi
import numpy as np
import pytest
import torch
from tensordict import TensorDict

import keisei_fn.shogi as E
from _shogi_ref import STARTPOS, perft_sfens, random_walk_sfens, ref_moves

KEYS = {
    "board": (torch.int8, (81,)),
    "hands": (torch.int8, (2, 7)),
    "side_to_move": (torch.int8, ()),
    "ply": (torch.int32, ()),
    "move_number": (torch.int32, ()),
    "legal_mask": (torch.bool, (2187,)),
    "in_check": (torch.bool, ()),
    "terminated": (torch.bool, ()),
    "truncated": (torch.bool, ()),
    "reward": (torch.float32, ()),
    "termination_reason": (torch.int8, ()),
}


def _positions(n=24):
    sfens = [STARTPOS] + [cshogi.Board(s).sfen() for s in perft_sfens().values()]
    sfens += random_walk_sfens(41, n, min_plies=1, max_plies=200, capture_bias=0.3)
    return [s for s in sfens if not cshogi.Board(s).is_game_over()]


def _actions(sfens, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for s in sfens:
        labs = sorted(ref_moves(cshogi.Board(s)))
        out.append(labs[int(rng.integers(len(labs)))])
    return torch.tensor(out, dtype=torch.long)


def _assert_td_equal(a: TensorDict, b: TensorDict, what: str):
    assert set(a.keys()) == set(b.keys()), f"{what}: keys differ {set(a.keys()) ^ set(b.keys())}"
    for k in a.keys():
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, f"{what}: {k} dtype/shape"
        assert torch.equal(a[k], b[k]), f"{what}: key {k!r} differs"


def test_contract_keys_dtypes_shapes():
    for max_plies in (512, 37):
        for stt in (
            E.initial_state(3, max_plies=max_plies),
            E.from_sfen(_positions()[:5], max_plies=max_plies),
        ):
            B = stt.batch_size[0]
            assert stt.batch_size == torch.Size([B])
            for k, (dt, shape) in KEYS.items():
                assert k in stt.keys(), f"missing state key {k}"
                assert stt[k].dtype == dt, f"{k}: dtype {stt[k].dtype}, contract says {dt}"
                assert tuple(stt[k].shape) == (B, *shape), f"{k}: shape {tuple(stt[k].shape)}"
            assert stt["hash_history"].dtype == torch.int64
            assert tuple(stt["hash_history"].shape) == (B, max_plies + 1)
            assert stt["check_history"].dtype == torch.bool
            assert tuple(stt["check_history"].shape) == (B, max_plies + 1)


def test_batch_of_n_equals_n_batches_of_one():
    sfens = _positions()
    actions = _actions(sfens)
    big = E.from_sfen(sfens, max_plies=64)
    big_next = E.step(big, actions)
    big_obs = E.observe(big_next)
    big_sfen = E.to_sfen(big_next)
    big_usi = E.action_to_usi(big, actions)
    big_mask = E.legal_mask(big)
    for i, s in enumerate(sfens):
        one = E.from_sfen([s], max_plies=64)
        _assert_td_equal(one, big[i:i + 1], f"from_sfen of game {i} ({s})")
        assert torch.equal(E.legal_mask(one), big_mask[i:i + 1]), f"legal_mask of {s}"
        one_next = E.step(one, actions[i:i + 1])
        _assert_td_equal(
            one_next, big_next[i : i + 1], f"step of game {i} ({s}, label {int(actions[i])})"
        )
        assert torch.equal(E.observe(one_next), big_obs[i:i + 1]), f"observe after step from {s}"
        assert E.to_sfen(one_next) == big_sfen[i:i + 1]
        assert E.action_to_usi(one, actions[i:i + 1]) == big_usi[i:i + 1]
    # usi_to_action batched vs single
    back = E.usi_to_action(big, big_usi)
    assert torch.equal(back.cpu(), actions), "usi_to_action(action_to_usi(a)) != a"


def test_step_sequence_batched_vs_single():
    """Several plies: the batched trajectory equals the per-game trajectories."""
    rng = np.random.default_rng(3)
    sfens = _positions()[:8]
    boards = [cshogi.Board(s) for s in sfens]
    big = E.from_sfen(sfens, max_plies=40)
    singles = [E.from_sfen([s], max_plies=40) for s in sfens]
    for ply in range(12):
        acts = []
        for b in boards:
            ref = ref_moves(b)
            if not ref:
                return
            lab = sorted(ref)[int(rng.integers(len(ref)))]
            acts.append(lab)
            b.push(ref[lab])
        if any(b.is_game_over() for b in boards):
            return
        big = E.step(big, torch.tensor(acts))
        singles = [E.step(s1, torch.tensor([a])) for s1, a in zip(singles, acts)]
        for i, s1 in enumerate(singles):
            _assert_td_equal(s1, big[i:i + 1], f"game {i} from {sfens[i]} at ply {ply + 1}")


def test_device_follows_input():
    stt = E.from_sfen([STARTPOS, STARTPOS], device="cpu")
    for k in stt.keys():
        assert stt[k].device.type == "cpu", k
    assert E.legal_mask(stt).device.type == "cpu"
    nxt = E.step(stt, torch.tensor([59, 59]))
    for k in nxt.keys():
        assert nxt[k].device.type == "cpu", k
    assert E.observe(nxt).device.type == "cpu"
    assert E.usi_to_action(stt, ["7g7f", "2g2f"]).device.type == "cpu"
    init = E.initial_state(2)
    for k in init.keys():
        assert init[k].device.type == "cpu", k
    if torch.cuda.is_available():  # pragma: no cover - CPU-only CI
        g = E.from_sfen([STARTPOS], device="cuda")
        assert E.step(g, torch.tensor([59], device="cuda"))["board"].device.type == "cuda"
        assert E.observe(g).device.type == "cuda"


def _snapshot(td: TensorDict) -> TensorDict:
    return td.clone()


def test_functions_do_not_mutate_inputs():
    sfens = _positions()[:10]
    stt = E.from_sfen(sfens, max_plies=50)
    actions = _actions(sfens, seed=1)
    act_copy = actions.clone()
    snap = _snapshot(stt)
    E.legal_mask(stt)
    _assert_td_equal(stt, snap, "legal_mask mutated its input")
    E.observe(stt)
    _assert_td_equal(stt, snap, "observe mutated its input")
    E.to_sfen(stt)
    _assert_td_equal(stt, snap, "to_sfen mutated its input")
    usis = E.action_to_usi(stt, actions)
    _assert_td_equal(stt, snap, "action_to_usi mutated its input")
    E.usi_to_action(stt, usis)
    _assert_td_equal(stt, snap, "usi_to_action mutated its input")
    nxt = E.step(stt, actions)
    _assert_td_equal(stt, snap, "step mutated its input state")
    assert torch.equal(actions, act_copy), "step mutated its action tensor"
    nsnap = _snapshot(nxt)
    fresh = E.from_sfen([STARTPOS] * len(sfens), max_plies=50)
    fsnap = _snapshot(fresh)
    done = torch.zeros(len(sfens), dtype=torch.bool)
    done[::3] = True
    dsnap = done.clone()
    E.reset_where(nxt, done, fresh)
    _assert_td_equal(nxt, nsnap, "reset_where mutated its state")
    _assert_td_equal(fresh, fsnap, "reset_where mutated its fresh state")
    assert torch.equal(done, dsnap)
    # a second step from the same input gives the same result (no hidden state)
    _assert_td_equal(E.step(stt, actions), nxt, "step is not deterministic")


def test_reset_where_replaces_exactly_the_done_games():
    sfens = _positions()[:9]
    stt = E.step(E.from_sfen(sfens, max_plies=30), _actions(sfens, seed=2))
    fresh = E.initial_state(len(sfens), max_plies=30)
    done = torch.tensor([i % 2 == 0 for i in range(len(sfens))])
    out = E.reset_where(stt, done, fresh)
    assert set(out.keys()) == set(stt.keys())
    for i in range(len(sfens)):
        src = fresh if done[i] else stt
        what = f"reset_where game {i} (done={bool(done[i])})"
        ply = int(src["ply"][i])
        for k in out.keys():
            a, b = out[k][i], src[k][i]
            if k in ("hash_history", "check_history"):
                # entries past `ply` are unused (the engine may leave stale values there)
                a, b = a[: ply + 1], b[: ply + 1]
            assert torch.equal(a, b), f"{what}: key {k!r} differs"


@pytest.mark.parametrize("B", [1, 2, 7])
def test_initial_state_batch_sizes(B):
    stt = E.initial_state(B)
    assert E.to_sfen(stt) == [STARTPOS] * B
    assert int(stt["legal_mask"].sum()) == 30 * B
