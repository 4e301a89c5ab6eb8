"""End-to-end tests: the real babysitter SDK (pinned in package.json) through Node.

The SDK comes from ``<repo>/node_modules`` (``npm ci`` runs once, under a file lock, when
it is missing). Every test module here sets ``pytestmark = pytest.mark.e2e``; tests are
skipped, with the reason, only when Node or npm is absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rundirs
from rundirs import Project, Sdk

E2E = Path(__file__).resolve().parent
PROCESSES = sorted((E2E / "processes").glob("*.js"))


@pytest.fixture(scope="session")
def sdk() -> Sdk:
    """The pinned SDK CLI; skips the test when Node or npm is missing."""
    found = rundirs.find_sdk()
    if isinstance(found, str):
        pytest.skip(found)
    return found


@pytest.fixture
def project(sdk: Sdk, tmp_path: Path) -> Project:
    """A fresh project root with the e2e processes in ``.a5c/processes``."""
    return Project(sdk, tmp_path / "project", PROCESSES)
