"""A training run: the driver loop, checkpoints, tracking, progress, evaluation, distribution."""
