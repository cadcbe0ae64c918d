"""Legal-move generation: a batched, branch-free function of the side to move's board.

Everything here works on the canonical frame (see `_tables`): `cb` is an int8 [B, 81] board with
the mover's pieces as +type and the opponent's as -type. The central primitive is
`first_blockers`: for every square t and each of the 8 directions, the first occupied square seen
from t (or OFF). It gives, with a handful of gathers, the unique piece that can reach t moving in a
direction (so each of the 2187 labels has at most one mover), the attack map, checks and pins.
"""

from __future__ import annotations

import torch

from ._tables import (
    ALL_DIRS, KING, KING_BIT, KNIGHT_BIT, LAST_RANK_DEAD_BIT, OFF, OPP_BIT, OPPOSITE, OWN_BIT,
    PAWN, PIN_SHIFT, PROMOTABLE_BIT, SLIDE_SHIFT, ZONE_BIT, Tables, tables,
)

_NOT_FOUND = 82


def to_canonical(board: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
    """Absolute board [B,81] (cshogi codes) -> signed board in the side to move's frame."""
    kind = board & 15
    signed = torch.where((board >> 4) == side[:, None], kind, -kind)
    return torch.where(side[:, None] == 1, signed.flip(-1), signed)


def from_canonical(cb: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
    """Inverse of `to_canonical`."""
    signed = torch.where(side[:, None] == 1, cb.flip(-1), cb)
    colour = torch.where(signed > 0, side[:, None], 1 - side[:, None])
    return torch.where(signed != 0, signed.abs() + 16 * colour, 0).to(torch.int8)


def hands_to_canonical(hands: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
    """[B,2,7] by colour -> [B,2,7] (mover, opponent). Its own inverse."""
    return torch.where(side[:, None, None] == 1, hands.flip(1), hands)


def first_blockers(occ: torch.Tensor, T: Tables) -> torch.Tensor:
    """occ bool [B,81] -> uint8 [B, 8*81]: first occupied square from t in direction d, or OFF.

    Pointer doubling: after the level with shift s, each entry knows the first blocker within 2s
    steps; three levels (s = 1, 2, 4) cover the longest ray (8 squares). 82 marks "not found yet".
    """
    b = occ.shape[0]
    occ_pad = torch.cat([occ, occ.new_zeros(b, 1)], 1)
    seen = torch.where(occ_pad[:, T.neighbor].view(b, 8, 81), T.neighbor_u8, T.first_empty_value)
    seen = seen.view(b, 648)
    for idx in T.shift_index:
        seen = torch.where(seen == _NOT_FOUND, seen[:, idx], seen)
    # Eight empty steps: the ninth is off the board (the longest ray has 8 squares).
    return torch.where(seen == _NOT_FOUND, OFF, seen)


def square_descriptors(cb: torch.Tensor, T: Tables) -> torch.Tensor:
    """int32 [B, 82] per-square bit descriptor (see `_tables` bits); slot OFF is 0."""
    kind = cb.abs().long()
    desc = (T.step_bits[kind] | (T.slide_bits[kind] << SLIDE_SHIFT) | T.type_flags[kind]
            | torch.where(cb > 0, OWN_BIT, 0).int() | torch.where(cb < 0, OPP_BIT, 0).int()
            | torch.where(T.zone, ZONE_BIT, 0).int())
    desc = torch.where(cb != 0, desc, 0)
    return torch.cat([desc, desc.new_zeros(cb.shape[0], 1)], 1)


def _bit(x: torch.Tensor, mask) -> torch.Tensor:
    return (x & mask) != 0


def _attacks_via(desc_at_blocker, adj, side_bit, dir_bits):
    """Whether the blocker of side `side_bit` moves from its square to t (look-direction d).

    `dir_bits` [8,1] is the direction bit the blocker must move in to reach t.
    """
    return _bit(desc_at_blocker, side_bit) & (
        (_bit(desc_at_blocker, dir_bits) & adj) | _bit(desc_at_blocker, dir_bits << SLIDE_SHIFT))


def _gather_rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return x.gather(1, index)


def analyze(cb: torch.Tensor, hands_c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Legal-move mask [B, 2187] and in-check flag [B] of the side to move.

    cb: int8 [B,81] canonical board; hands_c: [B,2,7] (mover, opponent) in drop order.
    """
    T = tables(cb.device)
    b = cb.shape[0]
    ar8 = torch.arange(8, device=cb.device)
    occ = cb != 0
    desc0 = square_descriptors(cb, T)
    blk = first_blockers(occ, T)  # [B,648] uint8
    blk_l = blk.long()
    blk3 = blk_l.view(b, 8, 81)
    king = (cb == KING).int().argmax(1)  # [B]
    opp_king = (cb == -KING).int().argmax(1)

    # Pins of the mover's pieces: own piece first from the king, opponent slider right behind it.
    first = blk3.gather(2, king.view(b, 1, 1).expand(b, 8, 1)).squeeze(2)  # [B,8] look dir d
    second = blk_l.gather(1, ar8 * 81 + first.clamp(max=80))
    d_first, d_second = _gather_rows(desc0, first), _gather_rows(desc0, second)
    pinned = (_bit(d_first, OWN_BIT) & _bit(d_second, OPP_BIT)
              & _bit(d_second, T.dir_bit.view(1, 8) << SLIDE_SHIFT))
    pin_bits = torch.full((b, 82), ALL_DIRS << PIN_SHIFT, dtype=torch.int32, device=cb.device)
    pin_bits.scatter_(1, torch.where(pinned, first, OFF), T.line_pin_bits.expand(b, 8).contiguous())
    desc = desc0 | pin_bits

    at = desc.gather(1, blk_l).view(b, 8, 81)  # descriptor of each blocker
    adj = blk.view(b, 8, 81) == T.neighbor_u8

    # Squares the opponent attacks (with the mover's king on the board; see x-ray below).
    opp_att = _attacks_via(at, adj, OPP_BIT, T.dir_bit)  # [B,8,81]
    okn = desc0[:, T.opp_knight_src].view(b, 2, 81)
    opp_knight_att = (okn & (OPP_BIT | KNIGHT_BIT)) == (OPP_BIT | KNIGHT_BIT)
    attacked = opp_att.any(1) | opp_knight_att.any(1)

    # Checks on the mover's king.
    check_dirs = opp_att.gather(2, king.view(b, 1, 1).expand(b, 8, 1)).squeeze(2)  # [B,8]
    knight_src_k = T.opp_knight_src.view(2, 81)[:, king].T  # [B,2]
    check_kn = opp_knight_att.gather(2, king.view(b, 1, 1).expand(b, 2, 1)).squeeze(2)
    n_checks = check_dirs.sum(1) + check_kn.sum(1)
    in_check = n_checks > 0
    checker = torch.cat([torch.where(check_dirs, first, -1), torch.where(check_kn, knight_src_k, -1)],
                        1).max(1).values.clamp(min=0)
    between = T.between[king * 82 + checker]  # [B,81]
    single = (n_checks == 1)[:, None]
    none = (n_checks == 0)[:, None]
    is_checker = torch.arange(81, device=cb.device) == checker[:, None]
    block = none | (single & (between | is_checker))
    drop_block = none | (single & between)
    # A checking slider also attacks the square right behind the king on its line.
    slider_check = check_dirs & _bit(d_first, T.dir_bit.view(1, 8) << SLIDE_SHIFT)
    xray = torch.where(slider_check, T.xray_behind[ar8, king[:, None]], OFF)
    attacked = torch.cat([attacked, attacked.new_zeros(b, 1)], 1).scatter_(1, xray, True)[:, :81]

    # Board moves: the blocker seen from t in look direction d moves in direction OPPOSITE[d].
    dest_ok = (cb <= 0)[:, None, :]
    mover = _attacks_via(at, adj, OWN_BIT, T.opp_dir_bit)
    is_king = _bit(at, KING_BIT)
    pin_ok = _bit(at, T.opp_dir_bit << PIN_SHIFT)
    legal = dest_ok & mover & torch.where(is_king, ~attacked[:, None, :],
                                          pin_ok & block[:, None, :])
    promo = legal & _bit(at, PROMOTABLE_BIT) & (T.zone | _bit(at, ZONE_BIT))
    plain = legal & ~(_bit(at, LAST_RANK_DEAD_BIT) & (T.rank == 0))
    opp_idx = list(OPPOSITE)
    plain, promo = plain[:, opp_idx], promo[:, opp_idx]  # look direction -> move direction

    kn = desc[:, T.knight_src].view(b, 2, 81)
    kn_ok = (((kn & (OWN_BIT | KNIGHT_BIT)) == (OWN_BIT | KNIGHT_BIT))
             & ((kn >> PIN_SHIFT) & ALL_DIRS == ALL_DIRS) & dest_ok & block[:, None, :])
    kn_plain = kn_ok & (T.rank >= 2)
    kn_promo = kn_ok & T.zone

    # Drops.
    empty = cb == 0
    pawn_file = (cb.view(b, 9, 9) == PAWN).any(2)
    nifu = pawn_file[:, :, None].expand(b, 9, 9).reshape(b, 81)
    drops = (hands_c[:, 0, :, None] > 0) & (empty & drop_block)[:, None, :]  # [B,7,81]
    min_rank = torch.tensor([1, 1, 2, 0, 0, 0, 0], device=cb.device)
    drops = drops & (T.rank >= min_rank[:, None])
    pawn_drop = drops[:, 0] & ~nifu
    pawn_drop = pawn_drop & ~_pawn_drop_mates(cb, desc0, occ, blk_l, at, opp_att, opp_knight_att,
                                              opp_king, pawn_drop, T)
    drops = torch.cat([pawn_drop[:, None], drops[:, 1:]], 1)

    mask = torch.cat([plain, kn_plain, promo, kn_promo, drops], 1).reshape(b, 2187)
    return mask, in_check


def _pawn_drop_mates(cb, desc0, occ, blk_l, at, opp_att, opp_knight_att, opp_king, pawn_drop, T):
    """bool [B,81]: the (at most one) pawn drop that checkmates -- uchifuzume, illegal.

    The only pawn drop giving check lands right in front of the opponent king (t = king + 1 rank).
    It mates when no opponent piece can legally take it (a pinned one may not, unless it captures
    along its pin line) and the king has no safe square, judged with the pawn on the board.
    """
    b = cb.shape[0]
    dev = cb.device
    ar8 = torch.arange(8, device=dev)
    target = (opp_king + 1).clamp(max=80)
    candidate = (T.rank[opp_king] < 8) & pawn_drop.gather(1, target[:, None]).squeeze(1)

    # Opponent pins (relative to its king): opponent piece first, our slider behind it.
    first = blk_l.view(b, 8, 81).gather(2, opp_king.view(b, 1, 1).expand(b, 8, 1)).squeeze(2)
    second = blk_l.gather(1, ar8 * 81 + first.clamp(max=80))
    d_first, d_second = desc0.gather(1, first), desc0.gather(1, second)
    pinned = (_bit(d_first, OPP_BIT) & _bit(d_second, OWN_BIT)
              & _bit(d_second, T.opp_dir_bit.view(1, 8) << SLIDE_SHIFT))
    line = torch.tensor([0, 2, 3, 1, 1, 0, 3, 2], device=dev)

    # Capturers of the pawn: blockers around target attacking it, not the king, pin permitting.
    tgt = target.view(b, 1, 1).expand(b, 8, 1)
    cap_dirs = opp_att.gather(2, tgt).squeeze(2)  # [B,8] look dir e from target
    cap_sq = blk_l.view(b, 8, 81).gather(2, tgt).squeeze(2)
    cap_is_king = _bit(at.gather(2, tgt).squeeze(2), KING_BIT)
    bad_pin = ((cap_sq[:, :, None] == first[:, None, :]) & pinned[:, None, :]
               & (line[:, None] != line[None, :])).any(2)
    capture = (cap_dirs & ~cap_is_king & ~bad_pin).any(1)
    kn_sq = T.opp_knight_src.view(2, 81)[:, target].T  # [B,2]
    kn_att = opp_knight_att.gather(2, target.view(b, 1, 1).expand(b, 2, 1)).squeeze(2)
    kn_pinned = ((kn_sq[:, :, None] == first[:, None, :]) & pinned[:, None, :]).any(2)
    capture = capture | (kn_att & ~kn_pinned).any(1)

    # King escapes, with the pawn dropped and the king lifted off its square.
    sq = torch.arange(81, device=dev)
    occ2 = (occ | (sq == target[:, None])) & (sq != opp_king[:, None])
    blk2 = first_blockers(occ2, T).long()
    nbr = T.neighbor.view(8, 81)[:, opp_king].T  # [B,8] squares around the king (e)
    look = (ar8.view(1, 1, 8) * 81 + nbr.clamp(max=80)[:, :, None]).view(b, 64)
    q = blk2.gather(1, look)  # [B, 64] (e, d): first blocker from neighbor e in direction d
    dq = desc0.gather(1, q).view(b, 8, 8)
    adjq = q.view(b, 8, 8) == T.neighbor.view(8, 81)[ar8.view(1, 1, 8), nbr.clamp(max=80)[:, :, None]]
    opp_bits = T.opp_dir_bit.view(1, 1, 8)
    own_att = (_bit(dq, OWN_BIT) & ((_bit(dq, opp_bits) & adjq) | _bit(dq, opp_bits << SLIDE_SHIFT))).any(2)
    kn = desc0.gather(1, T.knight_src.view(2, 81)[:, nbr.clamp(max=80)].permute(1, 2, 0).reshape(b, 16))
    own_att = own_att | ((kn & (OWN_BIT | KNIGHT_BIT)) == (OWN_BIT | KNIGHT_BIT)).view(b, 8, 2).any(2)
    cb_pad = torch.cat([cb, cb.new_ones(b, 1)], 1)  # OFF counts as blocked
    free = cb_pad.gather(1, nbr) >= 0  # empty or one of ours (capturable); target is empty now
    escape = (free & (nbr != OFF) & ~own_att).any(1)

    mates = candidate & ~capture & ~escape
    return torch.zeros_like(pawn_drop).scatter_(1, target[:, None], mates[:, None])
