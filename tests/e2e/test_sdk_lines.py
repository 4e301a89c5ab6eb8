"""The test kit drives every SDK line it knows: each is installed where ``sdklines`` says,
and a CommonJS process under ``.a5c/processes`` runs on it (6.x marks ``.a5c`` as ESM)."""

from __future__ import annotations

from pathlib import Path

import kit
import pytest
from kit import Project
from kit import lines as sdklines

pytestmark = pytest.mark.e2e

E2E = Path(__file__).resolve().parent


@pytest.mark.parametrize("version", sdklines.ALL_LINES, ids=lambda v: f"sdk{v}")
def test_every_line_runs_a_fanout(version: str, tmp_path: Path) -> None:
    """run:create + run:iterate on each line list the fan-out's shell effects as one group."""
    sdk = kit.find_sdk(version)
    if isinstance(sdk, str):
        pytest.skip(sdk)
    assert sdk.version == sdklines.installed_version(sdk.node_modules) == version
    project = Project(sdk, tmp_path / "project", [E2E / "processes" / "fanout.js"])
    run_dir = project.create("fanout", "lines")
    out = project.iterate(run_dir)
    assert out["status"] == "waiting"
    actions = out["nextActions"]
    assert [a["kind"] for a in actions] == ["shell"] * len(actions)
    assert len(actions) >= 2
    groups = {a["schedulerHints"]["parallelGroupId"] for a in actions}
    assert len(groups) == 1
    meta = (run_dir / "run.json").read_text(encoding="utf-8")
    assert ('"sdkVersion"' in meta) == sdk.is6
