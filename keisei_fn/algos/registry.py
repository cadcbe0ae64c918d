"""The algorithms by name: the one place that knows which exist. The trainer asks for
`get(cfg.algo)`; another algorithm joins with `register` (its options become the config section
of its name)."""

from __future__ import annotations

from typing import Callable

from ..config import register_section, unregister_section
from ..learn.population import loss_autocast, make_population_update, member_config
from .base import Algorithm
from .gumbel_az.algorithm import GUMBEL_AZ
from .ppo.algorithm import PPO

_ALGORITHMS: dict[str, Algorithm] = {}


def register(algorithm: Algorithm) -> Algorithm:
    """Make `algorithm` available as `algo=<its name>`, with its options as `<its name>.*`."""
    if _ALGORITHMS.get(algorithm.name, algorithm) is not algorithm:
        raise ValueError(f"an algorithm named {algorithm.name!r} is already registered")
    register_section(algorithm.name, algorithm.section)
    _ALGORITHMS[algorithm.name] = algorithm
    return algorithm


def unregister(name: str) -> None:
    """Remove an algorithm `register` added (tests define their own)."""
    if name in BUILTIN:
        raise ValueError(f"{name!r} ships with keisei_fn and cannot be removed")
    _ALGORITHMS.pop(name, None)
    unregister_section(name)


def get(name: str) -> Algorithm:
    try:
        return _ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r} (registered: {', '.join(_ALGORITHMS)})"
                         ) from None


def names() -> tuple[str, ...]:
    return tuple(_ALGORITHMS)


def make_update(cfg, net, reduce_grads: Callable | None = None) -> Callable:
    """The run's update step for `cfg.algo`: its folded population loss, or its per-member loss
    under population.backend=loop (learn/population.py)."""
    algo = get(cfg.algo)
    autocast = loss_autocast(cfg)
    member = None
    if algo.member_loss is not None:
        def member(k: int):
            return algo.member_loss(member_config(cfg, k), net, autocast)
    return make_population_update(cfg, algo.population_loss(cfg, autocast), member,
                                  reduce_grads)


BUILTIN = (PPO.name, GUMBEL_AZ.name)
for _algorithm in (PPO, GUMBEL_AZ):
    register(_algorithm)
