"""Self-play PPO on the batched Shogi env, built from TorchRL pieces around a pure update step."""
