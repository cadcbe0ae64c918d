"""collector.backend=ray: TorchRL's `RayCollector`, one Ray actor per worker.

Each actor runs a plain TorchRL `Collector` over its `env.batch_size / workers` games with a copy
of the policy; `sync=True` stacks the actors' rollouts in worker order, [W, B/W, T], which
`collectors.as_rows` flattens like the process backend's, so GAE never crosses workers. Weights
go out before every collection through TorchRL's `RayWeightSyncScheme` (a gloo process group
between this process and the actors). Worker seeds are the process backend's.

The Ray runtime (`collector.ray.address`):
- "local": a Ray instance started here through TorchRL's runtime lease (torchrl._comm, the
  one RayCollector itself takes), with `workers` CPUs and its temp dir (logs, sockets) in
  RUN_DIR/ray; `collector.shutdown()`, the lease's last release, stops it. If this process is
  already connected to Ray (a notebook, the tests), that instance is used and left running.
- "auto": `ray.init(address="auto")` attaches to the cluster started with `ray start`;
  `collector.shutdown()` kills our actors and the lease's `ray.shutdown()` only disconnects
  this driver: the cluster stays up (tested).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from ray.exceptions import RayActorError
from torchrl.collectors import Collector
from torchrl.collectors.distributed import RayCollector

from .._errors import first_line
from .._private import ray_runtime_lease
from ..config import ConfigError

# Ray puts a unix socket at TEMP/session_<date>_<time>_<usec>_<pid>/sockets/plasma_store, and a
# socket path may hold 107 bytes on Linux: with a 7-digit pid the suffix is 64 bytes.
_SOCKET_SUFFIX = len("/session_2026-11-27_14-53-13_363936_1234567/sockets/plasma_store")
MAX_TEMP_DIR = 107 - _SOCKET_SUFFIX


class _NamingRayCollector(RayCollector):
    """TorchRL's RayCollector, except when collection fails: TorchRL's `__iter__` then shuts the
    collector down, and with it a Ray instance it started, before the caller can see which actor
    died, restart it or checkpoint. Here the collector stays up for the backend's `dead_workers` and
    `restart` (or the run's final shutdown), and a dead actor is reported by name."""

    owned_temp_dir: str | None = None
    """the temp dir of the local Ray instance this run started (None: an instance it joined)"""

    def __iter__(self):
        self._iteration_started = True
        try:
            yield from self.iterator()
        except Exception as err:  # not BaseException: a closing generator passes through
            if isinstance(err, RayActorError):
                raise_if_dead(self, err)
            raise


def raise_if_dead(collector, err: BaseException) -> None:
    """CollectorWorkerDied naming the dead actors, if any, in place of `err`."""
    from .errors import CollectorWorkerDied

    dead = dead_actors(collector)
    if dead:
        raise CollectorWorkerDied(f"collector worker(s) died: {', '.join(dead)}") from err


class _ActorCollector(Collector):
    """TorchRL's Collector as it runs in a Ray actor. Ray prefixes the actor's log lines with the
    actor's repr, and Collector's repr is dozens of lines long."""

    def __repr__(self) -> str:
        return f"keisei-collector-{self.worker_idx}"


def ray_temp_dir(run_dir: str | Path) -> str:
    """RUN_DIR/ray, or a short directory under /tmp (linked from RUN_DIR/ray, with a warning)
    when RUN_DIR/ray is too long a prefix for Ray's unix sockets."""
    wanted = Path(run_dir).absolute() / "ray"
    if len(str(wanted).encode()) <= MAX_TEMP_DIR:
        wanted.mkdir(parents=True, exist_ok=True)
        return str(wanted)
    short = tempfile.mkdtemp(prefix="keisei-ray-", dir="/tmp")
    wanted.parent.mkdir(parents=True, exist_ok=True)
    if wanted.is_symlink():  # left by an earlier session of this run
        wanted.unlink()
    if not wanted.exists():
        wanted.symlink_to(short, target_is_directory=True)
    warnings.warn(f"{wanted} is longer than the {MAX_TEMP_DIR} bytes Ray's unix sockets allow "
                  f"under it: Ray's logs and sockets go to {short} instead (RUN_DIR/ray links "
                  f"there)", stacklevel=2)
    return short


def ray_init_config(cfg) -> dict:
    """ray.init's arguments for `collector.ray.address` (used by TorchRL only when this process
    is not connected to Ray yet)."""
    import ray

    if ray.is_initialized():
        return {}
    common = {"logging_level": "warning"}
    if cfg.collector.ray.ship_code:
        import keisei_fn

        # Workers on every node import this process's own copy of the package (Ray accepts a
        # local directory only at the job level, here, not per actor).
        common["runtime_env"] = {"py_modules": [str(Path(keisei_fn.__file__).parent)]}
    if cfg.collector.ray.address == "auto":
        return {"address": "auto", **common}
    return {"address": "local", "num_cpus": cfg.collector.workers, "num_gpus": 0,
            "include_dashboard": False, "_temp_dir": ray_temp_dir(cfg.run_dir), **common}


# One CPU per actor; no restart by Ray: a dead actor is reported by `dead_actors` and replaced by
# `restart`, with new games and seeds.
ACTOR_OPTIONS = {"num_cpus": 1, "max_restarts": 0}


def make_ray_collector(cfg, policy, env_fns: list, frames_per_batch: int):
    """TorchRL's RayCollector over `env_fns`, one actor each, collecting in lockstep.

    Ray is started or joined through TorchRL's own runtime lease, the one RayCollector takes
    (so `collector.shutdown()`, the last release, stops a Ray instance the lease started). We hold
    a lease of our own while checking the cluster's CPUs: an actor that cannot be placed would
    make RayCollector wait forever.
    """
    config = ray_init_config(cfg)
    try:
        lease = ray_runtime_lease().acquire(config)
    except ConnectionError as err:
        raise ConfigError(f"collector.ray.address=auto: no Ray cluster to attach to "
                          f"({first_line(err, 120)}); start one with `ray start --head` or use "
                          f"collector.ray.address=local") from None
    try:
        _check_cpus(len(env_fns))
        collector = _NamingRayCollector(
            env_fns, policy, collector_class=_ActorCollector, num_collectors=len(env_fns),
            sync=True, frames_per_batch=frames_per_batch,
            # RayCollector reads total_frames=-1 as "collect nothing" (its loop runs while
            # collected < total), not as "no limit" like the other collectors.
            total_frames=sys.maxsize, remote_configs=dict(ACTOR_OPTIONS),
            collector_kwargs={"trust_policy": True, "auto_register_policy_transforms": False})
        collector.owned_temp_dir = config.get("_temp_dir")
        return collector
    finally:
        lease.release()


def shutdown(collector, wait: float = 10.0) -> None:
    """`collector.shutdown()`, then, for a Ray instance this run started, wait until its
    processes have exited. Ray's shutdown stops the raylet and gcs_server but leaves their
    workers to notice and exit on their own: one (an idle `ray::ConnectionInfo`) was seen alive
    after a run had ended, under CI load. Stragglers after `wait` seconds are killed: they
    belong to this run's instance only (found by its temp dir, as the tests find them)."""
    procs = session_processes(collector.owned_temp_dir) if collector.owned_temp_dir else []
    # never this process itself (a run_dir argument may name the temp dir's path)
    procs = [p for p in procs if p.pid != os.getpid()]
    try:
        collector.shutdown()
    finally:
        import psutil

        _, alive = psutil.wait_procs(procs, timeout=wait)
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=wait)


def session_processes(temp_dir: str) -> list:
    """The processes of the Ray instance whose temp dir is `temp_dir` (psutil.Process): those
    naming it on their command line (gcs_server, raylet, its agents) and their descendants (the
    workers, renamed ray::...)."""
    import psutil

    found = {}
    for proc in psutil.process_iter(["cmdline"]):
        if temp_dir in " ".join(proc.info["cmdline"] or []):
            found[proc.pid] = proc
            try:
                found.update({c.pid: c for c in proc.children(recursive=True)})
            except psutil.NoSuchProcess:
                pass
    return list(found.values())


def _check_cpus(actors: int, wait: float = 20.0) -> None:
    """Raise ConfigError unless the cluster has a free CPU per actor (waiting up to `wait` s for
    CPUs that actors being killed still hold)."""
    import ray

    deadline = time.monotonic() + wait
    while (free := ray.available_resources().get("CPU", 0.0)) < actors:
        if time.monotonic() > deadline:
            total = ray.cluster_resources().get("CPU", 0.0)
            raise ConfigError(f"collector.workers={actors}: the Ray cluster has {free:g} free "
                              f"CPUs (of {total:g}) and each collector actor needs one")
        time.sleep(0.2)


def dead_actors(collector, timeout: float = 30.0) -> list[str]:
    """'worker N (...)' for every collector actor that Ray reports dead (one that Ray cannot
    reach yet is asked again; a busy one that does not answer within `timeout` counts as
    alive)."""
    import ray
    from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError

    dead = []
    deadline = time.monotonic() + timeout
    for i, actor in enumerate(collector.remote_collectors):
        while True:
            try:
                ray.get(actor.__ray_ready__.remote(),
                        timeout=max(0.1, deadline - time.monotonic()))
            except ActorUnavailableError:
                if time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
            except GetTimeoutError:
                pass
            except ActorDiedError as err:
                dead.append(f"worker {i} (Ray actor died: {first_line(err, 160)})")
            break
    return dead


def restart(collector, make_new):
    """`make_new()`'s collector in place of one that lost an actor; the old one is shut down
    first (its actors hold the CPUs the new ones need) under a lease of ours, so a local Ray
    instance survives the swap."""
    lease = ray_runtime_lease().acquire()
    try:
        try:
            collector.shutdown()
        except Exception:  # noqa: BLE001 - its weight-sync group has lost a member
            collector.stop_remote_collectors()
        backend = make_new()
        backend.collector.owned_temp_dir = collector.owned_temp_dir  # still this run's instance
        return backend
    finally:
        lease.release()
