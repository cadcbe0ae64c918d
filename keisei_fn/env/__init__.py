"""The batched Shogi engine as a stateless TorchRL environment."""

from ._shogi_env import GAME_KEYS, ShogiEnv, env_view, game_state

__all__ = ["GAME_KEYS", "ShogiEnv", "env_view", "game_state"]
