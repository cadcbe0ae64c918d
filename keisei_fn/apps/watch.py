"""`keisei-fn watch RUN_DIR`: the run's latest network plays a game at a viewer's pace, its
thinking and the run's metrics beside the board (apps/watch_view.py draws them). A checkpoint
file or a packaged agent (`reference`) can be watched too.

The games are the arena's (`arena.match.play_games`, one game at a time, any player spec as the
opponent, engines included); the watched agent analyses every position once (`decide`: its
ranked moves, their probabilities, with `simulations` its search's visits and values) and plays
the move of that analysis (the policy's, or another one where the material veto rejects it, as
`play` and player specs do), so what the screen shows is what it plays. A newer checkpoint is
picked up between games; the metrics file is re-read at every ply.

Mutation lives in one place, `_Watch`: the game's plies so far, the analysis of the position to
move, the viewer's score. Ctrl-C ends it: rich's Live gives the terminal back, the arena closes
engine sessions, and the command exits with 130.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable

import torch
from rich.console import Console
from rich.live import Live

from ..agent import (Decisions, Settings, decide, load_agent, player_settings, resolve_checkpoint,
                     usi_moves)
from ..agent.named import card, packaged_checkpoint
from ..algos import registry
from ..arena.match import play_games
from ..arena.openings import load_suite, replay
from ..arena.opponents import Player, make_player
from ..insight.saliency import top_squares, value_saliency
from ..run import metrics_file
from ..shogi import to_sfen
from .predict import Score
from .watch_view import Candidate, Header, Ply, screen


SALIENCY_STEPS = 128


def checkpoint_home(run_dir: Path, member: int) -> Path:
    """Where member `member`'s playable checkpoints are: the run directory, or a population's
    RUN_DIR/members/member_K."""
    members = run_dir / "members"
    if members.is_dir():
        home = members / f"member_{member}"
        if not home.is_dir():
            count = len(list(members.glob("member_*")))
            raise ValueError(f"--member {member}: the run has members 0..{count - 1}")
        return home
    if member:
        raise ValueError(f"--member {member}: {run_dir} is not a population (one agent)")
    return run_dir


def watched_source(target: str, member: int) -> tuple[str | Path, Path | None]:
    """What `watch TARGET` loads (a run's checkpoint home, a checkpoint file, or a packaged
    agent's name) and the run directory whose metrics file feeds the panels (None: no run)."""
    if packaged_checkpoint(target) is not None:
        if member:
            raise ValueError(f"--member {member}: {target} is a packaged agent (one agent)")
        return target, None
    path = Path(target)
    if path.is_dir():
        return checkpoint_home(path, member), path
    if path.is_file():
        if member:
            raise ValueError(f"--member {member}: {target} is a checkpoint file (one agent)")
        # a run's checkpoint sits in RUN_DIR, or in RUN_DIR/members/member_K for a population
        runs = [d for d in path.parents[:3] if metrics_file.metrics_path(d).is_file()]
        return path, (runs[0] if runs else None)
    raise ValueError(f"not a run directory, checkpoint file or packaged agent: {target}")


def analyse(agent, state, settings: Settings, generator) -> tuple[Decisions, tuple[Candidate,
                                                                                 ...]]:
    """The agent's decision in a one-game state and its ranked moves as candidates."""
    found = decide(agent, state, settings, generator)
    ranked = found.candidates[0]
    ranked = ranked[ranked >= 0]
    names = usi_moves(state, ranked)
    return found, tuple(Candidate(n, float(p), int(v), float(q)) for n, p, v, q in zip(
        names, found.prior[0].tolist(), found.visits[0].tolist(), found.q[0].tolist()))


class _Frames:
    """Live's interface for output that is not a terminal: each frame printed in turn."""

    def __init__(self, console: Console):
        self.console = console

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, renderable, refresh: bool = False) -> None:
        self.console.print(renderable)
        self.console.rule()

    def start(self, refresh: bool = False) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass
class _Watch:
    """The one mutable place: what is shown (the game so far, the analysis of the position to
    move, the viewer's score) and how (the live view, the viewer's pace)."""
    live: object
    console: Console
    run: Path | None  # whose metrics file feeds the panels (None: not a run's checkpoint)
    member: int
    settings: Settings
    generator: torch.Generator
    letters: str
    pace: float
    predict: bool
    input_fn: Callable[[str], str]
    sleep: Callable[[float], None]
    agent: object = None
    cfg: object = None
    header: Header | None = None
    ours: int | None = None  # the watched agent's colour (None: it plays both)
    plies: list[Ply] = field(default_factory=list)
    decisions: Decisions | None = None
    score: Score = field(default_factory=Score)
    last_frame: float = 0.0
    saliency: bool = False


def _show(w: _Watch, hidden: bool = False, result: str = "") -> None:
    header = replace(w.header, result=result)
    records = metrics_file.read(w.run) if w.run is not None else None
    w.live.update(screen(header, w.plies, records, member=w.member,
                         watched=registry.get(w.cfg.algo).watched(w.cfg),
                         letters=w.letters, hidden=hidden,
                         score=w.score if w.predict else None, width=w.console.width),
                  refresh=True)
    w.last_frame = time.monotonic()


def _look(w: _Watch, state, move: str | None) -> None:
    """The watched agent's view of a new position; drawn, then the viewer's pace."""
    sfen = to_sfen(state)[0]
    if bool((state["terminated"] | state["truncated"]).any()):
        w.plies.append(Ply(sfen, move, w.plies[-1].value_black))
        return
    w.decisions, cands = analyse(w.agent, state, w.settings, w.generator)
    to_move = int(state["side_to_move"][0])
    value = float(w.decisions.value[0])
    drivers = ()
    if w.saliency:  # a fixed 128-step sum: about 0.1 s a position with the 2x32 network
        report = value_saliency(w.agent, state, steps=SALIENCY_STEPS)
        drivers = tuple((sq, report["squares"][sq]) for sq in top_squares(report, 3))
    w.plies.append(Ply(sfen, move, value if to_move == 0 else -value, cands, drivers))
    if w.predict and w.ours in (None, to_move):
        _show(w, hidden=True)
        w.live.stop()
        guess = w.input_fn("your prediction of the agent's move: ")
        w.live.start(refresh=False)
        w.score = w.score.add(guess.strip(), [(c.move, c.prob) for c in cands],
                              cands[0].move)
    _show(w)
    w.sleep(w.pace)


def _choose(w: _Watch, state, _generator) -> torch.Tensor:
    """The watched agent's move: the one its analysis on the screen chose."""
    return w.decisions.action.to(state.device)


def watch(run_dir: str, *, member: int = 0, opponent: str = "", pace: float = 1.0,
          simulations: int = 0, games: int = 0, letters: str = "western", seed: int = 0,
          max_plies: int = 512, openings: str = "default", predict: bool = False,
          saliency: bool = False, options: dict | None = None,
          console: Console | None = None, input_fn: Callable[[str], str] | None = None,
          sleep: Callable[[float], None] = time.sleep) -> int:
    """Play `games` games (0: until interrupted) with the agent of `run_dir` (a run directory, a
    checkpoint file or a packaged agent's name); returns how many were played."""
    home, run = watched_source(run_dir, member)
    about = ""
    if run is None and packaged_checkpoint(run_dir) is not None:  # its card, in one short line
        c = card(run_dir)
        about = (f"packaged: {c['env_steps'] / 1e6:.1f}M env steps, keisei-fn ladder "
                 f"{c['ladder']['elo']:+.0f} [{c['ladder']['low']:+.0f}, "
                 f"{c['ladder']['high']:+.0f}]")
    resolve_checkpoint(home)  # no checkpoint yet: one line before the screen is taken
    console = console or Console()
    suite = load_suite(openings) or [()]
    opponent_player = make_player(opponent) if opponent else None
    # a terminal gets a live screen; a pipe or a file, every frame one after the other
    view = (Live(console=console, auto_refresh=False, screen=not predict,
                 redirect_stdout=False, redirect_stderr=False) if console.is_terminal
            else _Frames(console))
    played, loaded = 0, None
    with view as live:
        w = _Watch(live, console, run, member,
                   player_settings(simulations, top=0, **(options or {})),
                   torch.Generator().manual_seed(seed), letters, pace, predict,
                   input_fn or console.input, sleep, saliency=saliency)
        watched = Player("agent", choose=partial(_choose, w))
        while not games or played < games:
            ckpt = resolve_checkpoint(home)
            if ckpt != loaded:  # a newer checkpoint since the last game
                w.agent, w.cfg = load_agent(ckpt)
                loaded = ckpt
            ours = played % 2  # the watched agent's colour alternates
            other = opponent_player or watched
            black, white = (watched, other) if ours == 0 else (other, watched)
            w.header = Header(str(run_dir), ckpt.name, black.name, white.name, played + 1,
                              extras=(about,) if about else ())
            w.ours = ours if opponent_player is not None else None
            w.plies = []
            opening = suite[played % len(suite)]
            _look(w, replay([opening], max_plies=max_plies), opening[-1] if opening else None)
            record = play_games(black, white, 1, starts=[opening], max_plies=max_plies,
                                generator=torch.Generator().manual_seed(seed + played),
                                on_step=lambda _games, usi, after: _look(w, after, usi[0]))[0]
            _show(w, result=f"{record.winner} wins ({record.reason})"
                  if record.winner != "draw" else f"draw ({record.reason})")
            w.sleep(3 * pace)
            played += 1
    return played
