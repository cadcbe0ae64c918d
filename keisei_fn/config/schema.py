"""The config's generic keys as typed dataclasses, each field with a one-line description under
it; the algorithms' sections are in sections.py."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    material_head: int = 0
    """an auxiliary head (PPO only): from the value head's hidden layer, it predicts tanh(the
    mover's material balance this many plies ahead / 10 pawns), or the game's result where the
    game ends sooner; PPO trains it with weight ppo.material_head_coef (0: no head)"""
    reply_head: bool = False
    """an auxiliary head (PPO only): 2187 logits from the trunk (a 1x1 convolution, as the policy's
    last layer) predicting the opponent's next move, trained with weight ppo.reply_coef
    (KataGo's opponent-reply target): what the opponent will do next, a capture of a piece left
    hanging among it, is what the trunk must then represent; players do not read it"""
    attack_planes: bool = False
    """the input's planes 44-45 hold min(n, 4) / 4 for the n pieces of the side to move (44) and
    of its opponent (45) that attack each square, pins ignored (shogi/_observe.py): what a small
    network's few 3x3 layers cannot see across the board (false: zeros there, as every network
    before 2026-12-06 was trained). Screen 23 at `make run`'s set-up: +335 and +5 for the network
    alone on two seeds (docs/training.md); off until the 2-hour recipe confirms it"""


@dataclass
class OptimConfig:
    lr: float = 1e-3
    """Adam learning rate (peak)"""
    lr_schedule: str = "constant"
    """'constant', 'linear' (to 0) or 'cosine' (to 0) over the run: total_updates or time_budget_s,
    whichever is nearer its end"""
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    """Adam betas"""
    eps: float = 1e-5
    """Adam epsilon"""
    max_grad_norm: float = 0.5
    """global gradient-norm clip (0 disables)"""
    compile: str = "default"
    """torch.compile the update step: 'off', 'default' or 'max-autotune' (see docs/training.md,
    "Compilation")"""
    compile_acting: bool = False
    """also compile the acting policy (with optim.compile's mode); no gain measured on a 2-core CPU
    (docs/results.md)"""
    precision: str = "auto"
    """the network's arithmetic in the update: 'auto' (bf16 where the hardware has it:
    AVX512_BF16/AMX CPUs, CUDA), 'fp32' or 'bf16' (docs/training.md, "Precision")"""
    max_skipped_updates: int = 4
    """non-finite updates tolerated per iteration before rolling back and halving the lr"""
    max_rollbacks: int = 5
    """rollbacks before the run stops with a clear error"""


@dataclass
class EvalConfig:
    every: int = 100
    """evaluate every N iterations as well as at the end (0: only at the end), so that Aim draws the
    Elo as a curve"""
    games: int = 100
    """games per opponent in the final evaluation: GAMES/2 openings of eval.openings, each with both
    colours"""
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
    """the agent plays a move that mates at once wherever there is one (as `keisei-fn eval`/`ladder`
    players do by default); false: the policy's move alone"""


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
    """'local' (start a Ray instance on this machine with `workers` CPUs, stopped when the run ends)
    or 'auto' (attach to the cluster started with `ray start`, left running)"""
    ship_code: bool = True
    """send this keisei_fn package to the Ray workers (runtime_env py_modules), so other nodes need
    only its dependencies installed"""


@dataclass
class CollectorConfig:
    backend: str = "direct"
    """'direct' (the project's own rollout loop over ShogiEnv in the training process,
    collect/rollout.py), 'process' (TorchRL's multi-process collector: `workers` processes) or 'ray'
    (TorchRL's RayCollector: `workers` Ray actors); weights synced after every update"""
    workers: int = 2
    """worker processes ('process') or Ray actors ('ray'); each steps env.batch_size / workers games
    """
    on_worker_death: str = "restart"
    """when a worker process dies: 'restart' (new workers, new games; the run goes on) or 'stop'
    (checkpoint and exit with code 3)"""
    max_restarts: int = 3
    """worker deaths tolerated per run with on_worker_death=restart before the run stops anyway"""
    ray: RayConfig = field(default_factory=RayConfig)


@dataclass
class PopulationConfig:
    size: int = 1
    """agents trained in lockstep in one process, each with its own parameters, optimizer, RNG and
    env batch of env.batch_size games (1: a single agent)"""
    lr: list[float] = field(default_factory=list)
    """per-member optim.lr, one per member (empty: every member uses optim.lr)"""
    entropy_coef: list[float] = field(default_factory=list)
    """per-member ppo.entropy_coef, one per member (empty: every member uses ppo.entropy_coef)"""
    seeds: list[int] = field(default_factory=list)
    """per-member seeds, one per member (empty: seed, seed + 1, ...)"""
    simulations: list[int] = field(default_factory=list)
    """per-member gumbel_az.simulations, one per member (empty: every member uses
    gumbel_az.simulations)"""
    backend: str = "folded"
    """'folded' (all members as one network of grouped convolutions; one vmapped loss) or 'loop' (a
    Python loop over members, the reference)"""
    round_robin_games: int = 20
    """games between every pair of members at each evaluation, sampled from their policies (0: none)
    """


@dataclass
class DistributedConfig:
    ranks: str = "auto"
    """data-parallel ranks `keisei-fn train` starts on this machine: 'auto' (one per `threads`
    usable CPUs on CPU, as many as the available memory holds at 1.25 GB each; 1 on CUDA or with
    collector workers) or a number (1: one process)"""
    backend: str = "auto"
    """torch.distributed backend under torchrun: 'auto' (nccl on CUDA, gloo on CPU), 'gloo' or
    'nccl'"""
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
class GenericConfig:
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
    """the training algorithm, whose options are the section of its name: 'ppo' (learn from sampled
    moves) or 'gumbel_az' (learn from Gumbel search's improved policy and the outcome;
    docs/training.md)"""
    init_from: str = ""
    """a checkpoint or run directory whose network starts a new run, e.g. Gumbel AlphaZero from a
    PPO network (parameters only: the optimizer, counters and games start fresh; '' = random
    initialisation)"""
    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    league: LeagueConfig = field(default_factory=LeagueConfig)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    collector: CollectorConfig = field(default_factory=CollectorConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
