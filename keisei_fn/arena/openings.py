"""Opening suites: start positions that give a match distinct, balanced games.

A suite is a text file, one opening per line in USI's `position` syntax from the start position
(`startpos moves 7g7f 3c3d ...`), `#` comments allowed. Openings are move sequences rather than
SFEN so that every engine can be told the game from its start: gnushogi's driver (engines.py)
only replays moves, and the records (CSA, KIF) stay games from the standard position.

Suites shipped with the package live in `openings/` next to this module (`load_suite("default")`).
`generate` makes new ones, reproducibly from a seed:
- play: each ply picks uniformly among the moves within `PLAY_TOLERANCE` pawns of the best by a
  2-ply material minimax (search/minimax.py), so the lines vary but no side drops material;
- judge: an opening is kept when material is level, the side to move is not in check, the game
  is not over, a 3-ply material minimax from the side to move is within `margin` pawns of 0 (no
  side can win material by force at that depth), and its position is new to the suite.
The candidates are played in batches of a fixed size, so the first k openings of a suite of n do
not depend on n.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Callable

import torch

from ..search.minimax import move_values, position_value
from ..shogi import action_to_usi, initial_state, step, usi_to_action
from ..shogi.material import material_balance

SUITES = ("default",)  # shipped: openings/<name>.txt
DEFAULT_SUITE = "default"
PLAY_TOLERANCE = 0.5  # pawns below the best 2-ply value a generating move may be
JUDGE_DEPTH = 3
_BATCH = 64  # candidates played side by side; fixed, so that suites are prefixes of each other
_JUDGE_CHUNK = 4  # positions judged at once (a 3-ply search holds ~6,400 states per position)
_MAX_PLIES = 64  # history kept while generating: the longest opening plus the judge's depth

Opening = tuple[str, ...]


def suite_path(name: str) -> Path:
    return Path(str(resources.files("keisei_fn.arena") / "openings" / f"{name}.txt"))


def load_suite(spec: str) -> list[Opening] | None:
    """The openings a spec names: a shipped suite (`default`), a file path, or `none` (every
    game from the start position: None). ValueError (one line) for anything unreadable."""
    if spec == "none":
        return None
    path = suite_path(spec) if spec in SUITES else Path(spec)
    if not path.is_file():
        raise ValueError(f"opening suite not found: {spec!r} (a file, or one of "
                         f"{', '.join(SUITES)}, or none)")
    openings = parse_suite(path.read_text(), str(path))
    check_legal(openings, str(path))
    return openings


def parse_suite(text: str, where: str = "suite") -> list[Opening]:
    openings = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] != "startpos" or (len(words) > 1 and words[1] != "moves"):
            raise ValueError(f"{where} line {number}: expected 'startpos moves ...' (openings are "
                             f"move sequences from the start position, so that every engine, "
                             f"gnushogi included, can play them), got {line[:40]!r}")
        openings.append(tuple(words[2:]))
    if not openings:
        raise ValueError(f"{where}: no openings in it")
    return openings


def check_legal(openings: list[Opening], where: str = "suite") -> None:
    """ValueError naming the first opening with an illegal or malformed move, or a game that
    ends inside its opening."""
    replay(openings, where=where)


def replay(openings: list[Opening], *, max_plies: int = 512, device="cpu", impasse: bool = True,
           where: str = "suite"):
    """The state [n] after each opening's moves (batched: one `step` per ply over the openings
    still going)."""
    n = len(openings)
    longest = max((len(o) for o in openings), default=0)
    if longest >= max_plies:
        raise ValueError(f"{where}: an opening of {longest} plies does not fit under a "
                         f"{max_plies}-ply cap: raise the cap or use shorter openings")
    state = initial_state(n, device=device, max_plies=max_plies)
    for ply in range(max((len(o) for o in openings), default=0)):
        rows = [i for i, o in enumerate(openings) if len(o) > ply]
        index = torch.tensor(rows, device=device)
        sub = state[index]
        if bool((sub["terminated"] | sub["truncated"]).any()):
            bad = rows[int((sub["terminated"] | sub["truncated"]).int().argmax())]
            raise ValueError(f"{where}: opening {bad + 1} ends the game before its last move")
        try:
            action = usi_to_action(sub, [openings[i][ply] for i in rows])
        except ValueError as err:
            bad = _first_bad(sub, [openings[i][ply] for i in rows])
            raise ValueError(f"{where}: opening {rows[bad] + 1}, move {ply + 1}: {err}") from None
        state[index] = step(sub, action, impasse=impasse)
    ended = state["terminated"] | state["truncated"]
    if bool(ended.any()):
        raise ValueError(f"{where}: opening {int(ended.int().argmax()) + 1} ends the game")
    return state


def _first_bad(sub, moves) -> int:
    for i, move in enumerate(moves):
        try:
            usi_to_action(sub[i:i + 1], [move])
        except ValueError:
            return i
    return 0


def generate(count: int, *, plies: tuple[int, int] = (8, 24), seed: int = 0,
             margin: float = 1.0, progress: Callable[[int, int], None] | None = None
             ) -> list[Opening]:
    """`count` balanced openings of `plies` (inclusive) moves, see the module's docstring.
    `progress(kept, tried)` is called after every batch of candidates."""
    low, high = plies
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if not 1 <= low <= high <= _MAX_PLIES - JUDGE_DEPTH - 1:
        raise ValueError(f"plies must be a range within 1..{_MAX_PLIES - JUDGE_DEPTH - 1}, "
                         f"got {low}-{high}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0 pawns, got {margin}")
    generator = torch.Generator().manual_seed(seed)
    kept: list[Opening] = []
    seen: set[int] = set()
    tried = 0
    while len(kept) < count:
        if tried >= 200 * count + 50 * _BATCH:
            raise ValueError(f"kept only {len(kept)} of {count} openings after {tried} "
                             f"candidates: widen --plies or --margin")
        lines, state, alive = _play_batch(generator, low, high)
        tried += _BATCH
        for i in _judge(state, alive, margin):
            key = int(state["hash_history"][i, int(state["ply"][i])])
            if key not in seen and len(kept) < count:
                seen.add(key)
                kept.append(lines[i])
        if progress is not None:
            progress(len(kept), tried)
    return kept


def _play_batch(generator: torch.Generator, low: int, high: int):
    target = torch.randint(low, high + 1, (_BATCH,), generator=generator).tolist()
    state = initial_state(_BATCH, max_plies=_MAX_PLIES)
    lines: list[list[str]] = [[] for _ in range(_BATCH)]
    alive = [True] * _BATCH
    for ply in range(high):
        rows = [i for i in range(_BATCH) if alive[i] and target[i] > ply]
        if not rows:
            break
        index = torch.tensor(rows)
        sub = state[index]
        values = move_values(sub, 2)
        near_best = values >= values.amax(-1, keepdim=True) - PLAY_TOLERANCE
        noise = torch.rand(values.shape, generator=generator)
        action = torch.where(near_best, noise, -1.0).argmax(-1)
        for i, move in zip(rows, action_to_usi(sub, action)):
            lines[i].append(move)
        after = step(sub, action, impasse=True)
        state[index] = after
        for i, ended in zip(rows, (after["terminated"] | after["truncated"]).tolist()):
            alive[i] = alive[i] and not ended
    return [tuple(line) for line in lines], state, torch.tensor(alive)


def _judge(state, alive, margin: float) -> list[int]:
    """Rows of `state` that pass the judge, in order."""
    level = material_balance(state).abs() < 1e-6
    calm = alive & ~state["in_check"] & level
    rows = calm.nonzero().squeeze(1).tolist()
    kept = []
    for start in range(0, len(rows), _JUDGE_CHUNK):
        chunk = rows[start:start + _JUDGE_CHUNK]
        value = position_value(state[torch.tensor(chunk)], JUDGE_DEPTH)
        kept += [i for i, v in zip(chunk, value.tolist()) if abs(v) <= margin]
    return kept


def format_suite(openings: list[Opening], header: list[str]) -> str:
    lines = [f"# {h}" for h in header]
    lines += ["startpos moves " + " ".join(o) if o else "startpos" for o in openings]
    return "\n".join(lines) + "\n"
