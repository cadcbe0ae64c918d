"""Engine-side comparison helpers: engine state vs cshogi boards, with informative messages."""

from __future__ import annotations

import cshogi
import numpy as np
import torch

import keisei_fn.shogi as E
from _shogi_ref import describe_label, ref_moves, ref_usis


def load(sfens: list[str], max_plies: int = 512):
    return E.from_sfen(list(sfens), max_plies=max_plies)


def engine_label_sets(state) -> list[set[int]]:
    mask = state["legal_mask"].cpu().numpy()
    return [set(np.flatnonzero(row).tolist()) for row in mask]


def engine_usi_sets(state, label_sets: list[set[int]] | None = None) -> list[dict[int, str]]:
    """For every game, {label: engine USI} over the engine's legal labels (one batched call)."""
    if label_sets is None:
        label_sets = engine_label_sets(state)
    idx, labs = [], []
    for i, s in enumerate(label_sets):
        ls = sorted(s)
        idx += [i] * len(ls)
        labs += ls
    out: list[dict[int, str]] = [dict() for _ in label_sets]
    if not labs:
        return out
    dev = state["board"].device
    index = torch.tensor(idx, dtype=torch.long, device=dev)
    actions = torch.tensor(labs, dtype=torch.long, device=dev)
    try:
        # the [max_plies+1] histories are irrelevant to move naming and dominate the copy cost
        usis = E.action_to_usi(state.exclude("hash_history", "check_history")[index], actions)
    except KeyError:
        usis = E.action_to_usi(state[index], actions)
    assert len(usis) == len(labs), (
        f"action_to_usi returned {len(usis)} strings for {len(labs)} actions"
    )
    for i, lab, u in zip(idx, labs, usis):
        out[i][lab] = u
    return out


def label_diff_message(ours: set[int], ref: dict[int, int], turn: int) -> str:
    missing = sorted(set(ref) - ours)
    extra = sorted(ours - set(ref))
    parts = []
    if missing:
        parts.append(
            "missing (legal in cshogi, not in engine mask): "
            + ", ".join(
                f"{cshogi.move_to_usi(ref[lab])} [{describe_label(lab, turn)}]" for lab in missing
            )
        )
    if extra:
        parts.append(
            "extra (in engine mask, illegal in cshogi): "
            + ", ".join(describe_label(lab, turn) for lab in extra)
        )
    return "; ".join(parts)


def assert_same_moves(state, boards: list[cshogi.Board], context: list[str] | None = None) -> None:
    """Legal label sets and legal USI sets of every game equal cshogi's."""
    label_sets = engine_label_sets(state)
    assert len(label_sets) == len(boards)
    errors = []
    refs = []
    for i, (ours, b) in enumerate(zip(label_sets, boards)):
        ref = ref_moves(b)
        refs.append(ref)
        if ours != ref.keys():
            ctx = context[i] if context else b.sfen()
            errors.append(
                f"[game {i}] {ctx}\n  sfen {b.sfen()}\n  " + label_diff_message(ours, ref, b.turn)
            )
    assert not errors, "legal move labels differ from cshogi:\n" + "\n".join(errors)
    usi_maps = engine_usi_sets(state, label_sets)
    for i, (um, ref, b) in enumerate(zip(usi_maps, refs, boards)):
        want = {lab: cshogi.move_to_usi(m) for lab, m in ref.items()}
        if um != want:
            bad = [f"{describe_label(lab, b.turn)}: engine {um.get(lab)!r} cshogi {want.get(lab)!r}"
                   for lab in sorted(set(um) | set(want)) if um.get(lab) != want.get(lab)]
            ctx = context[i] if context else b.sfen()
            errors.append(f"[game {i}] {ctx}\n  sfen {b.sfen()}\n  " + "; ".join(bad))
        assert set(um.values()) == ref_usis(b)
    assert not errors, "action_to_usi disagrees with cshogi move_to_usi:\n" + "\n".join(errors)


def assert_same_position(
    state, boards: list[cshogi.Board], context: list[str] | None = None
) -> None:
    """SFEN and in_check of every game equal cshogi's."""
    sfens = E.to_sfen(state)
    in_check = state["in_check"].cpu().tolist()
    errors = []
    for i, (s, b) in enumerate(zip(sfens, boards)):
        ctx = context[i] if context else ""
        if s != b.sfen():
            errors.append(f"[game {i}] {ctx}\n  to_sfen {s!r}\n  cshogi  {b.sfen()!r}")
        elif bool(in_check[i]) != bool(b.is_check()):
            errors.append(
                f"[game {i}] {ctx}\n  sfen {b.sfen()}: in_check engine {bool(in_check[i])} "
                f"cshogi {bool(b.is_check())}"
            )
    assert not errors, "position differs from cshogi:\n" + "\n".join(errors)
