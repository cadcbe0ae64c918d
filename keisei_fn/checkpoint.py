"""Checkpoints written atomically and verified; loaded with `weights_only=True` only.

File layout: one header line `KEISEI-CKPT 1 <sha256 of the payload>\n`, then a `torch.save`
payload of plain containers (dicts, lists, tensors, numbers, strings). Writing goes to a temporary
file in the same directory, is fsynced, read back and verified, then renamed over the final name
(atomic on POSIX) and the directory is fsynced. A crash at any moment leaves either the old set of
checkpoints or the new one, never a half-written file under a checkpoint name.
"""

from __future__ import annotations

from ._errors import first_line
import hashlib
import io
import os
import re
from pathlib import Path

import torch

MAGIC = b"KEISEI-CKPT"
VERSION = 1
_NAME = re.compile(r"^ckpt_(\d{8})\.pt$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (corrupt, truncated, wrong version or shape)."""


def checkpoint_name(iteration: int) -> str:
    return f"ckpt_{iteration:08d}.pt"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(payload: dict, directory: str | Path, iteration: int, keep: int = 3) -> Path:
    """Write `payload` as checkpoint `iteration` in `directory`; keep the `keep` newest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    digest = hashlib.sha256(body).hexdigest()
    final = directory / checkpoint_name(iteration)
    tmp = directory / f".{final.name}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + f" {VERSION} {digest}\n".encode())
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        read_checkpoint(tmp)  # verify what is on disk before it takes the final name
        os.replace(tmp, final)
        _fsync_dir(directory)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    for old in list_checkpoints(directory)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return final


def read_checkpoint(path: str | Path) -> dict:
    """Load and verify one checkpoint file; CheckpointError naming the file and the problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read ({err.strerror})") from None
    header, sep, body = data.partition(b"\n")
    parts = header.split(b" ")
    if not sep or len(parts) != 3 or parts[0] != MAGIC:
        raise CheckpointError(f"{path}: not a keisei_fn checkpoint (bad header)")
    if parts[1] != str(VERSION).encode():
        raise CheckpointError(
            f"{path}: checkpoint format version {parts[1].decode(errors='replace')}"
            f" is not supported (this build reads version {VERSION})"
        )
    if hashlib.sha256(body).hexdigest().encode() != parts[2]:
        raise CheckpointError(f"{path}: checksum mismatch (truncated or corrupted file)")
    try:
        payload = torch.load(io.BytesIO(body), weights_only=True, map_location="cpu")
    except Exception as err:  # the checksum matched, so this is a foreign or unsafe payload
        raise CheckpointError(f"{path}: payload cannot be loaded safely "
                              f"({first_line(err)})") from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: payload is not a checkpoint dictionary")
    return payload


def remove_stale_temporaries(directory: str | Path) -> int:
    """Delete temporary files left by a writer that was killed mid-checkpoint (one writer per
    run)."""
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    stale = list(directory.glob(".ckpt_*.pt.tmp-*"))
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoint files in `directory`, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if _NAME.match(p.name))


def load_latest(directory: str | Path, log=print) -> tuple[Path, dict]:
    """The newest checkpoint that verifies; each bad one is reported by name and skipped."""
    found = list_checkpoints(directory)
    if not found:
        raise CheckpointError(f"no checkpoint in {directory}")
    for path in reversed(found):
        try:
            return path, read_checkpoint(path)
        except CheckpointError as err:
            log(f"warning: {err}; trying the previous checkpoint")
    raise CheckpointError(
        f"no usable checkpoint in {directory} (all {len(found)} failed to verify)"
    )


def check_param_shapes(expected, params, source: str) -> None:
    """CheckpointError naming the first parameter whose shape differs from the model's."""
    for key, value in expected.items(True, True):
        got = params.get(key, None)
        if got is None or got.shape != value.shape:
            name = ".".join(key) if isinstance(key, tuple) else key
            raise CheckpointError(
                f"{source}: parameter {name} has shape {None if got is None else tuple(got.shape)},"
                f" the model config wants {tuple(value.shape)}")


CHECKPOINT_FORMAT = {"action_labels": 2187, "observation_planes": 46}
