"""``babysit-plugin drive`` against the real SDK, on 0.0.187 and 6.0.3."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kit import Project

pytestmark = pytest.mark.e2e

#: A parallel.map of one step per branch, uneven.
MAP = [{"name": "p", "sleeps": [0.4]}, {"name": "q", "sleeps": [0.1]}]
#: Two steps per branch, uneven: what streams on 6.x.
BRANCHES = [
    {"name": "p", "sleeps": [0.6, 0.1]},
    {"name": "q", "sleeps": [0.1, 0.6]},
    {"name": "r", "sleeps": [0.1, 0.1]},
]
#: What SDK 0.0.187 itself gives a process for BRANCHES driven wave by wave, by the
#: iterate + dispatch loop as by drive: its step ids come from one counter in replay
#: order, so once the first steps resolve, the branches' later ctx.task calls take ids
#: a sibling's step held (r.0 is requested again; p and r receive their siblings' values).
BRANCHES_0_0 = [["p.0", "q.0"], ["r.0", "q.1"], ["r.0", "r.1"]]


def drive(project: Project, run_dir: Path, *args: str, code: int) -> dict[str, Any]:
    """``drive RUN --json``, which must exit ``code``; its JSON."""
    proc = project.plugin("drive", str(run_dir), "--json", *args, check=False)
    assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def ran(log: Path) -> Counter[str]:
    """How many times each step ran."""
    return Counter(log.read_text(encoding="utf-8").split())


@pytest.mark.slow
def test_drive_goes_to_the_breakpoint_then_completes(project: Project, tmp_path: Path) -> None:
    """One drive runs the chain and the group and stops at the breakpoint; after the answer
    is posted a second drive runs the branches and the final step; each step runs once."""
    log = tmp_path / "steps.log"
    run_dir = project.create("drive", "drive-run", {"log": str(log), "branches": MAP})
    first = drive(project, run_dir, code=5)
    assert first["status"] == "waiting"
    [bp] = first["waitingOn"]
    assert (bp["kind"], bp["question"], bp["options"]) == ("breakpoint", "Go on?", ["Yes", "No"])
    assert sorted(ran(log)) == ["a", "b-after-a", "g1", "g2", "g3"]
    assert all(e["posted"] and e["status"] == "ok" for e in first["effects"])
    project.babysitter(
        "task:post",
        str(run_dir),
        bp["effectId"],
        "--status",
        "ok",
        "--value-inline",
        '{"approved": true, "response": "Yes"}',
        "--json",
    )
    second = drive(project, run_dir, code=0)
    assert second["status"] == "completed"
    assert second["output"] == {
        "a": "a",
        "b": "b-after-a",
        "group": ["g1", "g2", "g3"],
        "answer": {"approved": True, "response": "Yes"},
        "branches": [["p.0"], ["q.0"]],
        "final": "final",
    }
    counts = ran(log)
    assert set(counts.values()) == {1}, counts
    assert len(counts) == 8
    assert second["streaming"] is project.sdk.version.startswith("6.")
    verify = project.plugin("verify", str(run_dir))
    assert verify.returncode == 0, verify.stdout


@pytest.mark.slow
def test_branches_stream_on_6x(project: Project, tmp_path: Path) -> None:
    """On 6.x a branch's second step starts while a sibling's first still runs (each step
    once, every branch its own values); on 0.0.x the drive waits for the whole wave and
    the process gets what the SDK's own loop gives it."""
    log = tmp_path / "steps.log"
    branches = [dict(b) for b in BRANCHES]
    if project.sdk.version.startswith("6."):
        # p.0 ends only once r.1 has run: the run completes only if r.1 starts beside it.
        flag = str(tmp_path / "r1.done")
        branches[0]["gate"] = flag
        branches[2]["opens"] = [None, flag]
    run_dir = project.create("drive", "stream-run", {"log": str(log), "branches": branches})
    first = drive(project, run_dir, code=5)
    bp = first["waitingOn"][0]["effectId"]
    project.babysitter(
        "task:post",
        str(run_dir),
        bp,
        "--status",
        "ok",
        "--value-inline",
        '{"approved": true}',
        "--json",
    )
    second = drive(project, run_dir, code=0)
    by_title = {e["title"]: e for e in second["effects"]}
    # r's second step (r.1) is requested once r.0 is posted, while p.0 (0.6 s) runs.
    r1, p0 = by_title["sh r.1"], by_title["sh p.0"]
    overlapped = r1["startedAt"] < p0["finishedAt"]
    assert overlapped is project.sdk.version.startswith("6."), (r1, p0)
    if not project.sdk.version.startswith("6."):
        assert second["output"]["branches"] == BRANCHES_0_0
        return
    assert second["output"]["branches"] == [["p.0", "p.1"], ["q.0", "q.1"], ["r.0", "r.1"]]
    assert set(ran(log).values()) == {1}


def test_only_an_orchestrator_task_left_is_waiting(project: Project, tmp_path: Path) -> None:
    """A run with only an orchestrator_task left returns waiting, naming it."""
    log = tmp_path / "steps.log"
    run_dir = project.create("drive", "orch-run", {"log": str(log), "orchestrator": True})
    report = drive(project, run_dir, code=5)
    [w] = report["waitingOn"]
    assert (w["kind"], w["title"]) == ("orchestrator_task", "decide for me")
    assert "--kinds orchestrator_task" in w["reason"]


@pytest.mark.slow
def test_failing_run_returns_failed_with_the_error(project: Project, tmp_path: Path) -> None:
    """A process that throws: status failed, exit 6, the error text the SDK recorded."""
    log = tmp_path / "steps.log"
    run_dir = project.create("drive", "fail-run", {"log": str(log), "fail": "no budget"})
    first = drive(project, run_dir, code=5)
    project.babysitter(
        "task:post",
        str(run_dir),
        first["waitingOn"][0]["effectId"],
        "--status",
        "ok",
        "--value-inline",
        '{"approved": true}',
        "--json",
    )
    report = drive(project, run_dir, code=6)
    assert report["status"] == "failed"
    assert "the process gave up: no budget" in report["error"]["message"]
    assert "stack" in report["error"]
