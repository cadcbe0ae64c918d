"""Agents shipped with the package, playable by name wherever a checkpoint is taken (`play`,
`usi`, `analyze`, `eval`, `ladder`, player specs such as `reference@sims=64`).

Each is a verified single-agent checkpoint (what `load_agent` reads) beside a card
(`<name>.card.json`, written by `experiments/make_reference.py`): the command that trained it,
commit, seed, machine, wall clock, env steps, and its `keisei-fn ladder` results, as the network
alone (`ladder`: `NAME@material=0`) and as the player `NAME` names plays (`player_ladder`: with
the material veto). An existing file or directory of the same name wins over a packaged agent,
so a user's `reference/` run directory is still theirs.
"""

from __future__ import annotations

import json
from pathlib import Path

HOME = Path(__file__).resolve().parent / "packaged"
NAMES = ("reference",)


def packaged_checkpoint(name: str) -> Path | None:
    """The packaged agent `name`'s checkpoint, or None when `name` is not one (or is shadowed by
    an existing path)."""
    if name not in NAMES or Path(name).exists():
        return None
    return HOME / f"{name}.pt"


def is_agent_spec(spec: str) -> bool:
    """An existing checkpoint path or a packaged agent's name."""
    return Path(spec).exists() or packaged_checkpoint(spec) is not None


def card(name: str) -> dict:
    """The packaged agent `name`'s card (how it was trained and how strong it measured)."""
    if name not in NAMES:
        raise ValueError(f"unknown packaged agent {name!r}: expected one of {', '.join(NAMES)}")
    return json.loads((HOME / f"{name}.card.json").read_text())


def results_home(spec: str) -> Path:
    """Where a command's results about agent `spec` go by default: its run directory (the
    checkpoint's folder), or runs/NAME for a packaged agent (the installation may be read-only).
    A player's options (`@sims=64`) are not part of it."""
    base, at, _ = spec.rpartition("@")
    if at and is_agent_spec(base):
        spec = base
    if packaged_checkpoint(spec) is not None:
        return Path("runs") / spec
    path = Path(spec)
    return path if path.is_dir() else path.parent


def describe(name: str) -> str | None:
    """One line about a packaged agent, from its card (None for anything else)."""
    if packaged_checkpoint(name) is None:
        return None
    c = card(name)
    ladder = c["ladder"]
    return (f"{name}: {c['algorithm']} {c['model']}, {c['env_steps']:,} env steps in "
            f"{c['wall_clock_s'] / 3600:.1f} h on {c['machine']['logical_cores']} cores "
            f"(seed {c['seed']}, commit {c['commit'][:7]}); keisei-fn ladder Elo "
            f"{_elo(ladder)} for the network alone" + (
                f", {_elo(c['player_ladder'])} as it plays here (material veto)"
                if c.get("player_ladder") else ""))


def _elo(ladder: dict) -> str:
    return f"{ladder['elo']:+.0f} [{ladder['low']:+.0f}, {ladder['high']:+.0f}]"
