"""PPO's auxiliary reply head (model.reply_head, ppo.reply_coef): options, its targets against
the rules engine, its frame against cshogi's legal moves, its loss, a run that trains it and
resumes exactly, and players that load it."""

from __future__ import annotations

import json

import pytest
import torch

from keisei_fn.config import ConfigError, load_config
from keisei_fn.run.parts import build
from keisei_fn.run.snapshot import fresh_state

from _tiny import TINY, TINY_AZ, assert_resumes_exactly, collector_of, flat


def test_options_are_checked():
    with pytest.raises(ConfigError, match="ppo.reply_coef"):
        load_config(None, ["ppo.reply_coef=-1"])
    with pytest.raises(ConfigError, match="model.reply_head: the population.backend=loop"):
        load_config(None, ["model.reply_head=true", "population.backend=loop"])
    with pytest.raises(ConfigError, match="algo=gumbel_az does not support model.reply_head"):
        load_config(None, TINY + TINY_AZ + ["model.reply_head=true", "total_updates=1"])


def test_the_folded_reply_head_equals_each_member_s():
    from keisei_fn.models import ActorCritic, NetSpec, members_forward, state_params

    nets = []
    for k in range(2):
        torch.manual_seed(10 + k)
        net = ActorCritic(blocks=1, channels=8, value_hidden=8, material_head=True,
                          reply_head=True).double()
        for p in net.parameters():
            p.data.add_(0.05 * torch.randn_like(p))
        nets.append(net)
    params = torch.stack([state_params(n).detach().clone() for n in nets])
    obs = torch.randn(2, 5, 46, 9, 9, dtype=torch.float64)
    out = members_forward(params, obs, NetSpec("resnet", 1, True), material=True, reply=True)
    assert [o.shape[-1] for o in out] == [2187, 1, 1, 2187]
    for k, net in enumerate(nets):
        for got, want in zip((o[k] for o in out), net(obs[k], material=True, reply=True)):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert not torch.allclose(out[3], out[0])  # its own output layer


@pytest.fixture(scope="module")
def rollout_and_cfg():
    """A real self-play rollout of the tiny config (6 games, 8 steps, 16-ply cap: games end and
    restart inside it), with the reply targets added."""
    from keisei_fn.algos.ppo.batch import next_move

    cfg = load_config(None, TINY + ["env.batch_size=6", "env.max_plies=6", "ppo.rollout_steps=8",
                                    "total_updates=1", "model.reply_head=true"])
    parts = build(cfg)
    _, rollout, _ = collector_of(cfg, parts)(fresh_state(cfg, parts))
    parts.collector.shutdown()
    next_move(rollout)
    return rollout, cfg


def test_reply_targets_are_the_next_move_in_the_position_the_move_left(rollout_and_cfg):
    """Stepped by the rules engine, each known step's move leads to the position whose move is
    its target, and that move is legal there; unknown are exactly the rollout's last step and
    the steps that ended their game."""
    from keisei_fn.env.compact import unpack_mask
    from keisei_fn.shogi import make_state, step

    rollout, _ = rollout_and_cfg
    b, t = rollout.batch_size
    game = rollout.get("game")
    known = rollout.get("reply_known")
    done = rollout.get(("next", "done")).view(b, t)
    expected = ~done
    expected[:, -1] = False
    assert torch.equal(known, expected)
    assert bool(done[:, :-1].any()) and bool(known.any())  # both cases occur
    rows, steps = known.nonzero(as_tuple=True)
    before = game[rows, steps]
    state = make_state(before["board"], before["hands"], before["side_to_move"],
                       torch.zeros_like(before["ply"]))
    after = step(state, rollout.get("action")[rows, steps])
    nxt = game[rows, steps + 1]
    for key in ("board", "hands", "side_to_move"):
        assert torch.equal(after[key], nxt[key].to(after[key].dtype)), key
    reply = rollout.get("reply_action")[rows, steps]
    assert after["legal_mask"].gather(1, reply[:, None]).all()
    assert torch.equal(unpack_mask(rollout.get("reply_mask_bits")[rows, steps]),
                       after["legal_mask"])


def _square(name: str) -> int:
    """A USI square ("7f") as the engine's absolute index: (file - 1) * 9 + rank."""
    return (int(name[0]) - 1) * 9 + "abcdefghi".index(name[1])


def test_the_head_s_frame_is_the_previous_mover_s_against_cshogi(rollout_and_cfg):
    """The loss reads the head's square s as the opponent's label square 80 - s. Checked on the
    rollout's positions: the destinations of cshogi's legal moves, seen from the side that just
    moved (Black's frame is the board's own, White's turned half a turn), are the squares
    80 - (label % 81) of the engine's legal labels."""
    import cshogi

    from keisei_fn.env.compact import unpack_mask
    from keisei_fn.shogi import make_state, to_sfen

    rollout, _ = rollout_and_cfg
    game = rollout.get("game").reshape(-1)[::5]
    state = make_state(game["board"], game["hands"], game["side_to_move"],
                       torch.ones_like(game["ply"]))
    masks = unpack_mask(rollout.get("mask_bits").reshape(-1, 274)[::5])
    for sfen, mask, side in zip(to_sfen(state), masks, game["side_to_move"].tolist()):
        board = cshogi.Board(sfen)
        theirs = {_square(cshogi.move_to_usi(m)[2:4]) for m in board.legal_moves}
        previous_frame = {80 - s if side == 0 else s for s in theirs}  # the mover before
        ours = {80 - int(label) % 81 for label in mask.nonzero().squeeze(1)}
        assert ours == previous_frame, sfen


def test_the_loss_is_the_cross_entropy_of_the_reply_in_the_turned_frame():
    from keisei_fn.algos.ppo.loss import reply_loss
    from keisei_fn.env.compact import pack_mask

    g = torch.Generator().manual_seed(0)
    k, m = 2, 6
    mask = torch.rand(k, m, 2187, generator=g) < 0.02
    action = torch.randint(0, 2187, (k, m), generator=g)
    mask.scatter_(-1, action[..., None], True)
    known = torch.tensor([[1, 1, 0, 1, 0, 1], [0, 1, 1, 1, 1, 1]], dtype=torch.bool)
    batch = {"reply_action": action, "reply_mask_bits": pack_mask(mask), "reply_known": known}
    from tensordict import TensorDict

    batch = TensorDict(batch, batch_size=[k, m])
    plane, square = action // 81, action % 81
    right = torch.zeros(k, m, 27, 81)
    right[torch.arange(k)[:, None], torch.arange(m), plane, 80 - square] = 30.0
    wrong = torch.zeros(k, m, 27, 81)
    wrong[torch.arange(k)[:, None], torch.arange(m), plane, square] = 30.0
    assert (reply_loss(right.flatten(2), batch) < 1e-6).all()
    uniform = reply_loss(torch.zeros(k, m, 2187), batch)
    legal = mask.sum(-1).float().log()
    for j in range(k):
        torch.testing.assert_close(uniform[j], legal[j][known[j]].mean())
    # where the reply is not known it takes no part
    other = batch.clone()
    other["reply_action"][~known] = (other["reply_action"][~known] + 1) % 2187
    torch.testing.assert_close(reply_loss(wrong.flatten(2), batch),
                               reply_loss(wrong.flatten(2), other))


def test_a_run_with_the_reply_head_trains_it_resumes_exactly_and_plays(tmp_path):
    from keisei_fn.checkpoint import list_checkpoints, read_checkpoint

    _, final, _ = assert_resumes_exactly(tmp_path, "model.reply_head=true")
    first = flat(read_checkpoint(list_checkpoints(tmp_path / "straight")[0])["params"])
    assert not torch.equal(first["reply_out.weight"], flat(final["params"])["reply_out.weight"])
    records = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").open()]
    head = [r["losses/loss_reply"] for r in records if r["kind"] == "iteration"]
    assert len(head) == 4 and all(0 < h < 8 for h in head)  # a cross-entropy over < 2187 moves
    from keisei_fn.arena.opponents import make_player
    from keisei_fn.shogi import STARTPOS_SFEN, from_sfen

    player = make_player(str(tmp_path / "straight"))
    move = player.choose(from_sfen([STARTPOS_SFEN]), torch.Generator().manual_seed(0))
    assert 0 <= int(move[0]) < 2187
