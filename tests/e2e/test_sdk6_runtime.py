"""6.x runtime semantics against the real SDK 6.0.3: ``task:cancel`` before and during a
dispatch, a run over (``ctx.halt``-free: ``run:halt --final-status failed``), the
``task.completed`` hook (deny, allow, crash) and a shell result its ``outputSchema``
fails. Every run still replays with the real ``run:iterate``."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import kit
import pytest
from kit import Project, snapshot, snapshot_diff

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

E2E = Path(__file__).resolve().parent


@pytest.fixture
def project(tmp_path: Path) -> Project:
    sdk = kit.find_sdk("6.0.3")
    if isinstance(sdk, str):
        pytest.skip(sdk)
    return Project(sdk, tmp_path / "project", [E2E / "processes" / "sdk6rt.js"])


def _start(project: Project, run_id: str, seconds: int = 60) -> tuple[Path, Path, dict[str, str]]:
    pid_file = project.root / f"{run_id}.pid"
    inputs = {"pidFile": str(pid_file), "seconds": seconds}
    run_dir = project.create("sdk6rt", run_id, inputs=inputs)
    out = project.iterate(run_dir)
    assert out["status"] == "waiting"
    ids = {a["taskDef"]["title"]: a["effectId"] for a in out["nextActions"]}
    assert sorted(ids) == ["quick 1", "quick 2", "slow"]
    return run_dir, pid_file, ids


def _dispatch(project: Project, run_dir: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = project.plugin("dispatch", str(run_dir), "--json", *args, check=False)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}


def _statuses(report: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    return {e["effectId"]: (e["status"], e["posted"]) for e in report["effects"]}


def _run_files(run_dir: Path) -> dict[str, Any]:
    snap = snapshot(run_dir)
    return {k: v for k, v in snap.items() if not k.startswith(".babysit-plugin")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_cancel_before_dispatch(project: Project) -> None:
    """A task:cancel'ed effect is never run; the others are posted; the SDK replays."""
    run_dir, pid_file, ids = _start(project, "cancel-before")
    project.babysitter("task:cancel", str(run_dir), ids["slow"], "--reason", "not wanted")
    pending = json.loads(project.plugin("pending", str(run_dir), "--json").stdout)
    assert ids["slow"] not in [a["effectId"] for a in pending["pending"]]
    assert pending["cancelled"] == [ids["slow"]]
    code, report = _dispatch(project, run_dir)
    assert code == 0, "\n".join(report.get("problems", []))
    assert _statuses(report) == {ids["quick 1"]: ("ok", True), ids["quick 2"]: ("ok", True)}
    assert not pid_file.exists()
    # --actions naming the cancelled effect: reported cancelled, not run.
    actions = project.write(
        json.dumps({"nextActions": [{"effectId": ids["slow"], "kind": "shell"}]})
    )
    code, report = _dispatch(project, run_dir, "--actions", str(actions))
    assert _statuses(report) == {ids["slow"]: ("cancelled", False)}
    assert not pid_file.exists()
    after = project.babysitter("run:iterate", str(run_dir), "--json", check=False)
    assert "ReplayError" not in after.stderr + after.stdout


@pytest.mark.parametrize("stop", ["task:cancel", "run:halt"])
def test_cancel_during_dispatch(project: Project, stop: str) -> None:
    """A cancel (or the run sealed failed) landing while the effect runs kills its child;
    nothing is posted for it."""
    run_dir, pid_file, ids = _start(project, "during")
    dispatch = subprocess.Popen(
        project.plugin_argv("dispatch", str(run_dir), "--json"),
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text().strip()):
            assert dispatch.poll() is None, dispatch.communicate()
            assert time.monotonic() < deadline, "the slow effect never started"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert _alive(child)
        if stop == "task:cancel":
            project.babysitter("task:cancel", str(run_dir), ids["slow"])
        else:
            project.babysitter("run:halt", str(run_dir), "--final-status", "failed")
        out, err = dispatch.communicate(timeout=60)
    finally:
        if dispatch.poll() is None:
            dispatch.kill()
    assert dispatch.returncode == 0, err
    report = json.loads(out)
    statuses = _statuses(report)
    slow = next(e for e in report["effects"] if e["effectId"] == ids["slow"])
    if stop == "task:cancel":
        assert statuses[ids["slow"]] == ("cancelled", False)
        assert "cancelled with task:cancel while it ran" in slow["reason"]
    else:
        assert statuses[ids["slow"]] == ("skipped", False)
        assert slow["reason"].startswith("the run became failed while it ran")
    assert statuses[ids["quick 1"]] == statuses[ids["quick 2"]] == ("ok", True)
    assert not _alive(child)
    resolved = [json.loads(p.read_text()) for p in sorted((run_dir / "journal").glob("*.json"))]
    assert not any(
        e["type"] == "EFFECT_RESOLVED" and e["data"]["effectId"] == ids["slow"] for e in resolved
    )
    assert not (run_dir / ".babysit-plugin" / "outcomes" / f"{ids['slow']}.json").exists()
    project.babysitter("run:iterate", str(run_dir), "--json", check=False)
    verify = project.plugin("verify", str(run_dir), check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_run_over_dispatches_nothing(project: Project) -> None:
    """A run sealed failed (run:halt --final-status failed): one line, exit 4, unchanged."""
    run_dir, pid_file, _ = _start(project, "halted")
    project.babysitter("run:halt", str(run_dir), "--final-status", "failed", "--reason", "stop")
    before = snapshot(run_dir)
    proc = project.plugin("dispatch", str(run_dir), check=False)
    assert proc.returncode == 4
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "run is failed: nothing to dispatch" in lines[0]
    assert f"{run_dir}/journal/0" in lines[0]
    assert snapshot_diff(before, snapshot(run_dir)) == []
    assert not pid_file.exists()


def _dispatcher(project: Project, body: str) -> None:
    hooks = project.root / "plugins" / "babysitter" / "hooks"
    hooks.mkdir(parents=True, exist_ok=True)
    script = hooks / "hook-dispatcher.sh"
    script.write_text("#!/bin/bash\n" + body + "\n", encoding="utf-8")
    script.chmod(0o755)


def test_task_completed_hook_deny_allow_crash(project: Project) -> None:
    """A deny refuses every result (run unchanged, effect pending, summary names the hook);
    an allow posts with the SDK's payload; a crashing hook is no decision."""
    run_dir, _, _ = _start(project, "hooks", seconds=0)
    seen = project.root / "payloads"
    seen.mkdir()
    _dispatcher(
        project,
        f'cat > "{seen}/$(date +%s%N).json"\n'
        'echo \'{"decision":"deny","reason":"results need review"}\'',
    )
    before = _run_files(run_dir)
    code, report = _dispatch(project, run_dir)
    assert code == 1
    assert {s for s, _ in _statuses(report).values()} == {"refused"}
    reason = report["effects"][0]["reason"]
    assert "results need review" in reason
    assert "hook-dispatcher.sh" in reason
    assert _run_files(run_dir) == before
    payloads = [json.loads(p.read_text()) for p in sorted(seen.iterdir())]
    assert len(payloads) == 3
    p = payloads[0]
    assert list(p) == [
        "runId",
        "task_id",
        "task_kind",
        "task_status",
        "task_result",
        "taskId",
        "effectId",
        "kind",
        "status",
        "result",
        "hookType",
        "timestamp",
    ]
    assert (p["runId"], p["kind"], p["status"], p["hookType"]) == (
        "hooks",
        "shell",
        "ok",
        "task.completed",
    )
    assert p["result"] in ("", "quick 1", "quick 2")
    assert p["task_id"] == p["effectId"]
    # A crashing hook (no output, exit 3) decides nothing: the results are posted.
    _dispatcher(project, "cat >/dev/null; exit 3")
    code, report = _dispatch(project, run_dir)
    assert code == 0, "\n".join(report.get("problems", []))
    assert {v for v in _statuses(report).values()} == {("ok", True)}
    out = project.iterate(run_dir)
    assert [a["taskDef"]["title"] for a in out.get("nextActions", [])] == ["typed"], json.dumps(out)


def test_output_schema_refuses_shell_result(project: Project) -> None:
    """6.x refuses a shell result its outputSchema fails: nothing posted, stays pending."""
    run_dir, _, _ = _start(project, "schema", seconds=0)
    assert _dispatch(project, run_dir)[0] == 0
    out = project.iterate(run_dir)
    (typed,) = out["nextActions"]
    before = _run_files(run_dir)
    code, report = _dispatch(project, run_dir)
    assert code == 1
    (effect,) = report["effects"]
    assert effect["status"] == "refused"
    assert not effect["posted"]
    assert "Expected root to be object, got string" in effect["reason"]
    assert _run_files(run_dir) == before
    # babysit-plugin post refuses the same value in one line; the SDK's task:post too.
    post = project.plugin(
        "post",
        str(run_dir),
        typed["effectId"],
        "--status",
        "ok",
        "--value-inline",
        '"text"',
        check=False,
    )
    assert post.returncode == 1
    assert len(post.stderr.strip().splitlines()) == 1
    assert "outputSchema" in post.stderr
    sdk = project.babysitter(
        "task:post",
        str(run_dir),
        typed["effectId"],
        "--status",
        "ok",
        "--value-inline",
        '"text"',
        check=False,
    )
    assert sdk.returncode != 0
    assert _run_files(run_dir) == before
    # A value that fits is posted by both.
    post = project.plugin(
        "post", str(run_dir), typed["effectId"], "--status", "ok", "--value-inline", '{"n": 1}'
    )
    assert project.iterate(run_dir)["status"] == "completed"
