"""Gumbel AlphaZero (algo=gumbel_az): its targets are the search's improved policy and the games'
outcomes with the right sign, it learns mate in one from search alone, and a run resumes
exactly. Mates and legal moves are judged by cshogi, independently of our engine."""

from __future__ import annotations

import random
import re

import cshogi
import pytest
import torch
from _tiny import TINY_AZ, assert_resumes_exactly, flat, tiny
from cshogi.dlshogi import make_move_label
from tensordict import TensorDict

from keisei_fn.algos.gumbel_az.replay import (collect_finished, new_buffer, new_pending,
                                              sample_minibatch, stored)
from keisei_fn.agent import evaluator
from keisei_fn.algos.gumbel_az.search_policy import SearchPolicy
from keisei_fn.env.compact import engine_state
from keisei_fn.algos.gumbel_az.targets import (POLICY_SLOTS, finished_games, pack_policy,
                                               unpack_policy, value_targets)
from keisei_fn.collect.rollout import rollout
from keisei_fn.env import ShogiEnv
from keisei_fn.env.compact import pack_mask
from keisei_fn.env import GAME_KEYS
from keisei_fn.algos.registry import make_update
from keisei_fn.learn.population import init_members, member_config
from keisei_fn.learn.optim import adam_init
from keisei_fn.models import build_model, members_forward, net_spec
from keisei_fn.search.gumbel import search
from keisei_fn.shogi import from_sfen, observe

AZ = [*TINY_AZ, "total_updates=1"]


def mate_in_one_positions(count: int, seed: int = 0) -> list[tuple[str, set[int]]]:
    """(sfen, labels of its mating moves) of positions met in cshogi's random games where the
    side to move mates in one, by cshogi's rules."""
    rng = random.Random(seed)
    found = []
    while len(found) < count:
        board = cshogi.Board()
        for _ in range(300):
            if board.is_game_over():
                break
            if board.mate_move_in_1ply():
                mates = set()
                for move in board.legal_moves:
                    board.push(move)
                    if board.is_game_over():
                        mates.add(make_move_label(move, 1 - board.turn))
                    board.pop()
                found.append((board.sfen(), mates))
                break
            board.push(rng.choice(list(board.legal_moves)))
    return found


def env_td(state) -> TensorDict:
    """An env-style TensorDict (what the collection loop hands the policy) of engine states."""
    return TensorDict(game=state.select(*GAME_KEYS), action_mask=state["legal_mask"],
                      batch_size=state.batch_size)


def test_packed_policy_is_the_improved_policy_and_zero_off_the_legal_moves():
    positions = mate_in_one_positions(6)
    state = from_sfen([s for s, _ in positions], max_plies=64)
    mask = state["legal_mask"]
    policy = torch.softmax(torch.where(mask, torch.randn(mask.shape), -torch.inf), -1)
    back = unpack_policy(pack_policy(policy, mask), mask)
    assert torch.equal(back[~mask], torch.zeros(int((~mask).sum())))
    # float16 keeps 11 significant bits
    assert torch.allclose(back, policy, rtol=2 ** -11, atol=1e-7)
    assert int(mask.sum(-1).max()) <= POLICY_SLOTS


@pytest.mark.parametrize("batched_rounds, simulations, q_range",
                         [(False, [], 0.0), (True, [3, 6], 0.0), (False, [], 1.0)])
def test_search_policy_stores_the_search_s_improved_policy_for_each_member(batched_rounds,
                                                                          simulations, q_range):
    """Two members, each searching its own rows with its own parameters, Gumbel stream and
    (population.simulations) simulation count; `gumbel_az.q_range` reaches the search."""
    cfg = tiny("/tmp/unused", *AZ, "population.size=2", f"gumbel_az.q_range={q_range}",
               f"gumbel_az.batched_rounds={str(batched_rounds).lower()}",
               f"population.simulations=[{','.join(map(str, simulations))}]")
    sims = [member_config(cfg, k).gumbel_az.simulations for k in range(2)]
    assert sims == (simulations or [cfg.gumbel_az.simulations] * 2)
    params = init_members(cfg, torch.device("cpu"))
    positions = mate_in_one_positions(4, seed=1)
    state = from_sfen([s for s, _ in positions], max_plies=64)
    gens = [torch.Generator().manual_seed(11), torch.Generator().manual_seed(12)]
    saved = [g.get_state() for g in gens]
    policy = SearchPolicy(params, gens, cfg.gumbel_az, impasse=False, spec=net_spec(cfg.model),
                          simulations=sims)
    td = policy(env_td(state))
    assert policy.simulations_done == 2 * sum(sims)
    for k in range(2):
        rows = slice(2 * k, 2 * k + 2)

        def evaluate(s, k=k):
            logits, value = members_forward(params[k:k + 1], observe(s)[None], net_spec(cfg.model))
            return torch.log_softmax(torch.where(s["legal_mask"], logits[0], -torch.inf), -1), \
                value[0].squeeze(-1) + cfg.gumbel_az.material_prior * _material(s)

        reference = search(engine_state(env_td(state))[rows], _clamped(evaluate),
                           torch.Generator().set_state(saved[k]), simulations=sims[k],
                           max_considered=cfg.gumbel_az.max_considered, impasse=False,
                           batched_rounds=batched_rounds, q_range=q_range)
        mask = state["legal_mask"][rows]
        assert torch.equal(td["action"][rows], reference["action"])
        assert torch.allclose(unpack_policy(td["search_policy"][rows], mask),
                              reference["policy"], rtol=2 ** -11, atol=1e-7)
        assert torch.allclose(td["root_value"][rows], reference["value"], atol=1e-6)


def _material(s):
    from keisei_fn.shogi.material import material_balance

    return material_balance(s)


def _clamped(evaluate):
    def run(s):
        log_probs, value = evaluate(s)
        return log_probs, value.clamp(-1, 1)
    return run


def test_value_targets_by_hand():
    # A game of 5 positions (plies 0-4) whose last move (ply 4, Black's) mated: +1 for Black.
    length, reward = torch.tensor([5]), torch.tensor([1.0])
    root = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5, 9.0]])
    assert value_targets(length, reward, root, "outcome", 1).tolist() == [
        [1.0, -1.0, 1.0, -1.0, 1.0, -1.0]]
    # n = 2: the root value two plies later (the same side to move), the outcome within 2 plies
    # of the end; entries past the game are unused.
    assert value_targets(length, reward, root, "nstep", 2)[0, :5].tolist() == pytest.approx(
        [0.3, 0.4, 0.5, -1.0, 1.0])
    # n = 1: minus the opponent's root value
    assert value_targets(length, reward, root, "nstep", 1)[0, :4].tolist() == pytest.approx(
        [-0.2, -0.3, -0.4, -0.5])


def test_a_mate_gives_plus_one_to_the_mover_in_the_stored_targets():
    """Real games from the engine, ended by mates cshogi found: every position's outcome target
    is +1 for the side that gave mate and -1 for the other."""
    cfg = tiny("/tmp/unused", *AZ, "gumbel_az.material_prior=0")
    positions = mate_in_one_positions(3, seed=2)
    state = from_sfen([s for s, _ in positions], max_plies=64)
    pending = new_pending(3, 64, "cpu")
    plies = state["ply"].long()
    # The positions before the mate, recorded at their plies (the earlier plies stay unused
    # zeros here: the outcome sign only depends on the distance to the end).
    pending[torch.arange(3), plies] = TensorDict(
        game=state.select("board", "hands", "side_to_move", "ply"),
        mask_bits=pack_mask(state["legal_mask"]), root_value=torch.zeros(3),
        raw_value=torch.zeros(3), search_policy=torch.zeros(3, POLICY_SLOTS,
                                                            dtype=torch.float16),
        batch_size=[3])
    mates = torch.tensor([min(m) for _, m in positions])
    from keisei_fn.shogi import step

    after = step(state, mates)
    assert bool(after["terminated"].all()) and bool((after["reward"] > 0).all())
    out = finished_games(pending, after["terminated"], plies, after["reward"], cfg.gumbel_az)
    assert out.batch_size[0] == int((plies + 1).sum())
    # each game's positions in ply order: the mating side moves at the last ply, and at every
    # second ply before it
    to_end = torch.cat([torch.arange(int(p), -1, -1) for p in plies])
    assert torch.equal(out["outcome"], torch.where(to_end % 2 == 0, 1.0, -1.0))
    assert torch.equal(out["target_value"], out["outcome"])
    # the recorded position before the mate is the mating side's, at +1
    last = out.get(("game", "ply")).long() == plies.repeat_interleave(plies + 1)
    assert int(last.sum()) == 3 and bool((out["outcome"][last] == 1).all())
    assert torch.equal(out.get(("game", "side_to_move"))[last], state["side_to_move"])


def test_the_replay_pipeline_carries_the_targets_from_play_to_the_minibatch():
    """Searched self-play in the env (games capped at 12 plies, so they all end): every position
    of every finished game reaches the buffer once, with its packed improved policy, and comes
    out of the sampler unpacked, zero off the legal moves, summing to 1."""
    cfg = tiny("/tmp/unused", *AZ, "env.max_plies=12")
    params = init_members(cfg, torch.device("cpu"))
    env = ShogiEnv(4, max_plies=12)
    games = env.reset()
    policy = SearchPolicy(params, [torch.Generator().manual_seed(3)], cfg.gumbel_az,
                          impasse=False, spec=net_spec(cfg.model))
    pending = new_pending(4, 12, "cpu")
    games, trajectory = rollout(env, policy, games, 30)
    pending, finished = collect_finished(pending, trajectory, cfg.gumbel_az)
    done = trajectory["next", "done"].squeeze(-1)
    assert int(done.sum()) == 8  # two capped games per row in 30 plies
    assert finished.batch_size[0] == 8 * 12
    assert torch.equal(finished["outcome"], torch.zeros(96))  # the cap is a draw
    # the stored policies are the ones the search wrote at those positions
    first = trajectory[:, :12]
    assert torch.equal(finished[:12]["search_policy"], first[0]["search_policy"])
    buffer = new_buffer(cfg.gumbel_az)
    buffer.extend(stored(finished))
    batch = sample_minibatch([buffer], [torch.Generator().manual_seed(0)], 8, 12,
                             attacks=False)
    assert batch.batch_size == torch.Size([1, 8])
    target, mask = batch["target_policy"], batch["action_mask"]
    assert torch.equal(target[~mask], torch.zeros(int((~mask).sum())))
    assert torch.allclose(target.sum(-1), torch.ones(1, 8), atol=2e-3)


@pytest.mark.slow
def test_gumbel_az_learns_mate_in_one_from_search_alone():
    """48 mate-in-one positions (cshogi's), an untrained network, and the machinery of a run:
    the search's targets into a replay buffer, the compiled-able folded update sampling from
    it. After 6 rounds the policy loss has fallen and the network's argmax mates (by cshogi) in
    most positions; untrained it mates in almost none."""
    cfg = tiny("/tmp/unused", "algo=gumbel_az", "total_updates=1", "gumbel_az.simulations=64",
               "gumbel_az.max_considered=32", "gumbel_az.minibatch_size=32",
               "gumbel_az.buffer_size=4096", "optim.lr=3e-3", "model.channels=16",
               "model.blocks=1", "gumbel_az.material_prior=0", "gumbel_az.full_search_prob=1")
    positions = mate_in_one_positions(48, seed=4)
    state = from_sfen([s for s, _ in positions], max_plies=64)
    torch.manual_seed(0)
    params = init_members(cfg, torch.device("cpu"))
    opt = torch.stack([adam_init(p) for p in params.unbind(0)])
    update = make_update(cfg, build_model(cfg.model))
    buffer = new_buffer(cfg.gumbel_az)
    sampler = torch.Generator().manual_seed(0)
    gen = torch.Generator().manual_seed(5)

    def mates(params) -> float:
        logits, _ = members_forward(params, observe(state)[None], net_spec(cfg.model))
        best = torch.where(state["legal_mask"], logits[0], -torch.inf).argmax(-1).tolist()
        return sum(b in m for b, (_, m) in zip(best, positions)) / len(positions)

    before = mates(params)
    losses = []
    for _ in range(6):
        td = SearchPolicy(params, [gen], cfg.gumbel_az, impasse=False,
                          spec=net_spec(cfg.model))(env_td(state))
        buffer.extend(TensorDict(
            game=state.select("board", "hands", "side_to_move", "ply"),
            mask_bits=pack_mask(state["legal_mask"]), search_policy=td["search_policy"],
            target_value=torch.ones(48), batch_size=[48]))
        round_losses = []
        for _ in range(24):
            mb = sample_minibatch([buffer], [sampler], cfg.gumbel_az.minibatch_size, 64,
                                  attacks=False)
            params, opt, metrics = update(params, opt, mb, torch.tensor([3e-3]))
            round_losses.append(float(metrics["policy_loss"][0]))
        losses.append(sum(round_losses) / len(round_losses))
    after = mates(params)
    assert before <= 0.1, before
    assert after >= 0.6, (before, after, losses)
    assert losses[-1] < losses[0] - 0.5, losses


def test_gumbel_az_run_resumes_exactly_with_its_replay_buffer(tmp_path):
    """Parameters, buffers (contents, cursor), samplers and pending positions."""
    # (short evaluation games: the final evaluation is not what this checks)
    summary, a, b = assert_resumes_exactly(tmp_path, *AZ, "eval.max_plies=8", total=6, split=3)
    assert summary["counters"]["optimizer_updates"]
    ca, cb = a["algo_state"], b["algo_state"]
    assert all(torch.equal(x, y) for x, y in zip(ca["samplers"], cb["samplers"], strict=True))
    assert ca["buffers"][0]["_writer"] == cb["buffers"][0]["_writer"]
    used = ca["buffers"][0]["_storage"]["_len"]
    assert used == cb["buffers"][0]["_storage"]["_len"] > 16
    sa, sb = flat(ca["buffers"][0]["_storage"]), flat(cb["buffers"][0]["_storage"])
    for k in sa:  # the storage's unused tail is uninitialised memory
        if torch.is_tensor(sa[k]):
            assert torch.equal(sa[k][:used], sb[k][:used]), k
    pa, pb = flat(ca["pending"]), flat(cb["pending"])
    for k in pa:
        assert torch.equal(pa[k], pb[k]), k


def test_learning_twice_from_one_state_gives_one_result(tmp_path):
    """Gumbel AZ's learning step leaves the state it is given as it was (its samplers advance in
    copies; the buffers are only read): two calls on one state, nothing copied by hand, end
    equal, and differ from the state they started from."""
    from _tiny import collector_of

    from keisei_fn.algos.base import IterationContext
    from keisei_fn.algos.gumbel_az.algorithm import learn
    from keisei_fn.run.parts import build
    from keisei_fn.run.snapshot import fresh_state

    cfg = tiny(tmp_path, *AZ, "gumbel_az.min_buffer=512")  # collect only: learning waits
    parts = build(cfg, log=lambda *a: None)
    state = fresh_state(cfg, parts)
    ctx = IterationContext(cfg, parts.policy, parts.update, collector_of(cfg, parts))
    for _ in range(5):  # 30 plies: every game reached the 24-ply cap once
        state, report = parts.algorithm.iteration(ctx, state)
        assert "policy_loss" not in report.member_metrics[0]  # no update yet
    assert len(state.extra.replay[0]) >= 8
    before = [g.get_state() for g in state.extra.samplers]
    a, _ = learn(state, parts.update, cfg, log=lambda *a: None)
    b, _ = learn(state, parts.update, cfg, log=lambda *a: None)
    for x, y in ((a.params, b.params), (a.opt_state, b.opt_state)):
        assert all(torch.equal(u, v) for u, v in zip(x.values(True, True), y.values(True, True)))
    assert not all(torch.equal(u, v) for u, v in zip(a.params.values(True, True),
                                                      state.params.values(True, True)))
    assert all(torch.equal(g.get_state(), s) for g, s in zip(state.extra.samplers, before))
    assert not torch.equal(a.extra.samplers[0].get_state(), before[0])


def test_a_checkpoint_from_before_the_samplers_continues_the_buffers_streams():
    """Before the interface, each replay buffer sampled with its own generator (saved in its
    state as "_rng"); restoring such a checkpoint hands those streams to the state's samplers,
    which draw the same indices (sample_minibatch), so the run continues as it would have."""
    from pathlib import Path

    from keisei_fn.algos.gumbel_az.algorithm import restore_extra
    from keisei_fn.checkpoint import list_checkpoints, read_checkpoint
    from keisei_fn.config import from_yaml

    run = Path(__file__).parent / "data" / "az_before_restructure"
    payload = read_checkpoint(list_checkpoints(run)[-1])
    extra = restore_extra(payload["replay"], from_yaml(payload["config"]), torch.device("cpu"),
                          "fixture")
    saved = [b["_rng"][0] for b in payload["replay"]["buffers"]]
    assert len(extra.samplers) == len(saved) >= 1
    assert all(torch.equal(g.get_state(), s) for g, s in zip(extra.samplers, saved))


def test_playout_cap_randomization_splits_each_member_s_rows_into_full_and_fast_searches():
    """`gumbel_az.full_search_prob`: a coin per game from the member's Gumbel stream; the heads
    get a full search and the tails a fast one, each the search that a direct call on those rows
    gives, returned in the rows' order and flagged."""
    cfg = tiny("/tmp/unused", *AZ, "gumbel_az.simulations=8", "gumbel_az.full_search_prob=0.5",
               "gumbel_az.fast_simulations=2")
    params = init_members(cfg, torch.device("cpu"))
    positions = mate_in_one_positions(8, seed=3)
    state = from_sfen([s for s, _ in positions], max_plies=64)
    gen = torch.Generator().manual_seed(21)
    saved = gen.get_state()
    policy = SearchPolicy(params, [gen], cfg.gumbel_az, impasse=False, spec=net_spec(cfg.model))
    td = policy(env_td(state))
    reference_gen = torch.Generator().set_state(saved)
    full = torch.rand(8, generator=reference_gen) < 0.5
    assert torch.equal(td["full_search"], full)
    assert 0 < int(full.sum()) < 8, "the seed should give both kinds"
    assert policy.simulations_done == 8 * int(full.sum()) + 2 * int((~full).sum())
    evaluate = evaluator(policy.member(0))
    root = engine_state(env_td(state))
    for rows, sims in ((full, 8), (~full, 2)):
        index = rows.nonzero().squeeze(-1)
        reference = search(root[index], evaluate, reference_gen, simulations=sims,
                           max_considered=4, impasse=False)
        assert torch.equal(td["action"][index], reference["action"])
        assert torch.allclose(unpack_policy(td["search_policy"][index],
                                            state["legal_mask"][index]),
                              reference["policy"], rtol=2 ** -11, atol=1e-7)
    assert torch.equal(gen.get_state(), reference_gen.get_state())


def test_playout_cap_randomization_stores_only_the_full_searches():
    """Searched self-play with half the moves fast: every finished game's positions get their
    targets, and the buffer receives exactly the fully searched ones, with the policies the
    search wrote at them; the updates follow the expected count stored."""
    cfg = tiny("/tmp/unused", *AZ, "env.max_plies=12", "gumbel_az.full_search_prob=0.5")
    params = init_members(cfg, torch.device("cpu"))
    env = ShogiEnv(4, max_plies=12)
    policy = SearchPolicy(params, [torch.Generator().manual_seed(3)], cfg.gumbel_az,
                          impasse=False, spec=net_spec(cfg.model))
    _, trajectory = rollout(env, policy, env.reset(), 30)
    full = trajectory["full_search"]
    assert policy.simulations_done == 4 * int(full.sum()) + int((~full).sum())
    _, finished = collect_finished(new_pending(4, 12, "cpu"), trajectory, cfg.gumbel_az)
    assert finished.batch_size[0] == 8 * 12
    first = trajectory[0, :12]  # row 0's first game, plies 0-11
    assert torch.equal(finished[:12]["full_search"], first["full_search"])
    kept = stored(finished)
    assert kept.batch_size[0] == int(finished["full_search"].sum())
    assert 0 < kept.batch_size[0] < 96
    n = int(first["full_search"].sum())
    assert torch.equal(kept[:n]["search_policy"], first["search_policy"][first["full_search"]])
    from keisei_fn.algos.gumbel_az.algorithm import updates_per_iteration

    whole, quarter = tiny("/tmp/unused", *AZ), tiny("/tmp/unused", *AZ,
                                                    "gumbel_az.full_search_prob=0.25")
    assert updates_per_iteration(cfg) == round(updates_per_iteration(whole) / 2)
    assert updates_per_iteration(quarter) == round(updates_per_iteration(whole) / 4)


@pytest.mark.parametrize("overrides, message", [
    (["gumbel_az.full_search_prob=0"], "gumbel_az.full_search_prob: must be in (0, 1], got 0"),
    (["gumbel_az.full_search_prob=1.5"], "gumbel_az.full_search_prob: must be in (0, 1]"),
    (["gumbel_az.fast_simulations=0"], "gumbel_az.fast_simulations: must be >= 1, got 0"),
    (["gumbel_az.full_search_prob=0.5", "gumbel_az.fast_simulations=8"],
     "gumbel_az.fast_simulations=8 is more than a full search's 4 simulations"),
    (["gumbel_az.full_search_prob=0.5", "gumbel_az.fast_simulations=8", "population.size=2",
      "population.simulations=[16,6]"], "fast_simulations=8 is more than a full search's 6"),
    (["gumbel_az.full_search_prob=0.5", "gumbel_az.value_target=nstep"],
     "gumbel_az.value_target=nstep bootstraps from the root values of later plies")])
def test_playout_cap_settings_are_checked(overrides, message):
    from keisei_fn.config import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        tiny("/tmp/unused", *AZ, *overrides)


def test_fast_searches_may_be_larger_than_gumbel_az_simulations_where_members_have_their_own():
    cfg = tiny("/tmp/unused", *AZ, "gumbel_az.full_search_prob=0.5", "population.size=2",
               "gumbel_az.fast_simulations=8", "population.simulations=[16,32]")
    assert [member_config(cfg, k).gumbel_az.simulations for k in range(2)] == [16, 32]


def test_an_iteration_whose_finished_positions_were_all_fast_stores_nothing(tmp_path):
    """Four-ply games and full searches at 2%: iterations end games with no full search in
    them; the run goes on, and the buffer holds no more than the fully searched positions."""
    from _tiny import collector_of

    from keisei_fn.algos.base import IterationContext
    from keisei_fn.run.parts import build
    from keisei_fn.run.snapshot import fresh_state

    cfg = tiny(tmp_path, *AZ, "env.max_plies=4", "gumbel_az.full_search_prob=0.02",
               "gumbel_az.min_buffer=512")  # collect only
    parts = build(cfg, log=lambda *a: None)
    state = fresh_state(cfg, parts)
    ctx = IterationContext(cfg, parts.policy, parts.update, collector_of(cfg, parts))
    moves = cfg.env.batch_size * cfg.gumbel_az.rollout_steps
    full, stored_after = 0, []
    for _ in range(4):
        before = parts.policy.simulations_done
        state, _ = parts.algorithm.iteration(ctx, state)
        # a full search does 4 simulations, a fast one 1
        full += (parts.policy.simulations_done - before - moves) // 3
        stored_after.append(len(state.extra.replay[0]))
    assert stored_after[-1] <= full < moves, (stored_after, full)


def test_gumbel_az_run_with_randomized_playout_caps_resumes_exactly(tmp_path):
    """The coins come from the members' Gumbel streams, which the checkpoint carries."""
    summary, _, _ = assert_resumes_exactly(tmp_path, *AZ, "gumbel_az.full_search_prob=0.5",
                                           total=6, split=3)
    assert summary["counters"]["optimizer_updates"]


def test_a_checkpoint_from_before_playout_caps_stores_its_pending_positions():
    """Pending positions saved without the full-search flag were all searched in full."""
    cfg = tiny("/tmp/unused", *AZ)
    from keisei_fn.algos.gumbel_az.algorithm import new_extra, restore_extra, save_extra

    saved = save_extra(new_extra(cfg, "cpu"))
    del saved["pending"]["full_search"]
    restored = restore_extra(saved, cfg, "cpu", "old.pt")
    assert bool(restored.pending["full_search"].all())
