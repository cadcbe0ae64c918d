"""Training configuration: typed dataclasses (the schema), an embedded default YAML, dotlist
overrides.

`load_config(path, overrides)` merges default.yaml <- file <- `key=value` overrides onto the
schema, so an unknown key or a value of the wrong type fails with one line naming the key,
before anything starts. The schema's fields (schema.py, and each algorithm's section:
sections.py) have a one-line description under each.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .._checks import ConfigError
from .._errors import first_line
from ..player_spec import SCRIPTED, is_scripted
from .sections import (MEMBER_KEYS, _SECTIONS, algorithm_section, register_section,  # noqa: F401
                       rollout_steps, schema, unregister_section, value_prior)

__all__ = ["ConfigError", "load_config", "from_yaml", "to_yaml", "default_yaml", "schema",
           "register_section", "unregister_section", "rollout_steps", "value_prior",
           "algorithm_section"]


# The scripted players the trainer can evaluate against (arena/opponents.py's OPPONENTS keys).
SCRIPTED_OPPONENTS = SCRIPTED


_CHOICES = {
    "on_checkpoint_error": ("stop", "continue"),
    "model.arch": ("resnet", "cnn"),
    "optim.lr_schedule": ("constant", "linear", "cosine"),
    "population.backend": ("folded", "loop"),
    "optim.compile": ("off", "default", "max-autotune"),
    "optim.precision": ("auto", "fp32", "bf16"),
    "collector.backend": ("direct", "process", "ray"),
    "collector.ray.address": ("local", "auto"),
    "collector.on_worker_death": ("restart", "stop"),
    "distributed.backend": ("auto", "gloo", "nccl"),
}


_LOWER_BOUNDS = (
    (
        (
            "env.batch_size",
            "env.max_plies",
            "model.channels",
            "checkpoint_every",
            "keep_checkpoints",
            "eval.max_plies",
            "eval.games",
            "threads",
            "eval.every_games",
            "league.pool_size",
            "league.snapshot_every",
            "population.size",
            "collector.workers",
            "distributed.timeout_s",
        ),
        1,
    ),
    (
        (
            "model.blocks",
            "model.se_ratio",
            "model.material_head",
            "total_updates",
            "time_budget_s",
            "eval.every",
            "optim.max_grad_norm",
            "optim.max_skipped_updates",
            "optim.max_rollbacks",
            "population.round_robin_games",
            "collector.max_restarts",
        ),
        0,
    ),
)


# YAML reads `off`/`on`/`true`/`false` as booleans, which the str field then holds as
# "False"/"True":
# `optim.compile=off` must mean off, and the older boolean spelling keeps working.
_COMPILE_ALIASES = {"False": "off", "True": "default"}


def _normalize(cfg: DictConfig) -> DictConfig:
    if cfg.optim.compile in _COMPILE_ALIASES:
        cfg.optim.compile = _COMPILE_ALIASES[cfg.optim.compile]
    return cfg


def _check_values(cfg: DictConfig) -> None:
    if cfg.algo not in _SECTIONS:
        raise ConfigError(f"algo: {cfg.algo!r} is not one of {', '.join(_SECTIONS)}")
    for key, allowed in _CHOICES.items():
        value = OmegaConf.select(cfg, key)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(allowed)}")
    for keys, low in _LOWER_BOUNDS:
        for key in keys:
            value = OmegaConf.select(cfg, key)
            if not value >= low:  # written so that NaN fails too
                raise ConfigError(f"{key}: must be >= {low}, got {value}")
    if not 0.0 <= cfg.league.fraction <= 1.0:
        raise ConfigError(f"league.fraction: must be in [0, 1], got {cfg.league.fraction}")
    if not cfg.optim.lr > 0:
        raise ConfigError(f"optim.lr: must be > 0, got {cfg.optim.lr}")
    if len(cfg.optim.betas) != 2 or not all(0 <= b < 1 for b in cfg.optim.betas):
        raise ConfigError(
            f"optim.betas: must be two numbers in [0, 1), got {list(cfg.optim.betas)}"
        )
    for opponent in cfg.eval.opponents:
        if not is_scripted(opponent):
            raise ConfigError(f"eval.opponents: unknown opponent {opponent!r} "
                              f"({', '.join(SCRIPTED_OPPONENTS)}, or mix:A,B,P of two of them)")
    _check_population(cfg)
    _check_collector(cfg)
    for section in _SECTIONS.values():  # each checks its own keys, and what its algorithm needs
        section.check(cfg)
    if cfg.total_updates == 0 and cfg.time_budget_s == 0:
        raise ConfigError("total_updates and time_budget_s are both 0: the run would never stop")
    if not (cfg.device == "cpu" or cfg.device.startswith("cuda")):
        raise ConfigError(f"device: {cfg.device!r} is not 'cpu' or 'cuda[:N]'")
    _check_ranks(cfg)


def _check_ranks(cfg: DictConfig) -> None:
    ranks = str(cfg.distributed.ranks)
    if ranks == "auto":
        return
    if not ranks.isdigit() or int(ranks) < 1:
        raise ConfigError(f"distributed.ranks: {ranks!r} is not 'auto' or a number >= 1")
    if int(ranks) > 1 and cfg.collector.backend != "direct":
        raise ConfigError(f"distributed.ranks={ranks} needs collector.backend=direct (collector "
                          f"workers use the other cores; data-parallel ranks play their own games)")


def _check_population(cfg: DictConfig) -> None:
    size = cfg.population.size
    for key in ("lr", "entropy_coef", "seeds", "simulations"):
        values = list(cfg.population[key])
        if values and len(values) != size:
            raise ConfigError(f"population.{key}: {len(values)} values for population.size={size} "
                              f"(give one per member, or none)")
    if any(not lr > 0 for lr in cfg.population.lr):
        raise ConfigError(f"population.lr: every value must be > 0, got {list(cfg.population.lr)}")
    for key in MEMBER_KEYS:
        if cfg.population[key] and key not in cfg[cfg.algo]:
            raise ConfigError(f"population.{key}: algo={cfg.algo} has no {key} setting "
                              f"({cfg.algo}.*)")
    if any(not n >= 1 for n in cfg.population.simulations):
        raise ConfigError(f"population.simulations: every value must be >= 1, "
                          f"got {list(cfg.population.simulations)}")
    if any(not c >= 0 for c in cfg.population.entropy_coef):
        raise ConfigError(f"population.entropy_coef: every value must be >= 0, "
                          f"got {list(cfg.population.entropy_coef)}")
    if size > 1 and cfg.league.fraction > 0:
        raise ConfigError("league.fraction > 0 is not supported with population.size > 1 yet")


def _check_collector(cfg: DictConfig) -> None:
    backend = cfg.collector.backend
    if backend == "direct":
        return
    if backend == "ray":
        _check_ray(cfg)
    workers, games = cfg.collector.workers, cfg.env.batch_size
    if games % workers:
        raise ConfigError(f"collector.workers: env.batch_size={games} does not split evenly over "
                          f"{workers} workers")
    for key, value, why in (("league.fraction", cfg.league.fraction > 0, "league games"),
                            ("population.size", cfg.population.size > 1, "populations")):
        if value:
            raise ConfigError(f"collector.backend={backend} does not support {why} yet "
                              f"({key}); use collector.backend=direct")


def _check_ray(cfg: DictConfig) -> None:
    from importlib.util import find_spec

    if find_spec("ray") is None:
        raise ConfigError("collector.backend=ray needs Ray, which is not installed: "
                          "pip install 'keisei_fn[ray]'")
    if cfg.device != "cpu":
        # The actors are scheduled without GPUs (see ray_backend.py), so their env and policy copy
        # could not live on a GPU.
        raise ConfigError(f"collector.backend=ray runs on CPU only for now (device={cfg.device}); "
                          f"use collector.backend=direct or process")


def default_yaml() -> str:
    return resources.files("keisei_fn").joinpath("default.yaml").read_text()


def _short(err: OmegaConfBaseException) -> str:
    """OmegaConf's message without its multi-line context dump, with the full key."""
    first = first_line(err)
    key = getattr(err, "full_key", None)
    return f"{key}: {first}" if key and key not in first else first


def load_config(path: str | Path | None = None, overrides: list[str] | tuple = (),
                base: DictConfig | None = None) -> DictConfig:
    """Schema <- embedded default.yaml (or `base`) <- optional YAML file <- dotlist overrides.

    Validated; raises ConfigError with one line naming the offending key.
    """
    cfg = (_defaults(schema()) if base is None
           else _merge(_structured(schema()), base, "defaults"))
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            layer = OmegaConf.load(path)
        except Exception as err:  # yaml errors come in several types
            raise ConfigError(f"{path}: not a valid YAML config ({first_line(err)})") from None
        if not isinstance(layer, DictConfig):
            raise ConfigError(f"{path}: a config file must be a mapping of keys to values")
        cfg = _merge(cfg, layer, str(path))
    layers = [(item.partition("=")[0], _override_layer(item)) for item in overrides]
    try:
        # all at once: a merge's cost is copying the whole config, whatever the layer
        cfg = OmegaConf.merge(cfg, *(layer for _, layer in layers))
    except (OmegaConfBaseException, TypeError, ValueError):
        for key, layer in layers:  # one at a time, so the error names the override that caused it
            cfg = _merge(cfg, layer, key)
    _check_values(_normalize(cfg))
    OmegaConf.set_readonly(cfg, True)
    return cfg


def _override_layer(item: str) -> DictConfig:
    key, eq, _ = item.partition("=")
    if not eq or not key.strip():
        raise ConfigError(f"override {item!r} is not of the form key=value")
    try:
        return OmegaConf.from_dotlist([item])
    except Exception as err:  # omegaconf's and yaml's errors
        raise ConfigError(f"override {item!r}: {first_line(err)}") from None


@lru_cache(maxsize=8)
def _structured(config_class: type) -> DictConfig:
    return OmegaConf.structured(config_class)


@lru_cache(maxsize=8)
def _defaults(config_class: type) -> DictConfig:
    """The schema merged with the embedded default.yaml, once per schema (a config's sections
    can change, and with them the class): building these was most of a config's cost. Never
    changed in place: OmegaConf.merge works on a copy of its first config."""
    return _merge(_structured(config_class), OmegaConf.create(default_yaml()), "defaults")


def _merge(cfg: DictConfig, layer, where: str) -> DictConfig:
    try:
        return OmegaConf.merge(cfg, layer)
    except (OmegaConfBaseException, TypeError, ValueError) as err:
        message = first_line(Exception(
            _short(err) if isinstance(err, OmegaConfBaseException) else str(err)))
        # An override's key is already in OmegaConf's message: name it once.
        raise ConfigError(message if message.startswith(f"{where}: ") else f"{where}: {message}"
                          ) from None


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)


# Keys added after runs were saved, with the value those runs trained with: a resumed run must
# go on as it began, whatever the default has become since.
SAVED_BEFORE_THE_KEY = {"ppo.cap_material_scale": 0.0, "ppo.value_search_mix": 0.0,
                       "ppo.target_kl": 0.0, "gumbel_az.q_range": 0.0,
                       "gumbel_az.full_search_prob": 1.0, "ppo.value_search_quiet": 0,
                       "ppo.mate_in_one": False, "ppo.tactics_quiet": 0,
                       "model.attack_planes": False}


def from_yaml(text: str) -> DictConfig:
    """A config saved with a run (already complete); validated against the schema again."""
    if not isinstance(text, str):
        raise ConfigError(f"saved config: expected YAML text, got {type(text).__name__}")
    try:
        layer = OmegaConf.create(text)
    except Exception as err:  # yaml's errors come in several types
        raise ConfigError(f"saved config: not valid YAML ({first_line(err)})") from None
    if not isinstance(layer, DictConfig):
        raise ConfigError("saved config: not a mapping of keys to values")
    absent = object()
    for key, value in SAVED_BEFORE_THE_KEY.items():
        if OmegaConf.select(layer, key, default=absent) is absent:
            OmegaConf.update(layer, key, value, force_add=True)
    cfg = _merge(_structured(schema()), layer, "saved config")
    _check_values(_normalize(cfg))
    return cfg
