"""A rollout turned into PPO's training batch: potential-based material shaping, then zero-sum
GAE, then the keys the loss reads, flattened."""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import torch
from tensordict import TensorDict, TensorDictBase

from ...collect.rollout import BATCH_KEYS
from ...env.compact import unpack_mask
from ...search.minimax import position_value
from ...shogi import make_state
from ...shogi.material import (MATERIAL_VALUE_PAWNS, best_capture_gain, material_after,
                                material_balance)
from .advantage import make_gae, zero_sum_gae
from .tactics import add_labels


def shape_rewards(rollout: TensorDictBase, next_game: TensorDictBase, coef: float,
                  gamma: float, cap_scale: float = 0.0) -> None:
    """Potential-based material shaping, zero-sum form (in place).

    Phi(s) = coef * material balance of s's side to move. Seen from the mover of step t, the next
    state's potential counts negatively (the opponent moves there), so the shaping term is
    F_t = -gamma * Phi(s_{t+1}) * (1 - done_t) - Phi(s_t), with Phi = 0 after the game ends. It
    telescopes, so optimal play is unchanged (Ng et al., 1999); it only speeds up credit for
    captures. The raw game result is kept in ("next", "game_result"); a capped game is
    adjudicated first where `cap_scale` asks for it (adjudicate_cap).
    """
    rollout.set(("next", "game_result"), rollout.get(("next", "reward")).clone())
    adjudicate_cap(rollout, cap_scale)
    reward = rollout.get(("next", "reward"))
    if coef == 0:
        return
    b, t = rollout.batch_size
    phi = coef * material_balance(rollout.get("game").reshape(-1)).view(b, t, 1)
    phi_last = coef * material_balance(next_game)[:, None, None]
    phi_next = torch.cat([phi[:, 1:], phi_last], 1)
    done = rollout.get(("next", "done")).float()
    rollout.set(("next", "reward"), reward - gamma * phi_next * (1 - done) - phi)


def adjudicate_cap(rollout: TensorDictBase, scale: float) -> None:
    """A game that reached the move cap scores tanh(m / scale) for its last mover (in league
    games the opponent, when it moved last; zero-sum GAE hands the learner the negation), m
    being that mover's material balance (board and hands, in pawns) after the last move, in
    place of the draw's 0 (in place; shape_rewards calls it, after keeping the raw result). The
    cap ends about half of the default's self-play games (docs/training.md, "PPO"), and a
    draw's 0 over all of such a game's positions teaches the value that most positions are even.
    """
    if scale == 0:
        return
    capped = rollout.get(("next", "truncated")).squeeze(-1)
    if not bool(capped.any()):
        return
    after = material_after(rollout.get("game")[capped], rollout.get("action")[capped])
    reward = rollout.get(("next", "reward")).clone()
    reward[capped] = torch.tanh(after / scale).to(reward.dtype)[:, None]
    rollout.set(("next", "reward"), reward)


def mix_value_target(batch: TensorDictBase, ppo) -> TensorDictBase:
    """The flat batch with its "value_target" mixed with a 1-ply search's value (in place):
    lambda = `ppo.value_search_mix`, the search value tanh((material balance + best capture) /
    `ppo.value_search_scale`) of the mover. The head learns the value without its material
    prior Phi (shape_rewards), so the search value enters as tanh(...) - Phi: the value search
    reads, head plus prior, is then the mix itself. The advantages keep the critic's own
    estimates; only what the critic learns changes.

    Why: the result says little about a position 60 plies before the end, while the material
    count says at once what search already found worth more than our value (docs/training.md,
    "Strength"); dlshogi's value target mixes the result with its search's value the same way.
    """
    mix = ppo.value_search_mix
    if mix == 0:
        return batch
    game = batch.get("game").clone(False)
    game.set("legal_mask", unpack_mask(batch.get("mask_bits")))
    material = material_balance(game)
    if quiet := ppo.value_search_quiet:
        # the stored positions keep no history; none is needed for a few plies of captures
        fresh = make_state(game["board"], game["hands"], game["side_to_move"],
                           game["ply"] + 1, max_plies=quiet + 2)
        searched = position_value(fresh, 1, quiet=quiet)
    else:
        searched = material + best_capture_gain(game).clamp_min(0)  # a mover always has a move
    label = torch.tanh(searched / ppo.value_search_scale) - ppo.material_shaping * material
    target = batch.get("value_target")
    batch.set("value_target", (1 - mix) * target + mix * label.to(target.dtype)[:, None])
    return batch


MATERIAL_AHEAD_KEYS = ("material_ahead", "material_ahead_known")


def material_ahead(rollout: TensorDictBase, next_game: TensorDictBase, plies: int) -> None:
    """The material head's target (model.material_head = `plies`), added to the [B, T] rollout
    in place: for the mover of each step t, tanh(its material balance `plies` plies later /
    MATERIAL_VALUE_PAWNS) ("material_ahead"); where the game ends within those plies, its raw
    result for that mover (+1 won, -1 lost, 0 drawn), or at the move cap, tanh(the capping
    mover's material after its move / MATERIAL_VALUE_PAWNS), signed for t's mover. Known
    ("material_ahead_known") for the steps the rollout reaches `plies` plies beyond (t + plies
    <= T), whether or not their game ends: labelling the last steps only where their games end
    would over-weight results there.

    Why: the value learns from results that say little 60 plies before the end; a dense target
    the trunk and the value's hidden layer must also serve (KataGo's auxiliary targets) gives
    those layers something to learn about every position. Needs ("next", "game_result")
    (shape_rewards)."""
    b, t = rollout.batch_size
    device = next_game["board"].device
    # the material of the state before step j, j = 0 .. t (t: after the rollout), for its mover
    material = torch.cat([material_balance(rollout.get("game").reshape(-1)).view(b, t),
                          material_balance(next_game)[:, None]], 1)
    score = rollout.get(("next", "game_result")).view(b, t).float().clone()
    capped = (rollout.get(("next", "truncated")) & ~rollout.get(("next", "terminated"))).view(b, t)
    if bool(capped.any()):
        after = material_after(rollout.get("game")[capped], rollout.get("action")[capped])
        score[capped] = torch.tanh(after / MATERIAL_VALUE_PAWNS)
    pad = torch.zeros(b, plies, device=device)
    done = torch.cat([rollout.get(("next", "done")).view(b, t).float(), pad], 1).bool()
    score = torch.cat([score, pad], 1)
    target = torch.zeros(b, t, device=device)
    ended = torch.zeros(b, t, dtype=torch.bool, device=device)
    for d in range(plies):  # the mover of step t + d is t's mover for even d
        ends = done[:, d:d + t] & ~ended
        target = torch.where(ends, (-1) ** d * score[:, d:d + t], target)
        ended |= ends
    later = torch.cat([material, pad], 1)[:, plies:plies + t]
    target = torch.where(ended, target, (-1) ** plies * torch.tanh(later / MATERIAL_VALUE_PAWNS))
    known = (torch.arange(t, device=device) + plies <= t)[None].expand(b, t)
    rollout.set(MATERIAL_AHEAD_KEYS[0], target[..., None])
    rollout.set(MATERIAL_AHEAD_KEYS[1], known[..., None])


REPLY_KEYS = ("reply_action", "reply_mask_bits", "reply_known")


def next_move(rollout: TensorDictBase) -> None:
    """The reply head's target (model.reply_head), added to the [B, T] rollout in place: for
    step t, the move played at step t + 1 in the same game ("reply_action", a label in that
    mover's frame) and its position's legal moves ("reply_mask_bits"); known
    ("reply_known") where step t + 1 is in the rollout and continues t's game (not after its
    last move)."""
    b, t = rollout.batch_size
    action, bits = rollout.get("action"), rollout.get("mask_bits")
    rollout.set(REPLY_KEYS[0], torch.cat([action[:, 1:], action[:, -1:]], 1))
    rollout.set(REPLY_KEYS[1], torch.cat([bits[:, 1:], bits[:, -1:]], 1))
    known = ~rollout.get(("next", "done")).view(b, t)
    known[:, -1] = False
    rollout.set(REPLY_KEYS[2], known)


def training_batch(rollout: TensorDictBase, gae, last_value: torch.Tensor) -> TensorDict:
    """GAE over the [B, T] rollout, then the loss's keys of the learner's own moves, flattened.

    In self-play every move is the learner's; in league games the opponent's moves stay in the
    GAE chain (zero-sum bootstrapping through them) but are not trained on.
    """
    zero_sum_gae(gae, rollout, last_value)
    flat = rollout.select(*BATCH_KEYS, *MATERIAL_AHEAD_KEYS, *REPLY_KEYS,
                          strict=False).reshape(-1)
    return flat[rollout.get("learner_move").reshape(-1)]


def rollout_to_batch(rollout: TensorDictBase, after: TensorDictBase,
                     value_fn: Callable[[torch.Tensor], torch.Tensor], gae, ppo,
                     material_plies: int = 0, reply: bool = False) -> TensorDict:
    """A collected [B, T] rollout to PPO's flat training batch, the one path every caller takes.

    `after` holds the games in progress after the rollout (their "observation" and "game"),
    `value_fn(observation)` the critic's value [B, 1] to bootstrap from, `ppo` the config section
    (material_shaping, gamma). The rollout is shaped in place (its raw result kept, see
    shape_rewards), then zero_sum_gae, then the learner's moves as a flat batch.
    """
    with torch.no_grad():
        last_value = value_fn(after.get("observation"))
    shape_rewards(rollout, after.get("game"), ppo.material_shaping, ppo.gamma,
                  ppo.cap_material_scale)
    if material_plies:
        material_ahead(rollout, after.get("game"), material_plies)
    if reply:
        next_move(rollout)
    return mix_value_target(training_batch(rollout, gae, last_value), ppo)


@lru_cache(maxsize=8)
def _gae(gamma: float, lmbda: float):
    return make_gae(gamma, lmbda)


def policy_batch(rollout: TensorDictBase, after: TensorDictBase, policy, cfg) -> TensorDict:
    """A [K*B, T] rollout of K members to their training batch [K, N]: `rollout_to_batch` with
    the acting policy's critic to bootstrap from and the GAE of `cfg.ppo`, then the search's
    labels where `ppo.tactics_coef` asks for them (tactics.py)."""
    batch = rollout_to_batch(rollout, after, lambda obs: policy.outputs(obs)[1].flatten(0, 1),
                             _gae(cfg.ppo.gamma, cfg.ppo.gae_lambda), cfg.ppo,
                             cfg.model.material_head, cfg.model.reply_head)
    return add_labels(batch.reshape(cfg.population.size, -1), cfg.ppo)
