"""Zero-sum GAE (TorchRL's loop GAE with -gamma) against a hand-written negamax loop, and the
potential-based material shaping of keisei_fn.algos.ppo.batch.shape_rewards.
"""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from torchrl.objectives.value import GAE
from torchrl.objectives.value.functional import vec_generalized_advantage_estimate

from keisei_fn.env import ShogiEnv
from keisei_fn.env import env_view
from keisei_fn.shogi import from_sfen
from keisei_fn.algos.ppo.advantage import make_gae, zero_sum_gae
from keisei_fn.shogi.material import best_capture_gain, material_balance
from keisei_fn.algos.ppo.batch import shape_rewards

torch.set_num_threads(1)


# ------------------------------------------------------------------------------ fixtures
def make_rollout(B: int, T: int, seed: int, p_done: float = 0.2):
    """A hand-made [B, T] rollout: random values, +-1/0 results at terminal steps, several games
    per row, games ending mid-rollout, some ends being move-cap truncations (draws)."""
    g = torch.Generator().manual_seed(seed)
    value = torch.rand(B, T, 1, generator=g, dtype=torch.float64) * 2 - 1
    done = torch.rand(B, T, 1, generator=g) < p_done
    done[0, T // 2] = True          # at least one game ends mid-rollout
    done[1, -1] = True              # one ends exactly at the rollout's last step
    done[2, 3] = done[2, 4] = True  # two games ending back to back
    truncated = done & (torch.rand(B, T, 1, generator=g) < 0.3)
    terminated = done & ~truncated
    result = torch.randint(-1, 2, (B, T, 1), generator=g).to(torch.float64)
    reward = torch.where(terminated, result, torch.zeros_like(result))
    last_value = torch.rand(B, 1, generator=g, dtype=torch.float64) * 2 - 1
    td = TensorDict({
        "state_value": value,
        "next": {"reward": reward, "done": done, "terminated": terminated, "truncated": truncated},
    }, batch_size=[B, T])
    assert (done.sum(1) >= 2).any(), "fixture should hold a row with several games"
    return td, last_value


def negamax_gae(td: TensorDict, last_value: torch.Tensor, gamma: float, lmbda: float):
    """Plain Python reference: each transition valued from its mover's side, next state opponent's.

    delta_t = r_t - gamma * V(s_{t+1}) * (1 - done_t) - V(s_t)
    A_t     = delta_t - gamma * lambda * (1 - done_t) * A_{t+1}
    """
    B, T = td.batch_size
    v = td["state_value"][..., 0].tolist()
    r = td["next", "reward"][..., 0].tolist()
    d = td["next", "done"][..., 0].tolist()
    lv = last_value[:, 0].tolist()
    adv = [[0.0] * T for _ in range(B)]
    for b in range(B):
        a_next = 0.0
        for t in reversed(range(T)):
            v_next = lv[b] if t == T - 1 else v[b][t + 1]
            nd = 0.0 if d[b][t] else 1.0
            delta = r[b][t] - gamma * v_next * nd - v[b][t]
            a_next = delta - gamma * lmbda * nd * a_next
            adv[b][t] = a_next
    adv = torch.tensor(adv, dtype=torch.float64)[..., None]
    return adv, adv + td["state_value"]


# ----------------------------------------------------------------------------- zero-sum GAE
@pytest.mark.parametrize("gamma,lmbda,tol", [
    (0.75, 0.5, 1e-12),     # exactly representable in float32 (TorchRL stores gamma as a buffer)
    (1.0, 1.0, 1e-12),
    (0.5, 0.0, 1e-12),
    (0.99, 0.95, 1e-6),     # the defaults before 2026-12-02; gamma rounds to float32 in TorchRL
    (1.0, 0.95, 1e-6),      # the defaults
])
@pytest.mark.parametrize("seed", [0, 1])
def test_zero_sum_gae_matches_negamax_loop(gamma, lmbda, tol, seed):
    td, last_value = make_rollout(5, 23, seed)
    want_adv, want_target = negamax_gae(td, last_value, gamma, lmbda)
    out = zero_sum_gae(make_gae(gamma, lmbda), td.clone(), last_value)
    assert out["advantage"].shape == (5, 23, 1) and out["advantage"].dtype == torch.float64
    torch.testing.assert_close(out["advantage"], want_adv, rtol=0, atol=tol)
    torch.testing.assert_close(out["value_target"], want_target, rtol=0, atol=tol)


def test_zero_sum_gae_small_cases_by_hand():
    """Two-step game, then a new game cut by the rollout end: numbers worked out on paper."""
    gamma, lmbda = 0.5, 0.5
    v = torch.tensor([[0.2, -0.4, 0.6]], dtype=torch.float64)[..., None]
    r = torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64)[..., None]
    done = torch.tensor([[False, True, False]])[..., None]
    td = TensorDict({"state_value": v, "next": {"reward": r, "done": done, "terminated": done,
                                               "truncated": torch.zeros_like(done)}}, [1, 3])
    last = torch.tensor([[0.8]], dtype=torch.float64)
    out = zero_sum_gae(make_gae(gamma, lmbda), td, last)
    # t=2: delta = 0 - 0.5 * 0.8 - 0.6 = -1.0                      A2 = -1.0
    # t=1: delta = 1 - 0 - (-0.4) = 1.4 (terminal)                 A1 = 1.4
    # t=0: delta = 0 - 0.5 * (-0.4) - 0.2 = 0.0; A0 = 0 - 0.25 * 1.4 = -0.35
    torch.testing.assert_close(out["advantage"][0, :, 0],
                               torch.tensor([-0.35, 1.4, -1.0], dtype=torch.float64))
    torch.testing.assert_close(out["value_target"][0, :, 0],
                               torch.tensor([-0.15, 1.0, -0.4], dtype=torch.float64))


def test_move_cap_is_not_bootstrapped():
    """A truncated (move-cap) step ends the game like a terminal one: no V(s_{t+1}) term."""
    td, last_value = make_rollout(4, 11, 5)
    t_idx = torch.nonzero(td["next", "truncated"][..., 0])
    assert len(t_idx), "fixture should have a truncated step"
    out = zero_sum_gae(make_gae(0.9, 0.8), td.clone(), last_value)
    for b, t in t_idx.tolist():
        want = td["next", "reward"][b, t] - td["state_value"][b, t]
        torch.testing.assert_close(out["advantage"][b, t], want, rtol=0, atol=1e-12)


def test_torchrl_vectorized_gae_is_unusable_with_negative_gamma():
    """Why advantage.py uses the loop path: vectorized GAE with -gamma raises (scalar gamma) or
    returns wrong numbers (tensor gamma)."""
    gamma, lmbda = 0.75, 0.5
    td, last_value = make_rollout(5, 23, 0)
    want, _ = negamax_gae(td, last_value, gamma, lmbda)

    vec = GAE(gamma=-gamma, lmbda=lmbda, value_network=None, vectorized=True)
    vec.set_keys(terminated="game_over")
    try:
        got = zero_sum_gae(vec, td.clone(), last_value)["advantage"]
    except (ValueError, RuntimeError):
        pass  # "math domain error": the fast path takes a log of gamma * lambda
    else:
        assert not torch.allclose(got, want, atol=1e-6), (
            "vectorized GAE agrees: advantage.py's claim is stale"
        )

    value = td["state_value"]
    next_value = torch.cat([value[:, 1:], last_value[:, None]], 1)
    done = td["next", "done"]
    try:
        got, _ = vec_generalized_advantage_estimate(
            torch.full_like(value, -gamma), torch.full_like(value, lmbda), value, next_value,
            td["next", "reward"], done, done)
    except (ValueError, RuntimeError):
        pass
    else:
        assert not torch.allclose(got, want, atol=1e-6), "tensor-gamma vectorized GAE agrees"


# ----------------------------------------------------------------------------- shaping
MATE_IN_ONE = "4k4/9/4P4/9/9/9/9/9/4K4 b G 1"   # G*5b mates; Black: P on board + G in hand
G5B = 26 * 81 + 37                               # label of G*5b (drop plane G, square 5b)
SHAPING_SFENS = [
    MATE_IN_ONE,
    "lnsgkgsnl/1r5b1/9/ppppppppp/PPPPPPPPP/9/9/1B7/LNSGKGSNL b - 1",   # Black lacks a rook
    "lnsgkgsnl/7b1/9/ppppppppp/PPPPPPPPP/9/9/1B7/LN1GKGSNL w Sr 1",     # White to move, hands
    "lnsgkgsnl/7b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL w - 1",   # White lacks a rook
]


def test_material_balance_by_hand():
    got = material_balance(from_sfen(SHAPING_SFENS + [
        "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"]))
    # P(1) + G in hand (7); -R(10); White: +S on board (6) + r in hand (11) - S in Black's hand
    # (6.5);
    # -R(10); start position: 0.
    torch.testing.assert_close(got, torch.tensor([8.0, -10.0, 10.5, -10.0, 0.0]))


def _shaping_rollout(T: int, max_plies: int, seed: int):
    env = ShogiEnv(len(SHAPING_SFENS), max_plies=max_plies)
    g = torch.Generator().manual_seed(seed)

    def policy(td):
        mask = td["action_mask"]
        action = torch.where(mask, torch.rand(mask.shape, generator=g), -1.0).argmax(-1)
        td["action"] = torch.where(mask[:, G5B], G5B, action)  # play the mate when it is there
        return td

    start = env_view(from_sfen(SHAPING_SFENS, max_plies=max_plies), attacks=False)
    rollout = env.rollout(T, policy=policy, auto_reset=False, tensordict=start,
                          break_when_any_done=False)
    return rollout, rollout[:, -1]["next", "game"].clone()


@pytest.mark.parametrize("coef", [0.1, 0.03])
def test_shaping_telescopes_over_a_full_game(coef):
    rollout, next_game = _shaping_rollout(T=14, max_plies=12, seed=0)
    raw = rollout["next", "reward"].clone()
    phi0 = coef * material_balance(rollout["game"][:, 0])
    assert (phi0 != 0).all(), "start positions should be unbalanced (else the test is vacuous)"
    shape_rewards(rollout, next_game, coef, gamma=1.0)
    torch.testing.assert_close(rollout["next", "game_result"], raw, rtol=0, atol=0)
    done = rollout["next", "done"][..., 0]
    shaped = rollout["next", "reward"][..., 0]
    outcomes = []
    for b in range(done.shape[0]):
        end = int(done[b].nonzero()[0])      # the first game of the row: t = 0 .. end
        sign = torch.tensor([(-1.0) ** t for t in range(end + 1)])
        # Seen from the first mover: alternating signs (the mover alternates every ply).
        got = (sign * shaped[b, :end + 1]).sum()
        want = (sign * raw[b, :end + 1, 0]).sum() - phi0[b]
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
        outcomes.append(int(rollout["next", "outcome"][b, end]))
    assert 1 in outcomes and 4 in outcomes, f"want a mate and a move-cap game, got {outcomes}"
    # Some game saw a capture (the material swing is more than the side-to-move sign flip), so
    # the intermediate shaping terms do not all cancel trivially.
    black_view = material_balance(rollout["game"].reshape(-1)).view(rollout.batch_size)
    black_view = black_view * (1 - 2 * rollout["game", "side_to_move"].float())
    assert any(len(set(row.tolist())) > 2 for row in black_view), "no capture in any game"


def test_shaping_terms_match_hand_formula():
    coef, gamma = 0.05, 0.9
    rollout, next_game = _shaping_rollout(T=16, max_plies=10, seed=1)
    raw = rollout["next", "reward"][..., 0].clone()
    B, T = rollout.batch_size
    # Hand: Phi of the state before and after each move, the latter read from ("next", "game")
    # (the terminal position, not the auto-reset one that follows it in the rollout).
    phi = coef * material_balance(rollout["game"].reshape(-1)).view(B, T)
    phi_after = coef * material_balance(rollout["next", "game"].reshape(-1)).view(B, T)
    done = rollout["next", "done"][..., 0].double()
    want = raw.double() - gamma * phi_after.double() * (1 - done) - phi.double()
    shape_rewards(rollout, next_game, coef, gamma)
    torch.testing.assert_close(rollout["next", "reward"][..., 0].double(), want, rtol=0, atol=1e-5)
    assert rollout["next", "reward"].shape == (B, T, 1)


def test_zero_shaping_leaves_rewards_and_records_result():
    rollout, next_game = _shaping_rollout(T=6, max_plies=8, seed=2)
    raw = rollout["next", "reward"].clone()
    assert raw.abs().sum() > 0, "want a decisive result in the rollout"
    shape_rewards(rollout, next_game, 0.0, gamma=0.99)
    assert torch.equal(rollout["next", "reward"], raw)
    assert torch.equal(rollout["next", "game_result"], raw)
    # a copy, not an alias: shaping later must not rewrite the recorded result
    assert rollout["next", "game_result"].data_ptr() != rollout["next", "reward"].data_ptr()


def test_a_capped_game_scores_tanh_of_the_last_movers_material():
    """ppo.cap_material_scale: the transition that reaches the move cap scores tanh(material /
    scale) for its mover, the material read from the position after the move (the opponent's
    balance, negated: not the capture table the code uses); every other reward and the recorded
    raw result are untouched."""
    rollout, next_game = _shaping_rollout(T=14, max_plies=12, seed=0)
    raw = rollout["next", "reward"].clone()
    shape_rewards(rollout, next_game, 0.0, gamma=1.0, cap_scale=10.0)
    capped = rollout["next", "truncated"][..., 0]
    decided = rollout["next", "terminated"][..., 0]
    assert capped.any() and decided.any(), "want capped and decided games"
    mover_after = -material_balance(rollout["next", "game"][capped])
    assert (mover_after != 0).sum() >= 2, "unbalanced positions at the cap (else vacuous)"
    torch.testing.assert_close(rollout["next", "reward"][capped][:, 0],
                               torch.tanh(mover_after / 10.0))
    assert torch.equal(rollout["next", "reward"][~capped], raw[~capped])
    assert torch.equal(rollout["next", "game_result"], raw)


def test_material_after_a_move_is_the_stepped_positions_material():
    """`material_after` (what the cap adjudication scores) against the rules engine's own
    next position, for every legal move of positions with hands: promotions and drops
    included, which a capture table gets wrong."""
    from keisei_fn.shogi import NUM_ACTIONS, step
    from keisei_fn.shogi.material import material_after
    from tests._shogi_ref import random_walk_sfens

    state = from_sfen(random_walk_sfens(seed=5, n=12, min_plies=40, max_plies=120,
                                        capture_bias=0.7))
    game, move = state["legal_mask"].nonzero(as_tuple=True)
    stepped = step(state[game], move)
    want = -material_balance(stepped)  # the next side's balance, negated
    torch.testing.assert_close(material_after(state[game], move), want)
    drops, promotions = move >= 20 * 81, (move >= 10 * 81) & (move < 20 * 81)
    assert NUM_ACTIONS == 27 * 81 and drops.sum() > 20 and promotions.sum() > 5


def test_the_value_target_mixes_in_a_one_ply_search_value():
    """ppo.value_search_mix: value_target -> (1 - l) * target + l * (tanh(s / scale) - Phi),
    s the mover's best material after one move, read here from the rules engine's stepped
    positions (every legal move played), not from the capture tables the code uses."""
    from types import SimpleNamespace

    from keisei_fn.algos.ppo.batch import mix_value_target
    from keisei_fn.env.compact import POSITION_KEYS, pack_mask
    from keisei_fn.shogi import step
    from tests._shogi_ref import random_walk_sfens

    state = from_sfen(random_walk_sfens(seed=7, n=16, min_plies=30, max_plies=120,
                                        capture_bias=0.7))
    game, move = state["legal_mask"].nonzero(as_tuple=True)
    after = -material_balance(step(state[game], move))  # the mover's, after each move
    best = torch.full((16,), -torch.inf).scatter_reduce(0, game, after, "amax")
    material = material_balance(state)
    assert (best > material).sum() >= 4, "positions with a capture (else vacuous)"
    target = torch.rand(16, 1, generator=torch.Generator().manual_seed(0)) * 2 - 1
    batch = TensorDict({"game": state.select(*POSITION_KEYS),
                        "mask_bits": pack_mask(state["legal_mask"]),
                        "value_target": target.clone()}, batch_size=[16])
    ppo = SimpleNamespace(value_search_mix=0.25, value_search_scale=8.0, material_shaping=0.02,
                          value_search_quiet=0)
    mixed = mix_value_target(batch, ppo)["value_target"]
    want = 0.75 * target[:, 0] + 0.25 * (torch.tanh(best / 8.0) - 0.02 * material)
    torch.testing.assert_close(mixed[:, 0], want)
    off = SimpleNamespace(value_search_mix=0.0, value_search_scale=8.0, material_shaping=0.02)
    assert torch.equal(mix_value_target(batch.clone(), off)["value_target"], mixed)


@pytest.mark.parametrize("plies", [3, 4])
@pytest.mark.parametrize("more_ends", [False, True])
def test_the_material_head_target_by_a_plain_walk_forward(plies, more_ends):
    """model.material_head's target (`material_ahead`) against a walk forward through the
    rollout, step by step: where the game ends within `plies` plies, its raw result for t's
    mover (the sign read from the movers' sides, not from parity), or at the move cap tanh(the
    capping mover's material in the stepped position / 10); else tanh(the mover's material
    balance that many plies later / 10); known only where the rollout reaches that far.
    `more_ends` marks further steps as decided games' ends, with random results, so that
    games end at every distance from the positions before them."""
    from keisei_fn.algos.ppo.batch import material_ahead

    rollout, next_game = _shaping_rollout(T=14, max_plies=12, seed=0)
    shape_rewards(rollout, next_game, 0.05, gamma=1.0)
    if more_ends:
        g = torch.Generator().manual_seed(plies)
        ends = torch.rand(rollout.batch_size, generator=g) < 0.2
        results = torch.randint(-1, 2, rollout.batch_size, generator=g).float()
        rollout["next", "done"] = rollout["next", "done"] | ends[..., None]
        rollout["next", "game_result"] = torch.where(
            ends[..., None], results[..., None], rollout["next", "game_result"])
    material_ahead(rollout, next_game, plies)
    got, known = rollout["material_ahead"][..., 0], rollout["material_ahead_known"][..., 0]
    b_size, t_size = rollout.batch_size
    side = rollout["game", "side_to_move"]
    done, result = rollout["next", "done"][..., 0], rollout["next", "game_result"][..., 0]
    capped = rollout["next", "truncated"][..., 0] & ~rollout["next", "terminated"][..., 0]
    kinds = set()
    for b in range(b_size):
        for t in range(t_size):
            if t + plies > t_size:
                assert not known[b, t], (b, t)
                kinds.add("unknown")
                continue
            assert known[b, t], (b, t)
            sign = {True: 1.0, False: -1.0}
            for d in range(plies):
                e = t + d
                if done[b, e]:  # the mover of step e scored result[b, e], or its material
                    if capped[b, e]:
                        mover = -float(material_balance(rollout["next", "game"][b, e][None])[0])
                        want = float(torch.tanh(torch.tensor(mover / 10.0)))
                        kinds.add("capped")
                    else:
                        want = float(result[b, e])
                        kinds.add("won" if want else "drawn")
                    want *= sign[bool(side[b, e] == side[b, t])]
                    break
            else:
                j = t + plies
                state = next_game[b] if j == t_size else rollout["game"][b, j]
                m = float(material_balance(state[None])[0])
                want = m * sign[bool(state["side_to_move"] == side[b, t])]
                want = float(torch.tanh(torch.tensor(want / 10.0)))
                kinds.add("material" if m else "even")
            assert float(got[b, t]) == pytest.approx(want, abs=1e-6), (b, t)
    want_kinds = {"won", "capped", "material", "unknown"} | ({"drawn"} if more_ends else set())
    assert kinds >= want_kinds, kinds


@pytest.mark.parametrize("quiet", [1, 2])
def test_the_mixed_search_value_can_play_its_captures_out(quiet):
    """ppo.value_search_quiet: s is the mover's quiescence value (its captures, the replies'
    captures, `quiet` plies deep), checked against the brute force on cshogi in test_minimax;
    the stored positions carry no history, which a few plies of captures do not need."""
    from types import SimpleNamespace

    import cshogi
    from test_minimax import _reference

    from keisei_fn.algos.ppo.batch import mix_value_target
    from keisei_fn.env.compact import POSITION_KEYS, pack_mask
    from keisei_fn.shogi import to_sfen
    from tests._shogi_ref import random_walk_sfens

    state = from_sfen(random_walk_sfens(seed=8, n=12, min_plies=30, max_plies=120,
                                        capture_bias=0.7))
    best = torch.tensor([max(_reference(cshogi.Board(sfen), 1, quiet).values())
                         for sfen in to_sfen(state)])
    static = material_balance(state) + best_capture_gain(state)
    assert (best != static).sum() >= 3, "positions where a retake matters (else vacuous)"
    target = torch.zeros(12, 1)
    batch = TensorDict({"game": state.select(*POSITION_KEYS),
                        "mask_bits": pack_mask(state["legal_mask"]),
                        "value_target": target}, batch_size=[12])
    ppo = SimpleNamespace(value_search_mix=1.0, value_search_scale=8.0, material_shaping=0.02,
                          value_search_quiet=quiet)
    mixed = mix_value_target(batch, ppo)["value_target"][:, 0]
    torch.testing.assert_close(mixed, torch.tanh(best / 8.0) - 0.02 * material_balance(state))
