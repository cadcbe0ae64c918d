"""The direct backend's rollout (collect/rollout.py) against TorchRL's own Collector: the same
games, moves and returns, stored in 1/49 of the bytes, with the network input rebuilt exactly."""

from __future__ import annotations

import pytest
import torch
from torchrl.collectors import Collector

from keisei_fn.collect.policy import CollectPolicy
from keisei_fn.collect.rollout import rollout, stored_bytes
from keisei_fn.config import load_config
from keisei_fn.env import ShogiEnv
from keisei_fn.env.compact import (ATTACK_KEY, MASK_BYTES, network_input, pack_mask,
                                   unpack_mask)
from keisei_fn.models import build_model, net_spec, state_params

GAMES, STEPS, MAX_PLIES = 6, 10, 14  # several games end (the cap) inside the rollouts


def _policy(seed: int, attacks: bool = False) -> CollectPolicy:
    torch.manual_seed(0)
    cfg = load_config(None, ["model.blocks=1", "model.channels=8", "model.value_hidden=8",
                             f"model.attack_planes={str(attacks).lower()}"])
    params = state_params(build_model(cfg.model)).detach().clone().unsqueeze(0)
    return CollectPolicy(params, [torch.Generator().manual_seed(seed)], net_spec(cfg.model))


def _env(attacks: bool = False) -> ShogiEnv:
    return ShogiEnv(GAMES, max_plies=MAX_PLIES, attacks=attacks)


@pytest.mark.parametrize("attacks", [False, True], ids=["plain", "attack-planes"])
def test_rollout_plays_what_torchrl_collector_plays(attacks):
    """Two consecutive rollouts (the games carried across) against two iterations of TorchRL's
    Collector over the same env and policy stream: every move, probability, value, reward and
    game end agrees, and the stored positions rebuild the observations and legal moves the
    collector recorded, bit for bit (with the attack planes too: `model.attack_planes`)."""
    env, reference = _env(attacks), _policy(7, attacks)
    collector = Collector(env, reference, frames_per_batch=GAMES * STEPS, total_frames=-1,
                          compact_obs=True, trust_policy=True, track_traj_ids=False,
                          auto_register_policy_transforms=False)
    reference.generators[0].manual_seed(7)  # the Collector's set-up ran the policy once
    iterator = iter(collector)
    theirs = [next(iterator) for _ in range(2)]
    collector.shutdown()

    policy, games = _policy(7, attacks), env.reset()
    ours = []
    for _ in range(2):
        games, trajectory = rollout(env, policy, games, STEPS)
        ours.append(trajectory)
    ended = 0
    for mine, ref in zip(ours, theirs, strict=True):
        assert tuple(mine.batch_size) == (GAMES, STEPS)
        for key in ("action", "action_log_prob", "state_value", ("next", "reward"),
                    ("next", "done"), ("next", "terminated"), ("next", "truncated"),
                    ("next", "outcome"), ("game", "board"), ("game", "hands"),
                    ("game", "side_to_move"), ("game", "ply")):
            assert torch.equal(mine.get(key), ref.get(key)), key
        rebuilt = network_input(mine, MAX_PLIES, attacks=attacks)
        assert torch.equal(rebuilt["observation"], ref["observation"])
        # the attack planes come from the counts stored with the step, and rebuilding them from
        # the position gives the same planes
        assert (ATTACK_KEY in mine.keys()) == attacks
        if attacks:
            assert mine[ATTACK_KEY].dtype == torch.uint8 and ATTACK_KEY not in rebuilt.keys()
            again = network_input(mine.exclude(ATTACK_KEY), MAX_PLIES, attacks=True)
            assert torch.equal(again["observation"], ref["observation"])
            # and the stored counts are what the planes read (not rebuilt behind them)
            full = mine.clone()
            full[ATTACK_KEY] = torch.full_like(full[ATTACK_KEY], 4)
            assert network_input(full, MAX_PLIES, attacks=True)["observation"][:, :, 44:].eq(
                1).all()
        assert bool(rebuilt["observation"][:, :, 44:].any()) == attacks
        assert torch.equal(rebuilt["action_mask"], ref["action_mask"])
        ended += int(ref["next", "done"].sum())
    assert ended >= GAMES  # the comparison crossed game ends and restarts


def test_stored_step_is_an_eighth_of_the_env_output_or_less():
    """Issue 15's target: <= 1/8 of the 19,540 bytes per step the Collector stored before."""
    _, trajectory = rollout(_env(), _policy(1), _env().reset(), 4)
    assert stored_bytes(trajectory) <= 19_540 // 8
    assert trajectory["mask_bits"].shape[-1] == MASK_BYTES == 274


@pytest.mark.parametrize("fill", [None, True, False])
def test_mask_bits_round_trip(fill):
    shape = (3, 5, 2187)
    mask = (torch.rand(shape) < 0.1) if fill is None else torch.full(shape, fill)
    packed = pack_mask(mask)
    assert packed.dtype == torch.uint8 and packed.shape == (3, 5, 274)
    assert torch.equal(unpack_mask(packed), mask)
    # bit i of byte j is label 8j + i: one legal move lands in one bit
    one = torch.zeros(2187, dtype=torch.bool)
    one[2186] = True
    assert pack_mask(one).nonzero().flatten().tolist() == [273]
    assert int(pack_mask(one)[273]) == 1 << (2186 % 8)


def test_self_play_plays_a_mate_in_one_when_asked():
    """ppo.mate_in_one: where a move mates at once (cshogi agrees), the acting policy plays it,
    recorded with its log-probability under the policy; elsewhere it samples as before."""
    import cshogi

    from keisei_fn.collect.policy import bind
    from keisei_fn.env import ShogiEnv
    from keisei_fn.models import masked_log_softmax, members_forward
    from keisei_fn.run.parts import build
    from keisei_fn.run.snapshot import fresh_state
    from keisei_fn.shogi import from_sfen, step

    from _tiny import tiny

    mate = "4k4/9/4P4/9/9/9/9/9/4K4 b G 1"
    cfg = tiny("/tmp/unused", "total_updates=1", "ppo.mate_in_one=true")
    parts = build(cfg, log=lambda *a: None)
    state = fresh_state(cfg, parts)
    bind(parts.policy, state.params, state.policy)
    td = ShogiEnv(4, max_plies=cfg.env.max_plies).reset()
    position = from_sfen([mate], max_plies=cfg.env.max_plies)
    game = td.get("game")
    for key in game.keys():
        game.get(key)[::2] = position.get(key)[0]  # rows 0 and 2: the mate-in-one position
    td.get("action_mask")[::2] = position["legal_mask"][0]
    out = parts.policy(td.clone())
    for row in (0, 2):
        after = step(position, out["action"][row:row + 1])
        assert bool(after["terminated"][0]) and float(after["reward"][0]) > 0
    board = cshogi.Board(mate)
    assert board.mate_move_in_1ply()
    logits, _ = members_forward(state.params, td["observation"][None], parts.policy.architecture)
    log_probs = masked_log_softmax(logits[0], td["action_mask"])
    want = log_probs.gather(1, out["action"][:, None]).squeeze(1)
    torch.testing.assert_close(out["action_log_prob"], want)
