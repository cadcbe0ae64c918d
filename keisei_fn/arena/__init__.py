"""The arena: our agents against other players and engines; game records, Elo ratings, USI.

Nothing here imports torch at import time (the CLI imports the subcommand modules on start-up).
docs/arena.md has the commands, the player syntax, records and ratings.
"""
