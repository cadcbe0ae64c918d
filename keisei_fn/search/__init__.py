"""Search over the batched rules engine: pure functions of a game-state TensorDict [B]."""
