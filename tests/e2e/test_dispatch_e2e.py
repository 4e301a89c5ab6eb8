"""`babysit-plugin dispatch` driving real SDK runs to completion, and its fan-out speed."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from kit import Project

from protocol.verify import verify_run

pytestmark = pytest.mark.e2e

FAKE_HARNESS = Path(__file__).resolve().parents[1] / "plugin" / "fakes" / "fake_harness.py"


def _fake_pi(project: Project) -> Path:
    """A fake `pi` on the project's PATH; returns the directory it records into."""
    bin_dir = project.root / "fakebin"
    log = project.root / "fakelog"
    bin_dir.mkdir()
    log.mkdir()
    exe = bin_dir / "pi"
    exe.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE_HARNESS} pi "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    project.env["PATH"] = f"{bin_dir}{os.pathsep}{project.env.get('PATH', os.defpath)}"
    project.env["FAKE_HARNESS_LOG"] = str(log)
    return log


def _drive(project: Project, run_dir: Path, *dispatch_args: str) -> list[dict[str, Any]]:
    """Alternate run:iterate and dispatch until the run completes; return each dispatch's JSON."""
    reports = []
    for _ in range(10):
        status = project.iterate(run_dir)["status"]
        if status == "completed":
            return reports
        assert status in ("executed", "waiting"), status
        proc = project.plugin("dispatch", str(run_dir), "--json", *dispatch_args)
        reports.append(json.loads(proc.stdout))
    raise AssertionError("the run did not complete in 10 iterations")


def test_fanout_run_completes_with_the_values_each_effect_produced(project: Project) -> None:
    """Shells and agents of parallel groups run concurrently; the process gets their values."""
    log = _fake_pi(project)
    run_dir = project.create("fanout", "fanout-1", inputs={"items": ["a", "b", "c", "d"]})
    reports = _drive(project, run_dir, "--harness", "pi")
    assert project.output(run_dir) == {
        "shells": ["shell 1\n", "shell 2\n", "shell 3\n"],
        "reviews": [
            {"item": "a", "score": 0},
            {"item": "b", "score": 10},
            {"item": "c", "score": 20},
            {"item": "d", "score": 30},
        ],
        "total": "4 reviews",
    }
    assert [r["counts"]["posted"] for r in reports] == [3, 4, 1]
    assert [len(r["waves"]) for r in reports] == [1, 1, 1]
    records = [json.loads(p.read_text()) for p in log.glob("*.json")]
    assert len(records) == 4
    assert max(r["start"] for r in records) < min(r["end"] for r in records)
    assert verify_run(run_dir).ok
    shell_logs = sorted((run_dir / "tasks").glob("*/stderr.log"))
    notes = sorted(text for p in shell_logs if (text := p.read_text()))
    assert notes == ["note 1\n", "note 2\n", "note 3\n"]


def test_sixteen_one_second_effects_run_side_by_side(project: Project) -> None:
    """A group of 16 one-second effects runs side by side: every run overlaps every other.

    The wall time is measured by ``bench/run.py``; here the effects' own recorded start and
    finish times show that no effect waited for another.
    """
    run_dir = project.create("sleep16", "sleep16-1")
    first = project.iterate(run_dir)
    assert len(first["nextActions"]) == 16
    proc = project.plugin("dispatch", str(run_dir), "--json")
    report = json.loads(proc.stdout)
    assert report["counts"]["ok"] == 16
    durations = [e["durationMs"] for e in report["effects"]]
    starts = [e["startedAt"] for e in report["effects"]]
    ends = [e["finishedAt"] for e in report["effects"]]
    assert max(starts) < min(ends)
    assert min(durations) >= 1000
    assert project.iterate(run_dir)["status"] == "completed"
    assert project.output(run_dir) == {"naps": [f"{n}\n" for n in range(16)]}
