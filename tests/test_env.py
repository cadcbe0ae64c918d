"""ShogiEnv: TorchRL spec conformance, agreement with the engine and cshogi, rewards from the
mover's side, auto-reset inside the batch, partial resets, seeding, statelessness.
"""

from __future__ import annotations

import cshogi
import pytest
import torch
from cshogi.dlshogi import make_move_label
from tensordict import TensorDict
from torchrl.envs.utils import check_env_specs

from _shogi_ref import STARTPOS, flip_sfen, ref_moves
from keisei_fn.env import GAME_KEYS, ShogiEnv, game_state
from keisei_fn.env import env_view
from keisei_fn.shogi import Reason, from_sfen, initial_state, observe, step

torch.set_num_threads(1)

MATE_IN_ONE = "4k4/9/4P4/9/9/9/9/9/4K4 b G 1"  # G*5b mates (gold protected by the pawn)


def _start(max_plies: int) -> TensorDict:
    return env_view(initial_state(1, max_plies=max_plies), attacks=False)[0]


def _assert_same_game(a: TensorDict, b: TensorDict, what: str) -> None:
    for key in ("observation", "action_mask") + tuple(("game", k) for k in GAME_KEYS):
        assert torch.equal(a.get(key), b.get(key)), f"{what}: {key} differs"


# ----------------------------------------------------------------------------- specs
@pytest.mark.parametrize("B", [1, 4])
def test_check_env_specs(B):
    env = ShogiEnv(B, max_plies=16)
    check_env_specs(env)
    check_env_specs(env, break_when_any_done="both")  # a game may end inside the check rollout
    # what the env produces actually lies in its specs
    td = env.reset()
    assert env.observation_spec.is_in(td.select(*env.observation_spec.keys(True, True)))
    td = env.rand_action(td)
    assert env.action_spec.is_in(td["action"])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError):
        ShogiEnv(0)
    with pytest.raises(ValueError):
        ShogiEnv([2, 3])
    with pytest.raises(ValueError):
        ShogiEnv(2, max_plies=0)


# ------------------------------------------------------------ agreement with engine + cshogi
def test_rollout_agrees_with_engine_and_cshogi():
    """Random legal play with auto-reset: every mask equals cshogi's legal labels of the replayed
    game, every observation equals observe() of the game state, the moves are the engine's."""
    B, T, cap = 5, 30, 11
    env = ShogiEnv(B, max_plies=cap)
    env.set_seed(7)
    ro = env.rollout(T, break_when_any_done=False)
    boards = [cshogi.Board(STARTPOS) for _ in range(B)]
    for t in range(T):
        root = ro[:, t]
        # the env's view is the engine's: observation = observe(state), mask = legal mask
        assert torch.equal(root["observation"], observe(game_state(root)))
        nxt = root["next"]
        assert torch.equal(nxt["observation"], observe(game_state(nxt)))
        want = step(game_state(root), root["action"])
        assert torch.equal(nxt["action_mask"], want["legal_mask"])
        for k in GAME_KEYS:
            assert torch.equal(nxt["game", k], want[k]), f"step {t}: game.{k} differs from engine"
        for b in range(B):
            legal = ref_moves(boards[b])
            mask = root["action_mask"][b]
            assert set(mask.nonzero()[:, 0].tolist()) == set(legal), (
                f"row {b} step {t}: mask vs cshogi"
            )
            action = int(root["action"][b])
            assert mask[action], "rand_action picked an illegal move"
            mover = boards[b].turn
            boards[b].push(legal[action])
            done = bool(nxt["done"][b])
            outcome = int(nxt["outcome"][b])
            if done:
                assert outcome in (Reason.MATE, Reason.MOVE_CAP, Reason.REPETITION), outcome
                if outcome == Reason.MOVE_CAP:
                    assert int(nxt["game", "ply"][b]) == cap and bool(nxt["truncated"][b])
                if outcome == Reason.MATE:
                    assert boards[b].is_game_over() and float(nxt["reward"][b]) == 1.0
                boards[b] = cshogi.Board(STARTPOS)
            else:
                assert outcome == 0 and float(nxt["reward"][b]) == 0.0
                assert int(boards[b].turn) != mover
    assert ro["next", "done"].any(), "the move cap should have ended games in this rollout"


# --------------------------------------------------------------------- rewards and outcome
def test_mate_reward_belongs_to_the_mover():
    cap = 20
    sfens = [MATE_IN_ONE, flip_sfen(MATE_IN_ONE), STARTPOS]
    boards = [cshogi.Board(s) for s in sfens]
    usis = ["G*5b", "G*5h", "7g7f"]
    env = ShogiEnv(3, max_plies=cap)
    td = env_view(from_sfen(sfens, max_plies=cap), attacks=False)
    td["action"] = torch.tensor([make_move_label(b.move_from_usi(u), b.turn)
                                 for b, u in zip(boards, usis)])
    out = env.step(td.clone())
    nxt = out["next"]
    assert nxt["reward"].shape == (3, 1) and nxt["reward"].dtype == torch.float32
    # Black mates (row 0), White mates (row 1): +1 for the side that moved, each time.
    assert nxt["reward"][:, 0].tolist() == [1.0, 1.0, 0.0]
    assert nxt["outcome"][:, 0].tolist() == [Reason.MATE, Reason.MATE, Reason.NONE]
    assert nxt["terminated"][:, 0].tolist() == [True, True, False]
    assert nxt["truncated"][:, 0].tolist() == [False, False, False]
    assert nxt["done"][:, 0].tolist() == [True, True, False]
    # cshogi agrees that the first two are mate
    for b, u in zip(boards, usis):
        b.push_usi(u)
    assert [b.is_game_over() for b in boards] == [True, True, False]
    # the mated side has no legal move in the env's view
    assert nxt["action_mask"][:2].sum() == 0 and nxt["action_mask"][2].sum() > 0

    # step_and_maybe_reset: the finished rows restart from the start position, the other goes on
    out, root = env.step_and_maybe_reset(td.clone())
    start = _start(cap)
    for b in (0, 1):
        _assert_same_game(root[b], start, f"row {b} after mate")
    _assert_same_game(root[2], out["next"][2], "row 2 (game continues)")
    assert int(root["game", "ply"][2]) == 1


def test_move_cap_outcome_and_auto_reset():
    cap, B = 6, 3
    env = ShogiEnv(B, max_plies=cap)
    env.set_seed(0)
    ro = env.rollout(2 * cap + 3, break_when_any_done=False)
    done = ro["next", "done"][..., 0]
    # every game runs to the cap: done exactly at steps cap-1 and 2*cap-1
    expect = torch.zeros_like(done)
    expect[:, cap - 1] = expect[:, 2 * cap - 1] = True
    assert torch.equal(done, expect)
    assert torch.equal(ro["next", "truncated"][..., 0], expect)
    assert not ro["next", "terminated"].any()
    assert torch.equal(ro["next", "outcome"][..., 0] == Reason.MOVE_CAP, expect)
    assert (ro["next", "reward"] == 0).all()
    assert torch.equal(ro["game", "ply"], (torch.arange(2 * cap + 3) % cap).expand(B, -1).int())
    start = _start(cap)
    for b in range(B):
        _assert_same_game(ro[b, cap], start, f"row {b} after the cap")


def test_auto_reset_only_for_finished_rows():
    """Rows at different plies: each restarts when (and only when) it hits the cap."""
    cap, B = 6, 4
    env = ShogiEnv(B, max_plies=cap)
    env.set_seed(1)
    warm = env.rollout(cap, break_when_any_done=False)
    plies = [3, 0, 5, 1]
    init = torch.stack([warm[b, k].select("observation", "action_mask", "game")
                        for b, k in enumerate(plies)])
    assert init["game", "ply"].tolist() == plies
    T = 9
    ro = env.rollout(T, auto_reset=False, tensordict=init.clone(), break_when_any_done=False)
    done = ro["next", "done"][..., 0]
    start = _start(cap)
    for b, k in enumerate(plies):
        first = cap - k - 1
        assert int(done[b].nonzero()[0]) == first, f"row {b} should end at step {first}"
        for t in range(T - 1):
            if done[b, t]:
                _assert_same_game(ro[b, t + 1], start, f"row {b} step {t + 1} (reset)")
            else:
                _assert_same_game(ro[b, t + 1], ro[b, t]["next"], f"row {b} step {t + 1} (carried)")
        # the rows are not in lock-step: some step has one row done and another not
    assert any(done[:, t].any() and not done[:, t].all() for t in range(T))


# ------------------------------------------------------------------------------- reset
def _midgame(env: ShogiEnv, steps: int = 3) -> TensorDict:
    env.set_seed(11)
    ro = env.rollout(steps, break_when_any_done=False)
    return ro[:, -1]["next"].select("observation", "action_mask", "game", "done", "terminated",
                                    "truncated").clone()


def test_partial_reset_keeps_other_rows_exactly():
    cap, B = 30, 4
    env = ShogiEnv(B, max_plies=cap)
    td = _midgame(env)
    assert (td["game", "ply"] == 3).all()
    reset = torch.tensor([True, False, True, False])
    inp = td.clone()
    inp["_reset"] = reset[:, None]
    out = env.reset(inp)
    start = _start(cap)
    for b in range(B):
        if reset[b]:
            _assert_same_game(out[b], start, f"row {b} (reset)")
        else:
            _assert_same_game(out[b], td[b], f"row {b} (kept)")
    assert not out["done"].any()
    # TorchRL's reset() masks the update with "_reset" itself; the env's own _reset keeps the
    # other rows too (its contract, which the collector's partial resets rely on), and is pure.
    inp = td.clone()
    inp["_reset"] = reset[:, None]
    snap = inp.clone()
    own = env._reset(inp)
    assert (inp == snap).all(), "_reset modified its input"
    for b in range(B):
        _assert_same_game(own[b], start if reset[b] else td[b], f"_reset row {b}")


def test_reset_with_all_rows_flagged_and_full_reset():
    cap, B = 30, 3
    env = ShogiEnv(B, max_plies=cap)
    td = _midgame(env)
    start = _start(cap)
    for out in (
        env.reset(),
        env.reset(td.clone().set("_reset", torch.ones(B, 1, dtype=torch.bool))),
    ):
        assert out.batch_size == (B,)
        for b in range(B):
            _assert_same_game(out[b], start, f"row {b}")
        assert not out["done"].any() and not out["terminated"].any()
    # the start position is the engine's, and agrees with cshogi's legal moves
    assert torch.equal(start["game", "board"], initial_state(1)["board"][0])
    assert set(start["action_mask"].nonzero()[:, 0].tolist()) == set(ref_moves(cshogi.Board()))
    # a reset state is a copy: writing into it does not leak into the next reset
    out = env.reset()
    out["game", "board"].zero_()
    assert torch.equal(env.reset()["game", "board"][0], start["game", "board"])


def test_reset_flag_false_everywhere_changes_nothing():
    env = ShogiEnv(3, max_plies=30)
    td = _midgame(env)
    flags = torch.zeros(3, 1, dtype=torch.bool)
    out = env.reset(td.clone().set("_reset", flags))
    own = env._reset(td.clone().set("_reset", flags))
    for b in range(3):
        _assert_same_game(out[b], td[b], f"row {b}")
        _assert_same_game(own[b], td[b], f"_reset row {b}")


# ------------------------------------------------------------------------------- seeding
def test_seeding_reproducible():
    env = ShogiEnv(4, max_plies=40)

    def actions(seed, env=env):
        env.set_seed(seed)
        ro = env.rollout(12, break_when_any_done=False)
        assert ro["action_mask"].gather(-1, ro["action"][..., None]).all()
        return ro["action"]

    a = actions(3)
    assert torch.equal(a, actions(3))
    assert torch.equal(a, actions(3, ShogiEnv(4, max_plies=40)))  # another instance, same seed
    assert not torch.equal(a, actions(4))
    # the env's generator is its own: the global torch RNG does not change the actions
    torch.manual_seed(123)
    assert torch.equal(a, actions(3))
    # unseeded use of rand_action works too
    env2 = ShogiEnv(2, max_plies=40)
    td = env2.rand_action(env2.reset())
    assert td["action_mask"].gather(-1, td["action"][:, None]).all()


def test_rand_action_is_uniform_over_legal_moves():
    env = ShogiEnv(1, max_plies=40)
    env.set_seed(0)
    td = env.reset()
    legal = td["action_mask"][0].nonzero()[:, 0]
    td = td.expand(3000).clone()
    env.batch_locked = False  # rand_action only reads the mask: sample 3000 rows at once
    counts = torch.bincount(env.rand_action(td)["action"], minlength=2187)[legal].double()
    expected = 3000 / len(legal)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert counts.sum() == 3000 and chi2 < 58.3, chi2  # 29 dof, p < 0.001


# --------------------------------------------------------------------------- statelessness
def test_step_is_a_pure_function_of_its_input():
    env = ShogiEnv(4, max_plies=30)
    td = _midgame(env)
    env.set_seed(2)
    td = env.rand_action(td)
    snap = td.clone()
    out1 = env._step(td)
    out2 = env._step(td)
    assert (td == snap).all(), "_step modified its input"
    assert (out1 == out2).all()
    # the public step: only "next" is added, the root entries are untouched
    a = env.step(td.clone())
    b = env.step(td.clone())
    assert (a == b).all()
    assert (a.exclude("next") == snap).all()
    # the output owns its memory: mutating it does not reach the input
    out1["game", "hash_history"].fill_(0)
    out1["observation"].fill_(0)
    assert (td == snap).all()
    # a different env instance gives the same answer (no hidden state)
    other = ShogiEnv(4, max_plies=30)
    assert (other._step(td) == out2).all()
