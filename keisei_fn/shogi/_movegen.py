"""Legal-move generation: a batched, branch-free function of the side to move's board.

Everything here works on the canonical frame (see `_tables`): `cb` is an int8 [B, 81] board with
the mover's pieces as +type and the opponent's as -type.

The central primitive is `first_blockers`: for each square t and direction, the first occupied
square seen from t. A move in direction g landing on t can only be made by the first piece seen
from t looking the other way, so each of the 2187 labels has at most one candidate mover, and one
gather of per-square descriptor words (`_tables`, the A_* bits) decides them all at once, together
with the opponent's attack map.

Speed notes (CPU, measured): fixed-table gathers are fast on batch-last [squares, B] tensors (row
copies), per-game gathers are fast on batch-first [B, squares] tensors; bit tests are cheapest as
`(x & mask).bool()` followed by boolean algebra. The code is laid out accordingly.
"""

from __future__ import annotations

import torch

from ._tables import (
    A_PROMOTABLE, KING, KNIGHT, OFF, OPPOSITE, PAWN, Tables, tables,
)


def to_canonical(board: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
    """Absolute board [B,81] (cshogi codes) -> signed board in the side to move's frame."""
    kind = board & 15
    signed = torch.where((board >> 4) == side[:, None], kind, -kind)
    return torch.where(side[:, None] == 1, signed.flip(-1), signed)


def hands_to_canonical(hands: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
    """[B,2,7] by colour -> [B,2,7] (mover, opponent). Its own inverse."""
    return torch.where(side[:, None, None] == 1, hands.flip(1), hands)


def lookup(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """table[index] along dim 0 for any index shape; index_select is several times faster on CPU
    than advanced indexing."""
    return table.index_select(0, index.reshape(-1)).view(*index.shape, *table.shape[1:])


def bytes_(x: torch.Tensor) -> torch.Tensor:
    """bool x as uint8: a free view in eager mode; a conversion under torch.compile, whose CPU
    vector code for a bool-to-uint8 view fails to build (inductor, torch 2.13: "Vectorized<bool>
    has no member cast"), and which fuses the conversion anyway."""
    return x.to(torch.uint8) if torch.compiler.is_compiling() else x.view(torch.uint8)


def any_(x: torch.Tensor, dim: int) -> torch.Tensor:
    """x.any(dim) for bool x: torch's bool reductions are ~50x slower on CPU than uint8 amax."""
    if torch.compiler.is_compiling():
        return bytes_(x).amax(dim) > 0
    return x.view(torch.uint8).amax(dim).view(torch.bool)


def count_(x: torch.Tensor, dim: int) -> torch.Tensor:
    """x.sum(dim) for bool x, as int32 (the bool sum is slow on CPU as well)."""
    return bytes_(x).sum(dim, dtype=torch.int32)


def _pad(x: torch.Tensor, value) -> torch.Tensor:
    """[B,81] -> [B,82] with the OFF slot set to `value`."""
    return torch.cat([x, x.new_full((x.shape[0], 1), value)], 1)


def _take_squares(x_pad: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x_pad[:, index] for a fixed index table, through the fast batch-last row copy."""
    return x_pad.T.contiguous().index_select(0, index).T


def first_blockers(neighbor_occupied: torch.Tensor, T: Tables) -> torch.Tensor:
    """uint8 [648, B] -> uint8 [648, B]: the first occupied square seen from t (row g*81 + t,
    looking in OPPOSITE[g]), or OFF. `neighbor_occupied` is 1 where t's neighbor there is occupied.

    Pointer doubling in uint8 arithmetic: 255 marks "not found yet"; after the level with shift s
    each entry knows the first blocker within 2s steps; s = 1, 2, 4 covers the longest ray (8).
    `seen & (shifted | (seen >> 7) - 1)` keeps `seen` where found and takes `shifted` where not.
    """
    seen = T.first_empty_value + neighbor_occupied * T.neighbor_minus_empty
    for idx in T.shift_index:
        seen = seen & (seen.index_select(0, idx) | ((seen >> 7) - 1))
    return seen & (((seen >> 7) - 1) | OFF)  # eight empty squares: the ray ends at the edge


def seen_index(occ: torch.Tensor, T: Tables) -> torch.Tensor:
    """int64 [B, 648]: for column g*81 + t, the first occupied square seen from t looking in
    OPPOSITE[g] (OFF if none), plus 82 where it is t's neighbor: the index into a [B, 164]
    descriptor row (far descriptors, OFF's zero, adjacent descriptors, OFF's zero)."""
    occ_t = bytes_(_pad(occ, False).T.contiguous())
    neighbor_occ = occ_t.index_select(0, T.neighbor)  # [648, B], 1 = the blocker is adjacent
    return (first_blockers(neighbor_occ, T) + neighbor_occ * 82).T.contiguous().long()


def ray_hits(occ_wall: torch.Tensor, origin: torch.Tensor, T: Tables):
    """Walk the 8 rays from each origin [B] (squares <= 80) over `occ_wall` [B,82] (OFF True).

    Returns (rays [B,8,9] squares, occupied [B,8,9], index of the first hit [B,8,1]).
    """
    b = origin.shape[0]
    rays = lookup(T.ray.view(81, 72), origin)
    occupied = occ_wall.gather(1, rays).view(b, 8, 9)
    return rays.view(b, 8, 9), occupied, occupied.to(torch.uint8).argmax(-1, keepdim=True)


def _line_pieces(cb_pad, occ_wall, king, T):
    """First and second pieces on the 8 rays from `king` [B]: squares, codes, first's distance."""
    rays, occupied, i1 = ray_hits(occ_wall, king, T)
    i2 = (
        (occupied & (torch.arange(9, device=king.device) > i1))
        .to(torch.uint8)
        .argmax(-1, keepdim=True)
    )
    sq1, sq2 = rays.gather(-1, i1).squeeze(-1), rays.gather(-1, i2).squeeze(-1)
    return sq1, sq2, cb_pad.gather(1, sq1), cb_pad.gather(1, sq2), i1.squeeze(-1) == 0


def _slides(T, code, dir_bits):
    return (lookup(T.slide_bits, code.abs().long()) & dir_bits).bool()


def analyze(cb: torch.Tensor, hands_c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Legal-move mask [B, 2187] and in-check flag [B] of the side to move.

    cb: int8 [B,81] canonical board; hands_c: [B,2,7] (mover, opponent) in drop order.
    """
    T = tables(cb.device)
    b, dev = cb.shape[0], cb.device
    dir_bits = 1 << torch.arange(8, device=dev, dtype=torch.int32)  # [8], by direction d
    occ = cb != 0
    cb_pad = _pad(cb, 0)
    occ_wall = _pad(occ, True)
    king = (cb == KING).to(torch.uint8).argmax(1)
    opp_king = (cb == -KING).to(torch.uint8).argmax(1)

    # Rays from the mover's king: pins (own piece, then an opponent slider) and line checks.
    sq1, sq2, p1, p2, adjacent = _line_pieces(cb_pad, occ_wall, king, T)
    pinned = (p1 > 0) & (p2 < 0) & _slides(T, p2, dir_bits)
    slider_first = _slides(T, p1, dir_bits)
    line_checks = (p1 < 0) & (((lookup(T.step_bits, p1.abs().long()) & dir_bits).bool() & adjacent)
                              | slider_first)
    knight_from = lookup(T.opp_knight_src.view(2, 81).T, king)  # [B,2]
    knight_checks = cb_pad.gather(1, knight_from) == -KNIGHT
    n_checks = count_(line_checks, 1) + count_(knight_checks, 1)
    checker = (
        torch.cat(
            [torch.where(line_checks, sq1, -1), torch.where(knight_checks, knight_from, -1)], 1
        )
        .max(1)
        .values.clamp(min=0)
    )
    none, single = (n_checks == 0)[:, None], (n_checks == 1)[:, None]
    between = lookup(T.between, king * 82 + checker)
    is_checker = torch.arange(81, device=dev) == checker[:, None]
    block = none | (single & (between | is_checker))  # where a non-king move may land
    drop_block = none | (single & between)

    # Per-square descriptors, pins applied; gather index = blocker square (+ 82 if adjacent).
    code = cb.long() + 14
    keep = torch.full((b, 82), -1, dtype=torch.int32, device=dev)
    keep.scatter_(1, torch.where(pinned, sq1, OFF), T.pin_keep.expand(b, 8).contiguous())
    keep = keep[:, :81]
    adj_desc = lookup(T.desc_adjacent, code)
    zone_flag = ((adj_desc & A_PROMOTABLE) << 2) & T.zone_flag  # A_PROMOTABLE_IN_ZONE
    zero = adj_desc.new_zeros(b, 1)
    desc = torch.cat([(lookup(T.desc_far, code) | zone_flag) & keep, zero,
                      (adj_desc | zone_flag) & keep, zero], 1)  # [B, 164]
    index = seen_index(occ, T)
    at = desc.gather(1, index)  # [B, 648]: descriptor of each column's candidate piece

    # The opponent's attack map; a checking slider also hits the square behind the king.
    opp_attacks = (at & T.col_opp).bool()
    knight_attacks = _take_squares(_pad(cb == -KNIGHT, False), T.opp_knight_src).reshape(b, 2, 81)
    attacked = knight_attacks[:, 0] | knight_attacks[:, 1]
    for g in range(8):  # OR of slices: a reduction over a middle dim is slow on CPU
        attacked = attacked | opp_attacks[:, g * 81:(g + 1) * 81]
    behind = torch.where(line_checks & slider_first, lookup(T.xray_behind.T, king), OFF)
    attacked = _pad(attacked, False).scatter_(1, behind, True)[:, :81]

    # Board moves (planes 0-7 and 10-17): column g*81 + t = direction g, destination t.
    dest_ok = (cb <= 0)[:, None, :]
    movers = ((at & T.col_own).bool().view(b, 8, 81) & block[:, None, :]) \
        | ((at & T.col_king).bool().view(b, 8, 81) & ~attacked[:, None, :])
    legal = (movers & dest_ok).view(b, 648)
    promo = legal & (at & T.col_promote).bool()
    plain = legal & ~(at & T.col_dead).bool()

    # Knight moves (planes 8-9, 18-19): a pinned knight can never move.
    free_knight = (cb == KNIGHT) & (keep == -1)
    kn = _take_squares(_pad(free_knight, False), T.knight_src).reshape(b, 2, 81)
    kn = kn & dest_ok & block[:, None, :]
    kn_plain, kn_promo = kn & (T.rank >= 2), kn & T.zone

    # Drops (planes 20-26).
    free = (cb == 0) & drop_block
    in_hand = hands_c[:, 0] > 0
    rank1, rank2 = free & (T.rank >= 1), free & (T.rank >= 2)
    drops = torch.stack([(rank1, rank1, rank2, free, free, free, free)[k] & in_hand[:, k:k + 1]
                         for k in range(7)], 1)
    pawn_files = any_(cb.view(b, 9, 9) == PAWN, 2)
    pawn_drop = drops[:, 0] & ~pawn_files.repeat_interleave(9, 1)
    pawn_drop = pawn_drop & ~_pawn_drop_mates(cb, cb_pad, occ, index, opp_attacks, opp_king,
                                              pawn_drop, T)
    drops = torch.cat([pawn_drop[:, None], drops[:, 1:]], 1)

    mask = torch.cat([plain, kn_plain.view(b, 162), promo,
                      kn_promo.view(b, 162), drops.view(b, 567)], 1)
    return mask, n_checks > 0


def _pawn_drop_mates(cb, cb_pad, occ, index, opp_attacks, opp_king, pawn_drop, T):
    """bool [B,81]: the (at most one) pawn drop that checkmates -- uchifuzume, illegal.

    The only pawn drop giving check lands right in front of the opponent king (t = king + 1 rank).
    Only the games where that drop is otherwise legal are examined (a gathered sub-batch: on a
    GPU this costs one synchronisation per call, on a CPU it saves most of the work).
    """
    target = (opp_king + 1).clamp(max=80)
    candidate = (opp_king % 9 < 8) & pawn_drop.gather(1, target[:, None]).squeeze(1)
    mates = torch.zeros_like(pawn_drop)
    if torch.compiler.is_compiling():  # every game, no data-dependent shapes in a graph
        mate = _drop_mates(cb, cb_pad, occ, index, opp_attacks, opp_king, target, T) & candidate
        return mates.scatter_(1, target[:, None], mate[:, None])
    games = candidate.nonzero().squeeze(1)
    if games.numel() == 0:
        return mates
    mate = _drop_mates(*(x.index_select(0, games) for x in (cb, cb_pad, occ, index, opp_attacks,
                                                             opp_king, target)), T)
    hit = torch.zeros_like(candidate).index_copy(0, games, mate)
    return mates.scatter_(1, target[:, None], hit[:, None])


def _drop_mates(cb, cb_pad, occ, index, opp_attacks, opp_king, target, T):
    """bool [K]: whether the checking pawn drop on `target` mates, for K candidate games.

    It mates when no opponent piece can legally take it (a pinned one may not, unless it captures
    along its pin line) and the king has no safe square, judged with the pawn on the board.
    """
    b, dev = cb.shape[0], cb.device
    dir_bits = 1 << torch.arange(8, device=dev, dtype=torch.int32)

    # Opponent pins: its piece first from its king, then our slider moving towards the king.
    sq1, _, p1, p2, _ = _line_pieces(cb_pad, _pad(occ, True), opp_king, T)
    opp_dir_bits = dir_bits[list(OPPOSITE)]
    pinned = (p1 < 0) & (p2 > 0) & _slides(T, p2, opp_dir_bits)  # [B,8] by direction d

    # Capturers: column g*81 + target holds the piece seen looking in OPPOSITE[g].
    cols = torch.arange(8, device=dev) * 81 + target[:, None]  # [B,8] by g
    cap_sq = index.gather(1, cols)
    cap_sq = torch.where(cap_sq >= 82, cap_sq - 82, cap_sq)
    cap_ok = opp_attacks.gather(1, cols) & (cb_pad.gather(1, cap_sq) != -KING)
    look_line = T.line_of_dir[list(OPPOSITE)]  # line of column group g
    bad_pin = any_(((cap_sq[:, :, None] == sq1[:, None, :]) & pinned[:, None, :]
               & (look_line[:, None] != T.line_of_dir[None, :])), 2)
    knight_from = T.opp_knight_src.view(2, 81)[:, target].T  # [B,2]
    knight_pinned = any_((knight_from[:, :, None] == sq1[:, None, :]) & pinned[:, None, :], 2)
    capture = any_(cap_ok & ~bad_pin, 1) | any_(
        (cb_pad.gather(1, knight_from) == -KNIGHT) & ~knight_pinned, 1)

    # King escapes, with the pawn dropped and the king lifted off its square: first blockers of
    # the changed board (batch-last), read at the king's neighbors only.
    sq = torch.arange(81, device=dev)
    occ2 = (occ | (sq == target[:, None])) & (sq != opp_king[:, None])
    occ2_t = bytes_(_pad(occ2, False).T.contiguous())
    blockers2 = first_blockers(occ2_t.index_select(0, T.neighbor), T)  # [648, B]
    nbr = lookup(T.ray[:, :, 0], opp_king)  # [B,8] neighbors e of the king (or OFF)
    rows = (torch.arange(8, device=dev) * 81)[None, :, None] + nbr.clamp(max=80)[:, None, :]
    rows = rows.reshape(b, 64)  # [B, (g, e)]
    q = blockers2.gather(0, rows.T.contiguous()).T.long()  # first blocker from e, looking OPP[g]
    adjacent = q == lookup(T.neighbor, rows)
    code_q = cb_pad.gather(1, q).long() + 14  # our pieces reach e regardless of pins
    reach = torch.where(adjacent, lookup(T.reach_adjacent, code_q), lookup(T.reach_far, code_q))
    group_bit = (1 << torch.arange(8, device=dev, dtype=torch.int32)).repeat_interleave(8)
    attacked = any_((reach & group_bit).bool().view(b, 8, 8), 1)
    knights = cb_pad.gather(1, T.knight_src.view(2, 81)[:, nbr.clamp(max=80)].permute(1, 2, 0)
                            .reshape(b, 16)) == KNIGHT
    attacked = attacked | any_(knights.view(b, 8, 2), 2)
    free = (cb_pad.gather(1, nbr) >= 0) & (nbr != OFF)  # empty or ours (capturable)
    escape = any_(free & ~attacked, 1)

    return ~capture & ~escape
