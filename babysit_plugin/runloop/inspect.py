"""What a run is doing, read from disk alone: the model behind ``babysit-plugin status``.

Rules this module keeps:

- **Read only.**  It never takes ``run.lock`` or the claims mutex, never creates,
  writes or deletes a file, and never imports gevent: it can run at any moment beside
  any dispatch, the SDK's commands and the hook.  What it reads may change while it
  reads; each effect's state is decided from one read of each file.
- **Which effects.**  Every effect the journal lists as pending (requested and not
  cancelled), every cancelled one, and every effect the plugin touched: a claim, a
  saved outcome, attempt logs, or a line in ``posted.jsonl``.
- **States.**  ``running``: claimed by a live process whose heartbeat is within its
  bound; ``stalled``: claimed by a live pid whose heartbeat is older than the bound (a
  stopped or wedged dispatcher: the next dispatch takes it over); ``orphaned``: claimed
  by a process that is gone; ``saved``: an outcome is saved and not yet posted (the next
  dispatch posts it without running it again); ``pending``: nobody is on it;
  ``posted``: resolved in the journal after the plugin touched it; ``cancelled``:
  ``EFFECT_CANCELLED`` (SDK 6.x ``task:cancel``).
- **Times.**  ``elapsedMs``: since the claim was made; ``lastOutputMs``: since the
  child last wrote to its ``stdout.log`` or ``stderr.log`` (their modification times:
  the child writes them itself, so this holds even while its dispatcher is stopped;
  before the first write it is the time since the files were opened for it);
  ``heartbeatAgeMs``: since the owner last refreshed its claim.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Literal

import attrs

from babysit_plugin.runloop.claims import _BROKEN, ClaimInfo
from babysit_plugin.runloop.store import STATE_DIR_NAME, PluginStore, SavedOutcome, last_output
from protocol.errors import ProtocolError
from protocol.journal import open_run, read_journal
from protocol.jsonjs import JsonValue
from protocol.models import EffectRecord, Journal, Run
from protocol.pending import load_task_def, parallel_group_id

State = Literal["running", "pending", "saved", "posted", "stalled", "orphaned", "cancelled"]

#: States whose effects the next dispatch picks up.
RESUMABLE: frozenset[str] = frozenset({"orphaned", "stalled", "saved"})


@attrs.frozen
class EffectView:
    """One effect as ``status`` shows it."""

    effect_id: str
    kind: str
    title: str | None
    state: State
    group: str | None = None
    pid: int | None = None
    host: str | None = None
    attempt: int | None = None
    elapsed_ms: int | None = None
    last_output_ms: int | None = None
    heartbeat_age_ms: int | None = None
    logs: Mapping[str, str] | None = None
    status: str | None = None
    duration_ms: int | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, JsonValue]:
        data: dict[str, JsonValue] = {
            "effectId": self.effect_id,
            "kind": self.kind,
            "title": self.title,
            "state": self.state,
        }
        optional: dict[str, JsonValue] = {
            "group": self.group,
            "pid": self.pid,
            "host": self.host,
            "attempt": self.attempt,
            "elapsedMs": self.elapsed_ms,
            "lastOutputMs": self.last_output_ms,
            "heartbeatAgeMs": self.heartbeat_age_ms,
            "logs": dict(self.logs) if self.logs else None,
            "status": self.status,
            "durationMs": self.duration_ms,
            "reason": self.reason,
        }
        data.update({k: v for k, v in optional.items() if v is not None})
        return data


@attrs.frozen
class RunView:
    """A run as ``status`` shows it."""

    run_dir: Path
    run_status: str
    effects: tuple[EffectView, ...]

    @property
    def resume(self) -> str | None:
        """The command that resumes orphaned, stalled and saved effects, when there are any."""
        if any(e.state in RESUMABLE for e in self.effects):
            return f"babysit-plugin dispatch {self.run_dir}"
        return None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for effect in self.effects:
            out[effect.state] = out.get(effect.state, 0) + 1
        return out

    def to_json(self) -> dict[str, JsonValue]:
        data: dict[str, JsonValue] = {
            "runDir": str(self.run_dir),
            "runStatus": self.run_status,
            "effects": [e.to_json() for e in self.effects],
        }
        if self.resume is not None:
            data["resume"] = self.resume
        return data


def _epoch(iso: object) -> float | None:
    if not isinstance(iso, str):
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else max(0, int(seconds * 1000))


def _duration(started: object, finished: object) -> int | None:
    a, b = _epoch(started), _epoch(finished)
    return None if a is None or b is None else _ms(b - a)


class _Reader:
    def __init__(self, run: Run, journal: Journal, now: float) -> None:
        self.run = run
        self.journal = journal
        self.now = now
        self.store = PluginStore(run.path)
        pending = journal.pending
        self.group = (
            parallel_group_id([r.invocation_key for r in pending]) if len(pending) > 1 else None
        )
        self.pending_ids = {r.effect_id for r in pending}
        self.notes: dict[str, dict[str, JsonValue]] = {}

    def touched(self) -> set[str]:
        if not self.store.exists():
            return set()
        store = self.store
        ids = set(store.claim_ids()) | set(store.saved_outcome_ids())
        ids |= set(store.log_effect_ids())
        self.notes = store.posted_notes()
        return ids | set(self.notes)

    def title(self, record: EffectRecord) -> tuple[str, str | None]:
        kind = record.kind
        title = record.label
        try:
            task = load_task_def(self.run, record.effect_id)
        except (ProtocolError, OSError):
            return kind or "unknown", title
        raw_title = task.raw.get("title")
        return kind or task.kind or "unknown", raw_title if isinstance(raw_title, str) else title

    def logs_of(self, claim: ClaimInfo | None, saved: SavedOutcome | None) -> dict[str, str]:
        logs: dict[str, str] = {}
        if saved is not None:
            for name, rel in (("stdout", saved.stdout_file), ("stderr", saved.stderr_file)):
                path = None if rel is None else self.store.resolve(rel)
                if path is not None:
                    logs[name] = str(path)
            return logs
        if claim is None or claim is _BROKEN:
            return logs
        base = self.store.logs_dir / claim.effect_id / claim.token
        for name in ("stdout", "stderr"):
            path = base / f"{name}.log"
            if path.is_file():
                logs[name] = str(path)
        return logs

    def view(self, record: EffectRecord) -> EffectView:
        eid = record.effect_id
        note = self.notes.get(eid, {})
        if record.status in ("ok", "error") and isinstance(note.get("kind"), str):
            # Posted by the plugin: kind and title as it noted them (no task.json read,
            # so thousands of posted effects cost one file).
            title = note.get("title")
            kind, title = str(note["kind"]), title if isinstance(title, str) else record.label
        else:
            kind, title = self.title(record)
        base = EffectView(eid, kind, title, "pending")
        if record.status == "cancelled":
            return attrs.evolve(base, state="cancelled", reason=record.cancel_reason)
        if record.status in ("ok", "error"):
            duration = _duration(record.started_at, record.finished_at)
            if duration is None:
                duration = _duration(note.get("startedAt"), note.get("finishedAt"))
            pid = note.get("pid")
            attempt = note.get("attempt")
            return attrs.evolve(
                base,
                state="posted",
                status=record.status,
                duration_ms=duration,
                pid=pid if isinstance(pid, int) else None,
                attempt=attempt if isinstance(attempt, int) else None,
            )
        group = self.group if eid in self.pending_ids else None
        base = attrs.evolve(base, group=group)
        claim = self.store.read_claim(eid)
        saved = self.store.load_outcome(eid)
        logs = self.logs_of(claim, saved) or None
        if saved is not None:
            return attrs.evolve(
                base,
                state="saved",
                status=saved.status,
                duration_ms=_duration(saved.started_at, saved.finished_at),
                logs=logs,
                reason="outcome saved, not yet posted",
            )
        if claim is None:
            return base
        if claim is _BROKEN:
            return attrs.evolve(base, state="orphaned", reason="unreadable claim file")
        started = _epoch(claim.started_at)
        paths = [Path(p) for p in (logs or {}).values()]
        last = last_output(paths, started or 0.0) if paths else None
        state: State = "running"
        reason = None
        if not claim.owner_alive():
            state, reason = "orphaned", f"pid {claim.pid} is gone"
        elif claim.heartbeat_stale(self.now):
            state = "stalled"
            reason = (
                f"pid {claim.pid} lives but has not refreshed its claim for "
                f"{claim.heartbeat_age(self.now) or 0:.0f} s (bound {claim.stale_after():g} s)"
            )
        return attrs.evolve(
            base,
            state=state,
            pid=claim.pid,
            host=claim.host,
            attempt=claim.attempt,
            elapsed_ms=None if started is None else _ms(self.now - started),
            last_output_ms=None if last is None or not last else _ms(self.now - last),
            heartbeat_age_ms=_ms(claim.heartbeat_age(self.now)),
            logs=logs,
            reason=reason,
        )


def inspect_run(run_dir: str | Path, *, now: float | None = None) -> RunView:
    """The run's status and every pending or plugin-touched effect (see the module docstring).

    Raises :class:`protocol.ProtocolError` when the run cannot be read.
    """
    run = open_run(run_dir)
    journal = read_journal(run)
    reader = _Reader(run, journal, time.time() if now is None else now)
    ids = reader.touched() | reader.pending_ids | set(journal.cancelled)
    records = [r for r in journal.effects.values() if r.effect_id in ids]
    return RunView(run.path, journal.status, tuple(reader.view(r) for r in records))


__all__ = ["RESUMABLE", "STATE_DIR_NAME", "EffectView", "RunView", "State", "inspect_run"]
