"""Shared pytest set-up for the engine test-suite.

Makes the repository root and this directory importable (so the suite runs from a plain checkout
as well as from an editable install), and configures Hypothesis for deterministic runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

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
