"""The batched mate search (search/mate.py) and its check filter (shogi.may_check), against
cshogi as the independent reference: its legal moves and `is_check` for the filter, its
`mate_move_in_1ply` / `mate_move(3)` and a brute force over its legal moves for the mates."""

from __future__ import annotations

from pathlib import Path

import cshogi
import pytest
import torch

from keisei_fn.agent import Settings, decide
from keisei_fn.search.mate import find_mates, mate_in_one
from keisei_fn.shogi import action_to_usi, from_sfen, may_check
from tests._shogi_ref import random_walk_sfens, ref_moves

PROBES = Path(__file__).resolve().parents[1] / "keisei_fn" / "insight" / "value_probes.txt"


def _probes(kind: str, n: int) -> list[str]:
    rows = [line.split("\t") for line in PROBES.read_text().splitlines()
            if line and not line.startswith("#")]
    return [sfen.strip() for k, sfen in rows if k == kind][:n]


def _mates_in_one_by_brute_force(board: cshogi.Board) -> bool:
    for m in list(board.legal_moves):
        board.push(m)
        mated = board.is_check() and not any(True for _ in board.legal_moves)
        board.pop()
        if mated:
            return True
    return False


def _is_mate_in_three(board: cshogi.Board, move_usi: str) -> bool:
    """cshogi brute force: the move checks, and after every reply a mate in one follows."""
    board.push_usi(move_usi)
    try:
        if not board.is_check():
            return False
        for reply in list(board.legal_moves):
            board.push(reply)
            ok = _mates_in_one_by_brute_force(board)
            board.pop()
            if not ok:
                return False
        return True
    finally:
        board.pop()


def test_may_check_keeps_every_checking_move():
    """Every legal move that gives check (cshogi's is_check after the move) is kept, over
    positions of random games with full hands; and the filter keeps few moves that do not."""
    sfens = random_walk_sfens(seed=11, n=120, min_plies=20, max_plies=160, capture_bias=0.7)
    state = from_sfen(sfens)
    rows, labels = state["legal_mask"].nonzero(as_tuple=True)
    kept = may_check(state, rows, labels)
    by_row = {}
    for r, lab, k in zip(rows.tolist(), labels.tolist(), kept.tolist()):
        by_row.setdefault(r, {})[lab] = k
    checks = kept_quiet = quiet = 0
    for r, sfen in enumerate(sfens):
        board = cshogi.Board(sfen)
        moves = ref_moves(board)
        assert set(moves) == set(by_row.get(r, {}))
        for lab, m in moves.items():
            board.push(m)
            gives_check = board.is_check()
            board.pop()
            if gives_check:
                checks += 1
                assert by_row[r][lab], f"{sfen}: {cshogi.move_to_usi(m)} checks but was dropped"
            else:
                quiet += 1
                kept_quiet += by_row[r][lab]
    assert checks > 100
    assert kept_quiet < 0.1 * quiet  # a filter, not everything


@pytest.mark.parametrize("kind", ["mate1", "mate3", "rook_up"])
def test_find_mates_agrees_with_cshogi(kind):
    """Positions of the probe set (mates proven by cshogi, and positions a rook up): a mate is
    found exactly where cshogi finds one within three plies, of the same length, and every
    mate in three found is one by a cshogi brute force."""
    sfens = _probes(kind, 24)
    move, plies = find_mates(from_sfen(sfens), 3)
    usis = action_to_usi(from_sfen(sfens), move.clamp(min=0))
    for sfen, m, n, usi in zip(sfens, move.tolist(), plies.tolist(), usis):
        board = cshogi.Board(sfen)
        ref = 1 if board.mate_move_in_1ply() else 3 if board.mate_move(3) else 0
        assert n == ref, sfen
        assert (m >= 0) == (n > 0)
        if n == 3:
            assert not _mates_in_one_by_brute_force(board)
            assert _is_mate_in_three(board, usi), f"{sfen}: {usi}"
        if n == 1:
            board.push_usi(usi)
            assert board.is_check() and not any(True for _ in board.legal_moves), sfen


def test_plies_one_is_the_mate_in_one_and_bad_depth_is_refused():
    sfens = _probes("mate1", 8) + _probes("mate3", 8) + _probes("rook_down", 8)
    state = from_sfen(sfens)
    move, plies = find_mates(state, 1)
    assert torch.equal(move, mate_in_one(state))
    assert plies.tolist() == [1] * 8 + [0] * 16
    with pytest.raises(ValueError, match="1 or 3"):
        find_mates(state, 2)


def test_small_chunks_give_the_same_answer():
    sfens = _probes("mate3", 4) + _probes("rook_up", 4)
    state = from_sfen(sfens)
    whole = find_mates(state, 3)
    for a, b in zip(whole, find_mates(state, 3, chunk=64)):
        assert torch.equal(a, b)


def test_decide_plays_the_mate_in_three_first():
    """The argmax player with `mate_plies=3` plays the proven first move and says it mates in
    3; with the mate in one only, it does not claim one."""
    from keisei_fn.agent import Agent
    from keisei_fn.models import build_model, net_spec, state_params
    from keisei_fn.config import load_config

    cfg = load_config(None, ["model.blocks=1", "model.channels=8"])
    params = state_params(build_model(cfg.model)).unsqueeze(0)
    agent = Agent(params, net_spec(cfg.model))
    state = from_sfen(_probes("mate3", 4))
    three = decide(agent, state, Settings(mate_in_one=True, mate_plies=3))
    move, plies = find_mates(state, 3)
    assert torch.equal(three.action, move) and three.mate.tolist() == plies.tolist() == [3] * 4
    assert bool((three.value == 1).all())
    one = decide(agent, state, Settings(mate_in_one=True))
    assert one.mate.tolist() == [0] * 4


def _opponent_mates_in_one(board: cshogi.Board) -> bool:
    """cshogi: the side to move has a mate in one. mate_move_in_1ply assumes it is not in check
    (in check it answers with moves that ignore the check), so there, brute force."""
    return _mates_in_one_by_brute_force(board) if board.is_check() \
        else bool(board.mate_move_in_1ply())


def _all_moves(state) -> torch.Tensor:
    """long [B, K]: each position's legal labels, -1 padded."""
    legal = state["legal_mask"]
    k = int(legal.sum(-1).max())
    order = legal.to(torch.uint8).argsort(dim=-1, descending=True, stable=True)[:, :k]
    return torch.where(legal.gather(1, order), order, -1)


def _agree_with_cshogi(sfens, state, moves, bad, reference) -> dict[bool, int]:
    """Asserts `bad` [B, K] (each of `moves` lets the opponent mate) equals `reference(board)`
    after each move on cshogi's board; returns how many moves the reference flagged or not."""
    counts = {True: 0, False: 0}
    for i, sfen in enumerate(sfens):
        labels = moves[i][moves[i] >= 0]
        usis = action_to_usi(state[i:i + 1].expand(len(labels)).clone(), labels)
        board = cshogi.Board(sfen)
        for k, usi in enumerate(usis):
            board.push_usi(usi)
            ref = reference(board)
            board.pop()
            assert bool(bad[i, k]) == ref, (sfen, usi)
            counts[ref] += 1
    return counts


def test_allows_mate_agrees_with_cshogi():
    """`allows_mate` against cshogi (mate_move_in_1ply, or a brute force where the opponent is in
    check) after every legal move of positions of random games with full hands."""
    from keisei_fn.search.mate import allows_mate

    sfens = random_walk_sfens(seed=5, n=16, min_plies=40, max_plies=160, capture_bias=0.7)
    state = from_sfen(sfens)
    moves = _all_moves(state)
    bad = allows_mate(state, moves)
    counts = _agree_with_cshogi(sfens, state, moves, bad, _opponent_mates_in_one)
    assert counts[True] >= 10 and counts[False] > 1000, counts


def _opponent_mates_within_three(board: cshogi.Board) -> bool:
    """cshogi brute force: the side to move mates in one, or in three by checks."""
    return _opponent_mates_in_one(board) or any(
        _is_mate_in_three(board, usi) for usi in
        [cshogi.move_to_usi(m) for m in board.legal_moves])


@pytest.mark.slow  # ~15 s: a few hundred mate-in-three searches (make test runs it)
def test_allows_mate_in_three_agrees_with_cshogi():
    """`allows_mate(plies=3)` against a cshogi brute force (a mate in one, or a check after which
    every reply is mated at once) after every legal move of positions of random games with full
    hands; it flags more moves than the mate in one alone, and never fewer."""
    from keisei_fn.search.mate import allows_mate

    sfens = random_walk_sfens(seed=6, n=64, min_plies=40, max_plies=160, capture_bias=0.7)
    state = from_sfen(sfens)
    moves = _all_moves(state)
    # positions where some move allows a mate in one (so deeper mates are likely), and not the
    # widest (a full hand's ~200 moves cost ~1,000 steps each at three plies)
    bad1 = allows_mate(state, moves)
    rows = [i for i in range(len(sfens)) if bad1[i].any() and (moves[i] >= 0).sum() < 160][:2]
    sfens, state, moves, bad1 = [sfens[i] for i in rows], state[rows], moves[rows], bad1[rows]
    bad3 = allows_mate(state, moves, plies=3)
    counts = _agree_with_cshogi(sfens, state, moves, bad3, _opponent_mates_within_three)
    assert not (bad1 & ~bad3).any()
    assert int((bad3 & ~bad1).sum()) >= 2 and counts[False] > 100, counts


def test_guard_plays_the_favourite_that_allows_no_mate():
    """With the favourite move one that lets the opponent mate at once, `Settings.guard` plays
    the next favourite that does not (checked with cshogi); a safe favourite is kept."""
    from keisei_fn.agent.vetoes import by_prior, guarded
    from keisei_fn.search.mate import allows_mate

    sfens = random_walk_sfens(seed=6, n=64, min_plies=40, max_plies=160, capture_bias=0.7)
    state = from_sfen(sfens)
    moves = _all_moves(state)
    bad = allows_mate(state, moves)
    rows = [i for i in range(len(sfens)) if bad[i].any() and (~bad[i] & (moves[i] >= 0)).any()]
    assert len(rows) >= 3
    state, moves, bad = state[rows], moves[rows], bad[rows]
    # the favourite allows a mate, the second favourite does not, the rest by label
    favourite = moves.gather(1, bad.to(torch.uint8).argmax(-1, keepdim=True)).squeeze(1)
    second = moves.gather(1, (~bad & (moves >= 0)).to(torch.uint8).argmax(-1, keepdim=True))
    log_probs = torch.where(state["legal_mask"], -1.0 - torch.arange(2187) / 2187, -torch.inf)
    log_probs = log_probs.scatter(1, favourite[:, None], 0.0).scatter(1, second, -0.5)
    chosen = guarded(state, favourite, by_prior(log_probs), 1)
    assert torch.equal(chosen, second.squeeze(1))
    for i, usi in enumerate(action_to_usi(state, chosen)):
        board = cshogi.Board(from_sfen_to_sfen(state[i:i + 1]))
        board.push_usi(usi)
        assert not _opponent_mates_in_one(board), usi  # cshogi: the guard's move is safe
    assert torch.equal(guarded(state, second.squeeze(1), by_prior(log_probs), 1),
                       second.squeeze(1))


def _deep_and_safe(sfen: str, state, labels) -> bool:
    """cshogi: of `labels`, one lets the opponent mate in three by checks but not in one, and
    one allows neither."""
    labels = labels[labels >= 0]
    board, deep, safe = cshogi.Board(sfen), False, False
    for usi in action_to_usi(state.expand(len(labels)).clone(), labels):
        board.push_usi(usi)
        if not board.is_game_over() and not board.is_check():
            one = _opponent_mates_in_one(board)
            three = one or bool(board.mate_move(3))
            deep, safe = deep or (three and not one), safe or not three
        board.pop()
    return deep and safe


def test_guard_three_refuses_a_move_that_allows_a_mate_in_three():
    """`Settings.guard = 3`: a favourite after which the opponent mates in three by checks (not
    in one) is refused for the next favourite, which allows neither (cshogi brute force); the
    mate-in-one guard keeps the favourite (so the test can fail)."""
    from keisei_fn.agent.vetoes import by_prior, guarded
    from keisei_fn.search.mate import allows_mate

    sfens = random_walk_sfens(seed=6, n=64, min_plies=40, max_plies=160, capture_bias=0.7)
    state = from_sfen(sfens)
    moves = _all_moves(state)[:, :12]  # the first labels: enough moves, a bounded cost
    # cshogi picks the positions cheaply (~1,000 of our steps a move at three plies)
    rows = [i for i in range(len(sfens)) if _deep_and_safe(sfens[i], state[i:i + 1], moves[i])]
    assert len(rows) >= 2
    state, moves = state[rows[:2]], moves[rows[:2]]
    bad1, bad3 = allows_mate(state, moves), allows_mate(state, moves, plies=3)
    deep = bad3 & ~bad1
    assert deep.any(-1).all() and (~bad3 & (moves >= 0)).any(-1).all()
    favourite = moves.gather(1, deep.to(torch.uint8).argmax(-1, keepdim=True)).squeeze(1)
    second = moves.gather(1, (~bad3 & (moves >= 0)).to(torch.uint8).argmax(-1, keepdim=True))
    log_probs = torch.where(state["legal_mask"], -1.0 - torch.arange(2187) / 2187, -torch.inf)
    log_probs = log_probs.scatter(1, favourite[:, None], 0.0).scatter(1, second, -0.5)
    assert torch.equal(guarded(state, favourite, by_prior(log_probs), 1), favourite)
    chosen = guarded(state, favourite, by_prior(log_probs), 3)
    assert torch.equal(chosen, second.squeeze(1))
    for i in range(len(moves)):
        board = cshogi.Board(from_sfen_to_sfen(state[i:i + 1]))
        for move, mates in ((favourite[i:i + 1], True), (chosen[i:i + 1], False)):
            board.push_usi(action_to_usi(state[i:i + 1], move)[0])
            assert _opponent_mates_within_three(board) == mates
            assert not mates or not _opponent_mates_in_one(board)
            board.pop()


def _one_and_deep(sfen: str, state, labels) -> tuple[int, int] | None:
    """cshogi: (a label after which the opponent mates in one, one after which it mates in three
    by checks but not in one), of `labels`, or None."""
    labels = labels[labels >= 0]
    board, one, deep = cshogi.Board(sfen), None, None
    for label, usi in zip(labels.tolist(), action_to_usi(state.expand(len(labels)).clone(),
                                                          labels)):
        board.push_usi(usi)
        if not board.is_game_over() and not board.is_check():
            if _opponent_mates_in_one(board):
                one = label if one is None else one
            elif board.mate_move(3):
                deep = label if deep is None else deep
        board.pop()
    return (one, deep) if one is not None and deep is not None else None


def test_guard_three_at_least_refuses_a_mate_in_one(monkeypatch):
    """`guard=3` where every move it checks allows a mate in three (two checked here): not the
    chosen move when it allows a mate in one, but the one that allows only a mate in three."""
    import keisei_fn.agent.vetoes as vetoes
    from keisei_fn.agent.vetoes import guarded

    sfens = random_walk_sfens(seed=6, n=64, min_plies=40, max_plies=160, capture_bias=0.7)
    state = from_sfen(sfens)
    moves = _all_moves(state)
    found = [(i, pair) for i in range(len(sfens))
             if (pair := _one_and_deep(sfens[i], state[i:i + 1], moves[i])) is not None][:2]
    assert found
    rows = [i for i, _ in found]
    state = state[rows]
    one = torch.tensor([pair[0] for _, pair in found])
    deep = torch.tensor([pair[1] for _, pair in found])
    order = torch.stack([one, deep], 1)
    monkeypatch.setattr(vetoes, "GUARD_WIDTH", 2)  # the chosen move and the next only
    assert torch.equal(guarded(state, one, order, 3), deep)
    assert torch.equal(guarded(state, deep, torch.stack([deep, one], 1), 3), deep)


def test_guard_looks_past_its_width_for_a_move_safe_from_a_mate_in_one(monkeypatch):
    """Where every move the guard checks allows a mate in one (two checked here), both guards
    play the first legal move after them that does not (cshogi judges), not the chosen move."""
    import keisei_fn.agent.vetoes as vetoes
    from keisei_fn.agent.vetoes import guarded
    from keisei_fn.search.mate import allows_mate

    sfens = random_walk_sfens(seed=6, n=64, min_plies=40, max_plies=160, capture_bias=0.7)
    state = from_sfen(sfens)
    moves = _all_moves(state)
    bad = allows_mate(state, moves)
    rows = [i for i in range(len(sfens))
            if bad[i].sum() >= 2 and (~bad[i] & (moves[i] >= 0)).any()][:3]
    assert len(rows) >= 2
    state, moves, bad = state[rows], moves[rows], bad[rows]
    # every label: the moves that allow a mate first, then the other legal ones, by label
    rank = state["legal_mask"].to(torch.uint8).scatter_add(
        1, moves.clamp(min=0), (2 * bad).to(torch.uint8))
    order = rank.argsort(dim=-1, descending=True, stable=True)
    monkeypatch.setattr(vetoes, "GUARD_WIDTH", 2)
    for plies in (1, 3):
        chosen = guarded(state, order[:, 0], order, plies)
        assert not allows_mate(state, chosen[:, None]).any()
        for i, usi in enumerate(action_to_usi(state, chosen)):
            board = cshogi.Board(from_sfen_to_sfen(state[i:i + 1]))
            board.push_usi(usi)
            assert not _opponent_mates_in_one(board), usi


def test_guard_with_nothing_left_to_check_keeps_the_chosen_move():
    """A caller's order may hold only a few moves (the 1-ply search's scored ones): where all of
    them allow a mate in one (cshogi), both guards keep the chosen move, and do not fail."""
    from keisei_fn.agent.vetoes import guarded

    sfen = "l3k2n1/5s1br/g1l1n1p2/3p4r/2g1Pp3/P2l5/1+n3g3/l7p/1b3K2+n b g3s12p 183"
    board = cshogi.Board(sfen)
    assert 2 <= len(list(board.legal_moves)) <= 8
    for move in list(board.legal_moves):
        board.push(move)
        assert _opponent_mates_in_one(board)
        board.pop()
    state = from_sfen([sfen])
    order = _all_moves(state)  # the legal moves only, as the 1-ply search passes them
    for plies in (1, 3):
        assert torch.equal(guarded(state, order[:, 0], order, plies), order[:, 0])


def _a_favourite_that_allows_a_mate():
    """(state [B], favourite [B], second [B, 1], evaluator): positions with no mate of our own
    where some move lets the opponent mate at once and another does not; the evaluator's policy
    puts the first such move first and a safe one second, and it knows no values (game i's
    positions, root and below, read row i's logits)."""
    from keisei_fn.search.mate import allows_mate

    sfens = random_walk_sfens(seed=6, n=64, min_plies=40, max_plies=160, capture_bias=0.7)
    state = from_sfen(sfens)
    moves = _all_moves(state)
    bad = allows_mate(state, moves)
    no_mate = find_mates(state, 1)[0] < 0  # a mate of our own would be played first anyway
    rows = [i for i in range(len(sfens)) if bad[i].any() and (~bad[i] & (moves[i] >= 0)).any()
            and no_mate[i]]
    assert len(rows) >= 3
    state, moves, bad = state[rows], moves[rows], bad[rows]
    favourite = moves.gather(1, bad.to(torch.uint8).argmax(-1, keepdim=True)).squeeze(1)
    second = moves.gather(1, (~bad & (moves >= 0)).to(torch.uint8).argmax(-1, keepdim=True))
    logits = (-1.0 - torch.arange(2187) / 2187).expand(len(rows), -1)
    logits = logits.scatter(1, favourite[:, None], 0.0).scatter(1, second, -0.5)

    def prior_only(position):
        mask = position["legal_mask"]
        return (torch.log_softmax(logits.masked_fill(~mask, -torch.inf), -1),
                torch.zeros(len(mask)))
    return state, favourite, second, prior_only


def test_search_guard_plays_the_most_visited_move_that_allows_no_mate(monkeypatch):
    """A Gumbel search whose favourite lets the opponent mate at once (a network that puts its
    prior on that move and knows no values, so a few simulations do not see the reply): with
    `Settings.guard` the search's next most visited move is played, one that allows no mate in
    one (cshogi judges); without it, the favourite (so the test can fail)."""
    import keisei_fn.agent.decision as decision
    from keisei_fn.agent import SearchConfig

    state, favourite, second, prior_only = _a_favourite_that_allows_a_mate()

    monkeypatch.setattr(decision, "evaluator", lambda agent: prior_only)
    search = SearchConfig(simulations=4, considered=4)
    for guard in (0, 1):
        chosen = decide(None, state, Settings(search="gumbel", gumbel=search, top=1, guard=guard),
                        torch.Generator().manual_seed(0)).action
        if not guard:
            assert torch.equal(chosen, favourite)
    assert torch.equal(chosen, second.squeeze(1))
    for i, usi in enumerate(action_to_usi(state, chosen)):
        board = cshogi.Board(from_sfen_to_sfen(state[i:i + 1]))
        board.push_usi(usi)
        assert not _opponent_mates_in_one(board), usi


def test_score_mates_scores_a_mate_in_one_as_a_win_and_lifts_its_move():
    """`score_mates`: +1 exactly where the side to move mates in one (cshogi, brute force when
    in check), the network's value elsewhere; there its lifted favourite mates (cshogi)."""
    from keisei_fn.search.mate import score_mates

    sfens = random_walk_sfens(seed=6, n=64, min_plies=40, max_plies=160, capture_bias=0.7)
    state = from_sfen(sfens)

    def flat(position):
        mask = position["legal_mask"]
        return torch.zeros(mask.shape).masked_fill(~mask, -torch.inf), torch.full((len(mask),),
                                                                                  0.25)

    logits, value = score_mates(state, *flat(state))
    favourite = action_to_usi(state, logits.argmax(-1))
    wins = 0
    for i, sfen in enumerate(sfens):
        board = cshogi.Board(sfen)
        mates = (_mates_in_one_by_brute_force(board) if board.is_check()
                 else bool(board.mate_move_in_1ply()))
        assert float(value[i]) == (1.0 if mates else 0.25), sfen
        if mates:
            wins += 1
            board.push_usi(favourite[i])
            assert board.is_check() and not any(True for _ in board.legal_moves), sfen
    assert 3 <= wins < len(sfens)


@pytest.mark.parametrize("compiled", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_mate_depth_lets_the_search_see_the_opponents_mate_at_the_first_visit(monkeypatch,
                                                                               compiled,
                                                                               short_walk_calls):
    """The guard's situation (above) without the guard: with `SearchConfig.mate_depth` 1, a
    favourite that lets the opponent mate at once scores -1 at its first visit, so the search
    plays another move, one that allows no mate in one (cshogi); without, the favourite. The
    compiled simulation (search/compiled.py) alike."""
    import keisei_fn.agent.decision as decision
    from keisei_fn.agent import SearchConfig

    state, favourite, second, prior_only = _a_favourite_that_allows_a_mate()

    monkeypatch.setattr(decision, "evaluator", lambda agent: prior_only)
    monkeypatch.setattr(decision, "compiled_evaluator", lambda agent: prior_only)
    for depth in (0, 1):
        search = SearchConfig(simulations=4, considered=4, mate_depth=depth, compiled=compiled)
        chosen = decide(None, state, Settings(search="gumbel", gumbel=search, top=1),
                        torch.Generator().manual_seed(0)).action
        assert torch.equal(chosen, second.squeeze(1) if depth else favourite), depth
    for i, usi in enumerate(action_to_usi(state, chosen)):
        board = cshogi.Board(from_sfen_to_sfen(state[i:i + 1]))
        board.push_usi(usi)
        assert not _opponent_mates_in_one(board), usi


def from_sfen_to_sfen(state) -> str:
    from keisei_fn.shogi import to_sfen

    return to_sfen(state)[0]
