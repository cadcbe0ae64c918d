"""How well an agent's value predicts the results of its games, by phase.

The value is read as search reads it (`agent.evaluate`: undiscounted, the value prior added), for
the side to move, at every position of the agent's own games where it was to move; the result is
that game's, from the same side: 1 (won), 1/2 (drawn), 0 (lost). Per phase, counted in plies
before the game's end and in plies from its start:
- `corr`: Pearson correlation of the value with the result (as -1, 0, +1);
- `brier`: mean of ((v + 1) / 2 - result)^2; a constant 1/2 scores 0.25 on decisive games;
- `mean_abs`: mean |v|, how much the value commits;
- `material_corr`, `material_brier`: the same for tanh(material balance / 10 pawns) on the same
  positions (the control value of `PATH@sims=N,value=material`): what a material count alone
  predicts there. Far from the end neither says much (on the 2-hour reference's ladder games, r
  +0.08 for the network and +0.12 for the count beyond 60 plies): a value is weak only where it
  reads less than the count.

The games are replayed side by side (one batched engine step and one network call per ply), so an
evaluation's few hundred games cost seconds.

The probe set (`value_probes.txt`, written by experiments/make_value_probes.py with cshogi) holds
positions whose value is known or nearly: the side to move mates in one (`mate1`) or in three
(`mate3`), both won; or it is a rook or more ahead (`rook_up`) or behind (`rook_down`), not in
check, no mate in one for either side: a heuristic. `probe_values` reads the value on each.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources

import torch

from ..agent import MATERIAL_VALUE_PAWNS, Agent, evaluate
from ..arena.records import GameRecord
from ..shogi import from_sfen, step, usi_to_action
from ..shogi.material import material_balance

# (low, high) plies; high None: open-ended
PLIES_TO_END = ((0, 10), (10, 30), (30, 60), (60, None))
PLIES_FROM_START = ((0, 40), (40, 80), (80, 160), (160, None))


def _phase_name(kind: str, low: int, high: int | None) -> str:
    return f"{kind}_{low}-{high}" if high is not None else f"{kind}_{low}+"


@torch.no_grad()
def agent_values(agent: Agent, records: list[GameRecord], name: str,
                 max_plies: int = 512) -> dict[str, torch.Tensor]:
    """Every position of `records` where the player `name` was to move: its value `v`, the
    game's `result` for it (1, 1/2, 0), `to_end` (plies left), `ply` (from the start) and
    `material`, the material count's value tanh(balance / 10 pawns) for the same side."""
    games = [r for r in records if name in (r.black, r.white) and r.moves]
    out = {"v": [], "result": [], "to_end": [], "ply": [], "material": []}
    if not games:
        return {k: torch.zeros(0) for k in out}
    state = from_sfen([r.start_sfen for r in games], device=agent.device,
                      max_plies=max(len(r.moves) for r in games) + 1)
    lengths = torch.tensor([len(r.moves) for r in games], device=agent.device)
    colour = torch.tensor([0 if r.black == name else 1 for r in games], device=agent.device)
    score = torch.tensor([r.score_for(name) for r in games], device=agent.device)
    for ply in range(int(lengths.max())):
        rows = (lengths > ply).nonzero().squeeze(1)
        current = state[rows]
        mine = current["side_to_move"].long() == colour[rows]
        if bool(mine.any()):
            _, value = evaluate(agent, current[mine])
            out["v"].append(value)
            out["material"].append(torch.tanh(material_balance(current[mine]).float()
                                              / MATERIAL_VALUE_PAWNS))
            out["result"].append(score[rows][mine])
            out["to_end"].append(lengths[rows][mine] - ply)
            out["ply"].append(torch.full_like(value, ply))
        moves = [games[i].moves[ply] for i in rows.tolist()]
        state[rows] = step(current, usi_to_action(current, moves))
    return {k: torch.cat(v).float().cpu() for k, v in out.items()}


def _corr_brier(v: torch.Tensor, result: torch.Tensor) -> tuple[float, float]:
    n = int(v.numel())
    if n == 0:
        return math.nan, math.nan
    signed = 2 * result - 1
    brier = float((((v + 1) / 2 - result) ** 2).mean())
    if n < 2 or float(v.std()) == 0 or float(signed.std()) == 0:
        return math.nan, brier
    return float(torch.corrcoef(torch.stack([v, signed]))[0, 1]), brier


def _stats(v: torch.Tensor, result: torch.Tensor, material: torch.Tensor | None) -> dict:
    corr, brier = _corr_brier(v, result)
    stats = {"n": int(v.numel()), "corr": corr, "brier": brier,
             "mean_abs": float(v.abs().mean()) if v.numel() else math.nan}
    if material is not None:
        stats["material_corr"], stats["material_brier"] = _corr_brier(material, result)
    return stats


def value_quality(values: dict[str, torch.Tensor]) -> dict[str, dict]:
    """`all` and each phase of `PLIES_TO_END` / `PLIES_FROM_START` -> `_stats` (with the
    material count's columns where `values` has them)."""
    v, result, material = values["v"], values["result"], values.get("material")
    report = {"all": _stats(v, result, material)}
    for kind, phases, key in (("to_end", PLIES_TO_END, "to_end"),
                              ("from_start", PLIES_FROM_START, "ply")):
        for low, high in phases:
            where = (values[key] >= low) & ((values[key] < high) if high is not None
                                            else torch.ones_like(v, dtype=torch.bool))
            report[_phase_name(kind, low, high)] = _stats(
                v[where], result[where], material[where] if material is not None else None)
    return report


def format_quality(report: dict[str, dict]) -> str:
    """One line: correlation and Brier score by plies before the end."""
    parts = []
    for low, high in PLIES_TO_END:
        s = report[_phase_name("to_end", low, high)]
        label = f"{low}-{high}" if high is not None else f"{low}+"
        parts.append(f"{label}: r {s['corr']:+.2f} B {s['brier']:.3f}" if s["n"] else
                     f"{label}: -")
    a = report["all"]
    far = report[_phase_name("to_end", *PLIES_TO_END[-1])]
    count = (f"; a material count: {PLIES_TO_END[-1][0]}+ r {far['material_corr']:+.2f}, all r "
             f"{a['material_corr']:+.2f}" if "material_corr" in a else "")
    return (f"value vs result (plies before the end; r correlation, B Brier, 0.25 a coin): "
            f"{'; '.join(parts)}; all r {a['corr']:+.2f} B {a['brier']:.3f} n {a['n']}{count}")


@lru_cache(maxsize=1)
def load_probes() -> dict[str, tuple[str, ...]]:
    """The probe set: kind -> SFENs, in the file's order."""
    probes: dict[str, list[str]] = {}
    text = resources.files("keisei_fn.insight").joinpath("value_probes.txt").read_text()
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            kind, sfen = line.split("\t")
            probes.setdefault(kind, []).append(sfen)
    return {kind: tuple(sfens) for kind, sfens in probes.items()}


def _parse(probes: dict[str, tuple[str, ...]], device) -> dict:
    return {kind: from_sfen(list(sfens), device=device) for kind, sfens in probes.items()}


@lru_cache(maxsize=4)
def _probe_states(device: str) -> dict:
    """The probe set's positions on `device`, parsed once per process: every evaluation reads
    them, and parsing them cost more than the network's pass over them. Read, never written."""
    return _parse(load_probes(), device)


@torch.no_grad()
def probe_values(agent: Agent, probes: dict[str, tuple[str, ...]] | None = None) -> dict:
    """Per probe kind: `n`, the `mean` value for the side to move and the share `positive` (> 0).
    A value that knows the game reads mates near +1, rook_up above 0 and rook_down below."""
    states = (_probe_states(str(agent.device)) if probes is None
              else _parse(probes, agent.device))
    report = {}
    for kind, state in states.items():
        _, value = evaluate(agent, state)
        value = value.float().cpu()
        report[kind] = {"n": int(value.numel()), "mean": float(value.mean()),
                        "positive": float((value > 0).float().mean())}
    return report


def format_probes(report: dict) -> str:
    """One line: the mean value and the share above 0 per probe kind."""
    return "value on the probe set (side to move; mates are won): " + ", ".join(
        f"{kind} {s['mean']:+.2f} ({100 * s['positive']:.0f}% > 0)" for kind, s in report.items())

