"""What a run directory holds, read without torch: its saved config, and whether it holds a run.

`keisei-fn train`'s launcher needs only these before it starts the ranks, and a launcher that
imported torch and the trainer would spend seconds and memory on a process that trains nothing.
"""

from __future__ import annotations

from pathlib import Path

from . import from_yaml, load_config


def resume_config(run_dir: str | Path, overrides=()):
    """The config saved in a run directory, with `overrides` (e.g. a longer budget) applied.

    The run continues where it is now: `run_dir` wins over the directory recorded in the saved
    config (the run may have been moved or copied). The network it trains stays the one it
    began: an override that changes a `model.*` key is refused (`model.attack_planes=true`
    would feed planes to a network that learned with zeros there, and nothing else would say).
    """
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ValueError(f"{run_dir} is not a run directory (no config.yaml)")
    saved = from_yaml(path.read_text())
    saved.run_dir = str(run_dir)  # set as a value, not parsed from a dotlist (paths may hold ':')
    cfg = load_config(None, list(overrides), base=saved)
    changed = [f"model.{k}" for k in saved.model if cfg.model[k] != saved.model[k]]
    if changed:
        raise ValueError(f"{run_dir}: a resumed run keeps its network; {', '.join(changed)} "
                         f"cannot change (start a new run for another network)")
    return cfg


def check_new_run_dir(run_dir) -> None:
    """A new run must not write over another: ValueError if `run_dir` holds checkpoints."""
    if any(Path(run_dir).glob("ckpt_*.pt")):
        raise ValueError(f"{run_dir} already holds a run; use --resume {run_dir} or another "
                         f"run_dir=...")
