"""Plugin test fixtures; the run builder and fake harness helpers are in ``runbuilder.py``.

``make_run`` (there) writes a run the way the SDK lays it out (run.json, RUN_CREATED,
one ``EFFECT_REQUESTED`` + ``tasks/<id>/task.json`` per effect) with the protocol's own
journal appender; ``fakes`` (here) puts executables named like every harness CLI on a
temporary PATH, each recording what it was given (``fakes/fake_harness.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kit import Fakes, install_fakes


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    """Fake harness CLIs first on PATH; FAKE_HARNESS_LOG collects their records."""
    return install_fakes(tmp_path, monkeypatch)
