"""babysit-plugin demo: the bundled run is dispatched, verified and timed, without Node."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kit
import pytest

from babysit_plugin.cli import main
from babysit_plugin.dropin.demo import stage_demo
from protocol.journal import open_run
from protocol.pending import pending_actions


def test_bundled_run_waits_on_one_group_of_six_shells(tmp_path: Path) -> None:
    """The packaged demo run has six pending shell effects sharing one parallelGroupId."""
    run_dir = stage_demo(tmp_path)
    actions = pending_actions(open_run(run_dir))
    assert [a.kind for a in actions] == ["shell"] * 6
    groups = {a.scheduler_hints.parallel_group_id for a in actions if a.scheduler_hints}
    assert len(groups) == 1
    assert None not in groups
    assert (tmp_path / ".a5c" / "processes" / "demo.js").is_file()


def test_demo_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """--json: six ok effects, a verified run, all six running at one instant."""
    assert main(["demo", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["effects"] == 6
    assert summary["ok"] == 6
    assert summary["passed"] is True
    assert summary["problems"] == []
    assert summary["sequentialMs"] >= 6000
    assert summary["sideBySide"] is True
    assert summary["wallMs"] > 0
    assert not Path(summary["project"]).exists()


def test_demo_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    """The text report: the run, one line per effect, the verdict and the timing line."""
    assert main(["demo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("demo run: ")
    assert lines[1] == (
        "  6 pending shell effects of one ctx.parallel.all group, each `sleep 1; echo chunk N done`"
    )
    assert [line.split()[0] for line in lines[2:8]] == ["ok"] * 6
    assert lines[8] == "6 of 6 effects posted ok; the run verifies (journal, results, values)."
    assert re.fullmatch(
        r"wall time \d+\.\d\d s; one after another they take \d+\.\d\d s \(the sum of their "
        r"durations\) — \d+\.\dx faster",
        lines[9],
    )


def test_demo_dir_is_kept_and_not_reused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dir keeps the dispatched run; a second demo into it is refused with the fix."""
    assert main(["demo", "--dir", str(tmp_path)]) == 0
    run_dir = tmp_path / ".a5c" / "runs" / "demo"
    assert capsys.readouterr().out.splitlines()[-1] == f"the run is kept in {run_dir}"
    results = sorted(run_dir.glob("tasks/*/result.json"))
    assert len(results) == 6
    before = kit.snapshot(tmp_path)
    assert main(["demo", "--dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"babysit-plugin: error: {run_dir}: expected no run there, found one — pick an empty "
        "--dir\n"
    )
    assert kit.snapshot(tmp_path) == before


def test_demo_needs_no_node(tmp_path: Path) -> None:
    """With only sh and sleep on PATH (no node, no agent CLI) the demo passes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "sleep"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "PYTHONPATH": os.pathsep.join(
            [str(kit.REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "babysit_plugin", "demo", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["passed"] is True
