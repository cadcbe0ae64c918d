"""Shared pytest set-up for the engine test-suite.

Makes the repository root and this directory importable (so the suite runs from a plain checkout
as well as from an editable install), keeps test Ray instances on loopback, and configures
Hypothesis for deterministic runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Ray (tests/test_ray_collector.py) binds a local instance to the machine's network address unless
# told that clusters are off; the tests keep all of its traffic on 127.0.0.1. Set before anything
# imports Ray (torchrl does, at import).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

_TESTS = Path(__file__).resolve().parent
_ROOT = _TESTS.parent
for p in (str(_ROOT), str(_TESTS)):
    if p not in sys.path:
        sys.path.insert(0, p)

try:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "keisei",
        derandomize=True,  # same examples every run: the suite is deterministic
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile("keisei")
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass


import pytest  # noqa: E402 - after the sys.path set-up above


@pytest.fixture
def tiny_config(tmp_path):
    """`tiny_config(*overrides)`: the tiny training config (tests/_tiny.py) in a fresh run dir."""
    from _tiny import tiny

    return lambda *extra: tiny(tmp_path / "run", *extra)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny trained checkpoint (same settings as tests/test_train.py's TINY)."""
    from _tiny import tiny

    from keisei_fn.run.train import train

    run_dir = tmp_path_factory.mktemp("arena") / "run"
    train(tiny(run_dir, "total_updates=1"), log=lambda *a: None)
    return run_dir
