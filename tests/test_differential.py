"""Differential test: random games played as a batch through the engine, mirrored in cshogi.

At every ply of every game: legal label set, legal USI set (action_to_usi of every legal label),
to_sfen, in_check, ply, hash/check history; after every step: terminated / truncated / reward /
termination_reason against cshogi (mate = no legal move) and against our own repetition
bookkeeping (4th occurrence; perpetual check = one side checked on each of its moves since the
first occurrence; cshogi's is_draw() is used to validate that bookkeeping). Finished games are
restarted in their slot through reset_where.

A failure message carries "position sfen <start> moves <...>" which reproduces the game.
"""

from __future__ import annotations

import itertools
from collections import Counter

import cshogi
import numpy as np
import pytest
import torch

import keisei_fn.shogi as E
from _engine_check import assert_same_moves, assert_same_position
from _shogi_ref import (
    MATE,
    IMPASSE,
    MOVE_CAP,
    NONE,
    PERPETUAL_CHECK,
    REPETITION,
    STARTPOS,
    RepetitionTracker,
    flip_sfen,
    flip_usi,
    perft_sfens,
    random_walk_sfens,
    ref_moves,
)

UNIFORM = (0.0, 0.0)  # (probability of preferring a checking move, probability of undoing)
UNDO = (0.0, 0.7)
CHECKY = (0.5, 0.5)
CHECKY2 = (0.8, 0.5)
PERP = (1.0, 0.9)  # checks whenever possible, undoes otherwise
PERP2 = (1.0, 0.9, 0.9)  # also repeats a checking shuttle: produces perpetual checks

SPARSE = [
    "4k4/9/9/9/9/9/9/9/4K4 b R 1",
    "4k4/9/9/9/9/9/9/9/R3K4 b - 1",
    "k8/9/9/9/9/9/9/9/8K b R 1",
    "4k4/9/9/9/9/9/9/9/4K4 b Rr 1",
    "4k4/9/9/9/9/9/9/9/4K4 b - 1",
    "8k/9/9/9/9/9/9/9/K8 b - 1",
    "4k4/9/9/9/9/9/9/9/4K4 b RBrb 1",
    "4k4/9/9/9/9/9/9/9/4K4 w r 1",
    "4k4/9/9/9/9/9/9/9/4K4 w B 5",
    "3gkg3/9/9/9/9/9/9/9/3GKG3 b - 1",
    "4k4/9/9/9/9/9/9/9/4K4 b G2p 1",
    "l3k3l/9/9/9/9/9/9/9/L3K3L b - 1",
]


class Game:
    """One game: the cshogi mirror plus our own bookkeeping."""

    def __init__(self, gid: int, sfen: str, policy: tuple[float, float]):
        self.gid = gid
        self.board = cshogi.Board(sfen)
        self.start = self.board.sfen()
        self.start_move_number = int(self.start.split()[3])
        self.policy = policy
        self.tracker = RepetitionTracker(self.board)
        self.usis: list[str] = []
        self.moves: list[int] = []
        self.ref = ref_moves(self.board)
        assert self.ref, f"TEST BUG: start position without legal move {sfen}"
        self.hashes: list[int] = []  # engine hash_history, as verified so far
        self.key_of_hash: dict[int, str] = {}
        self.hash_of_key: dict[str, int] = {}

    def ctx(self) -> str:
        return f"game {self.gid}: position sfen {self.start} moves {' '.join(self.usis)}".rstrip()

    @property
    def ply(self) -> int:
        return self.tracker.ply

    def _gives_check(self, lab: int) -> bool:
        self.board.push(self.ref[lab])
        check = self.board.is_check()
        self.board.pop()
        return bool(check)

    def _undo_label(self) -> int | None:
        """Label of the move that takes back our previous move, if legal."""
        if len(self.moves) < 2 or cshogi.move_is_drop(self.moves[-2]):
            return None
        f, t = cshogi.move_from(self.moves[-2]), cshogi.move_to(self.moves[-2])
        for lab in sorted(self.ref):
            m = self.ref[lab]
            if (not cshogi.move_is_drop(m) and cshogi.move_from(m) == t
                    and cshogi.move_to(m) == f and not cshogi.move_is_promotion(m)):
                return lab
        return None

    def choose(self, rng: np.random.Generator) -> int:
        """Seeded random policy: (p_check, p_undo[, p_undo_check]) - prefer a checking move, take
        back the previous move, or (first) take it back when that gives check (perpetual cycles)."""
        labs = sorted(self.ref)
        p_check, p_undo = self.policy[:2]
        p_undo_check = self.policy[2] if len(self.policy) > 2 else 0.0
        if p_undo_check:
            undo = self._undo_label()
            if undo is not None and self._gives_check(undo) and rng.random() < p_undo_check:
                return undo
        if p_check and rng.random() < p_check:
            checks = [lab for lab in labs if self._gives_check(lab)]
            if checks:
                return checks[int(rng.integers(len(checks)))]
        if p_undo and len(self.moves) >= 2 and rng.random() < p_undo:
            undo = self._undo_label()
            if undo is not None:
                return undo
        return labs[int(rng.integers(len(labs)))]

    def push(self, label: int) -> None:
        m = self.ref[label]
        self.usis.append(cshogi.move_to_usi(m))
        self.moves.append(m)
        self.board.push(m)
        self.tracker.push(self.board)
        self.ref = ref_moves(self.board)


def verify_state(state, games: list[Game], idx: list[int], moves: bool = True) -> None:
    """Full comparison of the games `idx` of `state` (position, histories, and legal moves)."""
    sub = state[torch.tensor(idx, dtype=torch.long)] if len(idx) != state.batch_size[0] else state
    gs = [games[i] for i in idx]
    ctx = [g.ctx() for g in gs]
    assert_same_position(sub, [g.board for g in gs], ctx)
    ply = sub["ply"].tolist()
    mnum = sub["move_number"].tolist()
    hh = sub["hash_history"].numpy()
    ch = sub["check_history"].numpy()
    for j, g in enumerate(gs):
        assert ply[j] == g.ply, f"ply: engine {ply[j]} expected {g.ply}\n  {g.ctx()}"
        assert mnum[j] == g.start_move_number + g.ply, f"move_number {mnum[j]}\n  {g.ctx()}"
        checks = ch[j, : g.ply + 1].tolist()
        assert checks == g.tracker.checks, (
            f"check_history {[int(c) for c in checks]} "
            f"expected {[int(c) for c in g.tracker.checks]}\n  {g.ctx()}"
        )
        hist = hh[j, : g.ply + 1].tolist()
        assert hist[: len(g.hashes)] == g.hashes, (
            f"hash_history changed for earlier plies\n  {g.ctx()}"
        )
        for p in range(len(g.hashes), g.ply + 1):
            h, key = hist[p], g.tracker.keys[p]
            if key in g.hash_of_key:
                assert g.hash_of_key[key] == h, (
                    f"same position, different hash at ply {p} ({key})\n  {g.ctx()}")
            if h in g.key_of_hash:
                assert g.key_of_hash[h] == key, (
                    f"hash {h} at ply {p} also used for a different position {g.key_of_hash[h]!r} "
                    f"(now {key!r})\n  {g.ctx()}")
            g.hash_of_key[key] = h
            g.key_of_hash[h] = key
        g.hashes = hist
    # the incrementally updated hash equals the hash of the same position loaded from scratch
    try:
        scratch = E.from_sfen([g.board.sfen() for g in gs], max_plies=1)["hash_history"][
            :, 0
        ].tolist()
    except ValueError as exc:
        bad = []
        for g in gs:
            try:
                E.from_sfen([g.board.sfen()])
            except ValueError:
                bad.append(g.ctx())
        raise AssertionError(
            f"from_sfen rejects a position reached by legal play: {exc}\n  " + "\n  ".join(bad[:3])
        ) from exc
    for j, g in enumerate(gs):
        assert scratch[j] == g.hashes[-1], (
            f"hash after the moves {g.hashes[-1]} != hash of from_sfen of the same position "
            f"{scratch[j]}\n"
            f"  {g.ctx()}"
        )
    if moves:
        assert_same_moves(sub, [g.board for g in gs], ctx)


def expected_outcome(g: Game, max_plies: int, impasse: bool = False):
    """(kind, terminated, truncated, reason, reward or None) after the last push."""
    if not g.ref:
        assert g.board.is_game_over()
        return "mate", True, None, MATE, 1.0
    assert not g.board.is_game_over()
    occ = g.tracker.occurrences()
    if occ >= 4:
        assert occ == 4, f"TEST BUG: game continued past a 4th occurrence\n  {g.ctx()}"
        cs = g.board.is_draw()
        want_cs = g.tracker.expected_cshogi_is_draw()
        if want_cs is not None:
            assert cs == want_cs, (
                f"TEST BUG? own repetition bookkeeping disagrees with cshogi is_draw(): "
                f"{cs} vs {want_cs}\n"
                f"  {g.ctx()}"
            )
        else:
            assert cs != cshogi.NOT_REPETITION
        mover, opponent = g.tracker.perpetual_since_first()
        if mover and not opponent:
            return "perpetual", True, None, PERPETUAL_CHECK, -1.0
        if opponent and not mover:
            return "perpetual", True, None, PERPETUAL_CHECK, 1.0
        if mover and opponent:  # both sides checked on every move: reward not pinned down
            return "perpetual", True, None, PERPETUAL_CHECK, None
        return "repetition", True, None, REPETITION, 0.0
    if impasse and g.board.is_nyugyoku(cshogi.LAW_27):
        # the side to move qualifies for the 27-point entering-king declaration: it wins
        return "impasse", True, None, IMPASSE, -1.0
    if g.ply >= max_plies:
        return "cap", False, True, MOVE_CAP, 0.0
    return "running", False, False, NONE, 0.0


def verify_flags(new, games: list[Game], max_plies: int, impasse: bool = False) -> list[str]:
    term = new["terminated"].tolist()
    trunc = new["truncated"].tolist()
    reason = new["termination_reason"].tolist()
    reward = new["reward"].tolist()
    kinds, errors = [], []
    for i, g in enumerate(games):
        kind, t, tr, r, rw = expected_outcome(g, max_plies, impasse)
        kinds.append(
            kind if kind != "perpetual" else f"perpetual{rw:+.0f}" if rw is not None else kind
        )
        got = (bool(term[i]), bool(trunc[i]), int(reason[i]), float(reward[i]))
        ok = (
            got[0] == t
            and got[2] == r
            and (tr is None or got[1] == tr)
            and (rw is None or got[3] == rw)
        )
        if not ok:
            errors.append(
                f"[slot {i}] expected {kind}: terminated={t} truncated={tr} reason={r} "
                f"reward={rw}; "
                f"engine terminated={got[0]} truncated={got[1]} reason={got[2]} reward={got[3]}\n"
                f"  {g.ctx()}\n  final sfen {g.board.sfen()} occurrences={g.tracker.occurrences()} "
                f"cshogi is_draw={g.board.is_draw()} "
                f"checks={[int(c) for c in g.tracker.checks[-9:]]}"
            )
    assert not errors, "termination flags wrong:\n" + "\n".join(errors)
    return kinds


def run_games(starts, *, B, max_plies, n_games, seed, policies, impasse=False) -> Counter:
    rng = np.random.default_rng(seed)
    start_iter = itertools.cycle(starts)
    gid = itertools.count()

    def new_game():
        return Game(next(gid), next(start_iter), policies[int(rng.integers(len(policies)))])

    games = [new_game() for _ in range(B)]
    state = E.from_sfen([g.start for g in games], max_plies=max_plies)
    verify_state(state, games, list(range(B)))
    outcomes: Counter = Counter()
    finished = 0
    while finished < n_games:
        labels = [g.choose(rng) for g in games]
        act = torch.tensor(labels, dtype=torch.long)
        chosen_usi = E.action_to_usi(state, act)
        for i, g in enumerate(games):
            want = cshogi.move_to_usi(g.ref[labels[i]])
            assert chosen_usi[i] == want, (
                f"action_to_usi({labels[i]}) = {chosen_usi[i]!r}, cshogi {want}\n  {g.ctx()}"
            )
        new = E.step(state, act, impasse=True) if impasse else E.step(state, act)
        for g, lab in zip(games, labels):
            g.push(lab)
        kinds = verify_flags(new, games, max_plies, impasse)
        done = [i for i, k in enumerate(kinds) if k != "running"]
        if not done:
            state = new
            verify_state(state, games, list(range(B)))
            continue
        # terminal positions: the position must be right; after a mate the move list must be empty
        # (after a repetition / move-cap ending the cached mask is not pinned down by the contract)
        verify_state(new, games, done, moves=False)
        mates = [i for i in done if kinds[i] == "mate"]
        if mates:
            verify_state(new, games, mates, moves=True)
        for i in done:
            outcomes[kinds[i]] += 1
            finished += 1
            games[i] = new_game()
        done_t = torch.zeros(B, dtype=torch.bool)
        done_t[done] = True
        fresh = E.from_sfen([g.start for g in games], max_plies=max_plies)
        state = E.reset_where(new, done_t, fresh)
        for k in ("terminated", "truncated"):
            assert not state[k][done_t].any(), f"reset_where left {k} set on restarted games"
        verify_state(state, games, list(range(B)))
    print(f"outcomes ({finished} games, B={B}, max_plies={max_plies}): {dict(outcomes)}")
    return outcomes


def _full_hand_positions(seed: int, n: int) -> list[str]:
    return random_walk_sfens(seed, n, min_plies=60, max_plies=160, capture_bias=0.8)


def test_random_games_startpos():
    out = run_games([STARTPOS], B=16, max_plies=512, n_games=32, seed=101,
                    policies=[UNIFORM, UNIFORM, UNDO, CHECKY])
    assert out["mate"] >= 5, out


def test_random_games_varied_positions_full_hands():
    starts = [cshogi.Board(s).sfen() for s in perft_sfens().values()]
    starts += _full_hand_positions(202, 12)
    starts += [flip_sfen(s) for s in starts[-6:]]
    out = run_games(starts, B=16, max_plies=512, n_games=40, seed=202,
                    policies=[UNIFORM, CHECKY, CHECKY2, UNDO])
    assert out["mate"] >= 5, out


def test_random_games_move_cap():
    starts = [STARTPOS] + [cshogi.Board(s).sfen() for s in perft_sfens().values()][:6]
    out = run_games(starts, B=32, max_plies=60, n_games=64, seed=303, policies=[UNIFORM])
    assert out["cap"] >= 32, out


def test_random_games_sparse_positions_repetition():
    out = run_games(SPARSE, B=32, max_plies=512, n_games=80, seed=404,
                    policies=[UNDO, UNDO, CHECKY, PERP, PERP2, PERP2])
    assert out["repetition"] >= 10, f"too few repetition endings to test the rule: {out}"
    assert out["perpetual-1"] >= 2 and out["perpetual+1"] >= 2, (
        f"too few perpetual-check endings (checker moved last: -1, evader moved last: +1): {out}")


IMPASSE_STARTS = [
    "+P+P+P+P+P+P+P+P+P/4K4/R7B/9/9/9/9/9/4k4 b RB 1",
    "+P+P+P+P+P+P+P+P1/4K4/R7B/9/9/9/9/9/4k4 b RBG 1",
    "+P+P+P+P+P+P+P2/3SK4/R7B/9/9/9/9/ppp6/4k4 b RBG 1",
    "lnsg1gsnl/1+P+P+P+P+P+P+P1/+P2K4+P/9/9/9/9/9/4k4 b RB2G 1",
]


def test_random_games_impasse_declaration():
    """step(..., impasse=True): a side to move that meets the 27-point entering-king rule
    (cshogi is_nyugyoku(LAW_27)) wins at once (IMPASSE, mover's reward -1)."""
    starts = IMPASSE_STARTS + [flip_sfen(s) for s in IMPASSE_STARTS]
    out = run_games(starts, B=16, max_plies=80, n_games=40, seed=505, policies=[UNIFORM, UNDO],
                    impasse=True)
    assert out["impasse"] >= 5 and out["impasse"] < sum(out.values()), out


# ------------------------------------------------------------------------------- scripted games
def play_script(start: str, usis: list[str], max_plies: int = 512):
    """Play a fixed move list through the engine (B=1) with full verification at every ply.

    Returns the final kind and the engine's final state."""
    g = Game(0, start, UNIFORM)
    state = E.from_sfen([g.start], max_plies=max_plies)
    verify_state(state, [g], [0])
    kind = "running"
    for n, u in enumerate(usis):
        assert kind == "running", (
            f"TEST BUG: script continues after the game ended ({kind}) at move {n}"
        )
        lab = next((lab for lab, m in g.ref.items() if cshogi.move_to_usi(m) == u), None)
        assert lab is not None, f"TEST BUG: {u} is illegal at {g.board.sfen()}"
        assert E.usi_to_action(state, [u]).tolist() == [lab], f"usi_to_action({u})\n  {g.ctx()}"
        state = E.step(state, torch.tensor([lab], dtype=torch.long))
        g.push(lab)
        kind = verify_flags(state, [g], max_plies)[0]
        kind = "perpetual" if kind.startswith("perpetual") else kind
        verify_state(state, [g], [0])
    return kind, state, g


def _both_colours(start, usis):
    return [(start, usis), (flip_sfen(start), [flip_usi(u) for u in usis])]


@pytest.mark.parametrize("colour", [0, 1], ids=["black-first", "white-first"])
def test_scripted_fourfold_repetition_is_draw(colour):
    start, usis = _both_colours(STARTPOS, ["2h3h", "8b7b", "3h2h", "7b8b"] * 3)[colour]
    kind, state, g = play_script(start, usis)
    assert kind == "repetition" and g.ply == 12
    assert int(state["termination_reason"][0]) == REPETITION and float(state["reward"][0]) == 0.0


PERPETUAL_CYCLE = ["5a4b", "9a9b", "4b5a", "9b9a"]  # Black's rook checks on every move


@pytest.mark.parametrize("colour", [0, 1], ids=["black-checks", "white-checks"])
def test_scripted_perpetual_check_checker_loses(colour):
    start, usis = _both_colours("4k4/9/9/9/9/9/9/9/R3K4 b - 1", ["9i9a"] + PERPETUAL_CYCLE * 3)[
        colour
    ]
    kind, state, g = play_script(start, usis)
    assert kind == "perpetual" and g.ply == 13
    assert int(state["termination_reason"][0]) == PERPETUAL_CHECK
    assert float(state["reward"][0]) == -1.0, "the checking side made the last move: it loses"


@pytest.mark.parametrize("colour", [0, 1], ids=["black-checks", "white-checks"])
def test_scripted_perpetual_check_evader_moves_last(colour):
    # the cycle starts from the quiet position, so its 4th occurrence is reached by the side in
    # check
    start, usis = _both_colours(
        "R8/5k3/9/9/9/9/9/9/4K4 b - 1", ["9a9b", "4b5a", "9b9a", "5a4b"] * 3
    )[colour]
    kind, state, g = play_script(start, usis)
    assert kind == "perpetual" and g.ply == 12, kind
    assert int(state["termination_reason"][0]) == PERPETUAL_CHECK
    assert float(state["reward"][0]) == 1.0, "the side that was checked made the last move: it wins"


@pytest.mark.parametrize("colour", [0, 1], ids=["black", "white"])
def test_scripted_intermittent_checks_is_draw(colour):
    cycle = ["9i9a", "5a4b", "9a9i", "4b5a"]  # a check, then a quiet move
    start, usis = _both_colours("4k4/9/9/9/9/9/9/9/R3K4 b - 1", cycle * 3)[colour]
    kind, state, g = play_script(start, usis)
    assert kind == "repetition" and g.ply == 12
    assert float(state["reward"][0]) == 0.0


@pytest.mark.parametrize("colour", [0, 1], ids=["black", "white"])
def test_scripted_checks_only_since_second_occurrence_is_draw(colour):
    """Perpetual check counts from the FIRST occurrence: checks only in the later cycles -> draw
    (cshogi's is_draw() looks back only to the previous occurrence and calls it a win)."""
    quiet = ["5a4b", "9a9i", "4b5a", "9i9a"]
    start, usis = _both_colours("4k4/9/9/9/9/9/9/9/R3K4 b - 1",
                                ["9i9a"] + quiet + PERPETUAL_CYCLE * 2)[colour]
    kind, state, g = play_script(start, usis)
    assert g.ply == 13 and kind == "repetition", kind
    assert int(state["termination_reason"][0]) == REPETITION
    assert g.board.is_draw() == cshogi.REPETITION_WIN  # cshogi's nearest-occurrence view


def test_scripted_move_cap_exact():
    usis = ["7g7f", "3c3d", "2g2f", "4c4d", "2f2e", "2b3c"]
    kind, state, g = play_script(STARTPOS, usis[:5], max_plies=5)
    assert kind == "cap"
    assert bool(state["truncated"][0]) and not bool(state["terminated"][0])
    assert int(state["termination_reason"][0]) == MOVE_CAP and float(state["reward"][0]) == 0.0
    kind, state, g = play_script(STARTPOS, usis[:4], max_plies=5)
    assert kind == "running" and not bool(state["truncated"][0])
