"""Each run's SDK line is known before it is read or written; 6.x states are exposed."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kit import snapshot

from protocol import (
    LINE_0_0,
    LINE_6_0,
    EffectCancelledError,
    InvalidValueError,
    ResultInput,
    RunTerminalError,
    UnsupportedSdkError,
    open_run,
    pending_actions,
    post_result,
    read_journal,
    verify_run,
)
from protocol.journal import JournalReader
from protocol.lines import ambient_session_id, line_of_version

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RUNS_0 = FIXTURES / "runs"
RUNS_6 = FIXTURES / "runs-6.0.3"

SUPPORTED = "0.0.162-0.0.187, 6.0.0-6.0.3"


def _copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "runs" / source.name
    shutil.copytree(source, target)
    return target


def _rewrite(path: Path, **changes: object) -> None:
    body = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("version", "line"),
    [
        ("0.0.162", LINE_0_0),
        ("0.0.187", LINE_0_0),
        ("6.0.0", LINE_6_0),
        ("6.0.3", LINE_6_0),
        ("0.0.161", None),
        ("0.0.188", None),
        ("5.9.1", None),
        ("6.0.4", None),
        ("6.1.0", None),
        ("7.1.0", None),
        ("six", None),
    ],
)
def test_line_of_version(version: str, line: object) -> None:
    """Only the releases whose protocol was read are supported."""
    assert line_of_version(version) is line


def test_runs_open_on_their_line() -> None:
    """A 6.0.3 run is opened on the 6.0 line with its version; an unmarked run on 0.0."""
    run6 = open_run(RUNS_6 / "parallel-2")
    assert (run6.line, run6.sdk_version) == (LINE_6_0, "6.0.3")
    assert run6.line.derived_step_ids
    assert run6.line.writes_sdk_version
    run0 = open_run(RUNS_0 / "parallel-2")
    assert run0.line is LINE_0_0
    assert not run0.line.derived_step_ids
    assert run0.line.harness_first


@pytest.mark.parametrize("version", ["7.1.0", "5.2.0", "6.1.0"])
def test_unknown_sdk_version_is_refused_in_one_line(version: str, tmp_path: Path) -> None:
    """run.json naming an unsupported release is refused before anything is read."""
    run_dir = _copy(RUNS_6 / "parallel-2", tmp_path)
    _rewrite(run_dir / "run.json", sdkVersion=version)
    before = snapshot(run_dir)
    with pytest.raises(UnsupportedSdkError) as caught:
        open_run(run_dir)
    assert str(caught.value) == (
        f"{run_dir}/run.json: the run was created by SDK {version}, which babysit-plugin "
        f"does not support (supported: {SUPPORTED}) — use the babysitter CLI of that release "
        "for this run, or a babysit-plugin that knows it; nothing was written"
    )
    assert "\n" not in str(caught.value)
    assert snapshot(run_dir) == before


def test_installed_unsupported_0_0_sdk_is_refused(tmp_path: Path) -> None:
    """An unmarked run in a project whose installed SDK is an unknown 0.0.x is refused."""
    run_dir = _copy(RUNS_0 / "parallel-2", tmp_path)
    package = tmp_path / "node_modules" / "@a5c-ai" / "babysitter-sdk" / "package.json"
    package.parent.mkdir(parents=True)
    package.write_text('{"version": "0.0.150"}\n', encoding="utf-8")
    with pytest.raises(UnsupportedSdkError, match=r"the project has SDK 0.0.150"):
        open_run(run_dir)
    package.write_text('{"version": "0.0.174"}\n', encoding="utf-8")
    run = open_run(run_dir)
    assert (run.line, run.sdk_version) == (LINE_0_0, "0.0.174")


def test_run_mixing_lines_is_refused(tmp_path: Path) -> None:
    """A 6.x run holding an event without sdkVersion (a 0.0.x writer's) is refused."""
    run_dir = _copy(RUNS_6 / "parallel-2", tmp_path)
    last = sorted((run_dir / "journal").iterdir())[-1]
    _rewrite(last, sdkVersion=None)
    before = snapshot(run_dir)
    run = open_run(run_dir)
    with pytest.raises(UnsupportedSdkError) as caught:
        read_journal(run)
    assert str(caught.value) == (
        f"journal/{last.name}: expected sdkVersion of the 6.0.x line, as every 6.0.x event "
        "carries, found none — the run mixes SDK lines (this event was written by a 0.0.x "
        f"writer); supported: {SUPPORTED}; restore the file from version control"
    )
    with pytest.raises(UnsupportedSdkError):
        JournalReader(run).read()
    assert snapshot(run_dir) == before


def test_unmarked_run_with_a_6x_event_is_refused(tmp_path: Path) -> None:
    """A 0.0.x run (no sdkVersion in run.json) holding a 6.x event is refused."""
    run_dir = _copy(RUNS_0 / "parallel-2", tmp_path)
    last = sorted((run_dir / "journal").iterdir())[-1]
    _rewrite(last, sdkVersion="6.0.3")
    with pytest.raises(UnsupportedSdkError, match=r"expected no sdkVersion in a 0.0.x run"):
        read_journal(open_run(run_dir))


def test_cancelled_effect_is_final_and_not_pending() -> None:
    """EFFECT_CANCELLED makes its effect cancelled: exposed, never pending."""
    run = open_run(RUNS_6 / "cancelled")
    journal = read_journal(run)
    (cancelled,) = journal.cancelled.values()
    assert cancelled.status == "cancelled"
    assert cancelled.label == "step drop"
    assert cancelled.cancel_reason == "not needed any more"
    assert cancelled.resolved_file is not None
    assert cancelled.resolved_at is not None
    assert [r.label for r in journal.pending] == ["step also"]
    assert [a.label for a in pending_actions(run, journal)] == ["step also"]
    assert journal.status == "waiting"
    assert not journal.terminal


def test_halted_run_has_no_pending_and_says_halted() -> None:
    """RUN_HALTED: status halted, terminal, nothing pending."""
    journal = read_journal(open_run(RUNS_6 / "halted"))
    assert journal.status == "halted"
    assert journal.terminal
    assert journal.pending == ()
    assert journal.lifecycle_event is not None
    assert journal.lifecycle_event.body["type"] == "RUN_HALTED"


@pytest.mark.parametrize(
    ("runs", "name", "status"),
    [
        (RUNS_0, "parallel-2", "waiting"),
        (RUNS_0, "iterations", "completed"),
        (RUNS_0, "run-failed", "failed"),
        (RUNS_6, "iterations", "completed"),
        (RUNS_6, "halted", "halted"),
        # 6.x journals nothing for an uncaught process error: the run reads as created.
        (RUNS_6, "run-failed", "created"),
    ],
)
def test_run_status_is_derived_as_the_sdk_derives_it(runs: Path, name: str, status: str) -> None:
    """Journal.status follows deriveObservedRunState."""
    assert read_journal(open_run(runs / name)).status == status


def test_halted_after_pending_still_terminal(tmp_path: Path) -> None:
    """A RUN_HALTED after a still-requested effect leaves nothing to perform."""
    run_dir = _copy(RUNS_6 / "cancelled", tmp_path)
    halted = sorted((RUNS_6 / "halted" / "journal").iterdir())[-1]
    names = sorted((run_dir / "journal").iterdir())
    seq = len(names) + 1
    ulid = "01Z" + names[-1].name.split(".")[1][3:]
    shutil.copy(halted, run_dir / "journal" / f"{seq:06d}.{ulid}.json")
    journal = read_journal(open_run(run_dir))
    assert journal.status == "halted"
    assert [r.label for r in journal.requested] == ["step also"]
    assert journal.pending == ()


@pytest.mark.parametrize(
    ("harness", "env", "expected"),
    [
        (None, {}, None),
        (None, {"AGENT_SESSION_ID": "a"}, "a"),
        (None, {"AGENT_SESSION_ID": ""}, None),
        ("claude-code", {"AGENT_SESSION_ID": "a", "CLAUDE_ENV_FILE": "/e"}, "/e"),
        ("codex", {"CODEX_SESSION_ID": "s", "CODEX_THREAD_ID": "t"}, "t"),
        ("codex", {"AGENT_SESSION_ID": "a"}, "a"),
        (
            "codex",
            {"AGENT_SESSION_ID": "a", "CODEX_THREAD_ID": "t", "AGENT_TRUST_ENV_SESSION": "1"},
            "a",
        ),
        ("my-harness", {"AGENT_SESSION_ID": "a"}, "a"),
    ],
)
def test_ambient_session_id(harness: str | None, env: dict[str, str], expected: str | None) -> None:
    """data.sessionId comes from the variables resolveAmbientSessionId reads, in its order."""
    assert ambient_session_id(harness, env) == expected


def test_posting_to_a_cancelled_effect_is_refused(tmp_path: Path) -> None:
    """A result for a cancelled effect is refused in one line; the run is unchanged."""
    run_dir = _copy(RUNS_6 / "cancelled", tmp_path)
    run = open_run(run_dir)
    (cancelled,) = read_journal(run).cancelled.values()
    before = snapshot(run_dir)
    with pytest.raises(EffectCancelledError) as caught:
        post_result(run, cancelled.effect_id, ResultInput(status="ok", value=1))
    assert str(caught.value) == (
        f"{run_dir}/journal/{cancelled.resolved_file}: expected effect {cancelled.effect_id} "
        f"to be pending, found it cancelled with task:cancel at {cancelled.resolved_at} (not "
        "needed any more) — nothing was written; a cancelled effect is final, its result is "
        "not wanted"
    )
    assert snapshot(run_dir) == before


def test_posting_to_a_halted_run_is_refused(tmp_path: Path) -> None:
    """A result for a still-requested effect of a halted run is refused; nothing written."""
    run_dir = _copy(RUNS_6 / "cancelled", tmp_path)
    halted = sorted((RUNS_6 / "halted" / "journal").iterdir())[-1]
    names = sorted((run_dir / "journal").iterdir())
    name = f"{len(names) + 1:06d}.01Z{names[-1].name.split('.')[1][3:]}.json"
    shutil.copy(halted, run_dir / "journal" / name)
    run = open_run(run_dir)
    (requested,) = read_journal(run).requested
    before = snapshot(run_dir)
    with pytest.raises(RunTerminalError) as caught:
        post_result(run, requested.effect_id, ResultInput(status="ok", value=1))
    assert str(caught.value) == (
        f"{run_dir}/journal/{name}: expected a run that waits on effect "
        f"{requested.effect_id}, found it halted — nothing was written; the SDK performs "
        "nothing more for this run"
    )
    assert snapshot(run_dir) == before


def test_signed_breakpoint_enforcement_is_never_bypassed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a pinned trust anchor, a 6.x breakpoint answer is left to task:post."""
    run_dir = _copy(RUNS_6 / "breakpoint", tmp_path)
    run = open_run(run_dir)
    (pending,) = read_journal(run).pending
    monkeypatch.setenv("POLICY_CONFIG_ROOT_FP", "ab" * 32)
    before = snapshot(run_dir)
    with pytest.raises(InvalidValueError, match=r"post it with `babysitter task:post`"):
        post_result(run, pending.effect_id, ResultInput(status="ok", value={"approved": True}))
    assert snapshot(run_dir) == before


def test_verify_names_a_missing_cancelled_result(tmp_path: Path) -> None:
    """verify passes a cancelled run as the SDK wrote it and names a lost cancel result."""
    run_dir = _copy(RUNS_6 / "cancelled", tmp_path)
    assert verify_run(run_dir).problems == ()
    (effect_id,) = read_journal(open_run(run_dir)).cancelled
    (run_dir / "tasks" / effect_id / "result.json").unlink()
    (problem,) = verify_run(run_dir).problems
    assert problem.severity == "error"
    assert problem.message.startswith(
        f"tasks/{effect_id}/result.json: expected the result task:cancel wrote"
    )
    assert problem.message.endswith("restore it from version control")
