"""post_result writes task:post's bytes, refuses what it must, and is crash safe."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from kit import RunBuilder, snapshot
from kit.handmade import is6

import protocol.results
from protocol import (
    NO_VALUE,
    AlreadyResolvedError,
    EffectError,
    InvalidValueError,
    LockOptions,
    LockTimeoutError,
    ResultInput,
    UnknownEffectError,
    UnsafePathError,
    effect_error_from_json,
    open_run,
    post_result,
    read_journal,
    read_json_arg,
    verify_run,
)

pytestmark = pytest.mark.usefixtures("each_line")

A = "01EFFECTAAAAAAAAAAAAAAAAAA"
B = "01EFFECTBBBBBBBBBBBBBBBBBB"
STARTED = "2026-03-04T05:06:07.089Z"
FINISHED = "2026-03-04T05:06:08.001Z"
KEY_A = "proc:S000002:t-" + A


@pytest.fixture
def rb(tmp_path: Path) -> RunBuilder:
    rb = RunBuilder(tmp_path)
    # Agent effects: 6.x posts a shell effect's error as an ok value (tested on its own).
    rb.request(A, kind="agent")
    rb.request(B, kind="agent")
    return rb


def _tail(rb: RunBuilder) -> str:
    """What 6.x adds at the end of result.json (nothing on 0.0.x)."""
    return f',\n  "sdkVersion": "{rb.sdk_version}"' if is6(rb.sdk_version) else ""


def _event_keys(rb: RunBuilder) -> list[str]:
    """An event's keys on the run's line: 6.x puts sdkVersion between data and checksum."""
    middle = ["sdkVersion"] if is6(rb.sdk_version) else []
    return ["type", "recordedAt", "data", *middle, "checksum"]


def _post(rb: RunBuilder, result: ResultInput, effect_id: str = A) -> protocol.PostReceipt:
    return post_result(open_run(rb.path), effect_id, result)


def _event_text(rb: RunBuilder, receipt: protocol.PostReceipt) -> str:
    return (rb.path / "journal" / f"{receipt.seq:06d}.{receipt.ulid}.json").read_text()


def test_ok_result_bytes(rb: RunBuilder) -> None:
    """result.json holds the stableClone-d value twice; the event holds refs and times."""
    value = {"b": [1.5, {"y": None, "x": "é"}], "a": 1e21, "10": 0, "2": True, "B": -0.0}
    receipt = _post(
        rb, ResultInput(status="ok", value=value, started_at=STARTED, finished_at=FINISHED)
    )
    inner = (
        "{\n"
        '    "2": true,\n'
        '    "10": 0,\n'
        '    "a": 1e+21,\n'
        '    "b": [\n'
        "      1.5,\n"
        "      {\n"
        '        "x": "é",\n'
        '        "y": null\n'
        "      }\n"
        "    ],\n"
        '    "B": 0\n'
        "  }"
    )
    assert (rb.path / "tasks" / A / "result.json").read_text() == (
        "{\n"
        '  "schemaVersion": "2026.01.results-v1",\n'
        f'  "effectId": "{A}",\n'
        f'  "taskId": "t-{A}",\n'
        f'  "invocationKey": "{KEY_A}",\n'
        '  "status": "ok",\n'
        f'  "result": {inner},\n'
        f'  "startedAt": "{STARTED}",\n'
        f'  "finishedAt": "{FINISHED}",\n'
        f'  "value": {inner}{_tail(rb)}\n'
        "}\n"
    )
    event = json.loads(_event_text(rb, receipt))
    assert list(event) == _event_keys(rb)
    assert event["data"] == {
        "effectId": A,
        "status": "ok",
        "resultRef": f"tasks/{A}/result.json",
        "startedAt": STARTED,
        "finishedAt": FINISHED,
    }
    assert list(event["data"]) == ["effectId", "status", "resultRef", "startedAt", "finishedAt"]
    assert receipt.result_ref == f"tasks/{A}/result.json"
    assert receipt.seq == 4
    journal = read_journal(open_run(rb.path))
    assert journal.effects[A].status == "ok"
    assert verify_run(rb.path).problems == ()


def test_error_result_bytes(rb: RunBuilder) -> None:
    """The error is sorted in result.json and in name/message/stack/data order in the event."""
    error = EffectError(name="Boom", message="it broke", stack="at x", data={"z": 1, "a": [2]})
    receipt = _post(
        rb,
        ResultInput(
            status="error",
            error=error,
            stderr="bad\n",
            started_at=STARTED,
            finished_at=FINISHED,
            metadata={"k": 1, "a": {"d": 1, "c": 2}},
        ),
    )
    result = (rb.path / "tasks" / A / "result.json").read_text()
    assert result == (
        "{\n"
        '  "schemaVersion": "2026.01.results-v1",\n'
        f'  "effectId": "{A}",\n'
        f'  "taskId": "t-{A}",\n'
        f'  "invocationKey": "{KEY_A}",\n'
        '  "status": "error",\n'
        '  "error": {\n'
        '    "data": {\n'
        '      "a": [\n'
        "        2\n"
        "      ],\n"
        '      "z": 1\n'
        "    },\n"
        '    "message": "it broke",\n'
        '    "name": "Boom",\n'
        '    "stack": "at x"\n'
        "  },\n"
        f'  "stderrRef": "tasks/{A}/stderr.log",\n'
        f'  "startedAt": "{STARTED}",\n'
        f'  "finishedAt": "{FINISHED}",\n'
        '  "metadata": {\n'
        '    "a": {\n'
        '      "c": 2,\n'
        '      "d": 1\n'
        "    },\n"
        '    "k": 1\n'
        f"  }}{_tail(rb)}\n"
        "}\n"
    )
    assert (rb.path / "tasks" / A / "stderr.log").read_text() == "bad\n"
    assert not (rb.path / "tasks" / A / "stdout.log").exists()
    data = json.loads(_event_text(rb, receipt))["data"]
    assert list(data) == [
        "effectId",
        "status",
        "resultRef",
        "error",
        "stderrRef",
        "startedAt",
        "finishedAt",
    ]
    assert list(data["error"]) == ["name", "message", "stack", "data"]
    assert list(data["error"]["data"]) == ["z", "a"]
    assert receipt.stderr_ref == f"tasks/{A}/stderr.log"


def test_error_defaults_like_task_post(rb: RunBuilder) -> None:
    """status error without an error records task:post's default error."""
    receipt = _post(rb, ResultInput(status="error"))
    data = json.loads(_event_text(rb, receipt))["data"]
    assert data["error"] == {"name": "Error", "message": "Task reported failure"}
    assert data["startedAt"] == data["finishedAt"]


def test_logs_from_files_and_refs(rb: RunBuilder, tmp_path: Path) -> None:
    """stdout given as a file is copied into stdout.log; an explicit stderr_ref is kept."""
    out = tmp_path / "out.txt"
    out.write_bytes("line ✓\n".encode())
    receipt = _post(
        rb, ResultInput(status="ok", value=None, stdout=out, stderr_ref=f"tasks/{A}/task.json")
    )
    assert (rb.path / "tasks" / A / "stdout.log").read_text() == "line ✓\n"
    result = json.loads((rb.path / "tasks" / A / "result.json").read_text())
    assert result["result"] is None
    assert result["value"] is None
    assert result["stdoutRef"] == f"tasks/{A}/stdout.log"
    assert result["stderrRef"] == f"tasks/{A}/task.json"
    assert receipt.stdout_ref == f"tasks/{A}/stdout.log"


def test_big_value_spills_to_blob(rb: RunBuilder) -> None:
    """A value whose pretty JSON is over 1 MiB goes to blobs/result-<sha256>.json."""
    value = {"rows": ["x" * 100] * 11_000}
    _post(rb, ResultInput(status="ok", value=value, started_at=STARTED, finished_at=FINISHED))
    text = json.dumps(value, indent=2) + "\n"
    assert len(text.encode()) > 1024 * 1024
    digest = hashlib.sha256(text.encode()).hexdigest()
    blob = rb.path / "tasks" / A / "blobs" / f"result-{digest}.json"
    assert blob.read_text() == text
    result = json.loads((rb.path / "tasks" / A / "result.json").read_text())
    assert result["resultRef"] == f"tasks/{A}/blobs/result-{digest}.json"
    assert "result" not in result
    assert "value" not in result
    assert list(result)[5] == "resultRef"
    assert verify_run(rb.path).problems == ()


def test_value_of_exactly_one_mib_stays_inline(rb: RunBuilder) -> None:
    """The threshold is strict: exactly 1 MiB of pretty JSON is not spilled."""
    overhead = len(json.dumps("", indent=2) + "\n")
    value = "y" * (1024 * 1024 - overhead)
    _post(rb, ResultInput(status="ok", value=value))
    assert not (rb.path / "tasks" / A / "blobs").exists()
    assert json.loads((rb.path / "tasks" / A / "result.json").read_text())["value"] == value


def test_second_post_writes_nothing(rb: RunBuilder) -> None:
    """Posting a resolved effect raises AlreadyResolvedError and changes no byte."""
    first = _post(rb, ResultInput(status="ok", value=1))
    before = snapshot(rb.path)
    with pytest.raises(AlreadyResolvedError) as info:
        _post(rb, ResultInput(status="ok", value=2))
    event = rb.path / "journal" / f"{first.seq:06d}.{first.ulid}.json"
    assert str(info.value) == (
        f"{event}: expected effect {A} to be pending, found it already resolved (ok) — nothing "
        "was written; a second EFFECT_RESOLVED would break the run, so post only pending effects"
    )
    assert snapshot(rb.path) == before


def test_unknown_effect_writes_nothing(rb: RunBuilder) -> None:
    """An effect id the journal never requested is refused before anything is created."""
    before = snapshot(rb.path)
    with pytest.raises(UnknownEffectError) as info:
        _post(rb, ResultInput(status="ok", value=1), effect_id="01NOPE")
    assert str(info.value) == (
        f"{rb.path}/journal: expected an EFFECT_REQUESTED for effect 01NOPE, found none — "
        "check the effect id (list pending effects with `babysit-plugin pending`)"
    )
    assert snapshot(rb.path) == before


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (
            ResultInput(status="ok"),
            f"result for {A}: expected a value with status ok, found none — pass value= (JSON "
            "null is a value)",
        ),
        (
            ResultInput(status="ok", value=1, error=EffectError(name="E", message="m")),
            f"result for {A}: expected no error with status ok, found one — post status error "
            "instead, or drop the error",
        ),
        (
            ResultInput(status="error", value=1),
            f"result for {A}: expected no value with status error, found one — put details in "
            "error.data, or post status ok",
        ),
        (
            ResultInput(status="ok", value=1, stdout="x", stdout_ref="tasks/x.log"),
            f"result for {A}: expected either stdout or stdout_ref, found both — pass one "
            "(task:post refuses --stdout-ref with --stdout-file)",
        ),
        (
            ResultInput(status="ok", value={1, 2}),  # type: ignore[arg-type]
            f"value for {A}: expected a JSON value, found set (*) — pass only "
            "dict/list/str/int/float/bool/None",
        ),
    ],
)
def test_invalid_input_writes_nothing(rb: RunBuilder, result: ResultInput, message: str) -> None:
    """Input the SDK would refuse is refused before any file is touched."""
    before = snapshot(rb.path)
    with pytest.raises(InvalidValueError) as info:
        _post(rb, result)
    head, star, tail = message.partition("*")
    if star:
        assert str(info.value).startswith(head)
        assert str(info.value).endswith(tail)
    else:
        assert str(info.value) == message
    assert snapshot(rb.path) == before


def test_unsafe_ref_and_effect_id(rb: RunBuilder) -> None:
    """Refs leaving the run and effect ids with separators are refused."""
    before = snapshot(rb.path)
    with pytest.raises(UnsafePathError) as info:
        _post(rb, ResultInput(status="ok", value=1, stdout_ref="../../etc/passwd"))
    assert str(info.value) == (
        f"stdout_ref for {A}: expected a path relative to the run directory, found "
        "'../../etc/passwd' (climbs out with '..') — refusing to use it; fix or remove the "
        "entry that names it"
    )
    with pytest.raises(UnsafePathError) as info:
        _post(rb, ResultInput(status="ok", value=1), effect_id="../x")
    assert str(info.value) == (
        "effect id: expected an effect id usable as one directory name under tasks/, found "
        "'../x' (contains a path separator) — use the effectId exactly as the journal has it"
    )
    assert snapshot(rb.path) == before


def test_symlinked_task_dir_is_refused(rb: RunBuilder, tmp_path: Path) -> None:
    """A symlink planted at tasks/<id> is not followed: nothing is written outside the run."""
    outside = tmp_path / "outside"
    outside.mkdir()
    task_dir = rb.path / "tasks" / A
    for f in task_dir.iterdir():
        f.rename(outside / f.name)
    task_dir.rmdir()
    task_dir.symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError) as info:
        _post(rb, ResultInput(status="ok", value=1))
    assert str(info.value) == (
        f"tasks/{A}: expected a plain file or directory inside the run, found a symlink at "
        f"{task_dir} — refusing to follow it; remove the symlink"
    )
    assert sorted(p.name for p in outside.iterdir()) == ["task.json"]
    assert len(read_journal(open_run(rb.path)).events) == 3


def test_invocation_key_must_match(rb: RunBuilder) -> None:
    """An explicit invocation key for another invocation is refused, changing nothing."""
    before = snapshot(rb.path)
    with pytest.raises(InvalidValueError) as info:
        _post(rb, ResultInput(status="ok", value=1, invocation_key="other"))
    assert str(info.value) == (
        f"result for {A}: expected invocationKey {KEY_A}, found other — the result belongs to "
        "another invocation; post it for the right effect"
    )
    assert snapshot(rb.path) == before
    _post(rb, ResultInput(status="ok", value=1, invocation_key=KEY_A))


def test_harness_run_puts_harness_first(tmp_path: Path) -> None:
    """In a harness run the EFFECT_RESOLVED data starts with harness, as the SDK writes it."""
    rb = RunBuilder(tmp_path, harness="claude-code")
    rb.request(A)
    receipt = _post(rb, ResultInput(status="ok", value=1))
    data = json.loads(_event_text(rb, receipt))["data"]
    if is6(rb.sdk_version):  # 6.x: eventData.harness = ... after the event's own fields
        assert list(data) == [
            "effectId",
            "status",
            "resultRef",
            "startedAt",
            "finishedAt",
            "harness",
        ]
    else:
        assert list(data)[:2] == ["harness", "effectId"]


def test_crash_before_append_leaves_effect_pending(
    rb: RunBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """result.json is written before the journal: a crash between leaves the effect pending,
    and the next post overwrites the stale result.json and commits."""

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(protocol.results, "install_event", crash)
    with pytest.raises(OSError, match="disk full"):
        _post(rb, ResultInput(status="ok", value="first"))
    assert json.loads((rb.path / "tasks" / A / "result.json").read_text())["value"] == "first"
    assert read_journal(open_run(rb.path)).effects[A].status == "requested"
    assert not (rb.path / "run.lock").exists()
    warnings = [p.message for p in verify_run(rb.path).problems]
    assert warnings == [
        f"tasks/{A}/result.json: expected no result for a pending effect, found one left by an "
        "interrupted post — harmless: the next post overwrites it"
    ]
    monkeypatch.undo()
    _post(rb, ResultInput(status="ok", value="second"))
    assert json.loads((rb.path / "tasks" / A / "result.json").read_text())["value"] == "second"
    assert verify_run(rb.path).problems == ()


def test_held_lock_times_out_and_writes_nothing(rb: RunBuilder) -> None:
    """When the SDK holds run.lock past the timeout, the post fails without writing."""
    lock = rb.path / "run.lock"
    lock.write_text(
        json.dumps({"pid": os.getppid(), "owner": "x", "acquiredAt": "t"}, indent=2) + "\n"
    )
    before = snapshot(rb.path)
    with pytest.raises(LockTimeoutError):
        post_result(
            open_run(rb.path),
            A,
            ResultInput(status="ok", value=1),
            lock=LockOptions(timeout=0.05, sleep=lambda s: None),
        )
    assert snapshot(rb.path) == before


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (NO_VALUE, EffectError(name="Error", message="Task reported failure")),
        (None, EffectError(name="Error", message="Task reported failure")),
        (
            {"name": "E", "message": "m", "stack": 5, "data": None, "code": 1},
            EffectError(name="E", message="m", data=None),
        ),
        ({"name": None}, EffectError(name="Error", message="Task failed")),
        (
            {"b": 1, "a": 2},
            EffectError(name="Object", message='{"b":1,"a":2}', data={"b": 1, "a": 2}),
        ),
        ([1, "x"], EffectError(name="Array", message='[1,"x"]', data=[1, "x"])),
        (1.5, EffectError(name="Error", message="1.5")),
        (True, EffectError(name="Error", message="true")),
        ("text", EffectError(name="Error", message="text")),
    ],
)
def test_effect_error_from_json(value: protocol.MaybeJson, expected: EffectError) -> None:
    """--error file contents map to the error task:post records."""
    assert effect_error_from_json(value) == expected


def test_read_json_arg(tmp_path: Path) -> None:
    """Value files are JS-trimmed and JSON.parse-d; empty ones are no value."""
    path = tmp_path / "v.json"
    path.write_text('\ufeff\n  {"a": 1}\u00a0\n')
    assert read_json_arg(path) == {"a": 1}
    path.write_text(" \n\t")
    assert read_json_arg(path) is NO_VALUE
