"""Pieces of the training loop for bench/test_train_bench.py: configs, the trainer's warmed-up
collection, the bare env+policy loop it is compared with, one prepared PPO batch, and a timeout
for compiling.

Everything is built the way keisei_fn/run/train.py builds it (`build(cfg)`, `fresh_state`,
`learn`), so the benchmark measures the training loop's own code paths, not a re-implementation.
"""

from __future__ import annotations

import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from tensordict import TensorDict, TensorDictBase

from keisei_fn.env import ShogiEnv
from keisei_fn.models import net_spec, param_count
from keisei_fn.config import load_config
from keisei_fn.algos.ppo.batch import policy_batch
from keisei_fn.collect.policy import CollectPolicy
from keisei_fn.learn.state import TrainState
from keisei_fn.run.parts import Parts, build
from keisei_fn.run.session import collect_with_restarts
from keisei_fn.run.snapshot import fresh_state

# Model overrides on top of the default config (load_config()).
MODELS = {
    "default": (),  # resnet, 2 blocks x 32 channels
    "9x256": ("model.blocks=9", "model.channels=256"),  # the original Keisei's ResNet
}


@dataclass(frozen=True)
class Sizes:
    batch_size: int
    """env.batch_size: games stepped together"""
    rollout_steps: int
    """ppo.rollout_steps: frames per collector iteration = batch_size x rollout_steps"""
    epochs: int
    """ppo.epochs of the update benchmark (samples/s counts every epoch's samples, as run.py)"""


# (short, long). The default model's long sizes are the default config's own (128 x 32, 2 epochs);
# short mode keeps 128 games (the per-step costs depend on B, not on T) with fewer steps. The 9x256
# net costs ~1.7 GFLOP per position forward (one update on 64 positions: ~5 s on one core), so it
# gets tiny batches and one epoch even in long mode.
SIZES = {
    "default": (Sizes(128, 8, 1), Sizes(128, 32, 2)),
    "9x256": (Sizes(16, 4, 1), Sizes(32, 4, 1)),
}


def sizes(model: str, long: bool) -> Sizes:
    return SIZES[model][1 if long else 0]


def make_config(model: str, size: Sizes, compile: str = "off", precision: str = "fp32"):
    """load_config() with the model, sizes, compile mode and precision (fp32 unless asked: the
    other gates' floors are fp32 ratios, the same on every CPU); no Aim, no progress bar."""
    overrides = [*MODELS[model], f"env.batch_size={size.batch_size}",
                 f"ppo.rollout_steps={size.rollout_steps}", f"ppo.epochs={size.epochs}",
                 "ppo.target_kl=0.0",  # every epoch runs: samples/s counts them all
                 # the fused act function the baselines were measured on, which the bare loop
                 # also runs: self-play's mate search (the default since 2026-12-06) is the
                 # policy's work, not the collector's or the backends' (screen 19 measures it)
                 "ppo.mate_in_one=false",
                 f"optim.compile={compile}", f"optim.precision={precision}", "track.aim=false",
                 "track.progress=false"]
    return load_config(None, overrides)


# ------------------------------------------------------------------------------ bare env+policy
@dataclass
class BareLoop:
    """Policy forward + env.step_and_maybe_reset, B games, no Collector: what a collector step
    costs at the least. `td` is the games' current TensorDict (advanced in place of the attribute).
    """

    env: ShogiEnv
    policy: CollectPolicy
    td: TensorDictBase
    drop: tuple = field(default=())
    """("next", key) mirrors left out of a stored step (what the collector's compact_obs drops)"""

    def run(self, steps: int) -> None:
        td, env, policy = self.td, self.env, self.policy
        for _ in range(steps):
            td = policy(td)
            _, td = env.step_and_maybe_reset(td)
        self.td = td

    def run_stored(self, steps: int) -> TensorDictBase:
        """As `run`, also keeping every step (minus the next-observation mirrors) and stacking
        them to [B, T]: the least a rollout must do on top of stepping."""
        td, env, policy, out = self.td, self.env, self.policy, []
        for _ in range(steps):
            td = policy(td)
            step_td, td = env.step_and_maybe_reset(td)
            out.append(step_td.exclude(*self.drop))
        self.td = td
        return torch.stack(out, dim=-1)


def bare_loop(cfg, params, seed: int) -> BareLoop:
    """A second, independent set of games for the same parameters [1] (the env is stateless: the
    games live in the TensorDict), with its own sampling generator."""
    env = ShogiEnv(cfg.env.batch_size, device=torch.device(cfg.device),
                   max_plies=cfg.env.max_plies, impasse=cfg.env.impasse)
    policy = CollectPolicy(params, [torch.Generator(device=cfg.device).manual_seed(seed)],
                           net_spec(cfg.model))
    drop = tuple(("next", key) for key in env.observation_spec.keys())
    return BareLoop(env, policy, env.reset(), drop)


# ------------------------------------------------------------------------------------- the setup
@dataclass
class TrainSetup:
    """One model's built training pieces, warmed up, shared by the tests of the session."""

    model: str
    size: Sizes
    cfg: object
    parts: Parts
    collect_fn: object
    """run/session.collect_with_restarts's `collect(state) -> (state, rollout, after)`"""
    bare: BareLoop
    batch: TensorDict
    """one rollout's training batch (GAE done, [1, B*T]), as run/train.py hands it to learn"""
    state: TrainState
    params: int

    @property
    def frames(self) -> int:
        return self.size.batch_size * self.size.rollout_steps

    def collect(self) -> tuple[TensorDictBase, TensorDictBase]:
        """One rollout as run/train.py collects it: (stored rollout [B, T], the states after)."""
        state, rollout, after = self.collect_fn(self.state)
        self.state = state
        return rollout, after

    def close(self) -> None:
        self.parts.collector.shutdown()


def prepare_batch(rollout: TensorDictBase, after: TensorDictBase, parts: Parts, cfg
                  ) -> TensorDict:
    """run/train.py's path from a collected rollout to the batch `learn` takes."""
    return policy_batch(rollout, after, parts.policy, cfg)


def new_setup(model: str, long: bool, seed: int = 0) -> TrainSetup:
    size = sizes(model, long)
    cfg = make_config(model, size)
    torch.manual_seed(seed)
    parts = build(cfg)
    state = fresh_state(cfg, parts)
    collect = collect_with_restarts(cfg, parts, checkpoint=None, log=print)
    state, rollout, after = collect(state)  # warm-up iteration, kept as the update's batch
    batch = prepare_batch(rollout, after, parts, cfg)
    bare = bare_loop(cfg, state.params, seed + 1)
    bare.run(cfg.ppo.rollout_steps)  # warm-up, same number of plies as the collector's
    return TrainSetup(model, size, cfg, parts, collect, bare, batch, state,
                      param_count(parts.net))


def copy_state(state: TrainState) -> TrainState:
    """An independent state (params and optimizer state cloned, own shuffle streams), so two
    update steps can run side by side on the same batch without sharing state."""
    return state.replace(params=state.params.clone(), opt_state=state.opt_state.clone(),
                         counters=state.counters,
                         shuffle=tuple(torch.Generator().manual_seed(int(g.initial_seed()))
                                       for g in state.shuffle))


# -------------------------------------------------------------------------------------- timeout
class Timeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    """Raise Timeout in the main thread after `seconds` (SIGALRM; POSIX, main thread only)."""

    def handler(signum, frame):
        raise Timeout(f"still running after {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def timed_both(fn, *args) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of fn(*args). With one torch thread the CPU time is the
    work done, whatever else the machine runs; the wall time is what a user waits."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - w0, time.process_time() - c0
