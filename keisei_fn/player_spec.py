"""Player specs, the strings that name a player (`eval.opponents`, `keisei-fn eval --opponent`,
`keisei-fn ladder`): one parser for the config and the arena.

  random | greedy | minimax        a scripted player
  mix:A,B,P                        B's move with probability P, else A's
  gnushogi:DEPTH[:SECONDS]         GNU Shogi
  usi:COMMAND                      any USI engine
  anything else                    a checkpoint file or run directory, PATH[@sims=N,...]

Parsing says which kind a spec is and splits it; building the player (checking that a path
exists, that an engine starts) is the arena's (arena/opponents.make_player).
"""

from __future__ import annotations

from dataclasses import dataclass

# The scripted players (arena/opponents.py's OPPONENTS, in this order).
SCRIPTED = ("random", "greedy", "minimax")
KINDS = ("scripted", "mix", "gnushogi", "usi", "checkpoint")


@dataclass(frozen=True)
class PlayerSpec:
    kind: str                   # one of KINDS
    text: str                   # the spec, stripped
    rest: str = ""              # after 'gnushogi:' / 'usi:'
    mix: tuple[str, str] = ("", "")  # mix: A's and B's specs
    share: float = 0.0          # mix: the share of B's moves


def parse_player_spec(spec: str) -> PlayerSpec:
    """The kind of player `spec` names and its parts; ValueError (one line) for an empty spec or
    a malformed mix."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("empty player spec")
    spec = spec.strip()
    if spec in SCRIPTED:
        return PlayerSpec("scripted", spec)
    kind, sep, rest = spec.partition(":")
    if sep and kind == "mix":
        a, _, tail = rest.partition(",")
        b, _, share = tail.rpartition(",")
        try:
            p = float(share)
        except ValueError:
            p = -1.0
        if not (a and b and 0.0 <= p <= 1.0):
            raise ValueError(f"bad mix spec {spec!r}: expected mix:A,B,P with players A and B "
                             f"and P in [0, 1] the share of B's moves, e.g. "
                             f"mix:minimax,gnushogi:1,0.5")
        return PlayerSpec("mix", spec, mix=(a.strip(), b.strip()), share=p)
    if sep and kind in ("gnushogi", "usi"):
        return PlayerSpec(kind, spec, rest=rest)
    return PlayerSpec("checkpoint", spec)


def is_scripted(spec: str) -> bool:
    """A scripted player or a mix of two: what the trainer evaluates against in its process."""
    try:
        parsed = parse_player_spec(spec)
    except ValueError:
        return False
    if parsed.kind == "mix":
        return all(part in SCRIPTED for part in parsed.mix)
    return parsed.kind == "scripted"
