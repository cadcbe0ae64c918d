"""Which collector gathers the self-play games (`collector.backend`): a backend object with one
interface (`reset`, `next_rollout`, `sync_weights`, `dead_workers`, `restart`, `shutdown`).

- "direct": the whole [B] env batch stepped in the training process by `rollout.rollout`, the
  games in progress passed in and returned (the train state holds them, and checkpoints them,
  so resume is exact); each step is stored compactly as it is played.
- "process": TorchRL's `Collector(backend="process", num_collectors=W, sync=True)`
  (a MultiSyncCollector): W worker processes, each stepping its own B/W games with a copy of the
  policy; their weights are synced after every update. The rollout comes back [W, B/W, T] and is
  flattened to [B, T] worker-major, so every row is still one game stream with its own time axis
  and GAE never runs across workers (tests/test_collectors.py compares it with the same rows
  computed one worker at a time).
- "ray": TorchRL's `RayCollector`, one Ray actor per worker, same row layout and weight sync
  (ray_backend.py).

Randomness in the workers: each worker's env factory seeds that worker's global torch RNG with
`seed + 1000 * (worker + 1)` (plus an offset per restart of the workers) before building its env,
and the policy samples from the global RNG
there, so runs are reproducible and the workers' games differ. The workers' games in progress
and RNG states stay in the workers: a resumed process- or ray-backend run starts new games (its
parameters, optimizer and counters resume exactly). Their rollouts arrive as the TorchRL
collectors stack them (every key the env emits) and are stored compactly on arrival.
"""

from __future__ import annotations

import threading
import time
from functools import partial

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.collectors import BaseCollector, Collector

from ..config import rollout_steps
from ..env import ShogiEnv
from .errors import CollectorWorkerDied
from .rollout import CARRIED_KEYS, rollout, stored_step

BACKENDS = ("direct", "process", "ray")


def _worker_env(batch_size: int, device: str, max_plies: int, impasse: bool, attacks: bool,
                seed: int):
    """Runs inside a worker process: seed its global RNG (the policy's sampler there), then
    build its share of the games."""
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    return ShogiEnv(batch_size, device=torch.device(device), max_plies=max_plies, impasse=impasse,
                    attacks=attacks)


class DirectBackend:
    """collector.backend=direct: the env in this process; the games in progress are the train
    state's (passed in and returned), so they are checkpointed and resume exactly."""

    name = "direct"
    in_process = True
    """the policy acts here, sampling with the train state's generators"""

    def __init__(self, env: ShogiEnv):
        self.env = env

    def reset(self) -> TensorDictBase:
        """Every game at its start."""
        return self.env.reset().select(*CARRIED_KEYS)

    def next_rollout(self, policy, games: TensorDictBase, steps: int):
        games, trajectory = rollout(self.env, policy, games, steps)
        return games, trajectory, games

    def sync_weights(self, policy, timeout: float = 300.0) -> None:
        """Nothing to push: the policy acts with the state's tensors by reference."""

    def dead_workers(self) -> list[str]:
        return []

    def restart(self, cfg, policy, device, generation: int) -> "DirectBackend":
        return self

    def shutdown(self) -> None:
        """Nothing runs outside this process."""


class WorkerBackend:
    """collector.backend=process (TorchRL's multi-process collector) or ray (its RayCollector):
    workers that keep their own games and streams, fed the policy's weights after every update.
    `collector` is the TorchRL collector (its stream of rollouts is started on first use)."""

    in_process = False
    """the workers' policy copies sample from the workers' own streams"""

    def __init__(self, name: str, collector: BaseCollector, attacks: bool = False):
        self.name, self.collector, self.attacks = name, collector, attacks
        self._stream = None

    def reset(self) -> None:
        """None: the workers start their own games."""
        return None

    def next_rollout(self, policy, games: None, steps: int):
        """(None: the games stay in the workers, the stored rollout [B, T], the states [B] after
        its last step, before any auto-reset of a finished game; a finished game's value is
        masked by `done`)."""
        if self._stream is None:
            self._stream = iter(self.collector)
        raw = as_rows(next(self._stream))
        return None, stored_step(raw, self.attacks), raw[..., -1].get("next").select(*CARRIED_KEYS)

    def sync_weights(self, policy, timeout: float = 300.0) -> None:
        """Push the policy's weights to the workers.

        TorchRL waits for every worker's acknowledgement without a timeout, so a worker process
        that died would hang the run here (the next rollout does notice a dead worker). The push
        runs in a helper thread while this one watches the workers: a death raises
        CollectorWorkerDied. A dead Ray actor fails the push itself, named."""
        if self.name == "ray":
            from .ray_backend import raise_if_dead

            try:
                self.collector.update_policy_weights_(TensorDict.from_module(policy))
            except Exception as err:
                raise_if_dead(self.collector, err)
                raise
            return
        self._raise_if_dead()
        finished, failure = threading.Event(), []

        def push():
            try:
                self.collector.update_policy_weights_(TensorDict.from_module(policy))
            except BaseException as err:  # handed to the watching thread
                failure.append(err)
            finally:
                finished.set()

        threading.Thread(target=push, name="keisei-weight-sync", daemon=True).start()
        start = time.monotonic()
        while not finished.wait(0.2):
            self._raise_if_dead()
            if time.monotonic() - start > timeout:
                raise CollectorWorkerDied(f"collector workers did not acknowledge new weights "
                                          f"within {timeout:.0f} s")
        if failure:
            raise failure[0]

    def _raise_if_dead(self) -> None:
        dead = self.dead_workers()
        if dead:
            raise CollectorWorkerDied(f"collector worker(s) died: {', '.join(dead)}")

    def dead_workers(self) -> list[str]:
        """'worker N (pid P, exit code C)' for every worker process that is no longer alive
        (ray: every actor Ray reports dead)."""
        if self.name == "ray":
            from .ray_backend import dead_actors

            return dead_actors(self.collector)
        dead = []
        for i, proc in enumerate(getattr(self.collector, "procs", [])):
            try:
                if not proc.is_alive():
                    dead.append(f"worker {i} (pid {proc.pid}, exit code {proc.exitcode})")
            except ValueError:  # TorchRL already shut the collector down after seeing a failure
                dead.append(f"worker {i} (stopped)")
        return dead

    def restart(self, cfg, policy, device, generation: int) -> "WorkerBackend":
        """New workers in place of these, which lost one (the survivors are shut down; TorchRL
        may already have done so when it noticed the death)."""
        if self.name == "ray":
            from .ray_backend import restart

            return restart(self.collector,
                           lambda: make_collector(cfg, policy, device, generation))
        try:
            self.collector.shutdown()
        except Exception:  # noqa: BLE001 - a half-dead collector may fail to shut down politely
            for proc in getattr(self.collector, "procs", []):
                try:
                    proc.kill()
                except (ValueError, OSError):
                    pass
        return make_collector(cfg, policy, device, generation)

    def shutdown(self) -> None:
        if self.name == "ray":
            from .ray_backend import shutdown

            return shutdown(self.collector)
        self.collector.shutdown()


def make_collector(cfg, policy, device: torch.device, generation: int = 0,
                   games: int | None = None) -> DirectBackend | WorkerBackend:
    """The configured backend over `games` games (default `env.batch_size`; a population plays
    K times that); `generation` counts worker restarts (new workers get new seeds)."""
    games = games or cfg.env.batch_size
    frames = games * rollout_steps(cfg)
    if cfg.collector.backend == "direct":
        return DirectBackend(ShogiEnv(games, device=device, max_plies=cfg.env.max_plies,
                                      impasse=cfg.env.impasse,
                                      attacks=cfg.model.attack_planes))
    workers = cfg.collector.workers
    per_worker = games // workers
    env_fns = [partial(_worker_env, per_worker, str(device), cfg.env.max_plies, cfg.env.impasse,
                       cfg.model.attack_planes,
                       cfg.seed + 1000 * (w + 1) + 1_000_003 * generation)
               for w in range(workers)]
    if cfg.collector.backend == "ray":
        from .ray_backend import make_ray_collector

        return WorkerBackend("ray", make_ray_collector(cfg, policy, env_fns, frames),
                             cfg.model.attack_planes)
    return WorkerBackend("process", Collector(
        env_fns, policy, backend="process", num_collectors=workers, sync=True,
        frames_per_batch=frames, total_frames=-1, trust_policy=True,
        auto_register_policy_transforms=False), cfg.model.attack_planes)


def as_rows(rollout: TensorDictBase) -> TensorDictBase:
    """[W, B/W, T] (process and ray backends) or [B, T] -> [B, T], one game stream per row."""
    return rollout.reshape(-1, rollout.shape[-1]) if rollout.ndim == 3 else rollout
