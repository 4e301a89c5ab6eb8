"""Opening a run, reading and validating its journal, appending events.

Rules kept here, each matching the SDK (``storage/journal.js`` ``loadJournal``/``appendEvent``
and ``runtime/replay/effectIndex.js``, which fails the run on any of them):

Reading (:func:`read_journal`):

- Only names ending in ``.json`` in ``journal/`` are read, sorted as JavaScript sorts strings
  (UTF-16 code units). The seq is ``Number()`` of the name up to the first ``.``, the ULID the
  part after it; a name without a ULID part or with a non-numeric seq fails.
- Every file is parsed before any is checked (``loadJournal`` then ``EffectIndex``), so a
  file that is not JSON is reported even when an earlier file breaks another rule.
- Missing ``type`` reads as ``"UNKNOWN"``, missing ``data`` as ``{}``; a file holding JSON
  ``null`` fails.
- Seqs are exactly 1, 2, 3, ... in name order; each ULID is strictly greater (as a string)
  than the previous one.
- ``EFFECT_REQUESTED`` needs an object ``data`` with non-empty strings ``effectId``,
  ``invocationKey``, ``stepId``, ``taskId``, ``taskDefRef`` (checked in that order);
  ``inputsRef`` if present is a non-empty string; ``labels`` if present is an array of
  strings; ``effectId`` and ``invocationKey`` are new.
- ``EFFECT_RESOLVED`` needs an object ``data`` with a non-empty string ``effectId``, a
  ``status`` of ``"ok"`` or ``"error"``, string refs (when truthy), and an effect that was
  requested and is still requested: a second resolution breaks every later replay.
- Other types (``RUN_CREATED``, ``RUN_COMPLETED``, ``RUN_FAILED``, unknown ones) are kept as
  they are and checked for seq/ULID only.
- The first violation raises :class:`JournalCorruptError` naming the file, what was expected,
  what was found and the fix. Checksums are not recomputed here (that needs re-serializing
  every event); :func:`protocol.verify.verify_run` does it.

Appending (:func:`append_event`, called with the run lock held and a journal read under it):

- seq is the last seq plus one, written as ``%06d``; the ULID comes from
  :func:`protocol.ulid.next_ulid` against the last event's ULID, so it is strictly greater
  even when the clock goes backwards or several appends land in one millisecond.
- ``recordedAt`` is the clock's ISO time; when ``run.json`` has a ``harness`` string that is
  not blank (JS ``trim``) and the data has no ``harness`` key, ``data`` becomes
  ``{harness, ...data}`` (harness first), as ``appendEvent`` does.
- ``checksum`` is the sha256 hex of ``JSON.stringify({type, recordedAt, data}, null, 2) +
  "\\n"``; the file is ``JSON.stringify({type, recordedAt, data, checksum}, null, 2) + "\\n"``
  written with :func:`protocol.fsutil.atomic_write`.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs

from protocol import converter as cv
from protocol.clock import Clock, iso_from_ms, system_ms
from protocol.errors import (
    JournalCorruptError,
    NotARunError,
    ProtocolError,
    RunNotFoundError,
    UnsupportedSdkError,
)
from protocol.fsutil import atomic_write, encode_text, js_trim, open_regular
from protocol.jsonjs import JsonParseError, JsonValue, dumps, js_truthy, loads, to_file_text
from protocol.lines import (
    LINE_0_0,
    SdkLine,
    ambient_session_id,
    check_event_version,
    detect_line,
    writer_version,
)
from protocol.models import (
    AppendedEvent,
    EffectError,
    EffectRecord,
    Journal,
    JournalEntry,
    Run,
    RunMetadata,
)
from protocol.ulid import next_ulid

__all__ = [
    "JournalReader",
    "append_event",
    "event_checksum",
    "event_file_text",
    "journal_files",
    "js_number",
    "js_truthy",
    "open_run",
    "read_journal",
    "read_json_file",
    "repair_hint",
    "run_harness",
]

_JS_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_JS_RADIX = re.compile(r"0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")


def js_number(text: str) -> float:
    """``Number(text)`` for a string, as JavaScript converts it (NaN when not numeric)."""
    s = js_trim(text)
    if not s:
        return 0.0
    if _JS_DECIMAL.fullmatch(s):
        return float(s)
    radix = _JS_RADIX.fullmatch(s)
    if radix:
        return float(int(s, 0))
    if s in ("Infinity", "+Infinity"):
        return math.inf
    if s == "-Infinity":
        return -math.inf
    return math.nan


def _js_sort_key(name: str) -> str | bytes:
    return name if name.isascii() else name.encode("utf-16-be")


def _js_le(a: str, b: str) -> bool:
    if a.isascii() and b.isascii():
        return a <= b
    return a.encode("utf-16-be") <= b.encode("utf-16-be")


def repair_hint(run_path: Path) -> str:
    """The SDK command that renumbers a journal and drops unreadable or duplicate requests."""
    return f"run `babysitter run:repair-journal {run_path}`"


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return '""' if not value else dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return dumps(value)
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _read_text(path: str | Path) -> str:
    # Node's readFile(..., "utf8") replaces malformed sequences with U+FFFD. os.open/os.read
    # instead of open(): journal files are small and many, and io.open dominates otherwise.
    # Only plain files are read: a symlink could lead outside the run, and a FIFO or device
    # planted in the run would never end (UnsafePathError, via fsutil.open_regular).
    fd = open_regular(path)
    try:
        data = os.read(fd, 65536)
        if len(data) == 65536:
            chunks = [data]
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            data = b"".join(chunks)
    finally:
        os.close(fd)
    return data.decode("utf-8", errors="replace")


def read_json_file(path: Path) -> JsonValue:
    """Read ``path`` as UTF-8 and parse it as ``JSON.parse``; ``JsonParseError`` if invalid."""
    return loads(_read_text(path))


# --- opening a run --------------------------------------------------------------------------


def open_run(run_dir: str | os.PathLike[str]) -> Run:
    """Open ``<repo>/.a5c/runs/<runId>``: read ``run.json``.

    Raises :class:`RunNotFoundError` when the directory is missing and :class:`NotARunError`
    when it has no readable ``run.json``.
    """
    path = Path(os.path.abspath(os.fspath(run_dir)))
    if not path.exists():
        raise RunNotFoundError(
            f"{path}: expected a run directory, found nothing there — pass an existing "
            "<repo>/.a5c/runs/<runId> directory",
            str(path),
        )
    if not path.is_dir():
        raise NotARunError(
            f"{path}: expected a run directory, found a file — pass the directory "
            "<repo>/.a5c/runs/<runId>, not a file in it",
            str(path),
        )
    run_json = path / "run.json"
    try:
        raw = read_json_file(run_json)
    except FileNotFoundError:
        raise NotARunError(
            f"{run_json}: expected the run's metadata, found no such file — this is not a "
            "babysitter run directory; pass <repo>/.a5c/runs/<runId>",
            str(run_json),
        ) from None
    except (JsonParseError, IsADirectoryError) as exc:
        raise NotARunError(
            f"{run_json}: expected JSON, found unreadable text ({exc}) — restore run.json "
            "from version control or recreate the run",
            str(run_json),
        ) from None
    metadata = cv.structure_as(
        raw,
        RunMetadata,
        where=str(run_json),
        error=NotARunError,
        path=str(run_json),
        fix="restore run.json as the SDK wrote it (it needs a string runId)",
    )
    line, version = detect_line(path, raw)
    return Run(
        path=path,
        metadata=metadata,
        repo_root=path.parent.parent.parent,
        line=line,
        sdk_version=version,
    )


def run_harness(run_path: Path) -> str | None:
    """``harness`` of ``run.json`` when it is a non-blank string (``readRunHarness``)."""
    run_json = run_path / "run.json"
    try:
        raw = read_json_file(run_json)
    except FileNotFoundError:
        return None
    except JsonParseError as exc:
        raise NotARunError(
            f"{run_json}: expected JSON, found unreadable text ({exc}) — restore run.json "
            "from version control or recreate the run",
            str(run_json),
        ) from None
    if not isinstance(raw, dict):
        return None
    harness = raw.get("harness")
    if isinstance(harness, str) and js_trim(harness) != "":
        return harness
    return None


# --- reading --------------------------------------------------------------------------------


def journal_files(run_path: Path) -> list[str]:
    """The names the SDK reads from ``journal/``: ``*.json``, in JavaScript sort order."""
    journal_dir = run_path / "journal"
    try:
        names = os.listdir(journal_dir)
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        raise JournalCorruptError(
            f"{journal_dir}: expected the journal directory, found a file — restore "
            "journal/ from version control",
            str(journal_dir),
        ) from None
    return sorted((n for n in names if n.endswith(".json")), key=_js_sort_key)


@attrs.frozen
class _Parsed:
    name: str
    seq: float
    seq_text: str
    ulid: str
    body: dict[str, JsonValue]


def _parse_files(run_path: Path, names: list[str]) -> list[_Parsed]:
    journal_dir = run_path / "journal"
    prefix = os.path.join(journal_dir, "")
    repair = repair_hint(run_path)
    parsed: list[_Parsed] = []
    for name in names:
        rel = f"journal/{name}"
        stem = name[: -len(".json")]
        parts = stem.split(".")
        seq_text = parts[0]
        ulid = parts[1] if len(parts) > 1 else ""
        seq = js_number(seq_text)
        if not math.isfinite(seq) or not ulid:
            raise JournalCorruptError(
                f"{rel}: expected a name <seq>.<ULID>.json, found {name!r} — move the file "
                f"out of journal/ (the SDK fails on it), then {repair}",
                str(journal_dir / name),
            )
        full = prefix + name
        try:
            value = loads(_read_text(full))
        except JsonParseError as exc:
            raise JournalCorruptError(
                f"{rel}: expected a JSON event, found unparsable text ({exc}) — the file is "
                f"damaged; {repair} (it drops unreadable events)",
                str(full),
            ) from None
        except IsADirectoryError:
            raise JournalCorruptError(
                f"{rel}: expected a JSON event file, found a directory — move it out of journal/",
                str(full),
            ) from None
        if value is None:
            raise JournalCorruptError(
                f"{rel}: expected a JSON event object, found null — the file is damaged; "
                f"{repair} (it drops unreadable events)",
                str(full),
            )
        body = value if isinstance(value, dict) else {}
        parsed.append(_Parsed(name=name, seq=seq, seq_text=seq_text, ulid=ulid, body=body))
    return parsed


class _Validator:
    """The checks of the SDK's ``EffectIndex``, in its order."""

    def __init__(self, run_path: Path, line: SdkLine = LINE_0_0) -> None:
        self.run_path = run_path
        self.line = line
        self.cancels = "EFFECT_CANCELLED" in line.known_events
        self.object_data = line.known_events - {"RUN_CREATED", "RUN_COMPLETED", "RUN_FAILED"}
        self.repair = repair_hint(run_path)
        self.head: tuple[int, str, str] | None = None  # seq, ulid, file name
        # EffectRecord keyword arguments; the records are built once at the end.
        self.effects: dict[str, dict[str, Any]] = {}
        self.request_file: dict[str, str] = {}
        self.resolve_file: dict[str, str] = {}
        self.invocations: dict[str, str] = {}

    def clone(self, bodies: Iterable[dict[str, JsonValue]]) -> _Validator:
        """A copy to go on validating from, sharing nothing that validating more changes.

        ``bodies`` are the events about to be validated: the records their resolutions
        update are copied, the others are shared (never changed again).
        """
        copy = _Validator(self.run_path, self.line)
        copy.head = self.head
        copy.effects = dict(self.effects)
        copy.request_file = dict(self.request_file)
        copy.resolve_file = dict(self.resolve_file)
        copy.invocations = dict(self.invocations)
        for body in bodies:
            data = body.get("data")
            if body.get("type") in _SETTLING and isinstance(data, dict):
                effect_id = data.get("effectId")
                if isinstance(effect_id, str) and effect_id in copy.effects:
                    copy.effects[effect_id] = dict(copy.effects[effect_id])
        return copy

    def fail(self, name: str, message: str) -> JournalCorruptError:
        path = self.run_path / "journal" / name
        return JournalCorruptError(f"journal/{name}: {message}", str(path))

    def version(self, p: _Parsed) -> None:
        reason = check_event_version(self.line, p.name, p.body)
        if reason is not None:
            raise UnsupportedSdkError(reason, str(self.run_path / "journal" / p.name))

    def apply(self, p: _Parsed) -> bool:
        """Validate one event after its seq; True when it requested or settled an effect."""
        event_type = p.body.get("type")
        if event_type == "EFFECT_REQUESTED":
            self.requested(p)
            return True
        if event_type == "EFFECT_RESOLVED":
            self.resolved(p)
            return True
        if self.cancels and event_type == "EFFECT_CANCELLED":
            self.cancelled(p)
            return True
        if event_type in self.object_data:
            # 6.x's EffectIndex.expectObject for EFFECT_PROGRESS and COST_TRACKED.
            self._payload(p, str(event_type))
        return False

    def cancelled(self, p: _Parsed) -> None:
        t = "EFFECT_CANCELLED"
        data = self._payload(p, t)
        effect_id = self._require(p, t, data, "effectId")
        record = self.effects.get(effect_id)
        if record is None:
            raise self.fail(
                p.name,
                f"expected {t} for a requested effect, found unknown effectId {effect_id} — "
                "the cancellation belongs to no request; move the file out of journal/, then "
                + self.repair,
            )
        if record["status"] != "requested":
            raise self.fail(
                p.name,
                f"expected {t} for a pending effect, found effect {effect_id} already "
                f"{record['status']} (journal/{self.resolve_file[effect_id]}) — the SDK fails "
                "every replay of this run; move this file out of journal/, then " + self.repair,
            )
        recorded_at = p.body.get("recordedAt")
        reason = data.get("reason")
        record.update(
            status="cancelled",
            resolved_at=recorded_at if isinstance(recorded_at, str) else None,
            resolved_seq=int(p.seq),
            resolved_file=p.name,
            cancel_reason=reason if isinstance(reason, str) else None,
        )
        self.resolve_file[effect_id] = p.name

    def sequence(self, p: _Parsed, expected: int) -> None:
        if not math.isfinite(p.seq) or p.seq <= 0:
            raise self.fail(
                p.name,
                f"expected a positive seq in the file name, found {p.seq_text!r} — rename "
                f"the file or {self.repair}",
            )
        if self.head is None:
            if p.seq != 1:
                raise self.fail(
                    p.name,
                    f"expected seq 1 for the first event, found {_seq(p.seq)} — the journal "
                    f"does not start at 1; {self.repair}",
                )
        else:
            prev_seq, prev_ulid, prev_name = self.head
            if p.seq != expected:
                what = (
                    "the journal has a gap"
                    if p.seq > expected
                    else "two events share a seq or are out of order"
                )
                raise self.fail(
                    p.name,
                    f"expected seq {expected} after {prev_seq}, found {_seq(p.seq)} — {what}; "
                    f"{self.repair}",
                )
            if _js_le(p.ulid, prev_ulid):
                raise self.fail(
                    p.name,
                    f"expected a ULID greater than {prev_ulid} (journal/{prev_name}), found "
                    f"{p.ulid} — events are out of ULID order; {self.repair}",
                )
        self.head = (int(p.seq), p.ulid, p.name)

    def _payload(self, p: _Parsed, event_type: str) -> dict[str, JsonValue]:
        data = p.body.get("data")
        if data is None:
            data = {}
        # JS: `!data || typeof data !== "object"` fails; an array passes and has no fields.
        if isinstance(data, list):
            return {}
        if not isinstance(data, dict):
            raise self.fail(
                p.name,
                f"expected {event_type} data to be an object, found {_describe(data)} — the "
                "event is malformed; restore the file or move it out of journal/, then "
                f"{self.repair}",
            )
        return data

    def _require(self, p: _Parsed, event_type: str, data: dict[str, JsonValue], key: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value:
            found = "nothing" if key not in data else _describe(value)
            raise self.fail(
                p.name,
                f"expected {event_type} data.{key} to be a non-empty string, found {found} — "
                "the event is malformed; restore the file or move it out of journal/, then "
                f"{self.repair}",
            )
        return value

    def requested(self, p: _Parsed) -> None:
        t = "EFFECT_REQUESTED"
        data = self._payload(p, t)
        effect_id = self._require(p, t, data, "effectId")
        invocation_key = self._require(p, t, data, "invocationKey")
        step_id = self._require(p, t, data, "stepId")
        task_id = self._require(p, t, data, "taskId")
        task_def_ref = self._require(p, t, data, "taskDefRef")
        malformed = (
            "the event is malformed; restore the file or move it out of journal/, then "
            f"{self.repair}"
        )
        if "inputsRef" in data:
            inputs_ref = data["inputsRef"]
            if not isinstance(inputs_ref, str) or not inputs_ref:
                raise self.fail(
                    p.name,
                    f"expected {t} data.inputsRef to be a non-empty string when present, found "
                    f"{_describe(inputs_ref)} — {malformed}",
                )
        labels: tuple[str, ...] | None = None
        if "labels" in data:
            raw_labels = data["labels"]
            if not isinstance(raw_labels, list):
                raise self.fail(
                    p.name,
                    f"expected {t} data.labels to be an array when present, found "
                    f"{_describe(raw_labels)} — {malformed}",
                )
            seen: dict[str, None] = {}
            for entry in raw_labels:
                if not isinstance(entry, str):
                    raise self.fail(
                        p.name,
                        f"expected {t} data.labels to hold only strings, found "
                        f"{_describe(entry)} — {malformed}",
                    )
                trimmed = js_trim(entry)
                if trimmed:
                    seen.setdefault(trimmed, None)
            labels = tuple(seen) or None
        if effect_id in self.effects:
            raise self.fail(
                p.name,
                f"expected a new effectId, found {effect_id} already requested in "
                f"journal/{self.request_file[effect_id]} — two requests share an effect id; "
                "move the later file out of journal/, then " + self.repair,
            )
        if invocation_key in self.invocations:
            raise self.fail(
                p.name,
                f"expected a new invocationKey, found {invocation_key} already requested in "
                f"journal/{self.invocations[invocation_key]} — a duplicate request; "
                f"{self.repair} (it drops duplicate requests)",
            )
        recorded_at = p.body.get("recordedAt")
        kind = data.get("kind")
        label = data.get("label")
        invocation_hash = data.get("invocationHash")
        inputs = data.get("inputsRef")
        self.effects[effect_id] = dict(
            effect_id=effect_id,
            invocation_key=invocation_key,
            invocation_hash=invocation_hash if isinstance(invocation_hash, str) else None,
            step_id=step_id,
            task_id=task_id,
            status="requested",
            kind=kind if isinstance(kind, str) else None,
            label=label if isinstance(label, str) else None,
            labels=labels,
            task_def_ref=task_def_ref,
            inputs_ref=inputs if isinstance(inputs, str) else None,
            requested_at=recorded_at if isinstance(recorded_at, str) else None,
            requested_seq=int(p.seq),
            requested_file=p.name,
        )
        self.request_file[effect_id] = p.name
        self.invocations[invocation_key] = p.name

    def resolved(self, p: _Parsed) -> None:
        t = "EFFECT_RESOLVED"
        data = self._payload(p, t)
        effect_id = self._require(p, t, data, "effectId")
        malformed = (
            "the event is malformed; restore the file or move it out of journal/, then "
            f"{self.repair}"
        )
        status = data.get("status")
        if not js_truthy(status):
            raise self.fail(
                p.name, f"expected {t} data.status, found {_describe(status)} — {malformed}"
            )
        if status not in ("ok", "error"):
            raise self.fail(
                p.name,
                f'expected {t} data.status "ok" or "error", found {_describe(status)} — '
                f"{malformed}",
            )
        for key in ("resultRef", "stdoutRef", "stderrRef"):
            value = data.get(key)
            if js_truthy(value) and not isinstance(value, str):
                raise self.fail(
                    p.name,
                    f"expected {t} data.{key} to be a string, found {_describe(value)} — "
                    f"{malformed}",
                )
        record = self.effects.get(effect_id)
        if record is None:
            raise self.fail(
                p.name,
                f"expected {t} for a requested effect, found unknown effectId {effect_id} — "
                "the result belongs to no request; move the file out of journal/, then "
                + self.repair,
            )
        if record["status"] != "requested":
            raise self.fail(
                p.name,
                f"expected one {t} for effect {effect_id}, found a second (the first is "
                f"journal/{self.resolve_file[effect_id]}) — the SDK fails every replay of "
                "this run; move this file out of journal/ (the first result stands), then "
                + self.repair,
            )
        recorded_at = p.body.get("recordedAt")
        record.update(
            status="ok" if status == "ok" else "error",
            result_ref=_str_or_none(data.get("resultRef")),
            error=_effect_error(data.get("error")),
            stdout_ref=_str_or_none(data.get("stdoutRef")),
            stderr_ref=_str_or_none(data.get("stderrRef")),
            started_at=_str_or_none(data.get("startedAt")),
            finished_at=_str_or_none(data.get("finishedAt")),
            resolved_at=recorded_at if isinstance(recorded_at, str) else None,
            resolved_seq=int(p.seq),
            resolved_file=p.name,
        )
        self.resolve_file[effect_id] = p.name


_SETTLING = frozenset({"EFFECT_RESOLVED", "EFFECT_CANCELLED"})


def _seq(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _effect_error(value: object) -> EffectError | None:
    if not isinstance(value, dict):
        return None
    try:
        error: EffectError = cv.CONVERTER.structure(value, EffectError)
    except Exception:
        return None
    return error


def read_journal(run: Run) -> Journal:
    """Read and validate ``journal/`` as the SDK's replay does.

    Raises :class:`JournalCorruptError` at the first violation. The typed events
    (``Journal.events``) are structured on first use.
    """
    names = journal_files(run.path)
    parsed = _parse_files(run.path, names)
    validator = _Validator(run.path, run.line)
    for p in parsed:
        validator.version(p)
    for index, p in enumerate(parsed):
        validator.sequence(p, index + 1)
        validator.apply(p)
    head = validator.head
    return Journal(
        run_path=run.path,
        head=(head[0], head[1]) if head is not None else None,
        effects={eid: EffectRecord(**kw) for eid, kw in validator.effects.items()},
        entries=tuple(
            JournalEntry(filename=p.name, seq=int(p.seq), ulid=p.ulid, body=p.body) for p in parsed
        ),
        line=run.line,
    )


class JournalReader:
    """Reads one run's journal again and again, parsing only the files added since last time.

    :meth:`read` returns what :func:`read_journal` would. The journal only grows (appends
    under the run lock), so when the sorted names read last time are still the first names
    of ``journal/`` and the last of them is the same file (inode, size, mtime), only the
    new files are parsed and validated, continuing from the state the last read ended in.
    Anything else (a file renamed, removed or rewritten, as ``run:repair-journal`` does, or
    an error while extending) discards that state and reads the whole journal again, so
    errors are the ones :func:`read_journal` gives. Each read builds new state and
    publishes it with one assignment: concurrent reads from several threads are safe.
    """

    def __init__(self, run: Run) -> None:
        self.run = run
        self._state: _ReaderState | None = None

    def read(self) -> Journal:
        """The journal as it is now (see the class docstring)."""
        run_path = self.run.path
        names = journal_files(run_path)
        state = self._state
        if state is not None:
            try:
                extended = state.extend(run_path, names)
            except (ProtocolError, OSError, ValueError):
                extended = None
            if extended is not None and extended.journal is not None:
                self._state = extended
                return extended.journal
        self._state = None
        fresh = _ReaderState.empty(self.run.line).extend(run_path, names)
        assert fresh is not None
        assert fresh.journal is not None
        self._state = fresh
        return fresh.journal


def _file_id(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@attrs.frozen
class _ReaderState:
    """What one :meth:`JournalReader.read` ended with; never changed once built."""

    names: tuple[str, ...]
    validator: _Validator | None
    records: dict[str, EffectRecord]
    entries: tuple[JournalEntry, ...]
    last_id: tuple[int, int, int] | None
    journal: Journal | None
    line: SdkLine = LINE_0_0

    @classmethod
    def empty(cls, line: SdkLine = LINE_0_0) -> _ReaderState:
        return cls(
            names=(), validator=None, records={}, entries=(), last_id=None, journal=None, line=line
        )

    def extend(self, run_path: Path, names: list[str]) -> _ReaderState | None:
        """The state after also reading ``names[len(self.names):]``; None if not a growth."""
        known = len(self.names)
        if len(names) < known or tuple(names[:known]) != self.names:
            return None
        journal_dir = os.path.join(run_path, "journal")
        if known and _file_id(os.path.join(journal_dir, names[known - 1])) != self.last_id:
            return None
        if known == len(names) and self.journal is not None:
            return self
        parsed = _parse_files(run_path, names[known:])
        validator = (
            self.validator.clone(p.body for p in parsed)
            if self.validator is not None
            else _Validator(run_path, self.line)
        )
        touched: dict[str, None] = {}
        for p in parsed:
            validator.version(p)
        for index, p in enumerate(parsed):
            validator.sequence(p, known + index + 1)
            if not validator.apply(p):
                continue
            data = p.body.get("data")
            if isinstance(data, dict) and isinstance(data.get("effectId"), str):
                touched[str(data["effectId"])] = None
        records = dict(self.records)
        for effect_id in touched:
            records[effect_id] = EffectRecord(**validator.effects[effect_id])
        entries = self.entries + tuple(
            JournalEntry(filename=p.name, seq=int(p.seq), ulid=p.ulid, body=p.body) for p in parsed
        )
        head = validator.head
        journal = Journal(
            run_path=run_path,
            head=(head[0], head[1]) if head is not None else None,
            effects=dict(records),
            entries=entries,
            line=self.line,
        )
        return _ReaderState(
            names=tuple(names),
            validator=validator,
            records=records,
            entries=entries,
            last_id=_file_id(os.path.join(journal_dir, names[-1])) if names else None,
            journal=journal,
            line=self.line,
        )


# --- appending ------------------------------------------------------------------------------


def event_checksum(
    event_type: JsonValue,
    recorded_at: JsonValue,
    data: JsonValue,
    sdk_version: JsonValue | None = None,
) -> str:
    """sha256 hex of ``JSON.stringify({type, recordedAt, data}, null, 2) + "\\n"``; on 6.x
    (``sdk_version`` given) of ``{type, recordedAt, data, sdkVersion}``."""
    payload: dict[str, JsonValue] = {"type": event_type, "recordedAt": recorded_at, "data": data}
    if sdk_version is not None:
        payload["sdkVersion"] = sdk_version
    return hashlib.sha256(encode_text(to_file_text(payload))).hexdigest()


def event_file_text(
    line: SdkLine,
    event_type: str,
    recorded_at: str,
    data: dict[str, JsonValue],
    *,
    harness: str | None,
    sdk_version: str | None,
    session_id: str | None = None,
) -> tuple[str, str, dict[str, JsonValue]]:
    """An event file as ``line``'s ``appendEvent`` writes it: its text, checksum and data.

    0.0.x: ``data`` becomes ``{harness, ...data}`` when the run has a harness and the data
    none. 6.x: ``harness`` then ``sessionId`` are added after the event's own fields (when
    absent), and ``sdkVersion`` follows ``data``, covered by the checksum.
    """
    if line.harness_first:
        if harness is not None and "harness" not in data:
            data = {"harness": harness, **data}
    else:
        data = dict(data)
        if harness is not None and "harness" not in data:
            data["harness"] = harness
    if line.session_id and session_id and "sessionId" not in data:
        data["sessionId"] = session_id
    version = sdk_version if line.writes_sdk_version else None
    if line.writes_sdk_version and version is None:
        raise UnsupportedSdkError(
            f"{event_type}: expected the SDK version to write on a {line.name}.x run, found "
            "none — open the run with open_run()",
            None,
        )
    checksum = event_checksum(event_type, recorded_at, data, version)
    body: dict[str, JsonValue] = {"type": event_type, "recordedAt": recorded_at, "data": data}
    if version is not None:
        body["sdkVersion"] = version
    body["checksum"] = checksum
    return to_file_text(body), checksum, data


def writer_sdk_version(run: Run, journal: Journal | None) -> str | None:
    """The ``sdkVersion`` a write to ``run`` carries (:func:`protocol.lines.writer_version`)."""
    if not run.line.writes_sdk_version:
        return None
    last: str | None = None
    if journal is not None:
        for entry in reversed(journal.entries):
            value = entry.body.get("sdkVersion")
            if isinstance(value, str):
                last = value
                break
    cwd = run.metadata.extra.get("cwd")
    places = (run.path, Path(cwd)) if isinstance(cwd, str) and os.path.isabs(cwd) else (run.path,)
    return writer_version(run.line, run.sdk_version, places, last)


def append_event(
    run: Run,
    journal: Journal,
    event_type: str,
    data: dict[str, JsonValue],
    *,
    clock: Clock = system_ms,
    entropy: Callable[[int], bytes] = os.urandom,
) -> AppendedEvent:
    """Append one event after ``journal``'s head, as the SDK's ``appendEvent`` writes it.

    The caller holds the run lock and read ``journal`` under it.
    """
    head = journal.head
    seq = head[0] + 1 if head else 1
    now = clock()
    try:
        ulid = next_ulid(now, head[1] if head else None, entropy=entropy)
    except ValueError:
        last = journal.entries[-1].filename if journal.entries else "?"
        raise JournalCorruptError(
            f"journal/{last}: expected a canonical ULID in the last file name, found "
            f"{head[1] if head else None!r} — no new ULID can sort after it; "
            f"{repair_hint(run.path)}",
            str(run.path / "journal" / last),
        ) from None
    recorded_at = iso_from_ms(now)
    harness = run_harness(run.path)
    text, checksum, _ = event_file_text(
        run.line,
        event_type,
        recorded_at,
        data,
        harness=harness,
        sdk_version=writer_sdk_version(run, journal),
        session_id=ambient_session_id(harness, os.environ) if run.line.session_id else None,
    )
    filename = f"{seq:06d}.{ulid}.json"
    path = run.path / "journal" / filename
    atomic_write(path, text)
    return AppendedEvent(
        seq=seq, ulid=ulid, filename=filename, path=path, checksum=checksum, recorded_at=recorded_at
    )
