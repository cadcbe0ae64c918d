"""Experiment tracking on Aim: open a run, track metrics, close it, read it back.

Plain functions over `aim.Run` rather than a manager class: the trainer owns the run object and its
lifetime, and the run hash lives in the checkpoint, so there is no state here worth hiding.

Written against aim 3.29.1, whose storage has traps that this module works around:

* Readers look only at the repo-wide meta *index* (`.aim/meta/index`), never at the per-run
  RocksDB chunks that a writing `Run` fills. The index is normally kept up to date by the indexer
  thread of `aim up`; without it, `Repo.get_run(hash)` returns None and
  `Run(hash, read_only=True)["hparams"]` raises KeyError in any other process, however cleanly
  the writer closed. `close_run` and the readers below therefore index the run themselves, the same
  way `aim storage reindex` does.
* `Run.close()` leaves the run's RocksDB handles open as long as the `Run` object is referenced.
  RocksDB allows one writer per database, so a second process could not reopen the run to
  continue it. `close_run` closes those handles.
* A read-only RocksDB handle is a snapshot taken when it is opened, and `Repo.from_path` keeps
  handles in a per-process cache, so a reader in a long-lived process could keep seeing old data.
  The readers use a private, short-lived `Repo` instead.

Metric keys returned by `read_metrics` are built by `metric_key`: the bare name for an empty
context, else `name|{json context, sorted keys}`, e.g. `losses/policy|{"phase":"train"}`.
"""

from __future__ import annotations

import contextlib
import json
import math
import operator
import os
import time
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import aim
import aimrocks.errors
from aim.sdk.errors import MissingRunError
from aim.sdk.utils import clean_repo_path

from .._private import aim_index_run

__all__ = ["open_run", "track_metrics", "track_text", "track_images", "track_figure",
           "track_distribution", "close_run", "read_metrics", "read_sequences", "read_hparams",
           "metric_key"]

_OWNER_PID = "_keisei_owner_pid"
_INDEX_WAIT_S = 10.0  # `aim up` holds the index only while indexing one run; this is ample


def open_run(repo: str, experiment: str, hparams: dict, run_hash: str | None = None) -> aim.Run:
    """Start a run in the Aim repo at `repo` (created if missing), or continue run `run_hash`.

    The repository lives in `repo/.aim`. A new run is filed under `experiment` and gets `hparams`
    stored as `run["hparams"]`. A continued run (resume from a checkpoint that recorded
    `run.hash`) keeps its experiment and the hparams it was started with; `experiment` and
    `hparams` are then ignored. Tracking a step again overwrites that step, so steps logged after
    the checkpoint by the interrupted process are replaced rather than duplicated.
    Raises `aim.sdk.errors.MissingRunError` if `run_hash` is not in the repo.

    Call this only in the main process, and use the run only there. A forked child must not
    touch the run: it shares the parent's RocksDB handles, so its writes corrupt or lose data,
    and aim's cleanup waits forever for a status-reporter thread that does not exist in the
    child. The same wait hangs any forked child that exits through normal interpreter shutdown
    (atexit) while a run is open. `multiprocessing` children are fine because they leave with
    `os._exit`; so is anything started with "spawn" or "forkserver". `track_metrics` and
    `close_run` raise RuntimeError when called from a process other than the one that opened
    the run.
    """
    repo = os.fspath(repo)
    # init=True on an existing repo would open the shared meta index for writing, which fails
    # while `aim up` is indexing; only a missing repo needs it.
    aim_repo = aim.Repo.from_path(repo, init=not aim.Repo.exists(repo))
    run = aim.Run(
        run_hash,
        repo=aim_repo,
        experiment=None if run_hash else experiment,
        # No resource-sampling thread, and no wrapping of stdout/stderr: that would record the
        # rich progress bar as terminal logs.
        system_tracking_interval=None,
        capture_terminal_logs=False,
    )
    if run_hash is None:
        run["hparams"] = hparams
    setattr(run, _OWNER_PID, os.getpid())
    return run


def track_metrics(
    run: aim.Run, metrics: Mapping[str, Any], step: int, context: dict | None = None
) -> list[str]:
    """Record each value in `metrics` at `step` (names such as "losses/policy", "games/end_mate").

    Values may be Python numbers, numpy scalars or 0-dim tensors; all are stored as floats, so a
    counter logged as an int and later as a float stays one sequence. A CUDA tensor costs a
    device sync. NaN and +/-inf values are skipped rather than written (they break charts and
    min/max summaries); their names are returned so the caller can report them.
    `context` (e.g. {"phase": "eval"}) separates sequences that share a name.
    """
    _check_owner(run)
    step = operator.index(step)  # a float step is a bug; numpy ints and int tensors are fine
    finite: dict[str, float] = {}
    skipped: list[str] = []
    for name, value in metrics.items():
        value = float(value)
        if math.isfinite(value):
            finite[name] = value
        else:
            skipped.append(name)
    if finite:
        run.track(finite, step=step, context=context or {})
    return skipped


def track_text(run: aim.Run, name: str, text: str, step: int) -> None:
    """Record a text (e.g. a ratings table) at `step`; Aim's Texts explorer shows each step."""
    _check_owner(run)
    run.track(aim.Text(text), name=name, step=operator.index(step))


def describe_run(run: aim.Run, name: str, tags: list[str]) -> None:
    """The run's name (shown in Aim's Runs explorer instead of its hash) and tags."""
    _check_owner(run)
    run.name = name
    for tag in tags:
        run.add_tag(tag)


def track_images(run: aim.Run, name: str, images: list, step: int,
                 captions: list[str] = ()) -> None:
    """Record PIL images at `step` (Aim's Images explorer shows them as one sequence)."""
    _check_owner(run)
    captions = list(captions) or [""] * len(images)
    run.track([aim.Image(im, caption=c) for im, c in zip(images, captions)], name=name,
              step=operator.index(step))


def track_figure(run: aim.Run, name: str, figure, step: int) -> None:
    """Record a plotly figure at `step` (Aim's Figures explorer)."""
    _check_owner(run)
    run.track(aim.Figure(figure), name=name, step=operator.index(step))


def track_distribution(run: aim.Run, name: str, values, step: int,
                       context: dict | None = None) -> None:
    """Record a histogram of `values` at `step` (Aim's Distributions)."""
    _check_owner(run)
    run.track(aim.Distribution(values), name=name, step=operator.index(step),
              context=context or {})


def close_run(run: aim.Run) -> None:
    """Finish `run` so that other processes can read all of it and reopen it to continue.

    Marks the run finished, releases its lock, closes its storage and indexes it. Safe to call
    twice. If the index stays busy (a concurrent `aim up` indexing), a warning is issued: the data
    is safe on disk and the readers here index it again.
    """
    _check_owner(run)
    repo, run_hash = run.repo, run.hash
    run.close()
    # run.close() leaves these open while `run` is referenced, which locks out a resume elsewhere.
    for config, container in list(repo.container_pool.items()):
        if config.sub == run_hash:
            container.close()
    try:
        with _private_repo(repo.root_path) as private:
            _index_run(private, run_hash)
    except aimrocks.errors.RocksIOError as e:
        warnings.warn(f"Aim run {run_hash} closed but not indexed ({e})", stacklevel=2)


def read_metrics(repo: str, run_hash: str) -> dict[str, list[tuple[int, float]]]:
    """Every metric of run `run_hash`, as `{metric_key(name, context): [(step, value), ...]}`.

    Pairs are sorted by step, one per step. Reads what is on disk now, including a run that is
    still being written or that was never closed (its last few values may be missing then).
    """
    with _private_repo(repo) as private:
        _index_run(private, run_hash)
        run = aim.Run(run_hash, repo=private, read_only=True)
        out = {}
        for name, context, _ in run.iter_metrics_info():
            metric = run.get_metric(name, context)
            if metric is None:  # registered but nothing stored yet
                continue
            steps, (values, *_) = metric.data.items_list()
            out[metric_key(name, context.to_dict())] = [
                (int(s), float(v)) for s, v in zip(steps, values)
            ]
        return dict(sorted(out.items()))


def read_sequences(repo: str, run_hash: str) -> dict[str, list[tuple[str, dict]]]:
    """The non-metric sequences of run `run_hash` by kind ("images", "figures",
    "distributions", "texts"): [(name, context)]."""
    kinds = {"images": "aim.image", "figures": "aim.figure",
             "distributions": "aim.distribution", "texts": "aim.text"}
    with _private_repo(repo) as private:
        _index_run(private, run_hash)
        run = aim.Run(run_hash, repo=private, read_only=True)
        return {kind: sorted(((name, ctx.to_dict()) for name, ctx, _ in
                              run.iter_sequence_info_by_type(dtype)), key=repr)
                for kind, dtype in kinds.items()}


def read_hparams(repo: str, run_hash: str) -> dict:
    """The hparams stored by `open_run` for run `run_hash` ({} if it has none)."""
    with _private_repo(repo) as private:
        _index_run(private, run_hash)
        return aim.Run(run_hash, repo=private, read_only=True).get("hparams", {})


def metric_key(name: str, context: dict | None = None) -> str:
    """Key of a sequence in `read_metrics`: `name`, or `name|{"k":"v"}` for a non-empty context."""
    if not context:
        return name
    return f"{name}|{json.dumps(context, sort_keys=True, separators=(',', ':'))}"


def _check_owner(run: aim.Run) -> None:
    owner = getattr(run, _OWNER_PID, None)
    if owner is not None and owner != os.getpid():
        raise RuntimeError(
            f"Aim run {run.hash} was opened in process {owner}; using it from process "
            f"{os.getpid()} (a fork) would corrupt it. Track from the main process only."
        )


@contextlib.contextmanager
def _private_repo(path: str) -> Iterator[aim.Repo]:
    # Bypasses Repo.from_path's per-process cache, whose read-only handles are stale snapshots.
    repo = aim.Repo(clean_repo_path(os.fspath(path)))
    try:
        yield repo
    finally:
        for container in list(repo.container_pool.values()):
            container.close()


def _index_run(repo: aim.Repo, run_hash: str) -> None:
    """Copy the run's metadata into the repo's meta index, where readers look (see module doc)."""
    # Not repo.list_all_runs(): it is cached for 0.5 s across Repo instances of the same path.
    if not os.path.isdir(os.path.join(repo.path, "meta", "chunks", run_hash)):
        raise MissingRunError(f"no Aim run {run_hash} in {repo.path}")
    deadline = time.monotonic() + _INDEX_WAIT_S
    while True:
        try:
            # The index is a RocksDB with a single writer: `aim up`, or another of these calls.
            aim_index_run(repo, run_hash)
            return
        except aimrocks.errors.RocksIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
