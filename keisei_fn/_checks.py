"""The config's error type and the small checks a config section runs on its own keys.

Below `config` so that an algorithm's section (config/sections.py, or one an algorithm
registers) can check itself without importing the schema that imports it.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A user mistake in a config file or override (reported in one line by the CLI)."""


def at_least(section, prefix: str, keys, low) -> None:
    for key in keys:
        value = getattr(section, key)
        if not value >= low:  # written so that NaN fails too
            raise ConfigError(f"{prefix}.{key}: must be >= {low}, got {value}")


def in_unit_interval(section, prefix: str, keys) -> None:
    for key in keys:
        value = getattr(section, key)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{prefix}.{key}: must be in [0, 1], got {value}")


def one_of(section, prefix: str, key: str, allowed) -> None:
    value = getattr(section, key)
    if value not in allowed:
        raise ConfigError(f"{prefix}.{key}: {value!r} is not one of {', '.join(allowed)}")
