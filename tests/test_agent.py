"""One forward and one decision layer (keisei_fn/agent): every player reads the network through
the functional forward learning differentiates, and picks its move through `decide`.

The oracle is `ActorCritic.forward`, the module the players ran before (commit cb5f785): the
same logits and values, so the same moves, except where the top two logits differ by less
than 1e-5 (float sums in another order)."""

from __future__ import annotations

import pytest
import torch

from keisei_fn.agent import (Agent, SearchConfig, Settings, decide, evaluate, usi_moves,
                             mate_in_one, with_value_prior)
from keisei_fn.config import load_config
from keisei_fn.models import build_model, masked_log_softmax, net_spec, state_params
from keisei_fn.search import proven_moves, search
from keisei_fn.shogi import from_sfen, initial_state, observe, step
from keisei_fn.shogi.material import material_balance

cshogi = pytest.importorskip("cshogi")

PRIOR = 0.05


def _network(arch="resnet", se_ratio=4, seed=0):
    cfg = load_config(None, ["model.blocks=2", "model.channels=8", "model.value_hidden=8",
                             f"model.arch={arch}", f"model.se_ratio={se_ratio}"])
    torch.manual_seed(seed)
    net = build_model(cfg.model).eval()
    with torch.no_grad():  # away from the zero-initialised branches: well separated logits
        for p in net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    agent = Agent(state_params(net).detach().clone()[None], net_spec(cfg.model), PRIOR)
    return net, agent


def _oracle(net, state):
    """What the players computed before: the module's forward plus the prior."""
    with torch.no_grad():
        logits, value = net(observe(state))
    value = with_value_prior(value.squeeze(-1), state, PRIOR)
    return masked_log_softmax(logits, state["legal_mask"]), value


def _positions(n=48, seed=0):
    """Positions of random games from the start, plies 0 ... (distinct, unfinished)."""
    g = torch.Generator().manual_seed(seed)
    state = initial_state(n, max_plies=256)
    rows = []
    for ply in range(40):
        if ply % 8 == 0:
            rows.append(state.clone())
        legal = state["legal_mask"].float()
        state = step(state, torch.multinomial(legal, 1, generator=g).squeeze(1))
        alive = ~(state["terminated"] | state["truncated"])
        assert bool(alive.all())
    return torch.cat(rows)


def _near_tie(log_probs):
    top2 = log_probs.topk(2, dim=-1).values
    return (top2[:, 0] - top2[:, 1]) < 1e-5


@pytest.mark.parametrize("arch, se", [("resnet", 4), ("resnet", 0), ("cnn", 0)])
def test_one_forward_matches_the_module(arch, se):
    net, agent = _network(arch, se)
    state = _positions()
    log_probs, value = evaluate(agent, state)
    want_lp, want_value = _oracle(net, state)
    legal = state["legal_mask"]
    torch.testing.assert_close(log_probs[legal], want_lp[legal], rtol=0, atol=1e-5)
    torch.testing.assert_close(value, want_value, rtol=0, atol=1e-5)
    moves = decide(agent, state).action
    same = moves == want_lp.argmax(-1)
    assert bool((same | _near_tie(want_lp)).all())
    assert int(same.sum()) >= len(moves) - 2  # ties are rare with separated logits


def test_the_value_prior_is_added_once():
    net, agent = _network()
    state = from_sfen(["lnsgkgsnl/7b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b R 1"])
    _, with_prior = evaluate(agent, state)
    _, without = evaluate(Agent(agent.params, agent.spec, 0.0), state)
    expected = (without + PRIOR * material_balance(state)).clamp(-1, 1)
    torch.testing.assert_close(with_prior, expected)
    assert float(material_balance(state)[0]) > 0


def test_a_search_can_read_a_material_count_instead_of_the_value(tiny_run):
    """The control player of issue 29 (`PATH@sims=N,value=material`): the network's policy, and
    tanh(material / 10 pawns) as the value every reader (the search) sees; `value=blend:W` mixes
    the two."""
    from dataclasses import replace

    from keisei_fn.agent import MATERIAL_VALUE_PAWNS, evaluator
    from keisei_fn.arena.opponents import make_player

    net, agent = _network()
    # White has no rook, Black its own and one in hand: 10 + 11 pawns (a piece in hand is worth
    # more: shogi/material.py's tables)
    state = from_sfen(["lnsgkgsnl/7b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b R 1",
                       "lnsgkgsnl/7b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL w R 1"])
    counted = replace(agent, material_weight=1.0)
    log_probs, value = evaluate(counted, state)
    torch.testing.assert_close(value, torch.tanh(torch.tensor([21.0, -21.0]) / 10))
    torch.testing.assert_close(log_probs, evaluate(agent, state)[0])
    out = search(state, evaluator(counted), torch.Generator().manual_seed(0), simulations=4)
    torch.testing.assert_close(out["raw_value"], value)
    player = make_player(f"{tiny_run}@sims=4,value=material")
    assert player.name.endswith("@sims=4,value=material")
    assert player.choose.args[0].material_weight == 1.0
    assert make_player(f"{tiny_run}@sims=4,value=network").choose.args[0].material_weight == 0
    # a blend: W of the count, 1 - W of the network's value (its prior included)
    blended = make_player(f"{tiny_run}@sims=4,value=blend:0.25")
    assert blended.name.endswith("@sims=4,value=blend:0.25")
    assert blended.choose.args[0].material_weight == 0.25
    _, mixed = evaluate(replace(agent, material_weight=0.25), state)
    count = torch.tanh(torch.tensor([21.0, -21.0]) / MATERIAL_VALUE_PAWNS)
    torch.testing.assert_close(mixed, 0.75 * evaluate(agent, state)[1] + 0.25 * count)
    for bad in ("blend:1", "blend:0", "blend:x", "mix:0.5"):
        with pytest.raises(ValueError, match="blend:W"):
            make_player(f"{tiny_run}@sims=4,value={bad}")
    with pytest.raises(ValueError, match="value= is what a search reads; add sims=N"):
        make_player(f"{tiny_run}@value=material")
    with pytest.raises(ValueError, match=r"value must be network \(its value head\), material"):
        make_player(f"{tiny_run}@sims=4,value=count")


def test_a_search_s_prior_can_give_captures_a_floor(tiny_run):
    """`PATH@sims=N,capture=F` (Agent.capture_floor): every legal move that captures a lance or
    more, judged here by cshogi (the piece on the destination square), gets at least F of the
    prior, the rest keep their ratios (renormalised), the value is untouched; a one-simulation
    search over one considered move then plays one of those captures (of a hanging rook or a
    lance), which the network alone does not favour; refused outside [0, 0.5] or without a
    search."""
    import math
    from dataclasses import replace

    from keisei_fn.agent import evaluator
    from keisei_fn.arena.opponents import make_player
    from keisei_fn.shogi import usi_to_action

    _, agent = _network()
    # Black's 5g pawn takes a rook on 5f, its 2h rook a lance on 2c (two big captures); its
    # pawns and pieces take nothing else worth 5 pawns
    sfen = "lnsgkgsn1/7b1/ppppppplp/9/9/4r4/PPPPPPP1P/1B5R1/LNSGKGSNL b - 1"
    state = from_sfen([sfen])
    floor = 0.2
    (plain, value), (floored, floored_value) = (evaluate(agent, state),
                                                evaluate(replace(agent, capture_floor=floor),
                                                         state))
    torch.testing.assert_close(floored_value, value)
    board = cshogi.Board(sfen)
    big_kinds = {cshogi.LANCE, cshogi.KNIGHT, cshogi.SILVER, cshogi.GOLD, cshogi.BISHOP,
                 cshogi.ROOK} | {k + 8 for k in range(1, 7)}  # and every promoted piece
    big, rest = [], []
    for move in board.legal_moves:
        label = int(usi_to_action(state, [cshogi.move_to_usi(move)])[0])
        victim = 0 if cshogi.move_is_drop(move) else board.piece(cshogi.move_to(move))
        (big if victim and (victim & 15) in big_kinds else rest).append(label)
    assert sorted(cshogi.move_to_usi(m) for m in board.legal_moves
                  if not cshogi.move_is_drop(m) and board.piece(cshogi.move_to(m))
                  and (board.piece(cshogi.move_to(m)) & 15) in big_kinds) == ["2h2c", "2h2c+",
                                                                              "5g5f"]
    p_plain, p_floor = plain[0].exp(), floored[0].exp()
    assert float(p_plain[big].min()) < floor  # the floor has something to do here
    lifted = torch.maximum(p_plain[big], torch.tensor(floor))
    mass = float(lifted.sum() + p_plain[rest].sum())
    torch.testing.assert_close(p_floor[big], lifted / mass)
    torch.testing.assert_close(p_floor[rest], p_plain[rest] / mass)
    assert math.isclose(float(p_floor.sum()), 1.0, rel_tol=1e-5)
    rook = int(usi_to_action(state, ["5g5f"])[0])
    assert int(plain[0].argmax()) != rook
    out = search(state, evaluator(replace(agent, capture_floor=0.5)),
                 torch.Generator().manual_seed(0), simulations=1, max_considered=1)
    assert int(out["action"][0]) in [int(usi_to_action(state, [m])[0])
                                     for m in ("5g5f", "2h2c", "2h2c+")]
    player = make_player(f"{tiny_run}@sims=4,capture=0.05")
    assert player.name.endswith("@sims=4,capture=0.05")
    assert player.choose.args[0].capture_floor == 0.05
    assert make_player(f"{tiny_run}@sims=4").choose.args[0].capture_floor == 0.0
    for bad in ("0.6", "-1", "x"):
        with pytest.raises(ValueError, match=r"capture must be a probability in \[0, 0.5\]"):
            make_player(f"{tiny_run}@sims=4,capture={bad}")
    with pytest.raises(ValueError, match="sims=N is needed"):
        make_player(f"{tiny_run}@capture=0.1")


def test_a_search_player_s_q_range(tiny_run, monkeypatch):
    """`PATH@sims=N,qrange=R`: the floor of sigma's min-max (search/select.py) reaches the
    search, is named, and is refused outside [0, 2] or without a search."""
    from keisei_fn.arena.opponents import make_player

    player = make_player(f"{tiny_run}@sims=4,qrange=1")
    assert player.name.endswith("@sims=4,qrange=1")
    assert player.choose.args[1].gumbel.q_range == 1.0
    assert make_player(f"{tiny_run}@sims=4").choose.args[1].gumbel.q_range == 0.0
    for bad in ("3", "-1", "x"):
        with pytest.raises(ValueError, match=r"qrange must be a number in \[0, 2\]"):
            make_player(f"{tiny_run}@sims=4,qrange={bad}")
    with pytest.raises(ValueError, match="qrange= is the search's; add sims=N"):
        make_player(f"{tiny_run}@qrange=1")
    # the player's decision and `analyze`'s search hand it to the search
    import keisei_fn.agent.decision as decision
    from keisei_fn.insight.analyze import position_report
    from keisei_fn.shogi import STARTPOS_SFEN

    asked, real = [], decision.search

    def recording(*args, **kwargs):
        asked.append(kwargs["q_range"])
        return real(*args, **kwargs)

    monkeypatch.setattr(decision, "search", recording)
    player.choose(from_sfen([STARTPOS_SFEN]), torch.Generator().manual_seed(0))
    _, agent = _network()
    position_report(agent, STARTPOS_SFEN, simulations=4, saliency=False, q_range=0.5)
    assert asked == [1.0, 0.5]
    # a node whose moves' values differ by less than the floor is not stretched: sigma's spread
    # there is below mctx's full scale
    from keisei_fn.search.select import completed_qvalues

    logits = torch.zeros(1, 3)
    visits = torch.tensor([[4, 2, 1]])
    q = torch.tensor([[0.02, 0.01, 0.0]])
    full = completed_qvalues(logits, visits, q, torch.zeros(1))
    floored = completed_qvalues(logits, visits, q, torch.zeros(1), q_range=1.0)
    scale = (50 + 4) * 0.1
    torch.testing.assert_close(full[0], torch.tensor([scale, scale / 2, 0.0]))
    torch.testing.assert_close(floored[0], torch.tensor([0.02, 0.01, 0.0]) * scale)


def test_a_search_player_can_run_its_network_in_bf16(tiny_run):
    """`PATH@sims=N,precision=bf16`: the network's arithmetic in bfloat16 (autocast), its outputs
    float32 and within bf16's rounding of the float32 network's."""
    from dataclasses import replace

    from keisei_fn.arena.opponents import make_player

    player = make_player(f"{tiny_run}@sims=4,precision=bf16")
    assert player.name.endswith("@sims=4,precision=bf16")
    agent = player.choose.args[0]
    assert agent.precision == "bf16"
    state = _positions(4, seed=1)
    log_probs, value = evaluate(agent, state)
    want_log_probs, want_value = evaluate(replace(agent, precision="fp32"), state)
    assert value.dtype == log_probs.dtype == torch.float32
    assert not torch.equal(value, want_value)  # it did run in bf16
    torch.testing.assert_close(value, want_value, rtol=0, atol=0.03)
    legal = state["legal_mask"]
    torch.testing.assert_close(log_probs[legal].exp(), want_log_probs[legal].exp(), rtol=0,
                               atol=0.02)
    assert make_player(f"{tiny_run}@sims=4").choose.args[0].precision == "fp32"
    with pytest.raises(ValueError, match="precision= is the search's network; add sims=N"):
        make_player(f"{tiny_run}@precision=bf16")
    with pytest.raises(ValueError, match="precision must be fp32 or bf16"):
        make_player(f"{tiny_run}@sims=4,precision=fp16")


def test_gumbel_decision_is_the_search_with_the_oracle_network():
    """`decide` with a Gumbel search plays what search/gumbel.py plays over the module, proofs
    included (`proven_moves`), and ranks its candidates by visits."""
    net, agent = _network()
    state = _positions(8, seed=3)
    config = SearchConfig(simulations=32, considered=8)
    found = decide(agent, state, Settings(search="gumbel", gumbel=config, top=4),
                   torch.Generator().manual_seed(1))
    out = search(state, lambda s: _oracle(net, s), torch.Generator().manual_seed(1),
                 simulations=32, max_considered=8, gumbel_scale=0.0)
    want, _ = proven_moves(out)
    assert torch.equal(found.action, want)
    assert torch.equal(found.candidates[:, 0], found.action)
    visits = found.visits[:, 1:]
    assert bool((visits[:, :-1] >= visits[:, 1:]).all())
    assert torch.equal(found.simulations, torch.full((state.batch_size[0],), 32))


def test_policy_decisions_rank_candidates_and_sample_at_temperature():
    net, agent = _network()
    state = _positions(8)
    found = decide(agent, state, Settings(top=5))
    log_probs, _ = _oracle(net, state)
    assert torch.equal(found.candidates[:, 0], found.action)
    assert bool((found.prior[:, :-1] >= found.prior[:, 1:] - 1e-6).all())
    counts = torch.zeros(2187)
    one = state[:1]
    for seed in range(200):
        a = decide(agent, one, Settings(temperature=1.0, top=1),
                   torch.Generator().manual_seed(seed)).action
        counts[a] += 1
    assert int((counts > 0).sum()) > 1  # a sample, not the argmax
    assert bool(one["legal_mask"][0][counts > 0].all())


def test_batched_mate_in_one_agrees_with_cshogi():
    sfens = ["4k4/9/4P4/9/9/9/9/9/4K4 b G 1",        # G*5b mates
             "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"]  # none
    state = from_sfen(sfens)
    found = mate_in_one(state)
    for sfen, label in zip(sfens, found.tolist()):
        board = cshogi.Board(sfen)
        assert (label >= 0) == bool(board.mate_move_in_1ply())
    one_ply = decide(_network()[1], state[:1], Settings(search="gumbel", mate_in_one=True,
                                                          gumbel=SearchConfig(simulations=4)))
    assert int(one_ply.mate[0]) == 1 and int(one_ply.action[0]) == int(found[0])


def test_decide_refuses_finished_positions():
    _, agent = _network()
    with pytest.raises(ValueError, match="legal move"):
        decide(agent, from_sfen(["4k4/4G4/4P4/9/9/9/9/9/4K4 w - 1"]))


def test_the_policy_takes_a_mate_in_one_when_asked(tiny_run):
    """`PATH` (and `PATH@mate=1`): the argmax player plays a mate in one where there is one
    (cshogi agrees), and the policy's move elsewhere; `PATH@mate=0,material=0` is the policy
    alone."""
    from keisei_fn.arena.opponents import make_player

    state = from_sfen(["4k4/9/4P4/9/9/9/9/9/4K4 b G 1",
                       "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"])
    bare = make_player(f"{tiny_run}@mate=0,material=0")
    assert bare.name.endswith("@mate=0,material=0")
    plain = bare.choose(state, torch.Generator().manual_seed(0))
    mating = make_player(f"{tiny_run}@mate=1")
    assert mating.name == make_player(str(tiny_run)).name
    moves = mating.choose(state, torch.Generator().manual_seed(0))
    board = cshogi.Board("4k4/9/4P4/9/9/9/9/9/4K4 b G 1")
    board.push_usi(usi_moves(state[:1], moves[:1])[0])
    assert board.is_game_over()
    assert int(moves[1]) == int(plain[1])
    with pytest.raises(ValueError, match=r"mate must be 0 \(none\), 1 .* or 3"):
        make_player(f"{tiny_run}@mate=2")
    assert make_player(f"{tiny_run}@mate=3").name.endswith("@mate=3")
    assert make_player(f"{tiny_run}@sims=4,mate=3").name.endswith("@sims=4,mate=3")
    guarded = make_player(f"{tiny_run}@sims=4,guard=1")  # the search's guard (test_mate_search)
    assert guarded.name.endswith("@sims=4,guard=1") and guarded.choose.args[1].guard == 1
    deeper = make_player(f"{tiny_run}@guard=3")  # a mate in three by checks too
    assert deeper.name.endswith("@guard=3") and deeper.choose.args[1].guard == 3
    with pytest.raises(ValueError, match=r"guard must be 0 \(off\), 1 .* or 3"):
        make_player(f"{tiny_run}@guard=2")
    near = make_player(f"{tiny_run}@sims=4,matedepth=2")  # the search's own (test_mate_search)
    assert near.name.endswith("@sims=4,matedepth=2") and near.choose.args[1].gumbel.mate_depth == 2
    assert make_player(f"{tiny_run}@sims=4,matedepth=0").choose.args[1].gumbel.mate_depth == 0
    with pytest.raises(ValueError, match="sims=N is needed"):
        make_player(f"{tiny_run}@matedepth=1")
    for depth in ("1.5", "-1", "65", "inf", "nan", "1e30"):
        with pytest.raises(ValueError, match="matedepth must be a whole number of plies from 0"):
            make_player(f"{tiny_run}@sims=4,matedepth={depth}")


def test_the_material_check_is_a_player_option(tiny_run, monkeypatch):
    """`PATH@material=M` names itself, refuses a bad margin in one line, and with a margin wider
    than any material swing plays the policy's own move. `PATH` is `PATH@material=3` (the
    players' default veto, `PLAY_MATERIAL_MARGIN`); `material=0` turns it off; a search player
    has none unless `material=M` asks for it."""
    from keisei_fn.agent import PLAY_MATERIAL_MARGIN
    from keisei_fn.arena.opponents import make_player

    def margin(player):
        return player.choose.args[1].material_margin

    assert PLAY_MATERIAL_MARGIN == 3.0
    assert make_player(f"{tiny_run}@material=3").name == make_player(str(tiny_run)).name
    assert margin(make_player(str(tiny_run))) == 3.0
    assert margin(make_player(f"{tiny_run}@sims=4")) == 0.0
    off = make_player(f"{tiny_run}@material=0")
    assert off.name.endswith("@material=0") and margin(off) == 0.0
    assert make_player(f"{tiny_run}@mate=0,material=1.5").name.endswith("@mate=0,material=1.5")
    for bad in ("-1", "x", ""):
        with pytest.raises(ValueError, match=r"material must be a margin in pawns >= 0 \(0: off\)"):
            make_player(f"{tiny_run}@material={bad}")
    searcher = make_player(f"{tiny_run}@sims=4,material=3")  # over the search's move
    assert searcher.name.endswith("@sims=4,material=3") and margin(searcher) == 3.0
    state = from_sfen(["lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"])
    wide = make_player(f"{tiny_run}@mate=0,material=5000")
    plain = make_player(f"{tiny_run}@mate=0,material=0")
    g = torch.Generator().manual_seed(0)
    assert torch.equal(wide.choose(state, g), plain.choose(state, g))
    # quiet=Q: the veto's quiescence (tests/test_minimax.py checks its values)
    # the default veto plays two plies of captures out (PLAY_MATERIAL_QUIET); quiet=0 is static
    assert make_player(str(tiny_run)).choose.args[1].material_quiet == 2
    assert make_player(f"{tiny_run}@quiet=2").name == make_player(str(tiny_run)).name
    assert make_player(f"{tiny_run}@quiet=0").choose.args[1].material_quiet == 0
    assert make_player(f"{tiny_run}@material=0").choose.args[1].material_quiet == 0
    quiet = make_player(f"{tiny_run}@quiet=3")
    assert quiet.name.endswith("@quiet=3") and quiet.choose.args[1].material_quiet == 3
    searching = make_player(f"{tiny_run}@sims=4,material=3,quiet=1")
    assert searching.name.endswith(",quiet=1")
    import keisei_fn.agent.vetoes as vetoes

    asked, values = [], vetoes.move_values
    monkeypatch.setattr(vetoes, "move_values",
                        lambda *a, **k: asked.append(k["quiet"]) or values(*a, **k))
    quiet.choose(state, g), searching.choose(state, g)
    assert asked == [3, 1]  # the veto's minimax got each player's quiescence
    for bad, error in (("quiet=5", "quiet must be a whole number of capture plies from 0 to 4"),
                       ("quiet=1.5", "quiet must be a whole number"),
                       ("material=0,quiet=1", "quiet= is the material veto's"),
                       ("sims=4,quiet=1", "quiet= is the material veto's")):
        with pytest.raises(ValueError, match=error):
            make_player(f"{tiny_run}@{bad}")
