"""A run's last network as one small file to keep in the repository (the checkpoint without the
optimizer's state, the replay buffer or the generators): what a later session, on any machine,
places on the ladder (`keisei-fn ladder FILE`) once the run directory is gone.

    .venv/bin/python experiments/keep_network.py RUN_DIR OUT.pt
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from keisei_fn.agent import load_agent
from keisei_fn.checkpoint import list_checkpoints, read_checkpoint, save_checkpoint


def slim_copy(payload: dict, out: Path) -> dict:
    """`payload`'s network (format, config, model, parameters, counters) written to `out`;
    returns what was written."""
    slim = {k: payload[k] for k in ("format", "config", "model", "params", "counters")}
    with tempfile.TemporaryDirectory() as tmp:
        written = save_checkpoint(slim, tmp, payload["counters"]["iteration"], keep=1)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(written, out)
    load_agent(out)  # it must load as every command will load it
    return slim


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        raise SystemExit(__doc__.strip().splitlines()[-1].strip())
    run_dir, out = Path(argv[0]), Path(argv[1])
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise SystemExit(f"no checkpoint in {run_dir}")
    slim_copy(read_checkpoint(checkpoints[-1]), out)
    print(f"{checkpoints[-1]} -> {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
