"""A byte-faithful Python implementation of the babysitter run directory.

``protocol`` reads and writes ``<repo>/.a5c/runs/<runId>/`` exactly as
``@a5c-ai/babysitter-sdk`` 0.0.187 does: it validates the journal as the SDK's replay does,
lists pending effects with the scheduler hints ``run:iterate`` computes, and commits results
with the bytes ``task:post`` writes, under the SDK's ``run.lock``.

It is pure: files in, models out. It never imports gevent, subprocess or threading; callers
that need concurrency inject ``sleep`` and an in-process lock (see :class:`RunLock`).
"""

from __future__ import annotations

from protocol.clock import iso_from_ms, now_iso, system_ms
from protocol.converter import CONVERTER, configure_converter, make_converter, unstructure
from protocol.errors import (
    AlreadyResolvedError,
    InvalidValueError,
    JournalCorruptError,
    LockTimeoutError,
    NotARunError,
    PayloadError,
    ProtocolError,
    RunNotFoundError,
    TaskDefinitionError,
    UnknownEffectError,
    UnsafePathError,
)
from protocol.fsutil import atomic_write, check_effect_id, js_trim, safe_join
from protocol.journal import append_event, event_checksum, open_run, read_journal
from protocol.jsonjs import JsonValue, dumps, loads, stable_clone, to_file_text
from protocol.lock import LockOptions, RunLock
from protocol.models import (
    NO_VALUE,
    AppendedEvent,
    EffectError,
    EffectRecord,
    EffectRequested,
    EffectResolved,
    Entrypoint,
    EventData,
    Journal,
    JournalEntry,
    JournalEvent,
    MaybeJson,
    NoValue,
    PendingAction,
    PostReceipt,
    Problem,
    ResultInput,
    Run,
    RunCompleted,
    RunCreated,
    RunFailed,
    RunMetadata,
    SchedulerHints,
    ShellSpec,
    SleepSpec,
    TaskDef,
    TaskResult,
    UnknownEventData,
    VerifyReport,
)
from protocol.pending import actions_from_payload, load_task_def, pending_actions
from protocol.results import effect_error_from_json, post_result, read_json_arg
from protocol.ulid import next_ulid
from protocol.verify import verify_run

__all__ = [
    "CONVERTER",
    "NO_VALUE",
    "AlreadyResolvedError",
    "AppendedEvent",
    "EffectError",
    "EffectRecord",
    "EffectRequested",
    "EffectResolved",
    "Entrypoint",
    "EventData",
    "InvalidValueError",
    "Journal",
    "JournalCorruptError",
    "JournalEntry",
    "JournalEvent",
    "JsonValue",
    "LockOptions",
    "LockTimeoutError",
    "MaybeJson",
    "NoValue",
    "NotARunError",
    "PayloadError",
    "PendingAction",
    "PostReceipt",
    "Problem",
    "ProtocolError",
    "ResultInput",
    "Run",
    "RunCompleted",
    "RunCreated",
    "RunFailed",
    "RunLock",
    "RunMetadata",
    "RunNotFoundError",
    "SchedulerHints",
    "ShellSpec",
    "SleepSpec",
    "TaskDef",
    "TaskDefinitionError",
    "TaskResult",
    "UnknownEffectError",
    "UnknownEventData",
    "UnsafePathError",
    "VerifyReport",
    "actions_from_payload",
    "append_event",
    "atomic_write",
    "check_effect_id",
    "configure_converter",
    "dumps",
    "effect_error_from_json",
    "event_checksum",
    "iso_from_ms",
    "js_trim",
    "load_task_def",
    "loads",
    "make_converter",
    "next_ulid",
    "now_iso",
    "open_run",
    "pending_actions",
    "post_result",
    "read_journal",
    "read_json_arg",
    "safe_join",
    "stable_clone",
    "system_ms",
    "to_file_text",
    "unstructure",
    "verify_run",
]
