"""A ``drive`` killed with SIGKILL at seeded points is resumed by running it again."""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path

import pytest
from kit import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: Where the first drive dies: after an iteration, with an effect's child running, with
#: an outcome saved but not posted, with a result appended under the lock (three of the
#: group's effects in flight for the middle two). drive:iterate and the other points of
#: dispatch pass the same way; kept out to hold CI time down.
POINTS = [
    "drive:iterated:2",
    "child:spawned:3",
    "outcome:saved:4",
    "post:appended:2",
]


@pytest.mark.parametrize("point", POINTS)
def test_killed_drive_resumes_with_each_effect_posted_once(
    project: Project, tmp_path: Path, point: str
) -> None:
    """SIGKILL at the point, then drive again: it reaches the breakpoint; a step whose
    outcome was saved is posted, not run again (only a step killed before its outcome was
    saved runs twice); no run.lock is left; verify is clean (each effect posted once)."""
    log = tmp_path / "steps.log"
    run_dir = project.create("drive", "kill-run", {"log": str(log)})
    project.env["BABYSIT_PLUGIN_FAULT"] = point
    killed = project.plugin("drive", str(run_dir), "--json", check=False)
    del project.env["BABYSIT_PLUGIN_FAULT"]
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    again = project.plugin("drive", str(run_dir), "--json", check=False)
    assert again.returncode == 5, again.stdout + again.stderr
    report = json.loads(again.stdout)
    assert [w["kind"] for w in report["waitingOn"]] == ["breakpoint"]
    counts = Counter(log.read_text(encoding="utf-8").split())
    assert set(counts) == {"a", "b-after-a", "g1", "g2", "g3"}
    assert max(counts.values()) <= 2, counts
    for effect in report["effects"]:
        if effect.get("recovered"):
            task = json.loads((run_dir / "tasks" / effect["effectId"] / "task.json").read_text())
            assert counts[task["title"].removeprefix("sh ")] == 1, (effect, counts)
    if point.startswith(("post:appended", "drive:")):
        # Killed with no child between its end and its saved outcome: nothing ran twice.
        assert set(counts.values()) == {1}, counts
    assert not (run_dir / "run.lock").exists()
    verify = project.plugin("verify", str(run_dir), check=False)
    assert verify.returncode == 0, verify.stdout
