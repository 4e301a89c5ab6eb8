"""Posting an effect's result: ``result.json`` plus ``EFFECT_RESOLVED``, as ``task:post``.

Rules kept here (the SDK's ``cli/main.js`` ``handleTaskPost``, ``runtime/commitEffectResult``,
``tasks/serializer.js`` ``serializeTaskResult`` and ``storage/tasks.js`` ``writeTaskResult``;
the bytes written are the SDK's):

- Input is checked before anything is touched: ``ok`` needs a value and no error; ``error``
  takes no value and, like ``task:post``, defaults its error to
  ``{name: "Error", message: "Task reported failure"}``; ``stdout`` and ``stdout_ref`` (and
  likewise stderr) exclude each other; refs must stay inside the run; values must be JSON.
  ``started_at``/``finished_at`` default to one "now", as ``task:post`` does.
- The effect must be requested and still pending, and an explicit ``invocation_key`` must be
  its own. This is checked once without the lock (so a refused post writes nothing) and
  again under the run lock after re-reading the journal; an unknown effect raises
  :class:`UnknownEffectError`, a resolved one :class:`AlreadyResolvedError`.
- ``result.json`` keys, in order: schemaVersion ``"2026.01.results-v1"``, effectId, taskId,
  invocationKey, status, result, resultRef, error, stdoutRef, stderrRef, startedAt,
  finishedAt, metadata, value (absent ones omitted). ``ok``: ``result`` and ``value`` are the
  value passed through ``stableClone`` (keys sorted with ``localeCompare``). ``error``:
  ``error`` is ``stableClone`` of ``{name, message, stack, data}`` (keys sorted).
  ``metadata`` is ``stableClone``-d.
- Blob spill: when ``JSON.stringify(stableClone(value), null, 2) + "\\n"`` is over 1 MiB of
  UTF-8 it is written to ``tasks/<id>/blobs/result-<sha256 of that text>.json`` and
  ``result.json`` carries ``resultRef`` to it instead of ``result``/``value``.
- ``stdout.log``/``stderr.log`` are written only when text is given; their refs
  ``tasks/<id>/stdout.log`` go into ``result.json`` and the event (an explicit ref wins).
- ``EFFECT_RESOLVED`` data, in order: effectId, status, resultRef (always
  ``tasks/<id>/result.json``), error (``error`` status only; ``name, message, stack, data``
  unsorted, ``data`` as given), stdoutRef, stderrRef, startedAt, finishedAt — appended by
  :func:`protocol.journal.append_event` (which puts ``harness`` first when the run has one).

Crash safety: logs, blob and ``result.json`` are written first (each atomically), the journal
append last. A crash in between leaves the effect still pending in the journal, with a
``result.json`` that no replay reads; the next post of that effect overwrites it. So the
journal alone says whether an effect is resolved, and a result is never half-committed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import cast

import attrs

from protocol import converter as cv
from protocol.clock import Clock, now_iso, system_ms
from protocol.errors import AlreadyResolvedError, InvalidValueError, UnknownEffectError
from protocol.fsutil import atomic_write, check_effect_id, encode_text, js_trim, safe_join
from protocol.journal import append_event, read_journal
from protocol.jsonjs import JsonValue, dumps, loads, stable_clone, to_file_text
from protocol.lock import LockOptions, RunLock
from protocol.models import (
    NO_VALUE,
    EffectError,
    EffectRecord,
    EffectResolved,
    Journal,
    MaybeJson,
    PostReceipt,
    ResultInput,
    Run,
    TaskResult,
)

__all__ = [
    "BLOB_THRESHOLD_BYTES",
    "RESULT_SCHEMA_VERSION",
    "effect_error_from_json",
    "post_result",
    "read_json_arg",
]

RESULT_SCHEMA_VERSION = "2026.01.results-v1"
BLOB_THRESHOLD_BYTES = 1024 * 1024

_DEFAULT_ERROR = EffectError(name="Error", message="Task reported failure")


def read_json_arg(path: Path) -> MaybeJson:
    """A JSON file read as ``task:post`` reads ``--value``/``--error``/``--metadata``: UTF-8,
    JS-trimmed, ``JSON.parse``-d; empty text is :data:`NO_VALUE`. ``JsonParseError`` if bad."""
    text = js_trim(Path(path).read_bytes().decode("utf-8", errors="replace"))
    return loads(text) if text else NO_VALUE


def _js_string(value: JsonValue) -> str:
    # String(x) for a JSON primitive.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return dumps(value)
    return str(value)


def effect_error_from_json(value: MaybeJson) -> EffectError:
    """The error ``task:post --error FILE`` records for the parsed file content.

    An object with a ``name`` key gives ``{name ?? "Error", message ?? "Task failed", stack
    (if a string), data}``; another object or array gives ``{name: "Object"/"Array", message:
    JSON.stringify(v), data: v}``; a primitive gives ``{name: "Error", message: String(v)}``;
    nothing (or ``null``) gives the default ``Task reported failure`` error.
    """
    if value is NO_VALUE or value is None:
        return _DEFAULT_ERROR
    if isinstance(value, dict) and "name" in value:
        name = value.get("name")
        message = value.get("message")
        stack = value.get("stack")
        name = "Error" if name is None else name
        message = "Task failed" if message is None else message
        if not isinstance(name, str) or not isinstance(message, str):
            raise InvalidValueError(
                f"error: expected string name and message, found {dumps(value.get('name'))} "
                f"and {dumps(value.get('message'))} — give the error as "
                '{"name": "...", "message": "..."}',
                None,
            )
        return EffectError(
            name=name,
            message=message,
            stack=stack if isinstance(stack, str) else None,
            data=value.get("data", NO_VALUE),
        )
    if isinstance(value, (dict, list)):
        return EffectError(
            name="Object" if isinstance(value, dict) else "Array",
            message=dumps(value, None),
            data=value,
        )
    return EffectError(name="Error", message=_js_string(value))


def _check_json(value: MaybeJson, what: str) -> str | None:
    if value is NO_VALUE:
        return None
    try:
        return dumps(stable_clone(value)) + "\n"
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(
            f"{what}: expected a JSON value, found {type(value).__name__} ({exc}) — pass "
            "only dict/list/str/int/float/bool/None",
            None,
        ) from None


def _read_text_arg(value: str | Path | None, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    try:
        return Path(value).read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise InvalidValueError(
            f"{value}: expected a readable {what} file, found {exc.strerror or exc} — pass an "
            f"existing file or the {what} text itself",
            str(value),
        ) from None


def _validate(result: ResultInput, effect_id: str) -> None:
    check_effect_id(effect_id, "effect id")
    where = f"result for {effect_id}"
    if result.status not in ("ok", "error"):
        raise InvalidValueError(
            f'{where}: expected status "ok" or "error", found {result.status!r} — use one of them',
            None,
        )
    if result.status == "ok":
        if result.error is not None:
            raise InvalidValueError(
                f"{where}: expected no error with status ok, found one — post status error "
                "instead, or drop the error",
                None,
            )
        if result.value is NO_VALUE:
            raise InvalidValueError(
                f"{where}: expected a value with status ok, found none — pass value= (JSON "
                "null is a value)",
                None,
            )
    elif result.value is not NO_VALUE:
        raise InvalidValueError(
            f"{where}: expected no value with status error, found one — put details in "
            "error.data, or post status ok",
            None,
        )
    for stream in ("stdout", "stderr"):
        if getattr(result, stream) is not None and getattr(result, f"{stream}_ref") is not None:
            raise InvalidValueError(
                f"{where}: expected either {stream} or {stream}_ref, found both — pass one "
                f"(task:post refuses --{stream}-ref with --{stream}-file)",
                None,
            )
    for ts in ("started_at", "finished_at"):
        value = getattr(result, ts)
        if value is not None and not isinstance(value, str):
            raise InvalidValueError(
                f"{where}: expected {ts} as an ISO timestamp string, found "
                f"{type(value).__name__} — pass e.g. 2026-01-01T00:00:00.000Z",
                None,
            )
    if result.metadata is not None and not isinstance(result.metadata, dict):
        raise InvalidValueError(
            f"{where}: expected metadata to be a JSON object, found "
            f"{type(result.metadata).__name__} — pass a dict",
            None,
        )


def _check_pending(
    journal: Journal, run: Run, effect_id: str, invocation_key: str | None
) -> EffectRecord:
    record = journal.effects.get(effect_id)
    if record is None:
        raise UnknownEffectError(
            f"{run.path}/journal: expected an EFFECT_REQUESTED for effect {effect_id}, found "
            "none — check the effect id (list pending effects with `babysit-plugin pending`)",
            str(run.path / "journal"),
        )
    if record.status != "requested":
        where = run.path / "journal" / (record.resolved_file or "")
        raise AlreadyResolvedError(
            f"{where}: expected effect {effect_id} to be pending, found it already resolved "
            f"({record.status}) — nothing was written; a second EFFECT_RESOLVED would break "
            "the run, so post only pending effects",
            str(where),
        )
    if invocation_key is not None and invocation_key != record.invocation_key:
        raise InvalidValueError(
            f"result for {effect_id}: expected invocationKey {record.invocation_key}, found "
            f"{invocation_key} — the result belongs to another invocation; post it for the "
            "right effect",
            None,
        )
    return record


def post_result(
    run: Run,
    effect_id: str,
    result: ResultInput,
    *,
    lock: LockOptions | None = None,
    clock: Clock = system_ms,
) -> PostReceipt:
    """Commit ``result`` for the pending effect ``effect_id`` exactly as ``task:post`` does.

    Raises :class:`InvalidValueError`, :class:`UnknownEffectError`,
    :class:`AlreadyResolvedError` (nothing written), :class:`UnsafePathError`,
    :class:`LockTimeoutError`.
    """
    _validate(result, effect_id)
    value_text = _check_json(result.value, f"value for {effect_id}")
    error = None
    if result.status == "error":
        # toSerializedEffectError keeps only name, message, stack and data.
        error = attrs.evolve(result.error or _DEFAULT_ERROR, extra={})
    if error is not None:
        _check_json(cv.unstructure(error), f"error for {effect_id}")
    if result.metadata is not None:
        _check_json(result.metadata, f"metadata for {effect_id}")
    stdout = _read_text_arg(result.stdout, "stdout")
    stderr = _read_text_arg(result.stderr, "stderr")
    for ref_name in ("stdout_ref", "stderr_ref"):
        ref = getattr(result, ref_name)
        if ref is not None:
            safe_join(run.path, ref, where=f"{ref_name} for {effect_id}")
    now = now_iso(clock)
    started_at = result.started_at if result.started_at is not None else now
    finished_at = result.finished_at if result.finished_at is not None else now

    # Checked before the lock too, so a refused post leaves the run untouched.
    _check_pending(read_journal(run), run, effect_id, result.invocation_key)

    options = lock or LockOptions()
    with RunLock.from_options(run, options):
        journal = read_journal(run)
        record = _check_pending(journal, run, effect_id, result.invocation_key)
        task_dir = safe_join(run.path, f"tasks/{effect_id}", where=f"tasks/{effect_id}")
        rel_dir = f"tasks/{effect_id}"

        # Blob spill first (serializeTaskResult), then logs and result.json (writeTaskResult).
        result_value: MaybeJson = NO_VALUE
        blob_ref: str | None = None
        if value_text is not None:
            data = encode_text(value_text)
            if len(data) > BLOB_THRESHOLD_BYTES:
                digest = hashlib.sha256(data).hexdigest()
                blob_ref = f"{rel_dir}/blobs/result-{digest}.json"
                atomic_write(safe_join(run.path, blob_ref, where=blob_ref), data)
            else:
                result_value = stable_clone(cast(JsonValue, result.value))
        stdout_ref = result.stdout_ref
        stderr_ref = result.stderr_ref
        if stdout is not None:
            written = f"{rel_dir}/stdout.log"
            atomic_write(safe_join(run.path, written, where=written), stdout)
            stdout_ref = stdout_ref or written
        if stderr is not None:
            written = f"{rel_dir}/stderr.log"
            atomic_write(safe_join(run.path, written, where=written), stderr)
            stderr_ref = stderr_ref or written
        task_result = TaskResult(
            schema_version=RESULT_SCHEMA_VERSION,
            effect_id=effect_id,
            task_id=record.task_id,
            invocation_key=record.invocation_key,
            status=result.status,
            result=result_value,
            result_ref=blob_ref,
            error=stable_clone(cv.unstructure(error)) if error is not None else NO_VALUE,
            stdout_ref=stdout_ref,
            stderr_ref=stderr_ref,
            started_at=started_at,
            finished_at=finished_at,
            metadata=cast(dict[str, JsonValue], stable_clone(result.metadata))
            if result.metadata is not None
            else None,
            value=result_value,
        )
        result_ref = f"{rel_dir}/result.json"
        atomic_write(task_dir / "result.json", to_file_text(cv.unstructure(task_result)))

        event = EffectResolved(
            effect_id=effect_id,
            status=result.status,
            result_ref=result_ref,
            error=error,
            stdout_ref=stdout_ref,
            stderr_ref=stderr_ref,
            started_at=started_at,
            finished_at=finished_at,
        )
        appended = append_event(
            run,
            journal,
            "EFFECT_RESOLVED",
            cast(dict[str, JsonValue], cv.unstructure(event)),
            clock=clock,
        )
    return PostReceipt(
        effect_id=effect_id,
        status=result.status,
        result_ref=result_ref,
        stdout_ref=stdout_ref,
        stderr_ref=stderr_ref,
        seq=appended.seq,
        ulid=appended.ulid,
        recorded_at=appended.recorded_at,
    )
