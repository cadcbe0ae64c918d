"""What a test needs from the machine (tmux, Chromium, Playwright): without it the test skips
on a user's machine and fails in CI (`CI=true`), where .ci/run installs it, so that a missing
tool cannot hide a test there."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(found: bool, what: str) -> None:
    if found:
        return
    if in_ci():
        pytest.fail(f"{what} (.ci/run installs it; under CI=true this test may not skip)")
    pytest.skip(what)
