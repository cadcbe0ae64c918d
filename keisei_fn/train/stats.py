"""Game statistics from a rollout: every finished game counted once, at its last move."""

from __future__ import annotations

from tensordict import TensorDictBase

from ..shogi import Reason

OUTCOME_NAMES = {Reason.MATE: "mate", Reason.REPETITION: "repetition",
                 Reason.PERPETUAL_CHECK: "perpetual_check", Reason.MOVE_CAP: "move_cap",
                 Reason.IMPASSE: "impasse"}


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
    raw = rollout.get(("next", "game_result")).squeeze(-1)[done]
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
