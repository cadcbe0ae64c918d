"""`step`: play one move in every game of the batch and score its outcome for the mover."""

from __future__ import annotations

import torch
from tensordict import TensorDict

from ._movegen import analyze, any_, count_, hands_to_canonical, lookup, to_canonical
from ._state import max_plies_of
from ._tables import (
    DROP_PLANE0, PROMO_PLANE0, PROMOTE_DELTA, Reason, tables,
)


def move_source(cb: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """long [B]: the square the piece of a board move comes from (canonical frame).

    Meaningless for drops. Walks the ray opposite to the move direction to the first piece; for
    knight planes the source is fixed.
    """
    T = tables(cb.device)
    plane, to = action // 81, action % 81
    direction = plane % 10
    ray = T.ray[to, T.opposite[direction.clamp(max=7)]]  # [B,9], last column OFF
    occ_pad = torch.cat([cb != 0, cb.new_ones(cb.shape[0], 1, dtype=torch.bool)], 1)
    hit = occ_pad.gather(1, ray).to(torch.uint8).argmax(1, keepdim=True)
    slide_src = ray.gather(1, hit).squeeze(1)
    knight_src = T.knight_src[(direction - 8).clamp(0, 1) * 81 + to]
    return torch.where(direction >= 8, knight_src, slide_src)


def apply_move(board: torch.Tensor, cb: torch.Tensor, hands_c: torch.Tensor,
               action: torch.Tensor, side: torch.Tensor):
    """Make the move, given the absolute `board` and its canonical view `cb`.

    Returns the new absolute board, the new (cb, hands_c) still in the mover's frame, and the
    change of the position's hash (`position_hash`) caused by the move, side change included:
    both boards and the hash are updated with a few scatters and gathers, not a pass over them.
    """
    T = tables(cb.device)
    plane, to = action // 81, action % 81
    is_drop = plane >= DROP_PLANE0
    src = torch.where(is_drop, to, move_source(cb, action))
    moving = cb.gather(1, src[:, None]).squeeze(1).long()
    captured = -cb.gather(1, to[:, None]).squeeze(1).long()  # opponent's kind, 0 if none
    promote = (plane >= PROMO_PLANE0) & ~is_drop
    placed = torch.where(is_drop, plane - DROP_PLANE0 + 1, moving + promote * PROMOTE_DELTA)
    cb = cb.scatter(1, src[:, None], 0).scatter(1, to[:, None], placed[:, None].to(cb.dtype))

    base = torch.where(captured > PROMOTE_DELTA, captured - PROMOTE_DELTA, captured)
    drop_kind = (plane - DROP_PLANE0).clamp(0, 6)
    gain_kind = (base - 1).clamp(min=0)
    own = hands_c[:, 0].long()
    before_drop = own.gather(1, drop_kind[:, None]).squeeze(1)
    before_gain = own.gather(1, gain_kind[:, None]).squeeze(1)
    own = own.scatter_add(1, drop_kind[:, None], -is_drop.long()[:, None])
    own = own.scatter_add(1, gain_kind[:, None], (captured > 0).long()[:, None])
    hands_c = torch.stack([own.to(hands_c.dtype), hands_c[:, 1]], 1)

    side = side.long()
    zb, zh = T.zobrist_board, T.zobrist_hand
    abs_to = torch.where(side == 1, 80 - to, to)
    abs_src = torch.where(side == 1, 80 - src, src)
    colour = 16 * side
    board = board.scatter(1, abs_src[:, None], 0).scatter(
        1, abs_to[:, None], (placed + colour)[:, None].to(board.dtype))
    delta = (lookup(zb, (placed + colour) * 81 + abs_to)
             - torch.where(captured > 0, lookup(zb, (captured + 16 - colour) * 81 + abs_to), 0)
             - torch.where(is_drop, 0, lookup(zb, (moving + colour) * 81 + abs_src)))
    # Rows are clamped where the move has no drop / no capture: those terms are masked out.
    hand_row = (side * 7 + drop_kind) * 19 + before_drop
    delta = delta + torch.where(is_drop, lookup(zh, (hand_row - 1).clamp(min=0))
                                - lookup(zh, hand_row), 0)
    hand_row = (side * 7 + gain_kind) * 19 + before_gain
    delta = delta + torch.where(captured > 0, lookup(zh, (hand_row + 1).clamp(max=zh.numel() - 1))
                                - lookup(zh, hand_row), 0)
    delta = delta + (1 - 2 * side) * T.zobrist_side
    return board, cb, hands_c, delta


def _repetition(history, ply, current, streaks):
    """(is 4th occurrence, opponent checked throughout, mover checked throughout), each [B].

    The cycle runs from the first occurrence to now, (ply - first) / 2 moves by each side; a side
    checked throughout when its current run of consecutive checking moves is at least that long.
    `streaks` [B,2]: runs of (side to move now, side that just moved). Entries of `history` past
    `ply` never match (`reset_where` restores whole fresh rows).
    """
    same = history == current[:, None]
    fourth = count_(same, 1) >= 4
    moves_each = torch.zeros_like(ply)
    if torch.compiler.is_compiling():  # no data-dependent shapes in a compiled graph
        first = same.to(torch.uint8).argmax(1)
        moves_each = torch.where(fourth, (ply - first) // 2, moves_each)
        return fourth, streaks[:, 0] >= moves_each, streaks[:, 1] >= moves_each
    rows = fourth.nonzero().squeeze(1)  # rare: look for the first occurrence only there
    if rows.numel():
        first = same.index_select(0, rows).view(torch.uint8).argmax(1)
        moves_each = moves_each.index_copy(0, rows, (ply.index_select(0, rows) - first) // 2)
    return fourth, streaks[:, 0] >= moves_each, streaks[:, 1] >= moves_each


def impasse_declarable(cb: torch.Tensor, hands_c: torch.Tensor, side: torch.Tensor,
                       in_check: torch.Tensor) -> torch.Tensor:
    """CSA 27-point entering-king rule for the side to move (Black needs 28 points, White 27)."""
    T = tables(cb.device)
    zone = T.zone
    king_in = any_((cb == 8) & zone, 1)
    own_in_zone = (cb > 0) & (cb != 8) & zone
    count = count_(own_in_zone, 1)
    points = torch.where(own_in_zone, lookup(T.impasse_points, cb.abs().long()), 0).sum(1)
    hand_points = (hands_c[:, 0].int() * torch.tensor([1, 1, 1, 1, 5, 5, 1], device=cb.device,
                                                      dtype=torch.int32)).sum(1)
    need = torch.where(side == 0, 28, 27)
    return king_in & (count >= 10) & (points + hand_points >= need) & ~in_check


def declarable(state: TensorDict) -> torch.Tensor:
    """[B] whether the side to move may declare an entering-king win now (the rule `step`
    applies with impasse=True): what a USI engine's `bestmove win` claims."""
    side = state["side_to_move"]
    cb = to_canonical(state["board"], side)
    hands_c = hands_to_canonical(state["hands"], side)
    _, in_check = analyze(cb, hands_c)
    return impasse_declarable(cb, hands_c, side, in_check)


def step(state: TensorDict, action: torch.Tensor, *, impasse: bool = False) -> TensorDict:
    """Play `action` [B] (legal labels) in every game; returns the next state.

    The returned state carries the move's outcome for the side that made it (`reward` +1/-1/0,
    `terminated`, `truncated`, `termination_reason`) and the next side's `legal_mask`.
    Stepping a finished game or with an illegal label is undefined: reset finished games first.
    `impasse=True` enables the entering-king declaration: a side to move that qualifies declares
    and wins at once.
    """
    action = action.to(device=state.device, dtype=torch.long)
    side = state["side_to_move"]
    cb = to_canonical(state["board"], side)
    hands_c = hands_to_canonical(state["hands"], side)
    board, cb, hands_c, hash_delta = apply_move(state["board"], cb, hands_c, action, side)

    # Hand over to the opponent: its frame is ours rotated, with colours swapped.
    next_side = 1 - side
    cb = -cb.flip(-1)
    hands_c = hands_c.flip(1)
    hands = hands_to_canonical(hands_c, next_side)
    mask, in_check = analyze(cb, hands_c)

    max_plies = max_plies_of(state)
    ply = state["ply"] + 1
    slot = ply.long().clamp(max=max_plies)[:, None]
    current = state["hash_history"].gather(1, slot - 1).squeeze(1) + hash_delta
    history = state["hash_history"].scatter(1, slot, current[:, None])
    checks = state["check_history"].scatter(1, slot, in_check[:, None])
    # Consecutive checking moves, (mover, opponent) -> stored as (next mover, its opponent).
    streaks = state["check_streak"]
    mover_streak = torch.where(in_check, streaks[:, 0] + 1, 0)
    streaks = torch.stack([streaks[:, 1], mover_streak], 1).to(torch.int16)

    mate = ~any_(mask, 1)
    fourth, opponent_checks, mover_checks = _repetition(history, slot.squeeze(1), current, streaks)
    repetition = fourth & ~mate
    # cshogi's order: a side to move that checked throughout loses first.
    reward = torch.where(mate, 1.0, 0.0)
    reward = torch.where(repetition & opponent_checks, 1.0, reward)
    reward = torch.where(repetition & mover_checks & ~opponent_checks, -1.0, reward)
    perpetual = repetition & (mover_checks | opponent_checks)
    reason = torch.where(mate, Reason.MATE, 0)
    reason = torch.where(repetition, torch.where(perpetual, Reason.PERPETUAL_CHECK,
                                                 Reason.REPETITION), reason)
    terminated = mate | repetition
    if impasse:
        declared = impasse_declarable(cb, hands_c, next_side, in_check) & ~terminated
        reward = torch.where(declared, -1.0, reward)
        reason = torch.where(declared, Reason.IMPASSE, reason)
        terminated = terminated | declared
    truncated = ~terminated & (ply >= max_plies)
    reason = torch.where(truncated, Reason.MOVE_CAP, reason)

    return TensorDict(
        board=board, hands=hands, side_to_move=next_side.to(torch.int8), ply=ply,
        move_number=state["move_number"] + 1, hash_history=history, check_history=checks,
        check_streak=streaks,
        legal_mask=mask, in_check=in_check, terminated=terminated, truncated=truncated,
        reward=reward.to(torch.float32), termination_reason=reason.to(torch.int8),
        batch_size=state.batch_size, device=state.device,
    )


