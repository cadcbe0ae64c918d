"""The run's metrics as a file another process can read while it trains: `RUN_DIR/metrics.jsonl`,
one JSON record a line, appended by rank 0 (whether or not Aim is on; Aim's live repository
cannot be read from another process without reindexing it).

Records:
- `{"kind": "iteration", "iteration", "train_seconds", "frames", "games", "member", ...}`: one per
  member per iteration, its learning metrics (KL, clip fraction, entropy, losses...) and game
  statistics under the names Aim charts them by (`session.namespaced`);
- `{"kind": "eval", "iteration", "train_seconds", "results": [...], "final"}`: an evaluation's
  results (`EvalResult.as_dict`: W/D/L per opponent, value quality, the ladder estimate).

Resume-safe: a resumed run first drops the records past the checkpoint it resumes from (the
iterations it will play again), so the file never holds an iteration twice. A reader should
expect the last line to be partial while a write is under way.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

NAME = "metrics.jsonl"


def metrics_path(run_dir) -> Path:
    return Path(run_dir) / NAME


def _plain(value):
    """JSON for a metric: floats as floats (NaN and infinities as null), tensors as numbers."""
    if hasattr(value, "item") and getattr(value, "numel", lambda: 2)() == 1:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def start(run_dir, iteration: int) -> Path:
    """The run's metrics file, ready to append to from `iteration` on: records of later
    iterations (written after the checkpoint a resume starts from) are dropped, atomically."""
    path = metrics_path(run_dir)
    if not path.is_file():
        return path
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a write cut short by a kill
            continue
        if record.get("iteration", 0) <= iteration:
            kept.append(line)
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    os.replace(tmp, path)
    return path


def append(run_dir, record: dict) -> None:
    """Add one record (a line) to the run's metrics file (the run directory made if need be)."""
    path = metrics_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(_plain(record)) + "\n")


def read(run_dir) -> list[dict]:
    """Every complete record of the run's metrics file (none if it does not exist yet)."""
    path = metrics_path(run_dir)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # the line being written
    return records
