"""Pending actions from the journal match run:iterate; payloads parse with exact errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kit import RunBuilder, iso_at

from protocol import (
    PayloadError,
    SchedulerHints,
    TaskDefinitionError,
    UnsafePathError,
    actions_from_payload,
    open_run,
    pending_actions,
    unstructure,
)
from protocol.pending import parallel_group_id

pytestmark = pytest.mark.usefixtures("each_line")

A = "01EFFECTAAAAAAAAAAAAAAAAAA"
B = "01EFFECTBBBBBBBBBBBBBBBBBB"
C = "01EFFECTCCCCCCCCCCCCCCCCCC"


def test_group_id_matches_a_real_run_iterate() -> None:
    """The group id of two actions is the one run:iterate printed for the same keys."""
    assert parallel_group_id(["x:S000001:echo", "x:S000002:echo"]) == "cf301f81f5d33166"


def test_pending_in_request_order_with_hints(tmp_path: Path) -> None:
    """Pending effects come in request order; all share pendingCount and the group id."""
    rb = RunBuilder(tmp_path)
    rb.request(A)
    rb.request(B, key="kb")
    rb.request(C, key="kc")
    rb.resolve(A)
    actions = pending_actions(open_run(rb.path))
    assert [a.effect_id for a in actions] == [B, C]
    group = parallel_group_id(["kb", "kc"])
    for action in actions:
        assert action.scheduler_hints == SchedulerHints(parallel_group_id=group, pending_count=2)
    assert actions[0].requested_at == iso_at(3)
    assert actions[0].task is not None
    assert actions[0].task.raw["effectId"] == B


def test_single_pending_has_no_group(tmp_path: Path) -> None:
    """One pending action gets pendingCount 1 and no parallelGroupId."""
    rb = RunBuilder(tmp_path)
    rb.request(A)
    (action,) = pending_actions(open_run(rb.path))
    assert action.scheduler_hints == SchedulerHints(pending_count=1)
    assert unstructure(action.scheduler_hints) == {"pendingCount": 1}


def test_no_pending(tmp_path: Path) -> None:
    """A journal with every effect resolved has no pending actions."""
    rb = RunBuilder(tmp_path)
    rb.request(A)
    rb.resolve(A)
    assert pending_actions(open_run(rb.path)) == []


def test_sleep_hint_sources(tmp_path: Path) -> None:
    """sleepUntilEpochMs comes from sleep.targetEpochMs, else metadata.targetEpochMs."""
    rb = RunBuilder(tmp_path)
    rb.request(A, task={"kind": "sleep", "sleep": {"targetEpochMs": 4070908800000}})
    rb.request(B, task={"kind": "sleep", "metadata": {"targetEpochMs": 5}})
    rb.request(C, task={"kind": "sleep", "sleep": {"targetEpochMs": "soon"}})
    actions = pending_actions(open_run(rb.path))
    hints = [a.scheduler_hints.sleep_until_epoch_ms for a in actions if a.scheduler_hints]
    assert hints == [4070908800000, 5, None]
    assert list(unstructure(actions[0].scheduler_hints)) == [  # type: ignore[arg-type]
        "sleepUntilEpochMs",
        "parallelGroupId",
        "pendingCount",
    ]


def test_label_kind_and_labels_fallbacks(tmp_path: Path) -> None:
    """label: request label, else its first label, else the task title; kind likewise."""
    rb = RunBuilder(tmp_path)
    task = {"kind": "agent", "title": "Title", "labels": ["t1", "t2"]}
    rb.event(
        "EFFECT_REQUESTED",
        {"effectId": A, "invocationKey": "ka", "stepId": "S1", "taskId": "t", "taskDefRef": "x"},
    )
    rb.event(
        "EFFECT_REQUESTED",
        {
            "effectId": B,
            "invocationKey": "kb",
            "stepId": "S2",
            "taskId": "t",
            "taskDefRef": "x",
            "labels": [" first ", "second"],
        },
    )
    for eid in (A, B):
        (rb.path / "tasks" / eid).mkdir()
        (rb.path / "tasks" / eid / "task.json").write_text(json.dumps(task))
    first, second = pending_actions(open_run(rb.path))
    assert (first.kind, first.label, first.labels) == ("agent", "Title", ("t1", "t2"))
    assert (second.label, second.labels) == ("first", ("first", "second"))


def test_missing_task_definition(tmp_path: Path) -> None:
    """A pending effect without task.json fails as the SDK's iteration does."""
    rb = RunBuilder(tmp_path)
    rb.request(A)
    path = rb.path / "tasks" / A / "task.json"
    path.unlink()
    with pytest.raises(TaskDefinitionError) as info:
        pending_actions(open_run(rb.path))
    assert str(info.value) == (
        f"{path}: expected the task definition of effect {A}, found no such file — the SDK "
        "cannot iterate this run either; restore it from version control"
    )
    assert info.value.path == str(path)


def test_task_definition_without_kind(tmp_path: Path) -> None:
    """A task.json without kind is refused with the JSON path."""
    rb = RunBuilder(tmp_path)
    rb.request(A)
    path = rb.path / "tasks" / A / "task.json"
    path.write_text('{"title": "x"}')
    with pytest.raises(TaskDefinitionError) as info:
        pending_actions(open_run(rb.path))
    assert str(info.value) == (
        f"{path}: expected kind to be a non-empty string @ $ — restore the task definition as "
        "the SDK wrote it"
    )


def test_symlinked_task_json_is_refused(tmp_path: Path) -> None:
    """A task.json that is a symlink is not followed."""
    rb = RunBuilder(tmp_path)
    rb.request(A)
    path = rb.path / "tasks" / A / "task.json"
    target = tmp_path / "elsewhere.json"
    path.rename(target)
    path.symlink_to(target)
    with pytest.raises(UnsafePathError):
        pending_actions(open_run(rb.path))


ITERATE_OUTPUT: dict[str, Any] = {
    "iteration": 1,
    "iterationCount": 0,
    "status": "waiting",
    "action": "none",
    "reason": "shell-pending",
    "nextActions": [
        {
            "effectId": A,
            "invocationKey": "x:S000001:echo",
            "kind": "shell",
            "label": "echo 1",
            "taskDef": {"kind": "shell", "title": "echo 1", "shell": {"command": "echo"}},
            "taskId": "echo",
            "stepId": "S000001",
            "taskDefRef": f"tasks/{A}/task.json",
            "requestedAt": "2026-11-28T05:17:47.456Z",
            "schedulerHints": {
                "parallelGroupId": "cf301f81f5d33166",
                "pendingCount": 2,
                "executionStrategy": "sequential",
                "maxConcurrency": 1,
                "future": True,
            },
        },
        {"effectId": B, "kind": "breakpoint", "someNewField": [1]},
    ],
    "metadata": {"runId": "r", "processId": "x", "hookStatus": "no-hooks-configured"},
}


def test_actions_from_iterate_output() -> None:
    """run:iterate --json output gives its nextActions, hints taken as given."""
    first, second = actions_from_payload(ITERATE_OUTPUT, "iterate.json")
    assert first.effect_id == A
    assert first.task is not None
    assert first.task.shell is not None
    assert first.task.shell.command == "echo"
    assert first.scheduler_hints == SchedulerHints(
        parallel_group_id="cf301f81f5d33166",
        pending_count=2,
        execution_strategy="sequential",
        max_concurrency=1,
        extra={"future": True},
    )
    assert second.kind == "breakpoint"
    assert second.extra == {"someNewField": [1]}
    assert unstructure(first) == ITERATE_OUTPUT["nextActions"][0]


def test_actions_from_hook_payload_and_list() -> None:
    """An on-iteration-start payload (pending) and a bare list are accepted too."""
    actions = ITERATE_OUTPUT["nextActions"]
    hook = {"runId": "r", "iteration": 1, "status": "waiting", "pending": actions, "timestamp": "t"}
    assert actions_from_payload(hook, "<stdin>") == actions_from_payload(actions, "<stdin>")
    completed = {"iteration": 2, "status": "completed", "action": "none"}
    assert actions_from_payload(completed, "<stdin>") == []


def test_payload_errors() -> None:
    """Malformed payloads name the source and the JSON path."""
    with pytest.raises(PayloadError) as info:
        actions_from_payload({"hello": 1}, "out.json")
    assert str(info.value) == (
        "out.json: expected the output of `babysitter run:iterate --json` (nextActions), an "
        "on-iteration-start payload (pending) or a list of actions, found an object with keys "
        "hello — pass that JSON unchanged"
    )
    bad = {"nextActions": [{"effectId": A}, {"effectId": 7}]}
    with pytest.raises(PayloadError) as info:
        actions_from_payload(bad, "out.json")
    assert str(info.value) == (
        "out.json: expected a string, found int @ $.nextActions[1].effectId — pass the JSON "
        "that run:iterate printed, unchanged"
    )
    with pytest.raises(PayloadError) as info:
        actions_from_payload({"pending": {"effectId": A}}, "hook")
    assert str(info.value) == (
        "hook: expected an array at $.pending, found an object with keys effectId — pass the "
        "JSON unchanged"
    )


def test_payload_effect_id_must_be_a_path_component() -> None:
    """An effect id that would escape tasks/ is refused."""
    with pytest.raises(UnsafePathError) as info:
        actions_from_payload([{"effectId": "../../x"}], "<stdin>")
    assert str(info.value) == (
        "<stdin> $[0].effectId: expected an effect id usable as one directory name under "
        "tasks/, found '../../x' (contains a path separator) — use the effectId exactly as "
        "the journal has it"
    )
