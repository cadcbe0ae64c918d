"""The command-line apps over the library: `keisei-fn eval`, `ladder`, `play`, `usi` (our engine
speaking USI: protocol, options, clock, positions, its answer) and `analyze`. Each `*_cli.py`
parses its subcommand and calls the library (arena/, insight/, agent/); cli.py dispatches.

Nothing here imports torch at import time (the CLI imports the subcommand modules on start-up).
"""
