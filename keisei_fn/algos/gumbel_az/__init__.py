"""Gumbel AlphaZero: self-play moves chosen by batched Gumbel search, learning its improved policy
and the games' outcomes from a replay buffer (Danihelka et al., ICLR 2022)."""
