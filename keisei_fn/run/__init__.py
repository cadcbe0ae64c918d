"""A training run: the loop (train.py), checkpoints, tracking, progress, evaluation,
distribution."""
