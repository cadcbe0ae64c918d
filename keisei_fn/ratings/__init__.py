"""Ratings and intervals (Bradley-Terry Elo, Wilson score intervals), shared by runs and arena;
pentanomial pair statistics and SPRT."""

from .elo import Ratings, expected_score, fit, format_ratings, place, score_interval
from .pentanomial import (PairedResult, estimate, format_paired, pentanomial, score_to_elo,
                          sprt_bounds, sprt_decision, sprt_llr)

__all__ = ["PairedResult", "Ratings", "estimate", "expected_score", "fit", "format_paired",
           "format_ratings", "pentanomial", "place", "score_interval", "score_to_elo",
           "sprt_bounds", "sprt_decision", "sprt_llr"]
