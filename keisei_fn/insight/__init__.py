"""Seeing what the agent thinks: board views with its policy and value (SVG), and the analysis
of a position or a game (`keisei-fn analyze`)."""
