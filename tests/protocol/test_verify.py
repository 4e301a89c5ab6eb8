"""verify_run reports every broken rule of a run as problems, without raising."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from kit import RunBuilder

from protocol import Problem, ResultInput, open_run, post_result, verify_run

pytestmark = pytest.mark.usefixtures("each_line")

A = "01EFFECTAAAAAAAAAAAAAAAAAA"
B = "01EFFECTBBBBBBBBBBBBBBBBBB"


@pytest.fixture
def rb(tmp_path: Path) -> RunBuilder:
    rb = RunBuilder(tmp_path)
    rb.request(A)
    rb.request(B)
    rb.resolve(A)
    return rb


def _messages(rb: RunBuilder) -> list[str]:
    return [p.message for p in verify_run(rb.path).problems]


def test_clean_run(rb: RunBuilder) -> None:
    """A consistent run has no problems and reports its counts."""
    report = verify_run(rb.path)
    assert report.problems == ()
    assert report.ok
    assert (report.events, report.effects, report.pending) == (4, 2, 1)


def test_edited_event_fails_its_checksum(rb: RunBuilder) -> None:
    """An event changed after writing no longer matches its checksum."""
    path = sorted((rb.path / "journal").iterdir())[1]
    body = json.loads(path.read_text())
    stored = body["checksum"]
    body["data"]["label"] = "edited"
    path.write_text(json.dumps(body, indent=2) + "\n")
    (problem,) = verify_run(rb.path).problems
    assert problem.path == str(path)
    assert problem.message.startswith(f"journal/{path.name}: expected checksum ")
    assert problem.message.endswith(
        f", found '{stored}' — the event was changed after it was written; restore it from "
        "version control"
    )


def test_leftover_files_in_journal(rb: RunBuilder) -> None:
    """A numbered leftover would make the SDK skip seqs: error; a dot temp: warning."""
    (rb.path / "journal" / "000009.X.json.tmp-1-2").write_text("")
    (rb.path / "journal" / ".000004.X.json.ab.tmp").write_text("")
    problems = verify_run(rb.path).problems
    assert [(p.severity, p.message) for p in problems] == [
        (
            "warning",
            "journal/.000004.X.json.ab.tmp: expected only <seq>.<ULID>.json files, found a "
            "leftover (an interrupted write?) — delete it",
        ),
        (
            "error",
            "journal/000009.X.json.tmp-1-2: expected only <seq>.<ULID>.json files, found a "
            "leftover whose name starts with 000009 — the SDK's next append would take seq 10 "
            "and leave a gap; delete the file",
        ),
    ]


def test_result_disagreeing_with_journal(rb: RunBuilder) -> None:
    """result.json whose status differs from its EFFECT_RESOLVED is an error."""
    path = rb.path / "tasks" / A / "result.json"
    result = json.loads(path.read_text())
    result["status"] = "error"
    path.write_text(json.dumps(result, indent=2) + "\n")
    assert _messages(rb) == [
        f"tasks/{A}/result.json: expected status 'ok' as in the journal, found 'error' — the "
        "result file does not belong to this resolution; restore it from version control",
        f"tasks/{A}/result.json: expected an error for an error result, found none — restore "
        "the file",
    ]


def test_missing_result_file(rb: RunBuilder) -> None:
    """A resolved effect whose result.json is gone is an error."""
    (rb.path / "tasks" / A / "result.json").unlink()
    assert _messages(rb) == [
        f"EFFECT_RESOLVED of {A} (journal seq 4) resultRef: expected the file "
        f"tasks/{A}/result.json inside the run, found nothing — restore it from version control"
    ]


def test_unsafe_ref_in_journal(tmp_path: Path) -> None:
    """A journal ref leaving the run is reported, not followed."""
    rb = RunBuilder(tmp_path)
    rb.request(A)
    rb.event("EFFECT_RESOLVED", {"effectId": A, "status": "ok", "resultRef": "/etc/passwd"})
    assert _messages(rb) == [
        f"EFFECT_RESOLVED of {A} (journal seq 3) resultRef: expected a path relative to the "
        "run directory, found '/etc/passwd' (absolute) — refusing to use it; fix or remove "
        "the entry that names it"
    ]


def test_tampered_blob(rb: RunBuilder) -> None:
    """A spilled blob whose content no longer matches its sha256 name is an error."""
    run = open_run(rb.path)
    post_result(run, B, ResultInput(status="ok", value="z" * (1024 * 1024 + 10)))
    (blob,) = (rb.path / "tasks" / B / "blobs").iterdir()
    blob.write_text('"changed"\n')
    (message,) = _messages(rb)
    assert message.startswith(
        f"tasks/{B}/blobs/{blob.name}: expected content with sha256 {blob.name[7:-5]}, found "
    )
    assert message.endswith(" — the blob was changed; restore it")


def test_symlink_under_tasks(rb: RunBuilder, tmp_path: Path) -> None:
    """A symlink planted under tasks/ is reported."""
    (rb.path / "tasks" / B / "stdout.log").symlink_to(tmp_path / "secret")
    assert _messages(rb) == [
        f"tasks/{B}/stdout.log: expected a plain file or directory, found a symlink — it could "
        "lead reads or writes outside the run; remove it"
    ]


def test_stale_lock(rb: RunBuilder) -> None:
    """A run.lock of a dead process is a warning."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    (rb.path / "run.lock").write_text(json.dumps({"pid": proc.pid, "owner": "x"}))
    (problem,) = verify_run(rb.path).problems
    assert problem == Problem(
        path=str(rb.path / "run.lock"),
        message=f"run.lock: expected a live holder, found pid {proc.pid} gone — a stale lock; "
        "the next writer deletes it, or delete it now",
        severity="warning",
    )
    assert verify_run(rb.path).ok


def test_journal_violation_is_reported_and_checksums_still_checked(rb: RunBuilder) -> None:
    """The reader's first violation becomes a problem; other checks still run."""
    resolved = sorted((rb.path / "journal").iterdir())[-1]
    copy = rb.path / "journal" / ("000005.01ZZZZZZZZZZZZZZZZZZZZZZZZ.json")
    body = json.loads(resolved.read_text())
    body["checksum"] = "0" * 64
    copy.write_text(json.dumps(body, indent=2) + "\n")
    messages = _messages(rb)
    assert len(messages) == 2
    assert messages[0].startswith(
        f"journal/{copy.name}: expected one EFFECT_RESOLVED for effect {A}, found a second"
    )
    assert messages[1].startswith(f"journal/{copy.name}: expected checksum ")


def test_not_a_run(tmp_path: Path) -> None:
    """A directory that is not a run gives one problem, no exception."""
    report = verify_run(tmp_path / "missing")
    assert not report.ok
    assert [p.message for p in report.problems] == [
        f"{tmp_path / 'missing'}: expected a run directory, found nothing there — pass an "
        "existing <repo>/.a5c/runs/<runId> directory"
    ]


def test_missing_log_ref_is_a_warning(tmp_path: Path) -> None:
    """A stdoutRef naming no file loses only logs: a warning, the run still verifies."""
    rb = RunBuilder(tmp_path)
    rb.request(A)
    post_result(open_run(rb.path), A, ResultInput(status="ok", value=1, stdout_ref="logs/a.log"))
    (problem,) = verify_run(rb.path).problems
    assert problem.severity == "warning"
    assert problem.message == (
        f"EFFECT_RESOLVED of {A} (journal seq 3) stdoutRef: expected the log file logs/a.log "
        "inside the run, found nothing — the output it names is not in the run; ignore, or "
        "restore the file"
    )
    assert verify_run(rb.path).ok
