"""The referee's rules for every match, the trainer's evaluation included (`eval.max_plies` and
`eval.impasse` default to these): a game reaching the cap is a draw; a king that has entered and
qualifies declares a win. Imports nothing: the command line reads the defaults on every start."""

MAX_PLIES = 512
IMPASSE = True


def describe_referee(max_plies: int, impasse: bool) -> str:
    """How reports name the rules a match was refereed by."""
    return f"{max_plies}-ply cap, impasse {'on' if impasse else 'off'}"
