"""A user's clone has only the repository: nothing in it may read a file outside it.

Two checks: no source file names a path above the repository (the developers' machines have a
side directory next to the repository that clones do not), and the reference-reading tests pass
when run from a copy of the tracked files in a temporary directory with nothing beside it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("keisei_fn", "tests", "bench", "experiments")
# A path that climbs out of the repository, or the developers' side directory by name.
OUTSIDE = re.compile(r"""\.\./shared|["']shared["']|KEISEI_SHARED|parents\[\d+\]\.parent""")


def _tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:  # an exported tree without git: every file under the root
        return [p.relative_to(ROOT) for p in ROOT.rglob("*")
                if p.is_file() and ".venv" not in p.parts and ".git" not in p.parts]
    return [Path(line) for line in out.stdout.splitlines()]


def test_no_source_file_names_a_path_outside_the_repository():
    offenders = []
    for rel in _tracked_files():
        if rel.parts[0] not in CHECKED or rel.suffix not in (".py", ".yaml", ".json", ".toml"):
            continue
        if rel == Path(__file__).relative_to(ROOT):
            continue  # this file spells the patterns out
        for number, line in enumerate((ROOT / rel).read_text().splitlines(), start=1):
            if OUTSIDE.search(line):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    assert not offenders, "reads outside the repository:\n" + "\n".join(offenders)


def test_reference_tests_pass_from_a_copy_with_no_shared_directory(tmp_path):
    copy = tmp_path / "clone" / "main"
    for rel in _tracked_files():
        if (ROOT / rel).is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, copy / rel)
    assert [p.name for p in copy.parent.iterdir()] == ["main"]  # nothing beside the clone
    env = {**os.environ, "PYTHONPATH": str(copy)}  # the copy's package, not the editable install
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
         "tests/test_perft.py",
         "-k", "reference_present or startpos-d2 or uchifuzume or chunking"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-2000:]
