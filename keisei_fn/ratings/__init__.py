"""Ratings and intervals (Bradley-Terry Elo, Wilson score intervals), shared by runs and arena."""
