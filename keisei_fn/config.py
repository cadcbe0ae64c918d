"""Training configuration: typed dataclasses (the schema), an embedded default YAML, dotlist overrides.

`load_config(path, overrides)` merges default.yaml <- file <- `key=value` overrides onto the
schema, so an unknown key or a value of the wrong type fails with one line naming the key,
before anything starts. Every field below has a one-line description under it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ._errors import first_line
from .player_spec import SCRIPTED, is_scripted


class ConfigError(ValueError):
    """A user mistake in a config file or override (reported in one line by the CLI)."""


@dataclass
class EnvConfig:
    batch_size: int = 128
    """games played in parallel (one TorchRL env batch)"""
    max_plies: int = 256
    """move cap: a game reaching it is a draw"""
    impasse: bool = False
    """allow the entering-king declaration"""


@dataclass
class ModelConfig:
    arch: str = "resnet"
    """'resnet' (residual tower with squeeze-excitation) or 'cnn' (plain conv stack)"""
    blocks: int = 2
    """residual blocks (resnet) or conv layers (cnn); the original Keisei used 9"""
    channels: int = 32
    """trunk width; the original Keisei used 256"""
    se_ratio: int = 4
    """squeeze-excitation reduction ratio (0 disables SE)"""
    value_hidden: int = 64
    """hidden units of the value head"""
    policy_gain: float = 0.01
    """orthogonal-init gain of the policy output (small: near-uniform first policy)"""


@dataclass
class PPOConfig:
    rollout_steps: int = 32
    """env steps per game per collection (frames per batch = rollout_steps x env.batch_size)"""
    epochs: int = 2
    """passes over each rollout"""
    minibatch_size: int = 256
    """samples per optimizer update"""
    gamma: float = 0.99
    """discount; used as -gamma so each mover's return is zero-sum (see advantage.py)"""
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
    """potential-based material shaping, per pawn of material balance (0 disables; see algos/ppo/batch.py)"""
    target_kl: float = 0.0
    """stop an iteration's epochs once an epoch's mean approximate KL from the collecting policy reaches this (checked after each epoch; 0 disables)"""
    mate_in_one: bool = False
    """self-play plays a move that mates at once wherever there is one, in place of the policy's sample (recorded with its probability under the policy), so that won games end in a result instead of the move cap"""


@dataclass
class GumbelAZConfig:
    simulations: int = 4
    """search simulations per self-play move (4 measured strongest of 4-32 at equal wall clock: docs/results.md)"""
    max_considered: int = 4
    """root moves Sequential Halving considers (max_num_considered_actions)"""
    gumbel_scale: float = 1.0
    """scale of the root's Gumbel noise (1: the paper's exploration; 0: deterministic)"""
    batched_rounds: bool = False
    """search each Sequential Halving round's visits side by side (1.3x faster at 64-128 games; docs/search.md) instead of one simulation after the other (mctx's order)"""
    rollout_steps: int = 8
    """self-play moves per game per iteration (each one searched)"""
    minibatch_size: int = 256
    """positions per optimizer update"""
    replay_ratio: float = 4.0
    """times each played position is trained on, on average (sets the updates per iteration)"""
    buffer_size: int = 65536
    """positions the replay buffer holds per member (the oldest are overwritten)"""
    min_buffer: int = 1024
    """positions in every replay buffer before learning starts"""
    value_target: str = "outcome"
    """'outcome' (the game's result from the mover's side) or 'nstep' (the search's root value td_steps plies later, the outcome within td_steps of the end)"""
    td_steps: int = 8
    """plies to the bootstrapping root value (value_target=nstep)"""
    value_coef: float = 1.0
    """value loss weight (the policy's cross-entropy has weight 1)"""
    material_prior: float = 0.02
    """material in the value the search reads, per pawn: the value head learns the target minus coef x material balance, and the search adds it back (0 disables; see algos/gumbel_az/targets.py)"""


@dataclass
class OptimConfig:
    lr: float = 1e-3
    """Adam learning rate (peak)"""
    lr_schedule: str = "constant"
    """'constant', 'linear' (to 0) or 'cosine' (to 0) over the run: total_updates or time_budget_s, whichever is nearer its end"""
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    """Adam betas"""
    eps: float = 1e-5
    """Adam epsilon"""
    max_grad_norm: float = 0.5
    """global gradient-norm clip (0 disables)"""
    compile: str = "default"
    """torch.compile the update step: 'off', 'default' or 'max-autotune' (see docs/training.md, "Compilation")"""
    compile_acting: bool = False
    """also compile the acting policy (with optim.compile's mode); no gain measured on a 2-core CPU (docs/results.md)"""
    precision: str = "auto"
    """the network's arithmetic in the update: 'auto' (bf16 where the hardware has it: AVX512_BF16/AMX CPUs, CUDA), 'fp32' or 'bf16' (docs/training.md, "Precision")"""
    max_skipped_updates: int = 4
    """non-finite updates tolerated per iteration before rolling back and halving the lr"""
    max_rollbacks: int = 5
    """rollbacks before the run stops with a clear error"""


@dataclass
class EvalConfig:
    every: int = 100
    """evaluate every N iterations as well as at the end (0: only at the end), so that Aim draws the Elo as a curve"""
    games: int = 100
    """games per opponent in the final evaluation: GAMES/2 openings of eval.openings, each with both colours"""
    every_games: int = 40
    """games per opponent in the evaluations during training (cheaper than the final one)"""
    opponents: list[str] = field(default_factory=lambda: [
        "greedy", "mix:greedy,minimax,0.5", "minimax"])
    """scripted opponents, rungs of the engine ladder: 'random', 'greedy' (one-ply material),
    'minimax' (two-ply material), or 'mix:A,B,P' of two of them (B's move with probability P)"""
    openings: str = "default"
    """opening suite of evaluation games: default, a file, or none (the start position)"""
    max_plies: int = 512
    """move cap of evaluation games (the arena referee's, as in `keisei-fn eval`)"""
    impasse: bool = True
    """allow the entering-king declaration in evaluation games (the arena referee's rule)"""
    greedy_policy: bool = True
    """evaluate the argmax move (False: sample from the policy)"""
    mate_in_one: bool = True
    """the agent plays a move that mates at once wherever there is one (as `keisei-fn eval`/`ladder` players do by default); false: the policy's move alone"""


@dataclass
class LeagueConfig:
    fraction: float = 0.0
    """share of the env batch whose games are played against past snapshots (0: pure self-play)"""
    pool_size: int = 5
    """how many recent snapshots the league keeps"""
    snapshot_every: int = 10
    """add the current parameters to the pool every N iterations"""


@dataclass
class RayConfig:
    address: str = "local"
    """'local' (start a Ray instance on this machine with `workers` CPUs, stopped when the run ends) or 'auto' (attach to the cluster started with `ray start`, left running)"""
    ship_code: bool = True
    """send this keisei_fn package to the Ray workers (runtime_env py_modules), so other nodes need only its dependencies installed"""


@dataclass
class CollectorConfig:
    backend: str = "direct"
    """'direct' (the project's own rollout loop over ShogiEnv in the training process, collect/rollout.py), 'process' (TorchRL's multi-process collector: `workers` processes) or 'ray' (TorchRL's RayCollector: `workers` Ray actors); weights synced after every update"""
    workers: int = 2
    """worker processes ('process') or Ray actors ('ray'); each steps env.batch_size / workers games"""
    on_worker_death: str = "restart"
    """when a worker process dies: 'restart' (new workers, new games; the run goes on) or 'stop' (checkpoint and exit with code 3)"""
    max_restarts: int = 3
    """worker deaths tolerated per run with on_worker_death=restart before the run stops anyway"""
    ray: RayConfig = field(default_factory=RayConfig)


@dataclass
class PopulationConfig:
    size: int = 1
    """agents trained in lockstep in one process, each with its own parameters, optimizer, RNG and env batch of env.batch_size games (1: a single agent)"""
    lr: list[float] = field(default_factory=list)
    """per-member optim.lr, one per member (empty: every member uses optim.lr)"""
    entropy_coef: list[float] = field(default_factory=list)
    """per-member ppo.entropy_coef, one per member (empty: every member uses ppo.entropy_coef)"""
    seeds: list[int] = field(default_factory=list)
    """per-member seeds, one per member (empty: seed, seed + 1, ...)"""
    simulations: list[int] = field(default_factory=list)
    """per-member gumbel_az.simulations, one per member (empty: every member uses gumbel_az.simulations)"""
    backend: str = "folded"
    """'folded' (all members as one network of grouped convolutions; one vmapped loss) or 'loop' (a Python loop over members, the reference)"""
    round_robin_games: int = 20
    """games between every pair of members at each evaluation, sampled from their policies (0: none)"""


@dataclass
class DistributedConfig:
    ranks: str = "auto"
    """data-parallel ranks `keisei-fn train` starts on this machine: 'auto' (one per `threads` usable CPUs on CPU, as many as the available memory holds at 1.25 GB each; 1 on CUDA or with collector workers) or a number (1: one process)"""
    backend: str = "auto"
    """torch.distributed backend under torchrun: 'auto' (nccl on CUDA, gloo on CPU), 'gloo' or 'nccl'"""
    timeout_s: float = 1800.0
    """how long a rank waits for the others at a collective (rank 0 evaluates while they wait)"""


@dataclass
class TrackConfig:
    aim: bool = True
    """log to Aim (repo under the run directory unless aim_repo is set)"""
    aim_repo: str = ""
    """Aim repository path ('' = RUN_DIR/aim)"""
    experiment: str = "keisei_fn"
    """Aim experiment name"""
    progress: bool = True
    """rich progress bar in the terminal"""


@dataclass
class TrainConfig:
    seed: int = 0
    """seed of every random stream (torch, numpy, python, policy sampler)"""
    device: str = "cpu"
    """'cpu', 'cuda', 'cuda:1', ..."""
    threads: int = 1
    """torch intra-op threads on CPU"""
    run_dir: str = "runs/default"
    """where checkpoints, the resolved config and the Aim repo go"""
    total_updates: int = 0
    """stop after this many collection+update iterations (0: no limit)"""
    time_budget_s: float = 600.0
    """stop after this many seconds of training (0: no limit); evaluation comes after"""
    checkpoint_every: int = 20
    """write a checkpoint every N iterations (and at the end)"""
    keep_checkpoints: int = 3
    """how many recent checkpoints to keep"""
    on_checkpoint_error: str = "stop"
    """when a checkpoint cannot be written (disk full, read-only): 'stop' or 'continue'"""
    algo: str = "ppo"
    """'ppo' (learn from sampled moves) or 'gumbel_az' (learn from Gumbel search's improved policy and the outcome; docs/training.md)"""
    init_from: str = ""
    """a checkpoint or run directory whose network starts a new run, e.g. Gumbel AlphaZero from a PPO network (parameters only: the optimizer, counters and games start fresh; '' = random initialisation)"""
    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    gumbel_az: GumbelAZConfig = field(default_factory=GumbelAZConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    league: LeagueConfig = field(default_factory=LeagueConfig)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    collector: CollectorConfig = field(default_factory=CollectorConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    track: TrackConfig = field(default_factory=TrackConfig)


# The scripted players the trainer can evaluate against (arena/opponents.py's OPPONENTS keys).
SCRIPTED_OPPONENTS = SCRIPTED


_CHOICES = {
    "on_checkpoint_error": ("stop", "continue"),
    "algo": ("ppo", "gumbel_az"),
    "gumbel_az.value_target": ("outcome", "nstep"),
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
    (("env.batch_size", "env.max_plies", "ppo.rollout_steps", "ppo.epochs", "ppo.minibatch_size",
      "model.channels", "checkpoint_every", "keep_checkpoints", "eval.max_plies", "eval.games",
      "threads", "eval.every_games", "league.pool_size", "league.snapshot_every", "population.size", "collector.workers",
      "distributed.timeout_s", "gumbel_az.simulations", "gumbel_az.max_considered",
      "gumbel_az.rollout_steps", "gumbel_az.minibatch_size", "gumbel_az.buffer_size",
      "gumbel_az.min_buffer", "gumbel_az.td_steps"), 1),
    (("model.blocks", "model.se_ratio", "total_updates", "time_budget_s", "eval.every",
      "optim.max_grad_norm", "optim.max_skipped_updates", "optim.max_rollbacks",
      "ppo.entropy_coef", "ppo.value_coef", "ppo.material_shaping", "ppo.target_kl",
      "population.round_robin_games", "collector.max_restarts", "gumbel_az.gumbel_scale",
      "gumbel_az.value_coef", "gumbel_az.material_prior"), 0),
)


# YAML reads `off`/`on`/`true`/`false` as booleans, which the str field then holds as "False"/"True":
# `optim.compile=off` must mean off, and the older boolean spelling keeps working.
_COMPILE_ALIASES = {"False": "off", "True": "default"}


def _normalize(cfg: DictConfig) -> DictConfig:
    if cfg.optim.compile in _COMPILE_ALIASES:
        cfg.optim.compile = _COMPILE_ALIASES[cfg.optim.compile]
    return cfg


def _check_values(cfg: DictConfig) -> None:
    for key, allowed in _CHOICES.items():
        value = OmegaConf.select(cfg, key)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(allowed)}")
    for keys, low in _LOWER_BOUNDS:
        for key in keys:
            value = OmegaConf.select(cfg, key)
            if not value >= low:  # written so that NaN fails too
                raise ConfigError(f"{key}: must be >= {low}, got {value}")
    for key in ("ppo.gamma", "ppo.gae_lambda", "league.fraction"):
        if not 0.0 <= OmegaConf.select(cfg, key) <= 1.0:
            raise ConfigError(f"{key}: must be in [0, 1], got {OmegaConf.select(cfg, key)}")
    if not cfg.optim.lr > 0:
        raise ConfigError(f"optim.lr: must be > 0, got {cfg.optim.lr}")
    if len(cfg.optim.betas) != 2 or not all(0 <= b < 1 for b in cfg.optim.betas):
        raise ConfigError(f"optim.betas: must be two numbers in [0, 1), got {list(cfg.optim.betas)}")
    for opponent in cfg.eval.opponents:
        if not is_scripted(opponent):
            raise ConfigError(f"eval.opponents: unknown opponent {opponent!r} "
                              f"({', '.join(SCRIPTED_OPPONENTS)}, or mix:A,B,P of two of them)")
    if not cfg.gumbel_az.replay_ratio > 0:
        raise ConfigError(f"gumbel_az.replay_ratio: must be > 0, got {cfg.gumbel_az.replay_ratio}")
    _check_population(cfg)
    _check_collector(cfg)
    _check_gumbel_az(cfg)
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
    if cfg.population.simulations and cfg.algo != "gumbel_az":
        raise ConfigError("population.simulations is a gumbel_az setting (algo=gumbel_az)")
    if any(not n >= 1 for n in cfg.population.simulations):
        raise ConfigError(f"population.simulations: every value must be >= 1, "
                          f"got {list(cfg.population.simulations)}")
    if any(not c >= 0 for c in cfg.population.entropy_coef):
        raise ConfigError(f"population.entropy_coef: every value must be >= 0, "
                          f"got {list(cfg.population.entropy_coef)}")
    if size > 1 and cfg.league.fraction > 0:
        raise ConfigError("league.fraction > 0 is not supported with population.size > 1 yet")


def _check_gumbel_az(cfg: DictConfig) -> None:
    if cfg.algo != "gumbel_az":
        return
    for key, unsupported in (("collector.backend", cfg.collector.backend != "direct"),
                             ("league.fraction", cfg.league.fraction > 0),
                             ("population.backend", cfg.population.backend != "folded")):
        if unsupported:
            raise ConfigError(f"algo=gumbel_az does not support {key}="
                              f"{OmegaConf.select(cfg, key)} yet")
    az = cfg.gumbel_az
    if az.min_buffer > az.buffer_size:
        raise ConfigError(f"gumbel_az.min_buffer={az.min_buffer} is more than the buffer holds "
                          f"(gumbel_az.buffer_size={az.buffer_size})")


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


def rollout_steps(cfg) -> int:
    """Moves per game per iteration, the algorithm's."""
    return cfg.gumbel_az.rollout_steps if cfg.algo == "gumbel_az" else cfg.ppo.rollout_steps


def value_prior(cfg) -> float:
    """Per pawn of material balance, what the value head was trained without and the game's value
    adds back: PPO's shaping potential, or Gumbel AlphaZero's material prior."""
    return cfg.gumbel_az.material_prior if cfg.algo == "gumbel_az" else cfg.ppo.material_shaping


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
    cfg = _merge(OmegaConf.structured(TrainConfig),
                 OmegaConf.create(default_yaml()) if base is None else base, "defaults")
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
    for item in overrides:
        # One at a time, so an error names the override that caused it.
        key, eq, _ = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form key=value")
        try:
            layer = OmegaConf.from_dotlist([item])
        except Exception as err:  # omegaconf's and yaml's errors
            raise ConfigError(f"override {item!r}: {first_line(err)}") from None
        cfg = _merge(cfg, layer, f"{key}")
    _check_values(_normalize(cfg))
    OmegaConf.set_readonly(cfg, True)
    return cfg


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
    cfg = _merge(OmegaConf.structured(TrainConfig), layer, "saved config")
    _check_values(_normalize(cfg))
    return cfg
