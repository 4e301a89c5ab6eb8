"""The journal reader enforces exactly the SDK's replay rules, with one-line messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kit import RunBuilder, iso_at, ulid_at

from protocol import (
    EffectRequested,
    JournalCorruptError,
    NotARunError,
    RunNotFoundError,
    UnknownEventData,
    open_run,
    read_journal,
)

A = "01EFFECTAAAAAAAAAAAAAAAAAA"
B = "01EFFECTBBBBBBBBBBBBBBBBBB"


@pytest.fixture
def rb(tmp_path: Path) -> RunBuilder:
    return RunBuilder(tmp_path)


def _error(rb: RunBuilder) -> JournalCorruptError:
    with pytest.raises(JournalCorruptError) as info:
        read_journal(open_run(rb.path))
    return info.value


def _repair(rb: RunBuilder) -> str:
    return f"run `babysitter run:repair-journal {rb.path}`"


def test_valid_journal_gives_events_effects_and_head(rb: RunBuilder) -> None:
    """A well-formed journal yields its events in order, its effects and its head."""
    rb.request(A)
    rb.request(B, labels=[" x ", "y", "x", ""])
    rb.resolve(A)
    journal = read_journal(open_run(rb.path))
    assert [e.type for e in journal.events] == [
        "RUN_CREATED",
        "EFFECT_REQUESTED",
        "EFFECT_REQUESTED",
        "EFFECT_RESOLVED",
    ]
    assert journal.head == (4, ulid_at(4))
    assert journal.effects[A].status == "ok"
    assert journal.effects[A].result_ref == f"tasks/{A}/result.json"
    assert journal.effects[A].resolved_seq == 4
    assert journal.effects[B].status == "requested"
    assert journal.effects[B].labels == ("x", "y")
    assert journal.effects[B].requested_at == iso_at(3)
    assert [r.effect_id for r in journal.pending] == [B]


def test_missing_journal_directory_is_an_empty_journal(rb: RunBuilder) -> None:
    """No journal/ at all reads as no events, as loadJournal's ENOENT case."""
    for f in (rb.path / "journal").iterdir():
        f.unlink()
    (rb.path / "journal").rmdir()
    journal = read_journal(open_run(rb.path))
    assert journal.events == ()
    assert journal.head is None


def test_only_json_files_are_read(rb: RunBuilder) -> None:
    """Temp files not ending in .json are ignored, as the SDK ignores them."""
    (rb.path / "journal" / "000002.XYZ.json.tmp-1-2").write_text("garbage")
    (rb.path / "journal" / ".000002.x.tmp").write_text("garbage")
    assert len(read_journal(open_run(rb.path)).events) == 1


def test_seq_gap(rb: RunBuilder) -> None:
    """A missing seq names the file, expected and found seq, and the repair command."""
    rb.request(A)
    name = rb.event("RUN_COMPLETED", {}, seq=9).name
    err = _error(rb)
    assert str(err) == (
        f"journal/{name}: expected seq 3 after 2, found 9 — the journal has a gap; {_repair(rb)}"
    )
    assert err.path == str(rb.path / "journal" / name)


def test_duplicate_seq(rb: RunBuilder) -> None:
    """Two files with one seq are reported as a duplicate."""
    name = rb.event("RUN_COMPLETED", {}, seq=1).name
    assert str(_error(rb)) == (
        f"journal/{name}: expected seq 2 after 1, found 1 — two events share a seq or are out "
        f"of order; {_repair(rb)}"
    )


def test_first_seq_must_be_one(tmp_path: Path) -> None:
    """The first event must be seq 1."""
    rb = RunBuilder(tmp_path)
    first = next((rb.path / "journal").iterdir())
    renamed = first.with_name("000002." + first.name.split(".", 1)[1])
    first.rename(renamed)
    assert str(_error(rb)) == (
        f"journal/{renamed.name}: expected seq 1 for the first event, found 2 — the journal "
        f"does not start at 1; {_repair(rb)}"
    )


def test_ulid_regression(rb: RunBuilder) -> None:
    """A ULID not greater than the previous one is reported with both ULIDs."""
    name = rb.event("RUN_COMPLETED", {}, ulid=ulid_at(0)).name
    assert str(_error(rb)) == (
        f"journal/{name}: expected a ULID greater than {ulid_at(1)} (journal/000001."
        f"{ulid_at(1)}.json), found {ulid_at(0)} — events are out of ULID order; {_repair(rb)}"
    )


def test_equal_ulid_is_a_regression(rb: RunBuilder) -> None:
    """Equal ULIDs fail too: each must be strictly greater."""
    name = rb.event("RUN_COMPLETED", {}, ulid=ulid_at(1)).name
    assert "expected a ULID greater than" in str(_error(rb))
    assert str(_error(rb)).startswith(f"journal/{name}:")


def test_unparsable_file_reported_before_earlier_seq_errors(rb: RunBuilder) -> None:
    """Every file is parsed before any is checked, as loadJournal runs before EffectIndex."""
    rb.event("RUN_COMPLETED", {}, seq=5)
    bad = rb.path / "journal" / f"000009.{ulid_at(9)}.json"
    bad.write_text('{"type": "EFFECT_REQUESTED", "data": {')
    message = str(_error(rb))
    assert message.startswith(f"journal/{bad.name}: expected a JSON event, found unparsable text (")
    assert message.endswith(f"— the file is damaged; {_repair(rb)} (it drops unreadable events)")


def test_null_file_fails(rb: RunBuilder) -> None:
    """A file holding JSON null fails (the SDK reads null.type)."""
    bad = rb.path / "journal" / f"000002.{ulid_at(2)}.json"
    bad.write_text("null\n")
    assert str(_error(rb)) == (
        f"journal/{bad.name}: expected a JSON event object, found null — the file is damaged; "
        f"{_repair(rb)} (it drops unreadable events)"
    )


def test_bad_file_name(rb: RunBuilder) -> None:
    """A .json name without a ULID part fails like parseJournalFilename."""
    (rb.path / "journal" / "000002.json").write_text("{}")
    assert str(_error(rb)) == (
        "journal/000002.json: expected a name <seq>.<ULID>.json, found '000002.json' — move the "
        f"file out of journal/ (the SDK fails on it), then {_repair(rb)}"
    )


def test_non_numeric_seq_name(rb: RunBuilder) -> None:
    """A name whose seq part is not a number fails."""
    (rb.path / "journal" / "abc.01X.json").write_text("{}")
    assert "expected a name <seq>.<ULID>.json, found 'abc.01X.json'" in str(_error(rb))


@pytest.mark.parametrize(
    ("field", "value", "found"),
    [
        ("effectId", None, "nothing"),
        ("invocationKey", "", '""'),
        ("stepId", 7, "7"),
        ("taskId", ["x"], "an array"),
        ("taskDefRef", {"a": 1}, "an object"),
    ],
)
def test_requested_required_fields(rb: RunBuilder, field: str, value: object, found: str) -> None:
    """EFFECT_REQUESTED needs five non-empty strings; the first missing one is named."""
    data = {
        "effectId": A,
        "invocationKey": "k",
        "stepId": "S1",
        "taskId": "t",
        "taskDefRef": f"tasks/{A}/task.json",
    }
    if value is None:
        del data[field]
    else:
        data[field] = value  # type: ignore[assignment]
    name = rb.event("EFFECT_REQUESTED", data).name
    assert str(_error(rb)) == (
        f"journal/{name}: expected EFFECT_REQUESTED data.{field} to be a non-empty string, "
        f"found {found} — the event is malformed; restore the file or move it out of "
        f"journal/, then {_repair(rb)}"
    )


def test_requested_data_not_object(rb: RunBuilder) -> None:
    """EFFECT_REQUESTED data that is no object fails."""
    name = rb.event("EFFECT_REQUESTED", "text").name
    assert str(_error(rb)) == (
        f'journal/{name}: expected EFFECT_REQUESTED data to be an object, found "text" — the '
        f"event is malformed; restore the file or move it out of journal/, then {_repair(rb)}"
    )


def test_requested_array_data_lacks_effect_id(rb: RunBuilder) -> None:
    """An array passes the SDK's object check and then lacks effectId."""
    rb.event("EFFECT_REQUESTED", [1])
    assert "expected EFFECT_REQUESTED data.effectId to be a non-empty string, found nothing" in (
        str(_error(rb))
    )


def test_requested_null_inputs_ref(rb: RunBuilder) -> None:
    """inputsRef: null is not undefined: the SDK fails it."""
    name = rb.request(A, inputsRef=None).name
    assert str(_error(rb)).startswith(
        f"journal/{name}: expected EFFECT_REQUESTED data.inputsRef to be a non-empty string "
        "when present, found null — the event is malformed"
    )


def test_requested_labels_must_be_strings(rb: RunBuilder) -> None:
    """labels must be an array of strings."""
    name = rb.request(A, labels=["a", 3]).name
    assert str(_error(rb)).startswith(
        f"journal/{name}: expected EFFECT_REQUESTED data.labels to hold only strings, found 3"
    )
    rb2 = RunBuilder(rb.path.parent.parent.parent / "other")
    name = rb2.request(A, labels="a").name
    assert str(_error(rb2)).startswith(
        f"journal/{name}: expected EFFECT_REQUESTED data.labels to be an array when present, "
        'found "a"'
    )


def test_duplicate_effect_id(rb: RunBuilder) -> None:
    """A second request with the same effectId names the first file."""
    first = rb.request(A).name
    second = rb.request(A, key="other-key").name
    assert str(_error(rb)) == (
        f"journal/{second}: expected a new effectId, found {A} already requested in "
        f"journal/{first} — two requests share an effect id; move the later file out of "
        f"journal/, then {_repair(rb)}"
    )


def test_duplicate_invocation_key(rb: RunBuilder) -> None:
    """A second request with the same invocationKey names the first file."""
    first = rb.request(A, key="same").name
    second = rb.request(B, key="same").name
    assert str(_error(rb)) == (
        f"journal/{second}: expected a new invocationKey, found same already requested in "
        f"journal/{first} — a duplicate request; {_repair(rb)} (it drops duplicate requests)"
    )


def test_resolved_twice(rb: RunBuilder) -> None:
    """A second EFFECT_RESOLVED for one effect breaks the run; the first file is named."""
    rb.request(A)
    first = rb.resolve(A).name
    second = rb.resolve(A).name
    assert str(_error(rb)) == (
        f"journal/{second}: expected one EFFECT_RESOLVED for effect {A}, found a second (the "
        f"first is journal/{first}) — the SDK fails every replay of this run; move this file "
        f"out of journal/ (the first result stands), then {_repair(rb)}"
    )


def test_resolved_unknown_effect(rb: RunBuilder) -> None:
    """An EFFECT_RESOLVED for an effect never requested fails."""
    name = rb.event("EFFECT_RESOLVED", {"effectId": A, "status": "ok"}).name
    assert str(_error(rb)) == (
        f"journal/{name}: expected EFFECT_RESOLVED for a requested effect, found unknown "
        f"effectId {A} — the result belongs to no request; move the file out of journal/, "
        f"then {_repair(rb)}"
    )


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (None, "expected EFFECT_RESOLVED data.status, found null"),
        ("", 'expected EFFECT_RESOLVED data.status, found ""'),
        ("done", 'expected EFFECT_RESOLVED data.status "ok" or "error", found "done"'),
        (1, 'expected EFFECT_RESOLVED data.status "ok" or "error", found 1'),
    ],
)
def test_resolved_status(rb: RunBuilder, status: object, message: str) -> None:
    """status must be "ok" or "error"."""
    rb.request(A)
    name = rb.event("EFFECT_RESOLVED", {"effectId": A, "status": status}).name
    assert str(_error(rb)).startswith(f"journal/{name}: {message} — the event is malformed")


def test_resolved_ref_must_be_string_when_truthy(rb: RunBuilder) -> None:
    """A truthy non-string resultRef fails; a falsy one passes, as in the SDK."""
    rb.request(A)
    rb.request(B)
    rb.event("EFFECT_RESOLVED", {"effectId": B, "status": "ok", "resultRef": 0})
    name = rb.event("EFFECT_RESOLVED", {"effectId": A, "status": "ok", "stdoutRef": 5}).name
    assert str(_error(rb)).startswith(
        f"journal/{name}: expected EFFECT_RESOLVED data.stdoutRef to be a string, found 5"
    )


def test_unknown_types_and_loose_fields_are_kept(rb: RunBuilder) -> None:
    """Unknown event types and off-type optional fields are kept, not refused."""
    rb.event("STOP_HOOK_INVOKED", {"any": [1, 2]})
    rb.request(A, label=5, extraField={"z": 1})
    rb.event(42, {"x": 1})
    journal = read_journal(open_run(rb.path))
    assert journal.events[1].data == UnknownEventData(raw={"any": [1, 2]})
    requested = journal.events[2].data
    assert isinstance(requested, EffectRequested)
    assert requested.label is None
    assert requested.extra == {"extraField": {"z": 1}, "label": 5}
    assert journal.events[3].type == "UNKNOWN"
    assert journal.events[3].extra == {"type": 42}
    assert journal.effects[A].label is None


def test_open_run_missing_dir(tmp_path: Path) -> None:
    """A missing run directory raises RunNotFoundError naming it."""
    missing = tmp_path / "nope"
    with pytest.raises(RunNotFoundError) as info:
        open_run(missing)
    assert str(info.value) == (
        f"{missing}: expected a run directory, found nothing there — pass an existing "
        "<repo>/.a5c/runs/<runId> directory"
    )
    assert isinstance(info.value, FileNotFoundError)


def test_open_run_without_run_json(tmp_path: Path) -> None:
    """A directory without run.json is not a run."""
    with pytest.raises(NotARunError) as info:
        open_run(tmp_path)
    assert str(info.value) == (
        f"{tmp_path}/run.json: expected the run's metadata, found no such file — this is not "
        "a babysitter run directory; pass <repo>/.a5c/runs/<runId>"
    )


def test_open_run_without_run_id(tmp_path: Path) -> None:
    """run.json without runId is refused with the JSON path."""
    (tmp_path / "run.json").write_text('{"processId": "p"}')
    with pytest.raises(NotARunError) as info:
        open_run(tmp_path)
    assert str(info.value) == (
        f"{tmp_path}/run.json: required field missing @ $.runId — restore run.json as the SDK "
        "wrote it (it needs a string runId)"
    )


def test_open_run_paths(rb: RunBuilder) -> None:
    """open_run gives an absolute path and the repo root three levels up."""
    cwd = os.getcwd()
    try:
        os.chdir(rb.path.parent)
        run = open_run(rb.path.name)
    finally:
        os.chdir(cwd)
    assert run.path == rb.path
    assert run.repo_root == rb.path.parent.parent.parent
    assert run.metadata.run_id == rb.path.name
    assert run.metadata.extra["layoutVersion"] == "2026.01-storage-preview"
