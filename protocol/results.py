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
  unsorted, ``data`` as given), stdoutRef, stderrRef, startedAt, finishedAt — in an event
  file written as the SDK's ``appendEvent`` writes one (``harness`` first when the run has
  one, ``checksum`` last; see :mod:`protocol.journal`).

Committing, in two steps (:func:`post_results` does both; :func:`post_result` is a batch of
one):

1. :func:`prepare_result`, without the lock: the input is checked, the effect must be pending
   in the journal as read now (or as the caller read it), and every file is written to a
   temp file in its final directory and fsynced (an empty one needs no fsync): the blob,
   ``stdout.log``, ``stderr.log``, ``result.json``, and the ``EFFECT_RESOLVED`` event itself
   (``journal/``; its content holds no seq or ULID, which only its file name carries). Temp
   names are ``.<name>.<random>.p<pid>.tmp``: they do not end in ``.json`` and do not start
   with a digit (see :mod:`protocol.fsutil`).
2. :func:`commit_results`, under the run lock, for any number of prepared results (one lock
   hold for all): the journal is re-read incrementally (:class:`JournalReader`), every effect
   is checked again (pending, not resolved earlier in the same batch, the prepared
   ``taskId``/``invocationKey`` still its own), then the result files of every accepted one
   are renamed into place and their directories fsynced (``sync_dirs``), then the event
   files are renamed to ``<seq>.<ULID>.json`` (seqs following the head, ULIDs strictly
   increasing) and ``journal/`` is fsynced once. ``recordedAt`` is the time the result was
   prepared: events of a batch are committed in that order, but one may be a little older
   than an event committed before it (by the time it waited for the lock); the SDK reads
   ``recordedAt`` only as ``resolvedAt`` and orders the journal by seq and ULID alone. An
   event prepared for a run whose ``harness`` has changed since is rewritten under the lock.
   A refused result (already resolved, unknown) is returned as its error and its temp files
   are deleted: the run directory is left as it was.

Crash safety: the lock covers the re-check and the moment ``result.json`` appears at its final
path, so of two racing posts only the winner's ``result.json`` is ever renamed into place.
Result files become visible (and durable) before their event; a crash in between leaves the
effect pending in the journal with a ``result.json`` no replay reads, which the next post
overwrites. So the journal alone says whether an effect is resolved. A crash before the
renames leaves only temp files, which no reader takes for data; :func:`sweep_temps` (and every
commit, for ``journal/``) deletes those of processes that no longer exist.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import attrs

from protocol import converter as cv
from protocol.clock import Clock, iso_from_ms, system_ms
from protocol.errors import (
    AlreadyResolvedError,
    EffectCancelledError,
    InvalidValueError,
    JournalCorruptError,
    ProtocolError,
    RunTerminalError,
    UnknownEffectError,
)
from protocol.fsutil import check_effect_id, encode_text, fsync_dir, js_trim, safe_join
from protocol.journal import (
    JournalReader,
    event_file_text,
    js_truthy,
    read_json_file,
    repair_hint,
    run_harness,
    writer_sdk_version,
)
from protocol.jsonjs import JsonValue, dumps, js_string, loads, stable_clone, to_file_text
from protocol.lines import SdkLine, ambient_session_id
from protocol.lock import LockOptions, RunLock, pid_alive
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
from protocol.statecache import write_state_cache
from protocol.ulid import next_ulid

__all__ = [
    "BLOB_THRESHOLD_BYTES",
    "RESULT_SCHEMA_VERSION",
    "PreparedResult",
    "as_committed",
    "commit_results",
    "discard_prepared",
    "effect_error_from_json",
    "post_result",
    "post_results",
    "prepare_result",
    "read_json_arg",
    "sweep_temps",
]

RESULT_SCHEMA_VERSION = "2026.01.results-v1"
BLOB_THRESHOLD_BYTES = 1024 * 1024

_DEFAULT_ERROR = EffectError(name="Error", message="Task reported failure")


def read_json_arg(path: Path) -> MaybeJson:
    """A JSON file read as ``task:post`` reads ``--value``/``--error``/``--metadata``: UTF-8,
    JS-trimmed, ``JSON.parse``-d; empty text is :data:`NO_VALUE`. ``JsonParseError`` if bad."""
    text = js_trim(Path(path).read_bytes().decode("utf-8", errors="replace"))
    return loads(text) if text else NO_VALUE


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
    return EffectError(name="Error", message=js_string(value))


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
    if record.status == "cancelled":
        where = run.path / "journal" / (record.resolved_file or "")
        reason = f" ({record.cancel_reason})" if record.cancel_reason else ""
        raise EffectCancelledError(
            f"{where}: expected effect {effect_id} to be pending, found it cancelled with "
            f"task:cancel at {record.resolved_at}{reason} — nothing was written; a cancelled "
            "effect is final, its result is not wanted",
            str(where),
        )
    if journal.terminal:
        last = journal.lifecycle_event
        where = run.path / "journal" / (last.filename if last is not None else "")
        raise RunTerminalError(
            f"{where}: expected a run that waits on effect {effect_id}, found it "
            f"{journal.status} — nothing was written; the SDK performs nothing more for "
            "this run",
            str(where),
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


# --- journal reading -------------------------------------------------------------------------

_READERS: dict[Path, JournalReader] = {}
_READERS_KEPT = 16


def _journal(run: Run) -> Journal:
    """The run's journal now, parsing only what was appended since this process last read it."""
    reader = _READERS.get(run.path)
    if reader is None:
        for oldest in list(_READERS)[: max(0, len(_READERS) - _READERS_KEPT + 1)]:
            _READERS.pop(oldest, None)
        reader = _READERS.setdefault(run.path, JournalReader(run))
    return reader.read()


# --- temp files ------------------------------------------------------------------------------

_TEMP = re.compile(r"^\..+\.[0-9a-f]{12}\.p([0-9]{1,10})\.tmp$")


def _write_temp(directory: Path, name: str, data: bytes) -> Path:
    """``data`` in a new fsynced temp file beside ``directory/name``; its path.

    An empty file is not fsynced: it has no data to lose, and its creation is made durable
    with its final name by the directory fsync after the rename.
    """
    tmp = directory / f".{name}.{secrets.token_hex(6)}.p{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if data:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def _sweep_dir(directory: Path) -> list[Path]:
    """Delete the temp files in ``directory`` left by processes that no longer exist."""
    removed: list[Path] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        match = _TEMP.match(name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(directory / name)
            removed.append(directory / name)
    return removed


def sweep_temps(run: Run) -> list[Path]:
    """Delete the temp files of posts whose process died before committing; their paths.

    Looks in ``journal/``, every ``tasks/<id>/`` and ``tasks/<id>/blobs/``. Temp files of a
    live process (it may still commit them) are kept.
    """
    removed = _sweep_dir(run.path / "journal")
    tasks = run.path / "tasks"
    try:
        task_dirs = [tasks / name for name in sorted(os.listdir(tasks))]
    except OSError:
        return removed
    for task_dir in task_dirs:
        if task_dir.is_symlink() or not task_dir.is_dir():
            continue
        removed += _sweep_dir(task_dir)
        blobs = task_dir / "blobs"
        if blobs.is_dir() and not blobs.is_symlink():
            removed += _sweep_dir(blobs)
    return removed


# --- preparing -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PreparedResult:
    """A result written to temp files, ready for :func:`commit_results`.

    ``files`` are (temp, final) pairs: blob, ``stdout.log``, ``stderr.log``, ``result.json``,
    in that order. ``event_file`` holds the ``EFFECT_RESOLVED`` event recorded at
    ``recorded_ms`` for a run whose harness was ``harness``. Pass it to
    :func:`commit_results` or :func:`discard_prepared`, exactly once.
    """

    run_path: Path
    effect_id: str
    status: str
    invocation_key: str | None
    task_result: TaskResult
    files: tuple[tuple[Path, Path], ...]
    event_data: dict[str, JsonValue]
    harness: str | None
    recorded_ms: int
    line: SdkLine
    sdk_version: str | None
    session_id: str | None
    event_file: Path
    result_ref: str
    stdout_ref: str | None
    stderr_ref: str | None
    created_dirs: tuple[Path, ...] = ()

    @property
    def recorded_at(self) -> str:
        return iso_from_ms(self.recorded_ms)

    def temps(self) -> list[Path]:
        return [tmp for tmp, _ in self.files] + [self.event_file]


def _event_bytes(
    line: SdkLine,
    data: dict[str, JsonValue],
    *,
    harness: str | None,
    recorded_at: str,
    sdk_version: str | None,
    session_id: str | None,
) -> bytes:
    # appendEvent of the run's line: harness (first on 0.0.x, after the fields on 6.x),
    # 6.x's sessionId and sdkVersion.
    text, _, _ = event_file_text(
        line,
        "EFFECT_RESOLVED",
        recorded_at,
        data,
        harness=harness,
        sdk_version=sdk_version,
        session_id=session_id,
    )
    return encode_text(text)


def _shell_failure_value(
    payload: MaybeJson, error: EffectError | None, stdout: str | None, stderr: str | None
) -> JsonValue:
    """6.x ``task:post``'s ``coerceShellFailureResult`` for a shell effect posted as error."""
    if payload is NO_VALUE:
        if error is None:
            payload = {"name": "Error", "message": "Task reported failure"}
        else:
            payload = cast(dict[str, JsonValue], cv.unstructure(error))
    data: dict[str, JsonValue] | None = None
    if isinstance(payload, dict):
        inner = payload.get("data")
        data = inner if isinstance(inner, dict) else payload

    def text(key: str) -> str | None:
        value = data.get(key) if data is not None else None
        return value if isinstance(value, str) else None

    exit_value = data.get("exitCode") if data is not None else None
    exit_code: JsonValue = 1
    if (
        isinstance(exit_value, (int, float))
        and not isinstance(exit_value, bool)
        and math.isfinite(exit_value)
    ):
        exit_code = exit_value
    message = text("error")
    if message is None:
        message = text("message")
    if message is None:
        message = f"Shell command exited with code {dumps(exit_code)}"
    return {
        "success": False,
        "exitCode": exit_code,
        "stdout": stdout if stdout is not None else (text("stdout") or ""),
        "stderr": stderr if stderr is not None else (text("stderr") or ""),
        "error": message,
    }


def _breakpoint_id(run: Run, record: EffectRecord) -> JsonValue:
    """6.x: ``metadata.breakpointId`` of a breakpoint's ``task.json`` when truthy."""
    if record.kind != "breakpoint" and record.task_id != "__sdk.breakpoint":
        return None
    try:
        raw = read_json_file(safe_join(run.path, f"tasks/{record.effect_id}/task.json"))
    except (OSError, ProtocolError, ValueError):
        return None  # the SDK skips the enrichment when task.json is unreadable
    metadata = raw.get("metadata") if isinstance(raw, dict) else None
    value = metadata.get("breakpointId") if isinstance(metadata, dict) else None
    return value if js_truthy(value) else None


def _result_bytes(task_result: TaskResult) -> bytes:
    return encode_text(to_file_text(cv.unstructure(task_result)))


def as_committed(run: Run, kind: str | None, result: ResultInput) -> ResultInput:
    """``result`` as the run's line commits it, which is what 6.x's ``task:post`` checks
    against ``outputSchema`` and hands to ``task.completed`` hooks: on 6.x an error result
    of a ``shell`` effect becomes the ``ok`` ``{success: false, ...}`` value
    (``coerceShellFailureResult``); anything else is returned as it is."""
    if not (run.line.shell_error_as_ok and result.status == "error" and kind == "shell"):
        return result
    stdout = _read_text_arg(result.stdout, "stdout")
    stderr = _read_text_arg(result.stderr, "stderr")
    coerced = _shell_failure_value(result.error_payload, result.error, stdout, stderr)
    return attrs.evolve(result, status="ok", value=coerced, error=None)


def prepare_result(
    run: Run,
    effect_id: str,
    result: ResultInput,
    *,
    clock: Clock = system_ms,
    journal: Journal | None = None,
) -> PreparedResult:
    """Check ``result`` and write its files to temp files (no lock taken, nothing visible).

    ``journal``: the run's journal as read earlier (it may be out of date: the commit checks
    again under the lock); by default it is read now. Raises :class:`InvalidValueError`,
    :class:`UnknownEffectError`, :class:`AlreadyResolvedError`, :class:`UnsafePathError`
    (nothing written), :class:`JournalCorruptError`.
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
    now = clock()
    started_at = result.started_at if result.started_at is not None else iso_from_ms(now)
    finished_at = result.finished_at if result.finished_at is not None else iso_from_ms(now)

    # Checked before anything is written, so a refused post leaves the run untouched.
    known = journal if journal is not None else _journal(run)
    record = _check_pending(known, run, effect_id, result.invocation_key)
    line = run.line
    if (
        line.signed_breakpoints
        and result.status == "ok"
        and (record.kind == "breakpoint" or record.task_id == "__sdk.breakpoint")
        and os.environ.get("POLICY_CONFIG_ROOT_FP")
    ):
        raise InvalidValueError(
            f"result for {effect_id}: expected a breakpoint answer babysit-plugin may commit, "
            "found signed-breakpoint enforcement pinned (POLICY_CONFIG_ROOT_FP) — the plugin "
            "does not verify signed answers; post it with `babysitter task:post`, which does",
            None,
        )
    if line.shell_error_as_ok and result.status == "error" and record.kind == "shell":
        coerced = _shell_failure_value(result.error_payload, result.error, stdout, stderr)
        result = attrs.evolve(result, status="ok", value=coerced, error=None)
        value_text = _check_json(coerced, f"value for {effect_id}")
        error = None
    sdk_version = writer_sdk_version(run, known)

    rel_dir = f"tasks/{effect_id}"
    task_dir = safe_join(run.path, rel_dir, where=rel_dir)
    journal_dir = run.path / "journal"
    created: list[Path] = []
    files: list[tuple[Path, Path]] = []

    def make_dir(directory: Path) -> None:
        missing: list[Path] = []
        for d in (directory, *directory.parents):
            if d.is_dir():
                break
            missing.append(d)
        if missing:
            directory.mkdir(parents=True, exist_ok=True)
            created.extend(missing)  # deepest first

    def stage(rel: str, data: bytes) -> None:
        final = safe_join(run.path, rel, where=rel)
        make_dir(final.parent)
        files.append((_write_temp(final.parent, final.name, data), final))

    try:
        _sweep_dir(task_dir)
        # Blob spill first (serializeTaskResult), then logs and result.json (writeTaskResult).
        result_value: MaybeJson = NO_VALUE
        blob_ref: str | None = None
        if value_text is not None:
            data = encode_text(value_text)
            if len(data) > BLOB_THRESHOLD_BYTES:
                blob_ref = f"{rel_dir}/blobs/result-{hashlib.sha256(data).hexdigest()}.json"
                stage(blob_ref, data)
            else:
                result_value = stable_clone(cast(JsonValue, result.value))
        stdout_ref = result.stdout_ref
        stderr_ref = result.stderr_ref
        if stdout is not None:
            stage(f"{rel_dir}/stdout.log", encode_text(stdout))
            stdout_ref = stdout_ref or f"{rel_dir}/stdout.log"
        if stderr is not None:
            stage(f"{rel_dir}/stderr.log", encode_text(stderr))
            stderr_ref = stderr_ref or f"{rel_dir}/stderr.log"
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
            sdk_version=sdk_version,
        )
        result_ref = f"{rel_dir}/result.json"
        make_dir(task_dir)
        files.append(
            (
                _write_temp(task_dir, "result.json", _result_bytes(task_result)),
                task_dir / "result.json",
            )
        )
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
        event_data = cast(dict[str, JsonValue], cv.unstructure(event))
        if line.breakpoint_id:
            breakpoint_id = _breakpoint_id(run, record)
            if breakpoint_id is not None:
                event_data["breakpointId"] = breakpoint_id
        harness = run_harness(run.path)
        session_id = ambient_session_id(harness, os.environ) if line.session_id else None
        make_dir(journal_dir)
        event_file = _write_temp(
            journal_dir,
            "EFFECT_RESOLVED",
            _event_bytes(
                line,
                event_data,
                harness=harness,
                recorded_at=iso_from_ms(now),
                sdk_version=sdk_version,
                session_id=session_id,
            ),
        )
    except BaseException:
        _remove([tmp for tmp, _ in files], created)
        raise
    return PreparedResult(
        run_path=run.path,
        effect_id=effect_id,
        status=result.status,
        invocation_key=result.invocation_key,
        task_result=task_result,
        files=tuple(files),
        event_data=event_data,
        harness=harness,
        recorded_ms=now,
        line=line,
        sdk_version=sdk_version,
        session_id=session_id,
        event_file=event_file,
        result_ref=result_ref,
        stdout_ref=stdout_ref,
        stderr_ref=stderr_ref,
        created_dirs=tuple(created),
    )


def _remove(temps: Sequence[Path], dirs: Sequence[Path] = ()) -> None:
    for tmp in temps:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    for directory in dirs:
        with contextlib.suppress(OSError):
            directory.rmdir()  # only when empty: what this post created and left unused


def discard_prepared(prepared: Sequence[PreparedResult]) -> None:
    """Delete the temp files (and the directories made for them) of uncommitted results."""
    for p in prepared:
        _remove(p.temps(), p.created_dirs)


# --- committing ------------------------------------------------------------------------------


@attrs.frozen
class _Slot:
    """One accepted result of a batch: where its event goes."""

    index: int
    prepared: PreparedResult
    seq: int
    ulid: str
    filename: str
    recorded_at: str


#: How a commit fsyncs the directories its results were renamed into (the lock is held):
#: one after another by default; a caller with threads may pass one that fsyncs them at once.
SyncDirs = Callable[[Sequence[Path]], None]


def fsync_dirs(directories: Sequence[Path]) -> None:
    """fsync each directory, one after another."""
    for directory in directories:
        fsync_dir(directory)


def install_result_files(prepared: PreparedResult) -> None:
    """Rename a prepared result's files (``result.json`` last) into place; lock held."""
    for tmp, final in prepared.files:
        os.replace(tmp, final)


def install_event(tmp: Path, final: Path) -> None:
    """Rename a prepared event to its ``<seq>.<ULID>.json`` name; lock held."""
    os.replace(tmp, final)


def _refresh(slot_prepared: PreparedResult, record: EffectRecord) -> PreparedResult:
    """The prepared result with ``result.json`` rewritten for the record as read now."""
    task_result = attrs.evolve(
        slot_prepared.task_result, task_id=record.task_id, invocation_key=record.invocation_key
    )
    *others, (old_tmp, final) = slot_prepared.files
    tmp = _write_temp(final.parent, final.name, _result_bytes(task_result))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(old_tmp)
    return attrs.evolve(slot_prepared, task_result=task_result, files=(*others, (tmp, final)))


def _rerecord(prepared: PreparedResult, harness: str | None) -> PreparedResult:
    """The prepared result with its event rewritten for a run whose harness is ``harness``."""
    journal_dir = prepared.event_file.parent
    data = _event_bytes(
        prepared.line,
        prepared.event_data,
        harness=harness,
        recorded_at=prepared.recorded_at,
        sdk_version=prepared.sdk_version,
        session_id=ambient_session_id(harness, os.environ) if prepared.line.session_id else None,
    )
    tmp = _write_temp(journal_dir, "EFFECT_RESOLVED", data)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(prepared.event_file)
    return attrs.evolve(prepared, event_file=tmp, harness=harness)


def commit_locked(
    run: Run,
    prepared: Sequence[PreparedResult],
    out: list[PostReceipt | ProtocolError | None],
    sync_dirs: SyncDirs = fsync_dirs,
) -> list[PreparedResult]:
    """The part of :func:`commit_results` done under the run lock; fills ``out``.

    Returns the prepared results as finally committed or refused (some rewritten), whose
    remaining temp files the caller deletes.
    """
    journal = _journal(run)
    journal_dir = run.path / "journal"
    harness = run_harness(run.path)
    head = journal.head
    seq = head[0] if head is not None else 0
    prev_ulid = head[1] if head is not None else None
    resolved_here: dict[str, str] = {}
    slots: list[_Slot] = []
    final = list(prepared)
    # In the order the results were prepared, so recordedAt grows within a batch.
    for index in sorted(range(len(prepared)), key=lambda i: prepared[i].recorded_ms):
        p = prepared[index]
        try:
            if p.effect_id in resolved_here:
                where = journal_dir / resolved_here[p.effect_id]
                raise AlreadyResolvedError(
                    f"{where}: expected effect {p.effect_id} to be pending, found it resolved "
                    "by an earlier result of the same batch — nothing was written for this "
                    "one; post each effect once",
                    str(where),
                )
            record = _check_pending(journal, run, p.effect_id, p.invocation_key)
        except ProtocolError as exc:
            out[index] = exc
            continue
        if (record.task_id, record.invocation_key) != (
            p.task_result.task_id,
            p.task_result.invocation_key,
        ):
            p = _refresh(p, record)
        if p.harness != harness:
            p = _rerecord(p, harness)
        final[index] = p
        seq += 1
        try:
            ulid = next_ulid(p.recorded_ms, prev_ulid)
        except ValueError:
            last = journal.entries[-1].filename if journal.entries else "?"
            raise JournalCorruptError(
                f"journal/{last}: expected a canonical ULID in the last file name, found "
                f"{prev_ulid!r} — no new ULID can sort after it; {repair_hint(run.path)}",
                str(journal_dir / last),
            ) from None
        prev_ulid = ulid
        filename = f"{seq:06d}.{ulid}.json"
        resolved_here[p.effect_id] = filename
        slots.append(_Slot(index, p, seq, ulid, filename, p.recorded_at))
    if not slots:
        return final
    # Results first, made durable; then the events that point at them.
    for slot in slots:
        install_result_files(slot.prepared)
    sync_dirs(list(dict.fromkeys(f.parent for s in slots for _, f in s.prepared.files)))
    for slot in slots:
        install_event(slot.prepared.event_file, journal_dir / slot.filename)
        p = slot.prepared
        out[slot.index] = PostReceipt(
            effect_id=p.effect_id,
            status="ok" if p.status == "ok" else "error",
            result_ref=p.result_ref,
            stdout_ref=p.stdout_ref,
            stderr_ref=p.stderr_ref,
            seq=slot.seq,
            ulid=slot.ulid,
            recorded_at=slot.recorded_at,
        )
    fsync_dir(journal_dir)
    if run.line.rebuilds_state_cache:
        # task:post's rebuildStateCache, once for the batch: the cache as the last post of
        # the batch leaves it.
        write_state_cache(run, _journal(run), slots[-1].prepared.sdk_version)
    return final


def commit_results(
    run: Run,
    prepared: Sequence[PreparedResult],
    *,
    lock: LockOptions | None = None,
    sync_dirs: SyncDirs = fsync_dirs,
) -> list[PostReceipt | ProtocolError]:
    """Commit prepared results in one hold of the run lock (see the module docstring).

    ``sync_dirs`` fsyncs the directories the result files were renamed into, before any
    event is renamed into ``journal/`` (the default: one after another).

    Returns, in input order, a receipt for each committed result and the error of each
    refused one (:class:`AlreadyResolvedError`, :class:`UnknownEffectError`,
    :class:`InvalidValueError` for a foreign invocation key), whose files are deleted.
    Raises (every temp file deleted, the journal unchanged) :class:`LockTimeoutError` and
    :class:`JournalCorruptError`; an ``OSError`` while renaming may leave earlier results
    of the batch committed, as a crash would.
    """
    out: list[PostReceipt | ProtocolError | None] = [None] * len(prepared)
    final = list(prepared)
    try:
        if prepared:
            _sweep_dir(run.path / "journal")
            if run.path not in _READERS:
                # First read outside the lock: the one under it parses only what is new.
                _journal(run)
            with RunLock.from_options(run, lock or LockOptions()):
                final = commit_locked(run, prepared, out, sync_dirs)
    finally:
        # Committed temps are gone (renamed); what is left was refused or never committed.
        discard_prepared(final)
    done: list[PostReceipt | ProtocolError] = []
    for item in out:
        assert item is not None
        done.append(item)
    return done


# --- posting ---------------------------------------------------------------------------------


def post_results(
    run: Run,
    items: Sequence[tuple[str, ResultInput]],
    *,
    lock: LockOptions | None = None,
    clock: Clock = system_ms,
) -> list[PostReceipt | ProtocolError]:
    """Post several results, committing them all in one hold of the run lock.

    Returns, in input order, a :class:`PostReceipt` for each committed result and the
    :class:`ProtocolError` of each refused one (bad input, unknown or already resolved
    effect, the same effect earlier in ``items``): a refused result writes nothing.
    Raises :class:`LockTimeoutError` and :class:`JournalCorruptError` (nothing written).
    """
    out: list[PostReceipt | ProtocolError | None] = [None] * len(items)
    staged: list[tuple[int, PreparedResult]] = []
    try:
        for index, (effect_id, result) in enumerate(items):
            try:
                staged.append((index, prepare_result(run, effect_id, result, clock=clock)))
            except (InvalidValueError, UnknownEffectError, AlreadyResolvedError) as exc:
                out[index] = exc
            except ProtocolError as exc:
                if isinstance(exc, JournalCorruptError):
                    raise
                out[index] = exc
    except BaseException:
        discard_prepared([p for _, p in staged])
        raise
    committed = commit_results(run, [p for _, p in staged], lock=lock)
    for (index, _), item in zip(staged, committed, strict=True):
        out[index] = item
    done: list[PostReceipt | ProtocolError] = []
    for entry in out:
        assert entry is not None
        done.append(entry)
    return done


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
    (outcome,) = post_results(run, [(effect_id, result)], lock=lock, clock=clock)
    if isinstance(outcome, ProtocolError):
        raise outcome
    return outcome
