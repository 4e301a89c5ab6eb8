"""Reliability tests: crashes, races, signals, retries, hostile input.

Every test here ends with ``verify``: after the test body, each run directory under the
test's ``tmp_path`` is checked with :func:`protocol.verify.verify_run`, and must have no
error-severity finding beyond those a test recorded *before* acting (a deliberately
broken input keeps its own breakage, and nothing is added to it).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[0] / "plugin"))
sys.path.insert(0, str(HERE.parents[0]))

from kit import MAIN_LINES, Baselines, Project, find_runs, find_sdk, verify_errors  # noqa: E402


@pytest.fixture(autouse=True)
def verified_runs(tmp_path: Path) -> Iterator[Baselines]:
    """After the test, every run under tmp_path verifies (beyond its recorded baseline)."""
    baselines = Baselines()
    yield baselines
    for run_dir in find_runs(tmp_path):
        found = [f"{p.path}: {p.message}" for p in verify_errors(run_dir)]
        allowed = baselines.errors.get(run_dir.resolve(), [])
        extra = [f for f in found if f not in allowed]
        assert extra == [], f"verify found new errors in {run_dir}"


@pytest.fixture(params=MAIN_LINES, ids=lambda v: f"sdk{v}")
def sdk(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    """A throw-away project on each SDK line in turn; a line not installed is skipped."""
    found = find_sdk(str(request.param))
    if isinstance(found, str):
        pytest.skip(found)
    return Project(found, tmp_path / "project")
