"""The batched Gumbel search against a reference written the plain way: one game at a time,
a tree of Python objects, cshogi as the rules, mctx's formulas (qtransform_completed_by_mix_value,
Sequential Halving, deterministic interior selection) transcribed line by line. Both get the same
evaluator and the same Gumbel noise; visits, the chosen move, the improved policy and the root
value must agree."""

from __future__ import annotations

import math
import random

import cshogi
import numpy as np
import pytest
import torch
from _shogi_ref import STARTPOS, load_perft_positions
from cshogi.dlshogi import make_move_label
from test_minimax import _material

from keisei_fn.search.gumbel import considered_visits_table, search
from keisei_fn.shogi import from_sfen
from keisei_fn.shogi.material import material_balance

A = 2187
_LABELS = np.arange(A)


def _logits(material: float) -> np.ndarray:
    return np.sin(_LABELS * 0.37 + material) * 2.0


def _value(material: float) -> float:
    return math.tanh(material / 10.0)


def ours_evaluate(state):
    m = material_balance(state).double()
    labels = torch.arange(A, dtype=torch.float64)
    return torch.sin(labels[None, :] * 0.37 + m[:, None]) * 2.0, torch.tanh(m / 10.0)


# --- the reference ---------------------------------------------------------------------------

class Node:
    def __init__(self, board: cshogi.Board | None, terminal: bool):
        self.visits = 1
        self.terminal = terminal
        self.children: dict[int, Node] = {}
        self.rewards: dict[int, float] = {}
        self.moves: dict[int, int] = {}  # label -> cshogi move
        self.logits = np.full(A, -np.inf)
        if terminal:
            self.raw = self.value = 0.0
            return
        material = _material(board)
        self.raw = self.value = _value(material)
        for move in board.legal_moves:
            label = make_move_label(move, board.turn)
            self.moves[label] = move
            self.logits[label] = _logits(material)[label]

    def child_stats(self):
        visits = np.zeros(A)
        q = np.zeros(A)
        for label, child in self.children.items():
            visits[label] = child.visits_from_parent
            q[label] = self.rewards[label] - child.value
        return visits, q


def _softmax(x):
    finite = np.isfinite(x)
    z = np.where(finite, x - x[finite].max(), -np.inf)
    e = np.exp(z)
    return e / e.sum()


def ref_sigma(node: Node, value_scale=0.1, maxvisit_init=50.0, eps=1e-8, rescale=True):
    visits, q = node.child_stats()
    legal = np.isfinite(node.logits)
    prior = np.maximum(_softmax(node.logits), np.finfo(np.float64).tiny)
    visited = visits > 0
    total = visits.sum()
    mass = prior[visited].sum()
    weighted = (prior[visited] * q[visited] / mass).sum() if visited.any() else 0.0
    mixed = (node.raw + total * weighted) / (total + 1)
    completed = np.where(visited, q, mixed)
    if not rescale:  # mctx's rescale_values=False: the values as they are
        return np.where(legal, (maxvisit_init + visits.max()) * value_scale * completed, 0.0)
    low, high = completed[legal].min(), completed[legal].max()
    rescaled = (completed - low) / max(high - low, eps)
    return np.where(legal, (maxvisit_init + visits.max()) * value_scale * rescaled, 0.0)


def ref_sequence(m, n):
    if m <= 1:
        return list(range(n))
    log2max = int(math.ceil(math.log2(m)))
    seq, visits, considered = [], [0] * m, m
    while len(seq) < n:
        extra = max(1, int(n / (log2max * considered)))
        for _ in range(extra):
            seq.extend(visits[:considered])
            for i in range(considered):
                visits[i] += 1
        considered = max(2, considered // 2)
    return seq[:n]


def ref_score(considered_visit, gumbel, node, **sigma_options):
    visits, _ = node.child_stats()
    legal = np.isfinite(node.logits)
    centred = node.logits - node.logits[legal].max()
    score = np.maximum(-1e9, gumbel + centred + ref_sigma(node, **sigma_options))
    score = np.where(visits == considered_visit, score, -np.inf)
    return np.where(legal, score, -np.inf)


def ref_simulate(board, root, label, **sigma_options):
    """One simulation starting with `label` at the root: down, expand, back up."""
    path = [root]
    pushed = 0
    while True:
        node = path[-1]
        if label not in node.children:  # expand
            board.push(node.moves[label])
            pushed += 1
            reward, terminal = 0.0, False
            if not list(board.legal_moves):
                reward, terminal = 1.0, True
            else:
                draw = board.is_draw(16)
                if draw == cshogi.REPETITION_DRAW:
                    terminal = True
                elif draw == cshogi.REPETITION_WIN:
                    reward, terminal = -1.0, True
                elif draw == cshogi.REPETITION_LOSE:
                    reward, terminal = 1.0, True
            child = Node(board, terminal)
            child.visits_from_parent = 0
            node.children[label] = child
            node.rewards[label] = reward
            path.append(child)
            break
        child = node.children[label]
        board.push(node.moves[label])
        pushed += 1
        path.append(child)
        if child.terminal:
            child.visits += 1
            break
        v, _ = child.child_stats()
        probs = _softmax(np.where(np.isfinite(child.logits),
                                  child.logits + ref_sigma(child, **sigma_options), -np.inf))
        score = np.where(np.isfinite(child.logits), probs - v / (1 + v.sum()), -np.inf)
        label = int(np.argmax(score))
    for _ in range(pushed):
        board.pop()
    # backward, as mctx: the leaf's value up the path, negamax
    value = path[-1].value
    for depth in range(len(path) - 1, 0, -1):
        node, parent = path[depth], path[depth - 1]
        label = next(k for k, c in parent.children.items() if c is node)
        value = parent.rewards[label] - value
        parent.value = (parent.value * parent.visits + value) / (parent.visits + 1)
        parent.visits += 1
        node.visits_from_parent += 1


def ref_search(sfen, gumbel, simulations, max_considered, batched_rounds=False, **sigma_options):
    board = cshogi.Board(sfen)
    root = Node(board, False)
    legal_count = len(root.moves)
    table = ref_sequence(min(max_considered, legal_count), simulations)
    sim = 0
    while sim < simulations:
        visits, _ = root.child_stats()
        score = ref_score(table[sim], gumbel, root, **sigma_options)
        if not batched_rounds:
            ref_simulate(board, root, int(np.argmax(score)), **sigma_options)
            sim += 1
            continue
        # the paper's halving: the round's moves ranked once, then each visited once
        width = 1
        while sim + width < simulations and table[sim + width] == table[sim]:
            width += 1
        for label in np.argsort(-score, kind="stable")[:width]:
            ref_simulate(board, root, int(label), **sigma_options)
        sim += width
    visits, _ = root.child_stats()
    action = int(np.argmax(ref_score(visits.max(), gumbel, root, **sigma_options)))
    policy = _softmax(np.where(np.isfinite(root.logits),
                               root.logits + ref_sigma(root, **sigma_options), -np.inf))
    return action, visits, policy, root.value


def _positions():
    rng = random.Random(11)
    sfens = [STARTPOS] + [p["sfen"] for p in load_perft_positions()][:6]
    for _ in range(6):
        board = cshogi.Board(STARTPOS)
        for _ in range(rng.randrange(20, 80)):
            moves = list(board.legal_moves)
            if not moves:
                break
            board.push(rng.choice(moves))
        if list(board.legal_moves):
            sfens.append(board.sfen())
    sfens.append("4k4/9/4P4/9/9/9/9/9/4K4 b G 1")  # mate in one
    sfens.append("8k/9/8P/9/9/9/9/9/K8 b 2G 1")
    return sfens


@pytest.mark.parametrize("batched_rounds", [False, True], ids=["sequential", "batched_rounds"])
@pytest.mark.parametrize("simulations, considered", [(1, 4), (4, 16), (16, 4), (32, 16),
                                                     (48, 1), (40, 64)])
def test_search_matches_the_reference(simulations, considered, batched_rounds):
    sfens = _positions()
    state = from_sfen(sfens)
    generator = torch.Generator().manual_seed(simulations)
    out = search(state, ours_evaluate, generator, simulations=simulations,
                 max_considered=considered, impasse=False, batched_rounds=batched_rounds)
    # the same noise for the reference: search draws it first, from the same generator
    again = torch.Generator().manual_seed(simulations)
    u = torch.rand((len(sfens), A), generator=again, dtype=torch.float64)
    gumbel = (-torch.log(-torch.log(u.clamp(min=1e-20, max=1 - 1e-7)))).numpy()
    for i, sfen in enumerate(sfens):
        action, visits, policy, value = ref_search(sfen, gumbel[i], simulations, considered,
                                                   batched_rounds)
        assert out["visits"][i].tolist() == visits.astype(int).tolist(), (sfen, i)
        assert int(out["action"][i]) == action, sfen
        # our material_balance sums in float32, the reference in float64: agreement to ~1e-6
        np.testing.assert_allclose(out["policy"][i].numpy(), policy, atol=1e-5, rtol=0)
        assert float(out["value"][i]) == pytest.approx(value, abs=1e-6)
    assert out["simulations"].tolist() == [simulations] * len(sfens)


@pytest.mark.parametrize("batched_rounds", [False, True], ids=["sequential", "batched_rounds"])
@pytest.mark.parametrize("simulations, considered", [(16, 4), (40, 16)])
def test_a_q_range_of_2_is_mctx_without_rescaling(simulations, considered, batched_rounds):
    """`q_range=2` never stretches a spread of values in [-1, 1] (they span at most 2): the
    search is mctx's with `rescale_values=False` and half its value_scale (sigma = scale / 2 x
    completed q; the min-max's shift by the lowest value is the same for every move of a node,
    so neither the argmax nor the softmax sees it)."""
    sfens = _positions()
    out = search(from_sfen(sfens), ours_evaluate, torch.Generator().manual_seed(simulations),
                 simulations=simulations, max_considered=considered, impasse=False,
                 batched_rounds=batched_rounds, q_range=2.0)
    again = torch.Generator().manual_seed(simulations)
    u = torch.rand((len(sfens), A), generator=again, dtype=torch.float64)
    gumbel = (-torch.log(-torch.log(u.clamp(min=1e-20, max=1 - 1e-7)))).numpy()
    differs = 0
    for i, sfen in enumerate(sfens):
        action, visits, policy, value = ref_search(sfen, gumbel[i], simulations, considered,
                                                   batched_rounds, rescale=False,
                                                   value_scale=0.05)
        assert out["visits"][i].tolist() == visits.astype(int).tolist(), (sfen, i)
        assert int(out["action"][i]) == action, sfen
        np.testing.assert_allclose(out["policy"][i].numpy(), policy, atol=1e-5, rtol=0)
        assert float(out["value"][i]) == pytest.approx(value, abs=1e-6)
        differs += not np.array_equal(visits, ref_search(sfen, gumbel[i], simulations,
                                                         considered, batched_rounds)[1])
    assert differs, "rescaling or not should change some search here, or this test sees nothing"


def test_a_q_range_is_refused_outside_0_to_2():
    with pytest.raises(ValueError, match="q_range must be in"):
        search(from_sfen([STARTPOS]), ours_evaluate, torch.Generator(), q_range=2.5)


def test_a_mate_depth_is_refused_outside_0_to_its_bound():
    for depth in (-1, 65):
        with pytest.raises(ValueError, match=r"mate_depth must be in \[0, 64\] plies"):
            search(from_sfen([STARTPOS]), ours_evaluate, torch.Generator(), mate_depth=depth)


def test_batched_rounds_is_a_different_halving():
    # so that the reference comparison above can tell the two apart: on these positions the
    # rounds choose differently at least once
    gumbel = np.random.default_rng(0).gumbel(size=A)
    assert any(not np.array_equal(ref_search(sfen, gumbel, 32, 16, False)[1],
                                  ref_search(sfen, gumbel, 32, 16, True)[1])
               for sfen in _positions())


def test_sequential_halving_table_is_mctx_s():
    # mctx's docstring example: 16 simulations over 4 considered actions
    table = considered_visits_table(4, 16)
    assert table[4].tolist() == ref_sequence(4, 16)
    assert table[4].tolist()[:8] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert table[1].tolist() == list(range(16))


def _zero(state):
    return torch.zeros(state["legal_mask"].shape), torch.zeros(state.batch_size[0])


def _mates_in_one(board: cshogi.Board) -> bool:
    return bool(board.mate_move_in_1ply())


def test_a_zero_network_finds_a_mate_in_one_and_a_mate_in_three():
    # mate in one: every legal move considered and visited once is enough
    sfen = "4k4/9/4P4/9/9/9/9/9/4K4 b G 1"
    state = from_sfen([sfen])
    legal = int(state["legal_mask"].sum())
    out = search(state, _zero, torch.Generator().manual_seed(0), simulations=legal,
                 max_considered=legal, impasse=False)
    board = cshogi.Board(sfen)
    board.push_usi(_usi(state, out["action"]))
    assert board.is_game_over() and float(out["q"][0, out["action"][0]]) == 1.0
    # mate in three (cshogi's mate search confirms one and no mate in one; 14 legal moves):
    # 256 simulations find one whatever the Gumbel noise (6 seeds)
    sfen = "9/8k/5l+P2/7L1/9/9/9/9/K8 b - 1"
    assert cshogi.Board(sfen).mate_move(3) and not cshogi.Board(sfen).mate_move_in_1ply()
    state = from_sfen([sfen])
    for seed in range(6):
        out = search(state, _zero, torch.Generator().manual_seed(seed), simulations=256,
                     max_considered=16, impasse=False)
        board = cshogi.Board(sfen)
        board.push_usi(_usi(state, out["action"]))
        replies = list(board.legal_moves)
        assert board.is_check() and replies
        for reply in replies:  # every defence runs into a mate in one
            board.push(reply)
            assert _mates_in_one(board), (seed, cshogi.move_to_usi(reply))
            board.pop()


def _usi(state, action):
    from keisei_fn.shogi import action_to_usi

    return action_to_usi(state, action.view(1))[0]


def test_batched_search_equals_one_game_at_a_time_and_plays_legal_moves():
    sfens = _positions()
    state = from_sfen(sfens)
    together = search(state, ours_evaluate, torch.Generator().manual_seed(5), simulations=24,
                      max_considered=8, impasse=False)
    generator = torch.Generator().manual_seed(5)  # the noise rows come in the same order
    for i, sfen in enumerate(sfens):
        alone = search(state[i:i + 1], ours_evaluate, generator, simulations=24,
                       max_considered=8, impasse=False)
        assert torch.equal(alone["visits"][0], together["visits"][i]), sfen
        assert int(alone["action"][0]) == int(together["action"][i])
        torch.testing.assert_close(alone["policy"][0], together["policy"][i])
        board = cshogi.Board(sfen)  # the move and the whole principal variation are legal
        labels = together["pv"][i]
        line = _pv_usi(together["tree"][i:i + 1], labels[labels >= 0].tolist())
        for move in line:
            assert move in {cshogi.move_to_usi(m) for m in board.legal_moves}, (sfen, line)
            board.push_usi(move)
        assert line[0] == _usi(state[i:i + 1], together["action"][i])
        assert float(together["policy"][i][~state["legal_mask"][i]].abs().sum()) == 0.0


def _pv_usi(tree, labels):
    from keisei_fn.agent.moves import tree_moves

    return tree_moves(tree, labels)


def test_the_network_value_gets_its_shaping_potential_back(tiny_run):
    """The value head learned V - Phi (potential-based material shaping); `evaluate` and so the
    search see V = output + coef * material balance, clamped to [-1, 1]."""
    from dataclasses import replace

    from keisei_fn.agent import evaluate, load_agent
    from keisei_fn.shogi.material import material_balance

    agent, cfg = load_agent(tiny_run)
    assert agent.value_prior == cfg.ppo.material_shaping > 0
    state = from_sfen(["lnsgkgsnl/7b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b R 1",
                       "lnsgkgsnl/7b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL w R 1"])
    _, value = evaluate(agent, state)
    _, raw = evaluate(replace(agent, value_prior=0.0), state)
    expected = (raw + cfg.ppo.material_shaping * material_balance(state)).clamp(-1, 1)
    torch.testing.assert_close(value, expected)
    assert float(material_balance(state)[0]) > 0 > float(material_balance(state)[1])


# --- forced results: what the tree proves, against brute force with cshogi -----------------------

def _brute_win(board: cshogi.Board, plies: int) -> bool:
    """The side to move mates within `plies` (odd) whatever the defence (cshogi, no network)."""
    if plies == 1:
        return bool(board.mate_move_in_1ply())
    for move in list(board.legal_moves):
        board.push(move)
        try:
            if not list(board.legal_moves):
                return True
            if all(
                _brute_reply_loses(board, reply, plies - 2) for reply in list(board.legal_moves)
            ):
                return True
        finally:
            board.pop()
    return False


def _brute_reply_loses(board, reply, plies) -> bool:
    board.push(reply)
    try:
        return _brute_win(board, plies)
    finally:
        board.pop()


def _claims_hold(sfen, state, root_plies):
    """Every root move the tree calls a win in d (a loss in d) is one by brute force."""
    for label in (root_plies != 0).nonzero().flatten().tolist():
        d = int(root_plies[label])
        board = cshogi.Board(sfen)
        board.push_usi(_usi(state, torch.tensor(label)))
        if d > 0:  # after our move the opponent is mated at once, or every reply loses
            assert d % 2 == 1, d
            replies = list(board.legal_moves)
            assert not replies if d == 1 else all(
                _brute_reply_loses(board, r, d - 2) for r in replies), (sfen, label, d)
        else:  # the opponent mates within |d| - 1 plies
            assert _brute_win(board, -d - 1), (sfen, label, d)


def test_forced_results_are_proofs_checked_by_brute_force():
    from keisei_fn.search import forced_results, move_results

    mate3 = "9/8k/5l+P2/7L1/9/9/9/9/K8 b - 1"
    mate1 = "4k4/9/4P4/9/9/9/9/9/4K4 b G 1"
    mated = "9/8k/5l+P+L1/9/9/9/9/9/K8 w - 2"  # mate3 after 2d2c+: both replies get mated
    sfens = [mate3, mate1, mated, STARTPOS]
    state = from_sfen(sfens)
    out = search(state, _zero, torch.Generator().manual_seed(1), simulations=128,
                 max_considered=600, impasse=False, batched_rounds=True)
    win, loss = forced_results(out["tree"])
    root = move_results(out["tree"], win, loss)
    found = {}
    for i, sfen in enumerate(sfens):
        _claims_hold(sfen, state[i:i + 1], root[i])
        found[sfen] = (int(win[i, 0]), int(loss[i, 0]))
    assert found[mate1][0] == 1 and found[mate3][0] == 3, found
    assert found[STARTPOS] == (0, 0)
    board = cshogi.Board(mated)
    assert all(_brute_reply_loses(board, m, 1) for m in list(board.legal_moves))
    assert found[mated][1] == 2, found


def test_the_tree_rebuilds_each_node_s_full_state():
    """Nodes keep no histories or legal masks (tree.py): rebuilt, they equal the states reached
    by playing the node's path from the root, histories (repetitions) included."""
    from keisei_fn.search.tree import node_states
    from keisei_fn.shogi import step

    state = from_sfen(_positions()[:3])
    out = search(state, ours_evaluate, torch.Generator().manual_seed(1), simulations=40,
                 max_considered=4, impasse=False)
    tree = out["tree"]
    checked = 0
    for game in range(3):
        parents = tree["parents"][game].tolist()
        moves = tree["action_from_parent"][game].tolist()
        for node in range(1, len(parents)):
            if parents[node] < 0 or tree["terminal"][game, node]:
                continue
            path, at = [], node
            while at != 0:
                path.append(moves[at])
                at = parents[at]
            played = state[game:game + 1]
            for label in reversed(path):
                played = step(played, torch.tensor([label]))
            rows = torch.tensor([game])
            rebuilt = node_states(tree, rows, torch.tensor([node]))
            for key in ("board", "hands", "side_to_move", "ply", "hash_history",
                        "check_history", "check_streak", "legal_mask", "in_check"):
                assert torch.equal(rebuilt[key], played[key]), (game, node, key)
            checked += 1
    assert checked > 60


def test_a_tree_node_costs_at_most_15_kb_at_the_referee_s_cap():
    """Issue 30's bound on tree bytes / (simulations + 1), at the 512-ply cap (the histories'
    length): the [593] slots and a small state, not [2187] rows and a full state per node."""
    from keisei_fn.search.tree import tree_bytes

    state = from_sfen(_positions()[:2], max_plies=512)
    for simulations in (16, 64):
        out = search(state, ours_evaluate, torch.Generator().manual_seed(0),
                     simulations=simulations, impasse=False)
        per_node = tree_bytes(out["tree"]) / (2 * (simulations + 1))
        assert per_node <= 15 * 1024, per_node
    # the histories are the root's only: a longer cap adds nothing per node
    longer = search(from_sfen(_positions()[:2], max_plies=4096), ours_evaluate,
                    torch.Generator().manual_seed(0), simulations=64, impasse=False)
    extra = tree_bytes(longer["tree"]) - tree_bytes(out["tree"])
    assert extra == 2 * (4096 - 512) * (8 + 1), extra


def test_compiled_batched_rounds_equal_the_eager_ones(monkeypatch, short_walk_calls):
    """`batched_rounds` with `compiled`: each wave's walks run as compiled programs together
    (search/compiled.py `simulate_wave`; several walks a game, which share the root), in
    chunks of at most the compiled step's largest batch. Every field of the tree is the eager
    batched search's (float64 evaluator, so to rounding): all the positions at once with 4 then
    2 walks each a wave (chunks of 14 walks here, so that every call runs at the one padded
    batch of 16 that the sequential test compiles too: cold compiles are what this costs),
    deep walks (1 considered move: every simulation through one root move, past the first
    walk call), and a mate search at the expanded nodes. Slow: it compiles the wave's
    programs."""
    import keisei_fn.search.compiled as compiled_search
    import keisei_fn.search.gumbel as gumbel_module
    from keisei_fn.search.compiled import simulate_wave

    state = from_sfen(_positions())
    games = state.batch_size[0]
    assert 9 <= games <= 16  # one padded batch (16) for every chunk
    waves = []

    def counted(tree, rows, *rest):
        waves.append(tuple(rows.tolist()))
        return simulate_wave(tree, rows, *rest)
    monkeypatch.setattr(gumbel_module, "simulate_wave", counted)
    monkeypatch.setattr(gumbel_module, "largest_compiled_bucket", lambda: games)
    for sims, considered, mate_depth in ((16, 4, 0), (96, 1, 0), (12, 4, 2)):
        slow = search(state, ours_evaluate, torch.Generator().manual_seed(1), impasse=True,
                      simulations=sims, max_considered=considered, batched_rounds=True,
                      mate_depth=mate_depth)
        fast = search(state, ours_evaluate, torch.Generator().manual_seed(1), impasse=True,
                      simulations=sims, max_considered=considered, batched_rounds=True,
                      compiled=True, mate_depth=mate_depth)
        if considered == 1:
            assert int(slow["tree"]["depth"].max()) > compiled_search.LEVELS_PER_CALL
        for key in ("visits", "action", "pv", "simulations"):
            assert torch.equal(slow[key], fast[key]), (sims, considered, key)
        torch.testing.assert_close(slow["policy"], fast["policy"], rtol=0, atol=1e-12)
        torch.testing.assert_close(slow["value"], fast["value"], rtol=0, atol=1e-12)
        for key, value in slow["tree"].items(True, True):
            if value.is_floating_point():
                torch.testing.assert_close(value, fast["tree"][key], rtol=0, atol=1e-12,
                                           equal_nan=True, msg=str((sims, considered, key)))
            else:
                assert torch.equal(value, fast["tree"][key]), (sims, considered, key)
    # the compiled waves ran (not the eager walk with a compiled step), in chunks, with several
    # walks of one game in a chunk (the root summed per game)
    assert waves and max(len(w) for w in waves) == games
    assert any(len(set(w)) < len(w) for w in waves)


@pytest.mark.slow
def test_one_game_s_fused_simulation_is_the_eager_search_with_the_network():
    """At one game with the network's compiled evaluator, the node's state, the step, the
    network and the backup run as one program (search/compiled.py's `expand`): the packaged
    network (float32) searching each of the reference positions alone chooses the moves and
    visits of the eager search, with its values to float32 rounding. Slow: it compiles."""
    import keisei_fn.search.compiled as compiled_search
    from keisei_fn.agent import compiled_evaluator, evaluator, load_agent

    agent, _ = load_agent("reference")
    states = from_sfen(_positions())
    fast, plain = compiled_evaluator(agent), evaluator(agent)
    assert fast.traceable is not None
    for i in range(states.batch_size[0]):
        state = states[i:i + 1]
        for sims, considered in ((16, 4), (48, 1)):
            slow = search(state, plain, torch.Generator().manual_seed(1), impasse=True,
                          simulations=sims, max_considered=considered)
            with torch.no_grad():
                out = search(state, fast, torch.Generator().manual_seed(1), impasse=True,
                             simulations=sims, max_considered=considered, compiled=True)
            for key in ("visits", "action", "pv", "simulations"):
                assert torch.equal(slow[key], out[key]), (i, sims, key)
            torch.testing.assert_close(slow["value"], out["value"], rtol=0, atol=1e-5)
            for key in ("children_index", "node_visits", "labels", "terminal"):
                assert torch.equal(slow["tree"][key], out["tree"][key]), (i, sims, key)
    assert compiled_search._fused.cache_info().currsize == 1  # the fused program ran


def test_compiled_step_and_search_equal_the_eager_ones():
    """`shogi.compiled_step` (torch.compile, batches padded to a power of two) returns what
    `step` does, key by key, and the compiled search is the same search, at the packaged
    LEVELS_PER_CALL (the variants' tests walk 2 levels a call: conftest's short_walk_calls).
    Slow: it compiles."""
    import keisei_fn.search.compiled as compiled_search
    from keisei_fn.shogi import compiled_step, step
    from tests._shogi_ref import random_walk_sfens

    state = from_sfen(random_walk_sfens(seed=3, n=15, min_plies=30, max_plies=120,
                                        capture_bias=0.7))
    generator = torch.Generator().manual_seed(0)
    start = state
    # both rule sets: impasse on (players, the arena), off (training's default, `--no-impasse`)
    for impasse, plies in ((True, 4), (False, 2)):
        state = start
        for _ in range(plies):
            noise = torch.rand(state["legal_mask"].shape, generator=generator)
            action = torch.where(state["legal_mask"], noise, -1.0).argmax(-1)
            eager = step(state, action, impasse=impasse)
            fast = compiled_step(state, action, impasse=impasse)
            for key in eager.keys():
                assert torch.equal(eager[key], fast[key]), (impasse, key)
            state = eager
    # the compiled simulation (search/compiled.py) with a float64 evaluator: every field of the
    # tree is the eager search's. The 15 positions at once (the step padded to 16, the graph
    # above): the search on which inductor's vectorised code for `step` read out of bounds
    # (shogi/_compiled.py). One game with the network is bench/test_search_bench.py's gate.
    # (96, 1) walks up to 10 deep (several walk calls, one graph for every path length), and the
    # mate position with 2 golds revisits finished positions. The players' rule set (impasse on) for
    # the search: the compiled search is a player's option, and each rule set compiles its own
    # `step` (the other one is checked above, by the step alone, at one batch size).
    state = from_sfen(_positions())
    # (q_range 0.5: the compiled programs read the tree's floor, no variant of their own)
    unfloored = {}
    for sims, considered, q_range in ((16, 4, 0.0), (32, 16, 0.0), (96, 1, 0.0), (32, 16, 0.5)):
        slow = search(state, ours_evaluate, torch.Generator().manual_seed(1), impasse=True,
                      simulations=sims, max_considered=considered, q_range=q_range)
        fast = search(state, ours_evaluate, torch.Generator().manual_seed(1), impasse=True,
                      simulations=sims, max_considered=considered, compiled=True,
                      q_range=q_range)
        if considered == 1:
            # beyond the first walk call
            assert int(slow["tree"]["depth"].max()) > compiled_search.LEVELS_PER_CALL
        if q_range:  # the floor changes this search, so the compiled one must have read it
            assert not torch.equal(slow["visits"], unfloored[sims, considered]["visits"])
        unfloored[sims, considered] = slow
        for key in ("visits", "action", "pv", "simulations"):
            assert torch.equal(slow[key], fast[key]), key
        # compiled code may reorder float sums: to float64 rounding here (float32 in play)
        torch.testing.assert_close(slow["policy"], fast["policy"], rtol=0, atol=1e-12)
        torch.testing.assert_close(slow["value"], fast["value"], rtol=0, atol=1e-12)
        for key, value in slow["tree"].items(True, True):
            if value.is_floating_point():
                torch.testing.assert_close(value, fast["tree"][key], rtol=0, atol=1e-12,
                                           equal_nan=True, msg=str(key))
            else:
                assert torch.equal(value, fast["tree"][key]), key
