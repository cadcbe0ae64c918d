"""Games between two players, refereed by our rules engine, batched where the players allow it.

`play_games(black, white, n)` plays n games side by side with fixed colours (from the start
position or after given opening moves): one state TensorDict [n]; on every ply each batched player
picks for all of its games in one call and each engine (one process per game, started on its
first move, closed when its game ends) is asked in turn: all requests are sent before any reply
is awaited, so engines think side by side.
`play_match(a, b, games)` plays game pairs: each opening of a suite twice, colours swapped, so a
lopsided opening favours both players once (the cutechess/fishtest practice); when an engine is
involved, `parallel` games at a time (default 1: one engine process alive, modest CPU).

An engine that times out, dies, sends garbage or an illegal move loses that game; the reason is
recorded and the match goes on, and the summary counts such games apart. An engine that cannot
start or fails its handshake stops the match (EngineStartError, a one-line error): a game it never
played is not a win. Games end by the rules (mate, repetition, perpetual check,
entering-king declaration - on by default so a USI `bestmove win` is never needed - or the move
cap, a draw).
"""

from __future__ import annotations

import time
from typing import Callable

import torch
from tensordict import TensorDict

from ..shogi import Reason, action_to_usi, declarable, initial_state, step, usi_to_action
from ._process import ENGINE_FAILURES, EngineFailure, EngineStartError
from .engines import USI_MOVE_RE, await_move, close_session, open_session, request_move
from .openings import Opening, replay
from .opponents import Player
from .records import GameRecord
from .referee import IMPASSE, MAX_PLIES

_COLOURS = ("black", "white")


def play_match(a: Player, b: Player, games: int, *, openings: list[Opening] | None = None,
               max_plies: int = MAX_PLIES, seed: int = 0, parallel: int | None = None,
               device="cpu", impasse: bool = IMPASSE,
               on_game: Callable[[GameRecord], None] | None = None,
               progress: Callable[[int, int], None] | None = None,
               stop: Callable[[list[GameRecord]], bool] | None = None,
               pairs_per_check: int | None = None,
               played: list[GameRecord] = ()) -> list[GameRecord]:
    """`games` games in pairs: pair p plays opening p (cycling through `openings`; the start
    position when None) twice, `a` Black in game 2p and `b` Black in game 2p + 1.

    `played` are records of this match's games from an earlier, stopped process (their
    `meta["game"]` says which): those games are not played again and come back among the
    records. The games still to play draw from a generator seeded as an unbroken match's, so a
    deterministic pair of players plays the same games; where a player draws at random (a mix,
    a tie-break) the resumed games are new draws. `stop` sees the played records from its first
    call (the ladder, which resumes, passes none).

    `progress(plies played, games finished)` is called after every ply of batched play.
    `stop(records so far)` is asked after every `pairs_per_check` pairs (default: after each
    pair with an engine, 16 pairs at a time for batched players); True ends the match there
    (SPRT). Records come back in game order.
    """
    if games < 1:
        raise ValueError(f"games must be >= 1, got {games}")
    if max_plies < 1:
        raise ValueError(f"max plies must be >= 1, got {max_plies}")
    batched = a.batched and b.batched
    if parallel is None:
        parallel = games if batched else 1
    if parallel < 1:
        raise ValueError(f"parallel must be >= 1, got {parallel}")
    if openings is not None and not openings:
        raise ValueError("an opening suite needs at least one opening")
    pairs = (games + 1) // 2
    if pairs_per_check is None:
        pairs_per_check = pairs if stop is None else (16 if batched else max(1, parallel // 2))
    generator = torch.Generator(device=device).manual_seed(seed)
    records: list[GameRecord] = list(played)
    skip = {game_index(r) for r in records}
    plies = 0

    def ply(finished: int) -> None:
        nonlocal plies
        plies += 1
        if progress is not None:
            progress(plies, len(records) + finished)

    for first in range(0, pairs, pairs_per_check):
        chunk = range(first, min(pairs, first + pairs_per_check))
        for black, white, colour in ((a, b, 0), (b, a, 1)):
            ids = [2 * p + colour for p in chunk
                   if 2 * p + colour < games and 2 * p + colour not in skip]
            for lo in range(0, len(ids), parallel):
                part = ids[lo:lo + parallel]
                metas = [{"game": g, "pair": g // 2, "seed": seed, "max_plies": max_plies}
                         for g in part]
                starts = None
                if openings is not None:
                    for m in metas:
                        m["opening"] = m["pair"] % len(openings)
                    starts = [openings[m["opening"]] for m in metas]
                records += play_games(black, white, len(part), starts=starts, metas=metas,
                                      max_plies=max_plies, generator=generator, device=device,
                                      impasse=impasse, on_game=on_game, on_ply=ply)
        if stop is not None and stop(sorted(records, key=game_index)):
            break
    return sorted(records, key=game_index)


def match_progress(print_line, label: str, games: int, every_s: float = 10.0):
    """A `play_match` progress callback: a line at most every `every_s` seconds, so a long
    evaluation shows it is alive."""
    started = last = time.monotonic()

    def progress(plies: int, finished: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            print_line(f"  {label}: {finished}/{games} games finished, ply {plies} "
                       f"({now - started:.0f} s)")

    return progress


def game_index(record: GameRecord) -> int:
    """The game's place in its match (`meta["game"]`)."""
    return record.meta.get("game", 0)


def play_games(black: Player, white: Player, n: int, *, starts: list[Opening] | None = None,
               metas: list[dict] | None = None, max_plies: int = MAX_PLIES,
               generator: torch.Generator | None = None, device="cpu", impasse: bool = IMPASSE,
               on_game=None, on_ply: Callable[[int], None] | None = None,
               on_step: Callable[[list[int], list[str], TensorDict], None] | None = None
               ) -> list[GameRecord]:
    """n games side by side, `black` against `white`, game g from the start position or after
    the moves `starts[g]` (part of its record); `metas[g]` goes into its record. Records in game
    order. `on_step(games, USI moves, states after)` is called after every batched step (the
    games that moved), `on_ply(games finished)` after every ply."""
    if generator is None:
        generator = torch.Generator(device=device).manual_seed(0)
    players = (black, white)
    if starts is None:
        state = initial_state(n, device=device, max_plies=max_plies)
        moves: list[list[str]] = [[] for _ in range(n)]
    else:
        state = replay(starts, max_plies=max_plies, device=device, impasse=impasse)
        moves = [list(o) for o in starts]
    metas = metas if metas is not None else [{"game": g} for g in range(n)]
    sessions: tuple[dict, dict] = ({}, {})  # per colour: game -> engine session
    done: dict[int, GameRecord] = {}
    live = list(range(n))

    def finish(g: int, winner: str, reason: str, detail: str = "") -> None:
        done[g] = GameRecord(black.name, white.name, tuple(moves[g]), winner, reason,
                             detail=detail, meta=metas[g])
        for colour, table in enumerate(sessions):
            if g in table:
                mine = _COLOURS[colour]
                close_session(table.pop(g), "draw" if winner == "draw" else
                              ("win" if winner == mine else "lose"))
        if on_game is not None:
            on_game(done[g])

    try:
        while live:
            rows = torch.tensor(live, device=device)
            sub = state[rows]
            side = sub["side_to_move"].tolist()
            action, failed, declared = _choose(players, sub, side, sessions, live, moves,
                                               generator, device)
            for i, err in failed.items():
                loser = side[i]
                finish(live[i], _COLOURS[1 - loser], err.kind, str(err))
            for i in declared:
                finish(live[i], _COLOURS[side[i]], "impasse", "declared (USI bestmove win)")
            ok = [i for i in range(len(live)) if i not in failed and i not in declared]
            if ok:
                idx = torch.tensor(ok, device=device)
                before, chosen = sub[idx], action[idx]
                usi = action_to_usi(before, chosen)
                after = step(before, chosen, impasse=impasse)
                state[rows[idx]] = after
                ended = (after["terminated"] | after["truncated"]).tolist()
                reward = after["reward"].tolist()
                reason = after["termination_reason"].tolist()
                for j, i in enumerate(ok):
                    g = live[i]
                    moves[g].append(usi[j])
                    if ended[j]:
                        finish(g, _winner(reward[j], side[i]), Reason.NAMES[reason[j]])
                if on_step is not None:
                    on_step([live[i] for i in ok], usi, after)
            live = [g for g in live if g not in done]
            if on_ply is not None:
                on_ply(len(done))
    finally:
        _close_all(sessions)
    return [done[g] for g in range(n)]


def _winner(reward: float, mover: int) -> str:
    """The winner's colour (or 'draw') from the reward of the game's last move to its mover."""
    return "draw" if reward == 0 else _COLOURS[mover] if reward > 0 else _COLOURS[1 - mover]


def _close_all(sessions: tuple[dict, dict]) -> None:
    for table in sessions:
        for g in list(table):
            close_session(table.pop(g))


def _choose(players, sub, side: list[int], sessions, live: list[int], moves: list[list[str]],
            generator, device):
    """Each live game's move [G] from the player to move (a mix splits its games between its
    parts; engines answer in USI): (actions, {row: EngineFailure}, rows whose engine declared
    an entering-king win)."""
    action = torch.full((len(live),), -1, dtype=torch.long, device=device)
    failed: dict[int, EngineFailure] = {}
    declared: list[int] = []  # USI `bestmove win` that the rules grant
    for colour, player in enumerate(players):
        pos = [i for i, s in enumerate(side) if s == colour]
        engine, asked = player, pos
        if player.mix is not None:  # split the games between its two parts
            first, second, share = player.mix
            pick = (torch.rand(len(pos), generator=generator, device=device)
                    < share).tolist()
            engine, scripted = (second, first) if second.engine else (first, second)
            asked = [i for i, b in zip(pos, pick) if b == (engine is second)]
            scripted_pos = [i for i in pos if i not in asked]
            if scripted_pos:
                idx = torch.tensor(scripted_pos, device=device)
                action[idx] = scripted.choose(sub[idx], generator).to(action.dtype)
        if not asked:
            continue
        if engine.batched:
            idx = torch.tensor(asked, device=device)
            action[idx] = engine.choose(sub[idx], generator).to(action.dtype)
            continue
        for i, result in zip(asked, _engine_turn(engine, sessions[colour],
                                                 [live[i] for i in asked], moves)):
            try:
                label = _label(sub[i:i + 1], result)
            except EngineFailure as err:
                failed[i] = err
                continue
            if label == _DECLARED:
                declared.append(i)
            else:
                action[i] = label
    return action, failed, declared


def _engine_turn(player: Player, sessions: dict, games: list[int], moves: list[list[str]]):
    """One reply (USI text or EngineFailure) per game from its engine; requests all go first."""
    results: dict[int, object] = {}
    for g in games:
        if g not in sessions:
            try:
                sessions[g] = open_session(player.engine)
            except EngineFailure as err:
                raise EngineStartError(f"{player.name} failed to start: {err}") from None
        try:
            request_move(sessions[g], moves[g])
        except EngineFailure as err:
            results[g] = err
    for g in games:
        if g not in results:
            try:
                results[g] = await_move(sessions[g])
            except EngineFailure as err:
                results[g] = err
    return [results[g] for g in games]


_DECLARED = -2  # `_label` of a granted entering-king declaration


def _label(state_row, reply) -> int:
    """The action label of an engine's reply in a one-game state (_DECLARED for a `bestmove
    win` the CSA 27-point rule grants), or EngineFailure."""
    if isinstance(reply, EngineFailure):
        raise reply
    if reply == "win":  # with impasse on, the referee would have declared before asking
        if bool(declarable(state_row)[0]):
            return _DECLARED
        raise EngineFailure("illegal_move", "declared an entering-king win the CSA 27-point "
                                            "rule does not grant")
    if not USI_MOVE_RE.match(reply):
        raise EngineFailure("garbage_move", f"not a USI move: {reply!r}")
    try:
        return int(usi_to_action(state_row, [reply])[0])
    except ValueError as err:
        raise EngineFailure("illegal_move", f"illegal move {reply!r}: {err}") from None


def paired_scores(records: list[GameRecord], player: str):
    """[((score in the pair's first game, in its second), key of the pair's two games)] for every
    complete pair (both games of `meta["pair"]` present), from `player`'s side."""
    games: dict[int, list[GameRecord]] = {}
    for r in records:
        if "pair" in r.meta:
            games.setdefault(r.meta["pair"], []).append(r)
    out = []
    for pair in sorted(games):
        both = sorted(games[pair], key=game_index)
        if len(both) == 2:
            out.append(((both[0].score_for(player), both[1].score_for(player)),
                        tuple((r.black, r.moves) for r in both)))
    return out


def summarize(records: list[GameRecord], agent: str, opponent: str) -> dict:
    """W/D/L from the agent's side, Wilson interval of the score, endings, distinct games and
    Elo: the one summary of a match, for the arena's reports and the trainer's evaluation."""
    from collections import Counter

    from ..ratings.elo import fit, score_interval

    points = [r.score_for(agent) for r in records]
    n = len(points)
    wins, losses = points.count(1.0), points.count(0.0)
    score = sum(points) / n
    low, high = score_interval(score, n)
    summary = {"agent": agent, "opponent": opponent, "games": n, "wins": wins,
               "draws": n - wins - losses, "losses": losses, "score": score,
               "score_low": low, "score_high": high,
               "mean_plies": sum(len(r.moves) for r in records) / n,
               # Two deterministic players (argmax agent, gnushogi) replay the same game per
               # colour: the interval then overstates what was measured.
               "distinct_games": len({(r.black, r.moves) for r in records}),
               "endings": dict(Counter(r.reason for r in records)), "elo": None,
               # games an engine lost by breaking the protocol, not by playing
               "engine_failures": sum(r.reason in ENGINE_FAILURES for r in records),
               "openings": len({r.meta["opening"] for r in records if "opening" in r.meta}),
               "paired": None}
    pairs = paired_scores(records, agent)
    if pairs:
        from ..ratings.pentanomial import estimate, pentanomial

        paired = estimate(pentanomial([scores for scores, _ in pairs]))
        summary["paired"] = {"pairs": paired.pairs, "counts": list(paired.counts),
                             "score": paired.score, "score_low": paired.score_low,
                             "score_high": paired.score_high, "elo": paired.elo,
                             "elo_low": paired.elo_low, "elo_high": paired.elo_high,
                             "distinct_pairs": len({key for _, key in pairs})}
    if agent != opponent:
        ratings = fit([(r.black, r.white, r.score_for(r.black)) for r in records],
                      anchor="random" if opponent == "random" else opponent)
        elo, e_low, e_high = ratings.of(agent)
        summary["elo"] = {"anchor": ratings.anchor, "elo": elo, "low": e_low, "high": e_high,
                          "regularized": ratings.regularized}
    return summary
