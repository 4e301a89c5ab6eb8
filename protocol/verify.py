"""Whole-run verification: every rule the reader enforces, plus what it skips for speed.

Rules kept here (each finding is a :class:`~protocol.models.Problem` with the file and a
one-line message; ``error`` means the SDK would fail or a result would be lost, ``warning``
means something to clean up):

- ``run.json`` opens (:func:`protocol.journal.open_run`) and the journal passes every check of
  the SDK's replay (:func:`protocol.journal.read_journal`): the first violation is reported.
- Every journal file's ``checksum`` is the sha256 of its ``{type, recordedAt, data}`` as the
  SDK computes it (this re-serializes every event, so the reader does not do it).
- A non-``.json`` entry of ``journal/`` whose name starts with a number greater than the last
  seq makes the SDK's next ``appendEvent`` skip seqs (it takes the maximum over every entry),
  which breaks the journal: reported as an error.
- Every ref (``taskDefRef``, ``inputsRef``, ``resultRef``, ``stdoutRef``, ``stderrRef`` and
  a result's blob ``resultRef``) stays inside the run (no absolute path, ``..`` or symlink)
  and names an existing file (a missing log is only a warning: ``task:post`` accepts any
  ``--stdout-ref`` and replay never reads it); no symlink is planted under ``tasks/``.
- A pending effect has a readable ``tasks/<id>/task.json``; a ``result.json`` beside it is a
  leftover of an interrupted post (the next post overwrites it): a warning.
- A resolved effect's ``result.json`` parses and agrees with its ``EFFECT_RESOLVED``
  (effectId, status, taskId, invocationKey, refs, times); ``ok`` results carry a value or a
  blob whose name is the sha256 of its bytes; ``error`` results carry an error.
- A cancelled effect (6.x ``EFFECT_CANCELLED``) has the ``result.json`` of status
  ``cancelled`` that ``task:cancel`` writes: 6.x's replay reads it and fails without it.
- A ``run.lock`` left by a dead process, or empty, is reported as a warning.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
from pathlib import Path

from protocol import converter as cv
from protocol.errors import ProtocolError
from protocol.fsutil import encode_text, safe_join
from protocol.journal import (
    event_checksum,
    journal_files,
    js_number,
    open_run,
    read_journal,
    read_json_file,
)
from protocol.jsonjs import JsonParseError, JsonValue, loads, to_file_text
from protocol.lock import LOCK_NAME, pid_alive
from protocol.models import NO_VALUE, EffectRecord, Journal, Problem, Run, TaskResult, VerifyReport
from protocol.pending import load_task_def

__all__ = ["verify_run"]


class _Findings:
    def __init__(self, run_path: Path) -> None:
        self.run_path = run_path
        self.items: list[Problem] = []

    def error(self, path: Path | str, message: str) -> None:
        self.items.append(Problem(path=str(path), message=message, severity="error"))

    def warning(self, path: Path | str, message: str) -> None:
        self.items.append(Problem(path=str(path), message=message, severity="warning"))

    def add(self, exc: ProtocolError, severity: str = "error") -> None:
        path = exc.path or str(self.run_path)
        if severity == "warning":
            self.warning(path, str(exc))
        else:
            self.error(path, str(exc))


def _check_checksums(run: Run, names: list[str], found: _Findings) -> None:
    journal_dir = run.path / "journal"
    for name in names:
        path = journal_dir / name
        try:
            body = read_json_file(path)  # plain files only: a FIFO here would never end
        except (OSError, JsonParseError, ProtocolError):
            continue  # the reader reports unreadable files
        if not isinstance(body, dict):
            continue
        stored = body.get("checksum")
        if stored is None:
            found.warning(
                path,
                f"journal/{name}: expected a checksum, found none — the event cannot be "
                "checked for edits; leave it, or restore the file as the SDK wrote it",
            )
            continue
        computed = _checksum_of(body)
        if stored != computed:
            found.error(
                path,
                f"journal/{name}: expected checksum {computed}, found {stored!r} — the event "
                "was changed after it was written; restore it from version control",
            )


_HASHED = ("type", "recordedAt", "data", "sdkVersion")


def _checksum_of(body: dict[str, JsonValue]) -> str:
    # The SDK hashes {type, recordedAt, data} in that order (6.x: then sdkVersion); keys it
    # did not write stay out.
    if all(k in body for k in ("type", "recordedAt", "data")):
        return event_checksum(
            body["type"], body["recordedAt"], body["data"], body.get("sdkVersion")
        )
    partial: JsonValue = {k: body[k] for k in _HASHED if k in body}
    return hashlib.sha256(encode_text(to_file_text(partial))).hexdigest()


def _check_leftovers(run: Run, head_seq: int, found: _Findings) -> None:
    journal_dir = run.path / "journal"
    try:
        entries = os.listdir(journal_dir)
    except OSError:
        return
    for name in sorted(entries):
        if name.endswith(".json"):
            continue
        prefix = name.split(".")[0]
        seq = js_number(prefix)
        if prefix and math.isfinite(seq) and seq > head_seq:
            found.error(
                journal_dir / name,
                f"journal/{name}: expected only <seq>.<ULID>.json files, found a leftover whose "
                f"name starts with {prefix} — the SDK's next append would take seq "
                f"{int(seq) + 1} and leave a gap; delete the file",
            )
        else:
            found.warning(
                journal_dir / name,
                f"journal/{name}: expected only <seq>.<ULID>.json files, found a leftover "
                "(an interrupted write?) — delete it",
            )


def _check_ref(
    run: Run, ref: str | None, what: str, found: _Findings, *, log: bool = False
) -> Path | None:
    if ref is None:
        return None
    try:
        path = safe_join(run.path, ref, where=what)
    except ProtocolError as exc:
        found.add(exc)
        return None
    if not path.is_file():
        if log:
            # task:post accepts any --stdout-ref and replay never reads it: only logs are lost.
            found.warning(
                path,
                f"{what}: expected the log file {ref} inside the run, found nothing — the "
                "output it names is not in the run; ignore, or restore the file",
            )
        else:
            found.error(
                path,
                f"{what}: expected the file {ref} inside the run, found nothing — restore it "
                "from version control",
            )
        return None
    return path


def _check_symlinks(run: Run, found: _Findings) -> None:
    tasks = run.path / "tasks"
    if not tasks.exists():
        return
    for root, dirs, files in os.walk(tasks, followlinks=False):
        for name in dirs + files:
            full = Path(root) / name
            if stat.S_ISLNK(os.lstat(full).st_mode):
                rel = full.relative_to(run.path)
                found.error(
                    full,
                    f"{rel}: expected a plain file or directory, found a symlink — it could "
                    "lead reads or writes outside the run; remove it",
                )


def _check_result(run: Run, record: EffectRecord, found: _Findings) -> None:
    eid = record.effect_id
    where = f"EFFECT_RESOLVED of {eid} (journal seq {record.resolved_seq})"
    result_path = _check_ref(run, record.result_ref, f"{where} resultRef", found)
    _check_ref(run, record.stdout_ref, f"{where} stdoutRef", found, log=True)
    _check_ref(run, record.stderr_ref, f"{where} stderrRef", found, log=True)
    if result_path is None:
        return
    rel = result_path.relative_to(run.path)
    try:
        raw = read_json_file(result_path)
    except JsonParseError as exc:
        found.error(
            result_path,
            f"{rel}: expected JSON, found unparsable text ({exc}) — restore it from version "
            "control",
        )
        return
    try:
        result = cv.structure_as(
            raw,
            TaskResult,
            where=str(rel),
            error=ProtocolError,
            path=str(result_path),
            fix="restore it from version control",
        )
    except ProtocolError as exc:
        found.add(exc)
        return
    expected: dict[str, tuple[str | None, str]] = {
        "effectId": (result.effect_id, record.effect_id),
        "status": (result.status, record.status),
        "taskId": (result.task_id, record.task_id),
        "invocationKey": (result.invocation_key, record.invocation_key),
    }
    if record.stdout_ref is not None:
        expected["stdoutRef"] = (result.stdout_ref, record.stdout_ref)
    if record.stderr_ref is not None:
        expected["stderrRef"] = (result.stderr_ref, record.stderr_ref)
    if record.started_at is not None:
        expected["startedAt"] = (result.started_at, record.started_at)
    if record.finished_at is not None:
        expected["finishedAt"] = (result.finished_at, record.finished_at)
    for key, (have, want) in expected.items():
        if have != want:
            found.error(
                result_path,
                f"{rel}: expected {key} {want!r} as in the journal, found {have!r} — the "
                "result file does not belong to this resolution; restore it from version control",
            )
    if result.status == "ok":
        if result.result is NO_VALUE and result.value is NO_VALUE and result.result_ref is None:
            found.error(
                result_path,
                f"{rel}: expected result, value or resultRef for an ok result, found none — "
                "the process cannot read this value; restore the file",
            )
        if result.result_ref is not None:
            blob = _check_ref(run, result.result_ref, f"{rel} resultRef", found)
            if blob is not None:
                digest = hashlib.sha256(blob.read_bytes()).hexdigest()
                if blob.name.startswith("result-") and blob.name != f"result-{digest}.json":
                    found.error(
                        blob,
                        f"{blob.relative_to(run.path)}: expected content with sha256 "
                        f"{blob.name[7:-5]}, found {digest} — the blob was changed; restore it",
                    )
    elif result.error is NO_VALUE:
        found.error(
            result_path,
            f"{rel}: expected an error for an error result, found none — restore the file",
        )


def _check_effects(run: Run, journal: Journal, found: _Findings) -> None:
    for record in journal.effects.values():
        eid = record.effect_id
        where = f"EFFECT_REQUESTED of {eid} (journal seq {record.requested_seq})"
        _check_ref(run, record.task_def_ref, f"{where} taskDefRef", found)
        _check_ref(run, record.inputs_ref, f"{where} inputsRef", found)
        if record.status == "requested":
            try:
                load_task_def(run, eid)
            except ProtocolError as exc:
                found.add(exc)
            try:
                leftover = safe_join(run.path, f"tasks/{eid}/result.json")
            except ProtocolError:
                continue
            if leftover.exists():
                found.warning(
                    leftover,
                    f"tasks/{eid}/result.json: expected no result for a pending effect, found "
                    "one left by an interrupted post — harmless: the next post overwrites it",
                )
        elif record.status == "cancelled":
            _check_cancelled(run, record, found)
        else:
            _check_result(run, record, found)


def _check_cancelled(run: Run, record: EffectRecord, found: _Findings) -> None:
    # 6.x's replay reads a cancelled effect's result.json (handleResolvedRecord) for its
    # reason, and fails the run when it is missing.
    rel = f"tasks/{record.effect_id}/result.json"
    try:
        path = safe_join(run.path, rel, where=rel)
        raw = read_json_file(path)
    except FileNotFoundError:
        found.error(
            run.path / rel,
            f"{rel}: expected the result task:cancel wrote for the cancelled effect "
            f"{record.effect_id} (journal/{record.resolved_file}), found nothing — the SDK's "
            "replay fails without it; restore it from version control",
        )
        return
    except (OSError, JsonParseError, ProtocolError) as exc:
        found.error(
            run.path / rel,
            f"{rel}: expected the JSON result of a cancelled effect, found unreadable "
            f"content ({exc}) — restore it from version control",
        )
        return
    status = raw.get("status") if isinstance(raw, dict) else None
    if status != "cancelled":
        found.error(
            path,
            f"{rel}: expected status 'cancelled' as in the journal "
            f"(journal/{record.resolved_file}), found {status!r} — the result file does not "
            "belong to this cancellation; restore it from version control",
        )


def _check_lock(run: Run, found: _Findings) -> None:
    lock = run.path / LOCK_NAME
    try:
        text = lock.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return
    try:
        info = loads(text)
    except JsonParseError:
        found.warning(
            lock,
            f"{LOCK_NAME}: expected lock JSON, found unparsable text — the SDK fails while it "
            f"is there; if no babysitter process is running, delete {lock}",
        )
        return
    pid = info.get("pid") if isinstance(info, dict) else None
    if not pid_alive(pid):
        found.warning(
            lock,
            f"{LOCK_NAME}: expected a live holder, found pid {pid} gone — a stale lock; the "
            "next writer deletes it, or delete it now",
        )


def verify_run(run_dir: str | os.PathLike[str]) -> VerifyReport:
    """Check everything about the run at ``run_dir``; never raises for a bad run."""
    path = Path(os.path.abspath(os.fspath(run_dir)))
    found = _Findings(path)
    try:
        run = open_run(path)
    except ProtocolError as exc:
        found.add(exc)
        return VerifyReport(run_dir=path, problems=tuple(found.items))
    journal: Journal | None = None
    names: list[str] = []
    try:
        names = journal_files(run.path)
        journal = read_journal(run)
    except ProtocolError as exc:
        found.add(exc)
    _check_checksums(run, names, found)
    head_seq = journal.head[0] if journal is not None and journal.head else len(names)
    _check_leftovers(run, head_seq, found)
    _check_symlinks(run, found)
    if journal is not None:
        _check_effects(run, journal, found)
    _check_lock(run, found)
    return VerifyReport(
        run_dir=run.path,
        problems=tuple(found.items),
        events=len(journal.entries) if journal is not None else 0,
        effects=len(journal.effects) if journal is not None else 0,
        pending=len(journal.pending) if journal is not None else 0,
    )
