"""The material minimax against a brute force on cshogi: every legal move's value at depths 1 and
2, on positions from random play and the perft set (drops, promotions, mates)."""

from __future__ import annotations

import functools
import random

import cshogi
import pytest
import torch
from _shogi_ref import STARTPOS, load_perft_positions
from cshogi.dlshogi import make_move_label

from keisei_fn.search import minimax
from keisei_fn.search.minimax import WIN, minimax_choose, move_values
from keisei_fn.shogi import from_sfen, step
from keisei_fn.shogi.material import BOARD_VALUES, HAND_VALUES

# cshogi hands are P L N S G B R; the material table's are P L N S B R G
_HAND_OF_CSHOGI = (0, 1, 2, 3, 6, 4, 5)
_UNPROMOTED = {9: 1, 10: 2, 11: 3, 12: 4, 13: 5, 14: 6}
_CSHOGI_TO_HAND = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6}  # piece type -> material hand index


def _material(board: cshogi.Board) -> float:
    """Side to move's material minus the opponent's, written from cshogi's piece lists."""
    me = board.turn
    total = 0.0
    for sq in range(81):
        piece = board.piece(sq)
        if piece:
            kind, colour = piece % 16, (cshogi.WHITE if piece >= 16 else cshogi.BLACK)
            total += BOARD_VALUES[kind] * (1 if colour == me else -1)
    for colour, hand in enumerate(board.pieces_in_hand):
        for i, count in enumerate(hand):
            total += HAND_VALUES[_HAND_OF_CSHOGI[i]] * count * (1 if colour == me else -1)
    return total


def _leaf_gain(board: cshogi.Board, move: int) -> float:
    """What the stated last ply scores: the captured piece (board value + hand value of its
    unpromoted kind) and a flat 2 pawns for a promotion."""
    gain = 2.0 if cshogi.move_is_promotion(move) else 0.0
    if not cshogi.move_is_drop(move):
        victim = board.piece(cshogi.move_to(move)) % 16
        if victim:
            gain += (
                BOARD_VALUES[victim] + HAND_VALUES[_CSHOGI_TO_HAND[_UNPROMOTED.get(victim, victim)]]
            )
    return gain


@functools.lru_cache(maxsize=None)
def _reference_cached(sfen: str, depth: int, quiet: int) -> dict[int, float]:
    return _reference(cshogi.Board(sfen), depth, quiet)


def reference_values(sfen: str, depth: int, quiet: int = 0) -> dict[int, float]:
    """`_reference` of a position, computed once per process (parametrized tests and their
    lanes ask for the same brute force again)."""
    return dict(_reference_cached(sfen, depth, quiet))


def _reference(board: cshogi.Board, depth: int, quiet: int = 0) -> dict[int, float]:
    """label -> value of every legal move, by brute force; with `quiet`, the captures of the
    static last ply played out that many plies deep (captures only, a quiet move static)."""
    values = {}
    for move in board.legal_moves:
        label = make_move_label(move, board.turn)
        capture = not cshogi.move_is_drop(move) and board.piece(cshogi.move_to(move))
        if depth == 1 and not (quiet and capture):
            values[label] = _material(board) + _leaf_gain(board, move)
            continue
        board.push(move)
        replies = list(board.legal_moves)
        if not replies:
            values[label] = WIN
        else:
            values[label] = -max(_reference(board, max(depth - 1, 1),
                                            quiet - (depth == 1)).values())
        board.pop()
    return values


def _positions() -> list[str]:
    rng = random.Random(7)
    sfens = [p["sfen"] for p in load_perft_positions()]
    for _ in range(24):
        board = cshogi.Board(STARTPOS)
        for _ in range(rng.randrange(10, 90)):
            moves = list(board.legal_moves)
            if not moves or board.is_draw(16):
                break
            board.push(rng.choice(moves))
        if list(board.legal_moves):
            sfens.append(board.sfen())
    return sfens


@pytest.mark.parametrize("depth", [1, 2])
def test_move_values_match_brute_force(depth):
    sfens = _positions()
    state = from_sfen(sfens)
    ours = move_values(state, depth, impasse=False)
    for i, sfen in enumerate(sfens):
        expected = reference_values(sfen, depth)
        legal = ours[i].isfinite().nonzero().squeeze(1).tolist()
        assert sorted(legal) == sorted(expected), sfen
        for label, value in expected.items():
            assert ours[i, label].item() == pytest.approx(value, abs=1e-3), (sfen, label)


@pytest.mark.parametrize("one_wave", [0, 10**9], ids=["two-waves", "one-wave"])
@pytest.mark.parametrize(("depth", "quiet"), [(1, 1), (1, 2), (1, 3), (2, 1), pytest.param(
    2, 2, marks=pytest.mark.slow)])  # 15 s of brute force each: the slow lane
def test_a_quiescence_plays_out_the_last_plys_captures_as_brute_force_does(depth, quiet,
                                                                           one_wave, monkeypatch):
    """`quiet=Q` against cshogi: the static last ply's captures are played, then the replies'
    captures, Q plies deep, each side free to stand pat with a quiet move's static value (and
    a capture that mates scores a win: the last position). Both of the search's ways: two
    waves (the best capture first), and every capture of a level in one step."""
    monkeypatch.setattr(minimax, "_ONE_WAVE", one_wave)
    # the brute force in Python: every legal move, then the captures
    sfens = _positions()[::2] + ["4k4/4p4/4G4/4L4/9/9/9/9/4K4 b - 1"]  # 5c5b mates
    state = from_sfen(sfens)
    ours = move_values(state, depth, impasse=False, quiet=quiet)
    # each ply of quiescence changes some values: the positions tell Q from Q - 1
    assert (ours != move_values(state, depth, impasse=False, quiet=quiet - 1)).any()
    for i, sfen in enumerate(sfens):
        expected = reference_values(sfen, depth, quiet)
        assert sorted(ours[i].isfinite().nonzero().squeeze(1).tolist()) == sorted(expected), sfen
        for label, value in expected.items():
            assert ours[i, label].item() == pytest.approx(value, abs=1e-3), (sfen, label)


@pytest.mark.parametrize("quiet", [2, 3])
def test_the_quiescence_keeps_the_alpha_beta_contract_against_brute_force(quiet, monkeypatch):
    """Inside a window (alpha, beta) a position's value is exact; where the brute force's value
    is at most alpha the search answers at most alpha, where it is at least beta at least beta:
    all a parent needs to keep or refute a move."""
    monkeypatch.setattr(minimax, "_ONE_WAVE", 0)
    sfens = _positions()[::2]
    truth = torch.tensor([max(reference_values(s, 1, quiet).values()) for s in sfens])
    state = from_sfen(sfens)
    for low, high in [(-0.5, 0.5), (1.0, 3.0), (-3.0, -1.0), (-0.1, 6.0), (-6.0, 0.1)]:
        alpha, beta = truth + low, truth + high
        got = minimax._quiesce(state, quiet, alpha, beta, False)
        inside = (truth > alpha) & (truth < beta)
        assert torch.allclose(got[inside], truth[inside], atol=1e-3), (low, high)
        assert (got[truth <= alpha] <= alpha[truth <= alpha] + 1e-4).all(), (low, high)
        assert (got[truth >= beta] >= beta[truth >= beta] - 1e-4).all(), (low, high)


def test_the_second_wave_steps_fewer_positions_for_the_same_values(monkeypatch):
    """Where the best capture (or standing pat) refutes a position, its other captures are not
    stepped: fewer positions than with every capture in one wave, every value the same."""
    stepped = []

    def counting(state, actions, **kw):
        stepped.append(actions.numel())
        return step(state, actions, **kw)

    monkeypatch.setattr(minimax, "step", counting)
    state = from_sfen(_positions())
    runs = {}
    for one_wave in (10**9, 0):
        monkeypatch.setattr(minimax, "_ONE_WAVE", one_wave)
        stepped.clear()
        runs[one_wave] = move_values(state, 2, impasse=False, quiet=2), sum(stepped)
    (full, full_steps), (waves, wave_steps) = runs[10**9], runs[0]
    assert torch.equal(full, waves)
    assert wave_steps < 0.8 * full_steps, (wave_steps, full_steps)


def test_a_quiescence_sees_the_recapture_the_static_ply_misses():
    """After 7g7f the bishop may take on 3c for 2.1 pawns at the static last ply, but White's
    bishop retakes it: every White move reads -2.1 without a quiescence, the best 0 with one."""
    state = from_sfen(["lnsgkgsnl/1r5b1/ppppppppp/9/9/2P6/PP1PPPPPP/1B5R1/LNSGKGSNL w - 2"])
    assert move_values(state, 2, impasse=False).amax().item() == pytest.approx(-2.1, abs=1e-4)
    assert move_values(state, 2, impasse=False, quiet=1).amax().item() == pytest.approx(0.0)


def test_the_player_picks_a_best_move_and_takes_a_mate_in_one():
    # Black to move mates with G*5b (the gold drop is guarded by the pawn on 5c).
    mate = from_sfen(["4k4/9/4P4/9/9/9/9/9/4K4 b G 1"])
    values = move_values(mate, 2, impasse=False)
    choice = minimax_choose(mate, torch.Generator().manual_seed(0), impasse=False)
    assert values[0, choice].item() == WIN
    sfens = _positions()
    state = from_sfen(sfens)
    choice = minimax_choose(state, torch.Generator().manual_seed(1), impasse=False)
    values = move_values(state, 2, impasse=False)
    torch.testing.assert_close(values.gather(1, choice[:, None]).squeeze(1), values.amax(-1),
                               atol=1e-4, rtol=0)


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth must be >= 1"):
        move_values(from_sfen([STARTPOS]), 0)
    with pytest.raises(ValueError, match="quiescence plies must be >= 0"):
        move_values(from_sfen([STARTPOS]), 2, quiet=-1)


@pytest.mark.parametrize("margin", [1.5, 6.0])
def test_material_margin_plays_the_policys_favourite_among_the_near_best(margin):
    """`Settings.material_margin` (the `PATH@material=M` players): the move played is within
    `margin` pawns of the best by the brute-force 2-ply values, and it is the policy's favourite
    among those moves; the policy's own move is kept where it qualifies."""
    from keisei_fn.agent.vetoes import material_checked

    sfens = _positions()
    state = from_sfen(sfens)
    # a policy that prefers labels in a scrambled order, whatever the material says
    order = torch.randperm(2187, generator=torch.Generator().manual_seed(int(margin * 10)))
    log_probs = torch.where(state["legal_mask"], -order.float()[None] / 100, -torch.inf)
    favourite = log_probs.argmax(-1)
    chosen = material_checked(state, favourite, log_probs, margin)
    changed = 0
    for i, sfen in enumerate(sfens):
        reference = reference_values(sfen, 2)
        best = max(reference.values())
        near = [label for label, value in reference.items() if value >= best - margin - 1e-3]
        expected = max(near, key=lambda label: log_probs[i, label].item())
        assert int(chosen[i]) == expected, sfen
        changed += int(chosen[i]) != int(favourite[i])
    assert 0 < changed < len(sfens)  # the check both kept and replaced the policy's move


def test_best_capture_gain_is_the_most_any_legal_move_gains():
    from keisei_fn.shogi.material import best_capture_gain, capture_gain

    state = from_sfen(_positions())
    per_label = capture_gain(state).masked_fill(~state["legal_mask"], -torch.inf).amax(-1)
    torch.testing.assert_close(best_capture_gain(state), per_label)
    assert (per_label > 0).any() and (per_label == 0).any()  # captures and quiet positions


def test_a_search_players_material_veto_plays_its_most_visited_near_best_move():
    """`PATH@sims=N,material=M`: the search's move where the brute-force 2-ply values put it
    within M pawns of the best, else its most visited move among those that are (ties: the
    improved policy, then the lower label, as `decide` ranks them); a proven win stays."""
    from keisei_fn.agent import SearchConfig, Settings, decide, load_agent

    agent, _ = load_agent("reference")
    sfens = _positions()
    state = from_sfen(sfens)
    margin = 1.5

    def played(m: float):
        return decide(agent, state, Settings(search="gumbel", top=0, mate_in_one=False,
                                             gumbel=SearchConfig(16), material_margin=m),
                      torch.Generator().manual_seed(3))

    plain, vetted = played(0.0), played(margin)
    changed = 0
    for i, sfen in enumerate(sfens):
        reference = reference_values(sfen, 2)
        best = max(reference.values())
        near = [label for label, value in reference.items() if value >= best - margin - 1e-3]
        own = int(plain.action[i])
        seen = {int(c): (int(v), float(p)) for c, v, p in
                zip(plain.candidates[i], plain.visits[i], plain.improved[i]) if c >= 0}
        assert set(seen) == set(reference), sfen  # top=0: every legal move is ranked
        if own in near or int(plain.forced[i, 0]) > 0:
            expected = own
        else:
            expected = max(near, key=lambda label: (*seen[label], -label))
        assert int(vetted.action[i]) == expected, sfen
        changed += expected != own
    assert 0 < changed < len(sfens)  # the veto both kept and replaced the search's move


def test_the_veto_with_a_quiescence_lets_a_pawn_be_offered_for_exchange():
    """P-2d offers the pawn: White's 2c pawn takes it and Black's rook retakes. The static last
    ply sees only White's capture (-2.1 pawns: vetoed at a 1-pawn margin); with `quiet=1` the
    recapture is played too (level: kept). Any other move of `order` replaces a vetoed one."""
    from keisei_fn.agent.vetoes import material_vetted

    sfen = "lnsgkgsnl/1r5b1/ppppppppp/9/7P1/9/PPPPPPP1P/1B5R1/LNSGKGSNL b - 1"
    board = cshogi.Board(sfen)
    offer = torch.tensor([make_move_label(board.move_from_usi("2e2d"), board.turn)])
    state = from_sfen([sfen])
    order = torch.cat([offer, torch.arange(27 * 81)[torch.arange(27 * 81) != offer]])[None]
    assert int(material_vetted(state, offer, order, 1.0, quiet=0)) != int(offer)
    assert int(material_vetted(state, offer, order, 1.0, quiet=1)) == int(offer)
