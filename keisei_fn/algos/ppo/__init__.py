"""PPO: zero-sum GAE, reward shaping, the rollout-to-batch step and TorchRL's clipped loss."""
