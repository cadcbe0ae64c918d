"""The algorithms' config sections: each algorithm's options are the section of its name.

A section is a dataclass with
- a `rollout_steps` field (moves per game per iteration),
- `VALUE_PRIOR`: the name of its field holding the material coefficient per pawn that the value
  head learned without and every reader adds back (agent/network.py), or None,
- `check(cfg)`: raises ConfigError for a bad value of its own keys, or a setting its algorithm
  does not support.

The shipped algorithms' sections are here, part of the schema; another algorithm brings its own
(algos/registry.register calls `register_section`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from functools import lru_cache

from .._checks import ConfigError, at_least, in_unit_interval, one_of
from .schema import GenericConfig


@dataclass
class PPOConfig:
    rollout_steps: int = 32
    """env steps per game per collection (frames per batch = rollout_steps x env.batch_size)"""
    epochs: int = 4
    """passes over each rollout (at most: `target_kl` ends them sooner)"""
    minibatch_size: int = 256
    """samples per optimizer update"""
    gamma: float = 1.0
    """discount; used as -gamma so each mover's return is zero-sum (see advantage.py); 1: the
    value is the game's undiscounted result, which measured stronger than 0.99 (docs/training.md,
    "Strength")"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    clip_epsilon: float = 0.2
    """PPO ratio clip"""
    clip_value: bool = False
    """clip the value update around the collection-time value"""
    entropy_coef: float = 0.01
    """entropy bonus weight"""
    value_coef: float = 0.5
    """value loss weight"""
    normalize_advantage: bool = True
    """normalise advantages per minibatch"""
    material_shaping: float = 0.02
    """potential-based material shaping, per pawn of material balance (0 disables; see
    algos/ppo/batch.py)"""
    cap_material_scale: float = 0.0
    """a game that reaches the move cap (env.max_plies) scores tanh(the last mover's material
    balance after its move / this many pawns) for that mover, in place of a draw, as the reward
    the value and the advantages learn from (0 disables: a draw)"""
    value_search_mix: float = 0.0
    """lambda of the value target's mix with a 1-ply material search: the value (as search reads
    it, the material prior included) learns (1 - lambda) * the return + lambda * tanh(s /
    value_search_scale), s being the mover's material balance plus its best capture, in pawns
    (algos/ppo/batch.py; 0 disables)"""
    value_search_scale: float = 10.0
    """pawns of the mix's search value that make tanh's argument 1"""
    value_search_quiet: int = 0
    """the mix's search plays its captures out this many plies deep (a quiescence,
    search/minimax.py's `quiet`): s is then what the mover keeps once the opponent retakes; 0:
    its best capture as if free"""
    target_kl: float = 0.01
    """stop an iteration's epochs once an epoch's mean approximate KL from the collecting policy
    reaches this (checked after each epoch; 0 disables)"""
    mate_in_one: bool = True
    """self-play plays a move that mates at once wherever there is one, in place of the policy's
    sample (recorded with its probability under the policy), so that won games end in a result
    instead of the move cap; only the moves that may give check are stepped (shogi.may_check).
    The default since 2026-12-06 (screen 19: +73 and +117 ladder Elo on two seeds at `make
    run`'s set-up, at about 1.4x the cost per sample)"""
    tactics_coef: float = 0.0
    """weight of the search-labelled policy loss (algos/ppo/tactics.py): -log of the policy's
    probability on the moves a 2-ply material search rates within tactics_margin pawns of the
    best, on tactics_positions positions of each rollout (0 disables)"""
    tactics_positions: int = 128
    """positions labelled per rollout (per rank), evenly spaced (about 100 engine steps each)"""
    tactics_margin: float = 3.0
    """pawns below the best move a move may be (a pawn lost costs 2.1: 1 on the board, 1.1 in
    hand)"""
    tactics_quiet: int = 0
    """the labelling search plays its last ply's captures out this many plies deep (a
    quiescence, search/minimax.py's `quiet`, as the default player's veto does with 2): a move
    onto a defended square is then not read as losing its piece; 0: the static last ply"""
    material_head_coef: float = 0.5
    """weight of the material head's squared error (model.material_head; algos/ppo/batch.py,
    material_ahead)"""
    reply_coef: float = 0.15
    """weight of the reply head's cross-entropy (model.reply_head; algos/ppo/batch.py,
    next_move): KataGo's weight for its opponent-policy target"""

    VALUE_PRIOR = "material_shaping"

    @staticmethod
    def check(cfg) -> None:
        at_least(cfg.ppo, "ppo", ("rollout_steps", "epochs", "minibatch_size",
                                  "tactics_positions"), 1)
        at_least(cfg.ppo, "ppo", ("entropy_coef", "value_coef", "material_shaping",
                                  "cap_material_scale", "target_kl", "tactics_coef",
                                  "tactics_margin", "material_head_coef", "reply_coef"), 0)
        if cfg.ppo.tactics_coef > 0 and cfg.population.backend == "loop":
            raise ConfigError("ppo.tactics_coef: the population.backend=loop reference has no "
                              "search-labelled loss; use folded")
        if cfg.model.material_head >= cfg.ppo.rollout_steps:
            raise ConfigError(f"model.material_head: {cfg.model.material_head} plies ahead leaves "
                              f"no position of a {cfg.ppo.rollout_steps}-step rollout "
                              f"(ppo.rollout_steps) a target; use fewer")
        if cfg.model.material_head and cfg.population.backend == "loop":
            raise ConfigError("model.material_head: the population.backend=loop reference has no "
                              "material head loss; use folded")
        if cfg.model.reply_head and cfg.population.backend == "loop":
            raise ConfigError("model.reply_head: the population.backend=loop reference has no "
                              "reply head loss; use folded")
        in_unit_interval(cfg.ppo, "ppo", ("gamma", "gae_lambda", "value_search_mix"))
        # shogi.material.MAX_QUIET: the launcher reads configs without importing torch, so the
        # number (tests/test_config.py holds them equal)
        # algos/ppo/loss.py's DUAL_CLIP - 1 (3 - 1), repeated for the launcher as MAX_QUIET is:
        # PPO's own clip 1 + eps must stay below the dual clip's cap
        if not 0 < cfg.ppo.clip_epsilon < 2:
            raise ConfigError(f"ppo.clip_epsilon: must be between 0 and 2 (1 + it stays below "
                              f"the dual clip's 3), got {cfg.ppo.clip_epsilon}")
        for key in ("value_search_quiet", "tactics_quiet"):
            if not 0 <= cfg.ppo[key] <= 4:
                raise ConfigError(f"ppo.{key}: must be a whole number of plies from 0 to 4, got "
                                  f"{cfg.ppo[key]}")
        if not cfg.ppo.value_search_scale > 0:
            raise ConfigError(f"ppo.value_search_scale: must be > 0, got "
                              f"{cfg.ppo.value_search_scale}")


@dataclass
class GumbelAZConfig:
    simulations: int = 16
    """search simulations of a full search (every self-play move's with full_search_prob 1; at
    equal wall clock 4 beat 8-32 for every move, docs/results.md, and 16 for a quarter of them,
    1 else, beat 4 for all: docs/training.md, screen 18)"""
    max_considered: int = 4
    """root moves Sequential Halving considers (max_num_considered_actions)"""
    gumbel_scale: float = 1.0
    """scale of the root's Gumbel noise (1: the paper's exploration; 0: deterministic)"""
    batched_rounds: bool = False
    """search each Sequential Halving round's visits side by side (1.3x faster at 64-128 games;
    docs/search.md) instead of one simulation after the other (mctx's order)"""
    rollout_steps: int = 8
    """self-play moves per game per iteration (each one searched)"""
    minibatch_size: int = 256
    """positions per optimizer update"""
    replay_ratio: float = 4.0
    """times each stored position is trained on, on average (sets the updates per iteration)"""
    buffer_size: int = 65536
    """positions the replay buffer holds per member (the oldest are overwritten)"""
    min_buffer: int = 1024
    """positions in every replay buffer before learning starts"""
    value_target: str = "outcome"
    """'outcome' (the game's result from the mover's side) or 'nstep' (the search's root value
    td_steps plies later, the outcome within td_steps of the end)"""
    td_steps: int = 8
    """plies to the bootstrapping root value (value_target=nstep)"""
    value_coef: float = 1.0
    """value loss weight (the policy's cross-entropy has weight 1)"""
    q_range: float = 0.0
    """the smallest range the search's sigma rescales q-values by (search/select.py: 0 is mctx's
    min-max, 2 never stretches a spread); it shapes the improved policy learned"""
    material_prior: float = 0.02
    """material in the value the search reads, per pawn: the value head learns the target minus coef
    x material balance, and the search adds it back (0 disables; see algos/gumbel_az/targets.py)"""
    full_search_prob: float = 0.25
    """playout cap randomization (KataGo): the probability of a full search (`simulations`) for a
    game's move, else a fast one (`fast_simulations`); only full searches become training
    positions (1: every move full, off)"""
    fast_simulations: int = 1
    """simulations of a fast search (full_search_prob < 1); 1 samples the policy with the root's
    Gumbel noise"""

    VALUE_PRIOR = "material_prior"

    @staticmethod
    def check(cfg) -> None:
        az = cfg.gumbel_az
        at_least(az, "gumbel_az", ("simulations", "max_considered", "rollout_steps",
                                   "minibatch_size", "buffer_size", "min_buffer", "td_steps"), 1)
        at_least(az, "gumbel_az", ("gumbel_scale", "value_coef", "material_prior"), 0)
        # search.select.MAX_Q_RANGE: config sits below search in the layers, so the number
        if not 0 <= az.q_range <= 2.0:
            raise ConfigError(f"gumbel_az.q_range: must be in [0, 2], got {az.q_range}")
        one_of(az, "gumbel_az", "value_target", ("outcome", "nstep"))
        if not az.replay_ratio > 0:
            raise ConfigError(f"gumbel_az.replay_ratio: must be > 0, got {az.replay_ratio}")
        if not 0 < az.full_search_prob <= 1:
            raise ConfigError(f"gumbel_az.full_search_prob: must be in (0, 1], got "
                              f"{az.full_search_prob}")
        at_least(az, "gumbel_az", ("fast_simulations",), 1)
        fewest = min(cfg.population.simulations or [az.simulations])
        if az.full_search_prob < 1 and az.fast_simulations > fewest:
            raise ConfigError(f"gumbel_az.fast_simulations={az.fast_simulations} is more than a "
                              f"full search's {fewest} simulations")
        if az.full_search_prob < 1 and az.value_target == "nstep":
            raise ConfigError("gumbel_az.value_target=nstep bootstraps from the root values of "
                              "later plies, which fast searches give with full_search_prob < 1: "
                              "use value_target=outcome, or gumbel_az.full_search_prob=1")
        if cfg.algo != "gumbel_az":
            return
        for key, value, unsupported in (
                ("collector.backend", cfg.collector.backend, cfg.collector.backend != "direct"),
                ("league.fraction", cfg.league.fraction, cfg.league.fraction > 0),
                ("population.backend", cfg.population.backend,
                 cfg.population.backend != "folded"),
                ("model.material_head", cfg.model.material_head, cfg.model.material_head > 0),
                ("model.reply_head", cfg.model.reply_head, cfg.model.reply_head)):
            if unsupported:
                raise ConfigError(f"algo=gumbel_az does not support {key}={value} yet")
        if az.min_buffer > az.buffer_size:
            raise ConfigError(f"gumbel_az.min_buffer={az.min_buffer} is more than the buffer "
                              f"holds (gumbel_az.buffer_size={az.buffer_size})")


# Each algorithm's options are the config section of its name, a dataclass that follows the
# contract in this module's docstring. The shipped ones are part of the schema; another algorithm
# adds its own with `register_section` (algos.registry.register does).
_SECTIONS: dict[str, type] = {"ppo": PPOConfig, "gumbel_az": GumbelAZConfig}

# population.* lists that set the active algorithm's key of the same name per member
MEMBER_KEYS = ("entropy_coef", "simulations")


def register_section(name: str, section: type) -> None:
    if name in _SECTIONS and _SECTIONS[name] is not section:
        raise ValueError(f"a config section {name!r} is already registered")
    if name in {f.name for f in GenericConfig.__dataclass_fields__.values()}:
        raise ValueError(f"{name!r} is a config key, not a free section name")
    _SECTIONS[name] = section


def unregister_section(name: str) -> None:
    _SECTIONS.pop(name, None)


def schema() -> type:
    """The config's dataclass: the generic keys plus every registered algorithm's section (the
    same class while the sections stay the same: OmegaConf merges configs of one class only)."""
    return _schema(tuple(_SECTIONS.items()))


@lru_cache(maxsize=None)
def _schema(sections: tuple) -> type:
    return make_dataclass("TrainConfig", [(name, section, field(default_factory=section))
                                          for name, section in sections],
                          bases=(GenericConfig,))


def algorithm_section(cfg):
    """The active algorithm's options (`cfg[cfg.algo]`)."""
    return cfg[cfg.algo]


def rollout_steps(cfg) -> int:
    """Moves per game per iteration, the algorithm's."""
    return algorithm_section(cfg).rollout_steps


def value_prior(cfg) -> float:
    """Per pawn of material balance, what the value head was trained without and the game's value
    adds back (PPO's shaping potential, Gumbel AlphaZero's material prior): the field the
    algorithm's section names as its VALUE_PRIOR, 0 when it has none."""
    key = getattr(_SECTIONS[cfg.algo], "VALUE_PRIOR", None)
    return float(algorithm_section(cfg)[key]) if key else 0.0
