"""End-to-end tests: the real babysitter SDK through Node, on every main SDK line.

Each test runs once on 0.0.187 (``<repo>/node_modules``; ``npm ci`` runs once, under a file
lock, when it is missing) and once on 6.0.3 (``.sdks/6.0.3``, see ``kit.lines``).
Every test module here sets ``pytestmark = pytest.mark.e2e``; tests are skipped, with the
reason, only when Node or npm (or, for 6.0.3, ``../shared/sdk/6.0.3``) is absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import kit
from kit import Project, Sdk

E2E = Path(__file__).resolve().parent
PROCESSES = sorted((E2E / "processes").glob("*.js"))


@pytest.fixture(scope="session", params=kit.MAIN_LINES, ids=lambda v: f"sdk{v}")
def sdk(request: pytest.FixtureRequest) -> Sdk:
    """Each SDK line in turn (0.0.187, 6.0.3); a line that is not installed is skipped."""
    found = kit.find_sdk(str(request.param))
    if isinstance(found, str):
        pytest.skip(found)
    return found


@pytest.fixture
def project(sdk: Sdk, tmp_path: Path) -> Project:
    """A fresh project root with the e2e processes in ``.a5c/processes``."""
    return Project(sdk, tmp_path / "project", PROCESSES)
