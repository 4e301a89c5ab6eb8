"""Every model survives unstructure -> structure through the one converter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import models as m
from protocol.converter import CONVERTER, structure_event, unstructure, unstructure_event
from protocol.lines import LINES

text = st.text(max_size=6)
opt_text = st.none() | text
number = st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | number | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(text, json_values, max_size=3)
maybe_json = st.just(m.NO_VALUE) | json_values
extra = st.dictionaries(text.map(lambda s: "x-" + s), json_values, max_size=2)
labels = st.none() | st.lists(text, max_size=3).map(tuple)
opt_number = st.none() | number

entrypoints = st.builds(m.Entrypoint, import_path=opt_text, export_name=opt_text, extra=extra)
errors = st.builds(
    m.EffectError, name=text, message=text, stack=opt_text, data=maybe_json, extra=extra
)
task_defs = st.builds(
    m.TaskDef,
    raw=st.builds(
        lambda kind, rest: {"kind": kind, **rest},
        text.filter(bool),
        st.dictionaries(text.filter(lambda k: k != "kind"), json_values, max_size=3),
    ),
)
hints = st.builds(
    m.SchedulerHints,
    sleep_until_epoch_ms=opt_number,
    parallel_group_id=opt_text,
    pending_count=st.none() | st.integers(0, 100),
    execution_strategy=opt_text,
    max_concurrency=st.none() | st.integers(1, 10),
    extra=extra,
)
records = st.builds(
    m.EffectRecord,
    effect_id=text,
    invocation_key=text,
    invocation_hash=opt_text,
    step_id=text,
    task_id=text,
    status=st.sampled_from(["requested", "ok", "error", "cancelled"]),
    kind=opt_text,
    label=opt_text,
    labels=labels,
    task_def_ref=text,
    inputs_ref=opt_text,
    requested_at=opt_text,
    requested_seq=st.integers(1, 10**6),
    requested_file=opt_text,
    result_ref=opt_text,
    error=st.none() | errors,
    stdout_ref=opt_text,
    stderr_ref=opt_text,
    started_at=opt_text,
    finished_at=opt_text,
    resolved_at=opt_text,
    resolved_seq=st.none() | st.integers(1, 10**6),
    resolved_file=opt_text,
    cancel_reason=opt_text,
)
problems = st.builds(
    m.Problem, path=text, message=text, severity=st.sampled_from(["error", "warning"])
)
paths = text.map(lambda s: Path("/runs") / (s.replace("/", "_").replace("\x00", "") or "r"))

MODELS: dict[type[Any], st.SearchStrategy[Any]] = {
    m.Entrypoint: entrypoints,
    m.RunMetadata: st.builds(
        m.RunMetadata,
        run_id=text,
        process_id=opt_text,
        entrypoint=st.none() | entrypoints,
        harness=opt_text,
        created_at=opt_text,
        extra=extra,
    ),
    m.Run: st.builds(
        m.Run,
        path=paths,
        metadata=st.builds(m.RunMetadata, run_id=text),
        repo_root=paths,
        line=st.sampled_from(LINES),
        sdk_version=opt_text,
    ),
    m.EffectError: errors,
    m.RunCreated: st.builds(
        m.RunCreated,
        harness=opt_text,
        run_id=opt_text,
        process_id=opt_text,
        entrypoint=st.none() | entrypoints,
        extra=extra,
    ),
    m.EffectRequested: st.builds(
        m.EffectRequested,
        harness=opt_text,
        effect_id=text,
        invocation_key=text,
        invocation_hash=opt_text,
        step_id=text,
        task_id=text,
        kind=opt_text,
        label=opt_text,
        task_def_ref=text,
        inputs_ref=opt_text,
        labels=labels,
        extra=extra,
    ),
    m.EffectResolved: st.builds(
        m.EffectResolved,
        harness=opt_text,
        effect_id=text,
        status=st.sampled_from(["ok", "error"]),
        result_ref=opt_text,
        error=st.none() | errors,
        stdout_ref=opt_text,
        stderr_ref=opt_text,
        started_at=opt_text,
        finished_at=opt_text,
        extra=extra,
    ),
    m.RunCompleted: st.builds(m.RunCompleted, harness=opt_text, output_ref=opt_text, extra=extra),
    m.RunFailed: st.builds(m.RunFailed, harness=opt_text, error=st.none() | errors, extra=extra),
    m.UnknownEventData: st.builds(m.UnknownEventData, raw=json_values),
    m.EffectRecord: records,
    m.AppendedEvent: st.builds(
        m.AppendedEvent,
        seq=st.integers(1, 10**6),
        ulid=text,
        filename=text,
        path=paths,
        checksum=text,
        recorded_at=text,
    ),
    m.ShellSpec: st.builds(
        m.ShellSpec,
        command=opt_text,
        args=st.lists(text, max_size=3).map(tuple),
        cwd=opt_text,
        env=st.dictionaries(text, text, max_size=2),
        timeout_ms=opt_number,
    ),
    m.SleepSpec: st.builds(m.SleepSpec, target_epoch_ms=opt_number, iso=opt_text),
    m.TaskDef: task_defs,
    m.TaskResult: st.builds(
        m.TaskResult,
        schema_version=text,
        effect_id=text,
        task_id=text,
        invocation_key=text,
        # 6.x: a cancelled result (task:cancel), its reason, sdkVersion last.
        status=st.sampled_from(["ok", "error", "cancelled"]),
        result=maybe_json,
        result_ref=opt_text,
        error=maybe_json,
        stdout_ref=opt_text,
        stderr_ref=opt_text,
        reason=opt_text,
        started_at=opt_text,
        finished_at=opt_text,
        metadata=st.none() | json_objects,
        value=maybe_json,
        sdk_version=opt_text,
        extra=extra,
    ),
    m.PostReceipt: st.builds(
        m.PostReceipt,
        effect_id=text,
        status=st.sampled_from(["ok", "error"]),
        result_ref=text,
        stdout_ref=opt_text,
        stderr_ref=opt_text,
        seq=st.integers(1, 10**6),
        ulid=text,
        recorded_at=text,
    ),
    m.SchedulerHints: hints,
    m.PendingAction: st.builds(
        m.PendingAction,
        effect_id=text,
        invocation_key=opt_text,
        kind=opt_text,
        label=opt_text,
        labels=labels,
        task=st.none() | task_defs,
        task_id=opt_text,
        step_id=opt_text,
        task_def_ref=opt_text,
        inputs_ref=opt_text,
        requested_at=opt_text,
        scheduler_hints=st.none() | hints,
        extra=extra,
    ),
    m.Problem: problems,
    m.VerifyReport: st.builds(
        m.VerifyReport,
        run_dir=paths,
        problems=st.lists(problems, max_size=3).map(tuple),
        events=st.integers(0, 100),
        effects=st.integers(0, 100),
        pending=st.integers(0, 100),
    ),
}


@pytest.mark.parametrize("cls", list(MODELS), ids=lambda c: c.__name__)
def test_round_trip(cls: type[Any]) -> None:
    """structure(unstructure(x)) == x for every instance of the model."""

    @settings(max_examples=50)
    @given(MODELS[cls])
    def check(obj: Any) -> None:
        data = unstructure(obj)
        assert CONVERTER.structure(data, cls) == obj

    check()


data_models = st.one_of(
    MODELS[m.RunCreated],
    MODELS[m.EffectRequested],
    MODELS[m.EffectResolved],
    MODELS[m.RunCompleted],
    MODELS[m.RunFailed],
)
TYPE_OF = {
    m.RunCreated: "RUN_CREATED",
    m.EffectRequested: "EFFECT_REQUESTED",
    m.EffectResolved: "EFFECT_RESOLVED",
    m.RunCompleted: "RUN_COMPLETED",
    m.RunFailed: "RUN_FAILED",
}


@given(
    data=data_models | st.builds(m.UnknownEventData, raw=json_objects),
    recorded_at=opt_text,
    sdk_version=opt_text,
    checksum=opt_text,
    top=st.dictionaries(st.sampled_from(["zz", "yy"]), json_values, max_size=2),
)
def test_journal_event_round_trip(
    data: m.EventData,
    recorded_at: str | None,
    sdk_version: str | None,
    checksum: str | None,
    top: dict[str, Any],
) -> None:
    """A journal file body (0.0.x, or 6.x with sdkVersion before checksum and harness after
    the data's own fields) survives structure_event -> unstructure_event, key order included."""
    event = m.JournalEvent(
        seq=3,
        ulid="01X",
        filename="000003.01X.json",
        type=TYPE_OF.get(type(data), "CUSTOM_EVENT"),
        recorded_at=recorded_at,
        data=data,
        sdk_version=sdk_version,
        checksum=checksum,
        extra=top,
    )
    body = unstructure_event(event)
    keys = list(body)
    if sdk_version is not None:
        assert keys[keys.index("data") + 1] == "sdkVersion"
        if checksum is not None:
            assert keys[keys.index("sdkVersion") + 1] == "checksum"
        data_keys = list(body["data"]) if isinstance(body["data"], dict) else []
        if "harness" in data_keys and isinstance(data, m.EffectResolved):
            assert data_keys[-1] == "harness" or data_keys[-2:] == ["harness", "sessionId"]
    again = structure_event(body, seq=3, ulid="01X", filename="000003.01X.json")
    assert again == event
    assert list(unstructure_event(again)) == keys


def test_unstructure_keeps_sdk_key_order() -> None:
    """Known keys come in field (SDK) order, absent ones omitted, extras after them."""
    resolved = m.EffectResolved(
        effect_id="e",
        status="error",
        error=m.EffectError(name="E", message="m", data=None),
        finished_at="f",
        extra={"later": 1},
    )
    assert unstructure(resolved) == {
        "effectId": "e",
        "status": "error",
        "error": {"name": "E", "message": "m", "data": None},
        "finishedAt": "f",
        "later": 1,
    }
    assert list(unstructure(resolved)) == ["effectId", "status", "error", "finishedAt", "later"]  # type: ignore[arg-type]
