"""Game statistics from a rollout: every finished game counted once, at its last move."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase

from ..shogi import Reason

OUTCOME_NAMES = {Reason.MATE: "mate", Reason.REPETITION: "repetition",
                 Reason.PERPETUAL_CHECK: "perpetual_check", Reason.MOVE_CAP: "move_cap",
                 Reason.IMPASSE: "impasse"}


def pooled_stats(stats: list[dict]) -> dict:
    """Members' game counts and mean length together (the progress line's view of a population)."""
    games = sum(s["games"] for s in stats)
    return {"games": games, "mean_length": sum(s["mean_length"] * s["games"] for s in stats
                                               if s["games"]) / games if games else float("nan")}


def game_stats(rollout: TensorDictBase) -> dict[str, float]:
    """Counts of finished games by how they ended and who won, and their mean length.

    The raw game result (before any shaping) is recovered from the outcome code and the mover:
    mate and a perpetual check by the opponent are wins for the mover; impasse (the opponent
    declares) and its own perpetual check are losses.
    """
    done = rollout.get(("next", "done")).squeeze(-1)
    outcome = rollout.get(("next", "outcome")).squeeze(-1)[done].long()
    mover = rollout.get(("game", "side_to_move"))[done].long()
    length = rollout.get(("game", "ply"))[done].float() + 1
    # "game_result": the reward before an algorithm's shaping (algos/ppo/batch.py); unshaped, the
    # reward is the result
    raw = rollout.get(("next", "game_result"), rollout.get(("next", "reward"))).squeeze(-1)[done]
    games = int(done.sum())
    out = {"games": float(games)}
    for code, name in OUTCOME_NAMES.items():
        out[f"end_{name}"] = float((outcome == code).sum())
    black_wins = ((raw > 0) & (mover == 0)) | ((raw < 0) & (mover == 1))
    white_wins = ((raw > 0) & (mover == 1)) | ((raw < 0) & (mover == 0))
    out["black_wins"] = float(black_wins.sum())
    out["white_wins"] = float(white_wins.sum())
    out["draws"] = float((raw == 0).sum())
    out["mean_length"] = float(length.mean()) if games else float("nan")
    return out


def league_stats(rollout: TensorDictBase, learner_side) -> dict[str, float]:
    """Finished league games (rows with learner_side >= 0) from the learner's side."""
    done = rollout.get(("next", "done")).squeeze(-1)
    league = (learner_side >= 0)[:, None].expand_as(done)
    ended = done & league
    mover = rollout.get(("game", "side_to_move"))[ended]
    side = learner_side[:, None].expand_as(done)[ended]
    raw = rollout.get(("next", "game_result")).squeeze(-1)[ended]
    learner = torch.where(mover == side, raw, -raw)
    games = int(ended.sum())
    out = {"league_games": float(games), "league_wins": float((learner > 0).sum()),
           "league_draws": float((learner == 0).sum()), "league_losses": float((learner < 0).sum())}
    if games:
        out["league_score"] = float(((learner > 0).float() + 0.5 * (learner == 0).float()).mean())
    return out
