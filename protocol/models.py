"""The data of a babysitter run directory, as frozen attrs classes.

Rules kept here:

- Models carry no serialization: field names are Python names, the camelCase keys, the
  omission of absent fields and the key order on disk all live in :mod:`protocol.converter`.
- Field order is the SDK's key order for the objects the SDK writes (``EFFECT_RESOLVED.data``,
  ``result.json``, scheduler hints, pending actions), so unstructuring reproduces its bytes.
- Whatever the SDK wrote that has no field here is kept in ``extra`` (in file order) and
  written back after the known keys; a value of the wrong type for a lenient field (one the
  SDK itself never checks, e.g. ``label``) is kept there too instead of failing the read.
- ``None`` means "absent" for optional fields. Where JSON ``null`` and absent differ on disk
  (a result value, ``error.data``), the field uses the :data:`NO_VALUE` sentinel for absent.
- Task definitions keep every field as written in ``TaskDef.raw``; the typed attributes are
  read from it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Literal, TypeAlias, Union

from attrs import field, frozen

from protocol.jsonjs import JsonValue
from protocol.lines import LINE_0_0, SdkLine

__all__ = [
    "NO_VALUE",
    "AppendedEvent",
    "EffectError",
    "EffectRecord",
    "EffectRequested",
    "EffectResolved",
    "EffectStatus",
    "Entrypoint",
    "EventData",
    "Journal",
    "JournalEntry",
    "JournalEvent",
    "MaybeJson",
    "NoValue",
    "PendingAction",
    "PostReceipt",
    "Problem",
    "ResultInput",
    "ResultStatus",
    "Run",
    "RunCompleted",
    "RunCreated",
    "RunFailed",
    "RunMetadata",
    "RunStatus",
    "SchedulerHints",
    "ShellSpec",
    "SleepSpec",
    "TaskDef",
    "TaskResult",
    "UnknownEventData",
    "VerifyReport",
]


class NoValue(enum.Enum):
    """The type of :data:`NO_VALUE`: a field that is absent (not JSON ``null``)."""

    NO_VALUE = "NO_VALUE"

    def __repr__(self) -> str:
        return "NO_VALUE"


#: Marks an absent JSON value where ``None`` would mean JSON ``null``.
NO_VALUE = NoValue.NO_VALUE

#: A JSON value, or :data:`NO_VALUE` when absent. (``Union`` because ``JsonValue`` is a
#: string alias, which ``|`` cannot combine at runtime.)
MaybeJson: TypeAlias = Union[JsonValue, NoValue]  # noqa: UP007

ResultStatus = Literal["ok", "error"]
#: ``cancelled``: ``EFFECT_CANCELLED`` (6.x ``task:cancel``); final like ``ok``/``error``.
EffectStatus = Literal["requested", "ok", "error", "cancelled"]
#: What the SDK's ``deriveObservedRunState`` reports for a journal (see
#: :attr:`Journal.status`).
RunStatus = Literal["created", "waiting", "completed", "failed", "halted"]

#: Lifecycle event types, as ``runtime/runLifecycleState.js`` lists them.
LIFECYCLE_EVENTS = frozenset(
    {"RUN_CREATED", "RUN_COMPLETED", "RUN_HALTED", "RUN_FAILED", "PROCESS_RUNTIME_ERROR"}
)


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None


# --- run.json -------------------------------------------------------------------------------


@frozen(kw_only=True)
class Entrypoint:
    """``run.json``/``RUN_CREATED`` ``entrypoint``: the process module and export."""

    import_path: str | None = None
    export_name: str | None = None
    extra: dict[str, JsonValue] = field(factory=dict)


@frozen(kw_only=True)
class RunMetadata:
    """``run.json``. ``harness`` is set only for runs created by a harness."""

    run_id: str
    process_id: str | None = None
    entrypoint: Entrypoint | None = None
    harness: str | None = None
    created_at: str | None = None
    extra: dict[str, JsonValue] = field(factory=dict)


@frozen(kw_only=True)
class Run:
    """An opened run directory (see :func:`protocol.journal.open_run`).

    ``line`` is the SDK line the run belongs to (:mod:`protocol.lines`), chosen once when
    the run is opened; ``sdk_version`` the release when known (``run.json``'s
    ``sdkVersion`` on 6.x, the project's installed 0.0.x SDK otherwise).
    """

    path: Path
    metadata: RunMetadata
    repo_root: Path
    line: SdkLine = LINE_0_0
    sdk_version: str | None = None


# --- journal --------------------------------------------------------------------------------


@frozen(kw_only=True)
class EffectError:
    """A serialized error: ``{name, message, stack?, data?}``, as ``toSerializedEffectError``."""

    name: str
    message: str
    stack: str | None = None
    data: MaybeJson = NO_VALUE
    extra: dict[str, JsonValue] = field(factory=dict)


@frozen(kw_only=True)
class RunCreated:
    """``RUN_CREATED.data``."""

    harness: str | None = None
    run_id: str | None = None
    process_id: str | None = None
    entrypoint: Entrypoint | None = None
    extra: dict[str, JsonValue] = field(factory=dict)


@frozen(kw_only=True)
class EffectRequested:
    """``EFFECT_REQUESTED.data``; the SDK requires the five non-optional fields non-empty."""

    harness: str | None = None
    effect_id: str
    invocation_key: str
    invocation_hash: str | None = None
    step_id: str
    task_id: str
    kind: str | None = None
    label: str | None = None
    task_def_ref: str
    inputs_ref: str | None = None
    labels: tuple[str, ...] | None = None
    extra: dict[str, JsonValue] = field(factory=dict)


@frozen(kw_only=True)
class EffectResolved:
    """``EFFECT_RESOLVED.data`` in the SDK's key order."""

    harness: str | None = None
    effect_id: str
    status: ResultStatus
    result_ref: str | None = None
    error: EffectError | None = None
    stdout_ref: str | None = None
    stderr_ref: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    extra: dict[str, JsonValue] = field(factory=dict)


@frozen(kw_only=True)
class RunCompleted:
    """``RUN_COMPLETED.data``."""

    harness: str | None = None
    output_ref: str | None = None
    extra: dict[str, JsonValue] = field(factory=dict)


@frozen(kw_only=True)
class RunFailed:
    """``RUN_FAILED.data``."""

    harness: str | None = None
    error: EffectError | None = None
    extra: dict[str, JsonValue] = field(factory=dict)


@frozen(kw_only=True)
class UnknownEventData:
    """The data of an event type replay ignores (or of a known type whose data is no object),
    kept exactly as read."""

    raw: JsonValue


EventData = (
    RunCreated | EffectRequested | EffectResolved | RunCompleted | RunFailed | UnknownEventData
)


@frozen(kw_only=True)
class JournalEvent:
    """One ``journal/<seq>.<ulid>.json`` file. ``seq``/``ulid`` come from the file name."""

    seq: int
    ulid: str
    filename: str
    type: str
    recorded_at: str | None = None
    data: EventData
    #: 6.x: the top-level ``sdkVersion`` between ``data`` and ``checksum``.
    sdk_version: str | None = None
    checksum: str | None = None
    extra: dict[str, JsonValue] = field(factory=dict)


@frozen(kw_only=True)
class EffectRecord:
    """An effect as the journal describes it: requested, then maybe resolved ok/error."""

    effect_id: str
    invocation_key: str
    invocation_hash: str | None = None
    step_id: str
    task_id: str
    status: EffectStatus = "requested"
    kind: str | None = None
    label: str | None = None
    labels: tuple[str, ...] | None = None
    task_def_ref: str
    inputs_ref: str | None = None
    requested_at: str | None = None
    requested_seq: int
    requested_file: str | None = None
    result_ref: str | None = None
    error: EffectError | None = None
    stdout_ref: str | None = None
    stderr_ref: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    resolved_at: str | None = None
    resolved_seq: int | None = None
    resolved_file: str | None = None
    #: ``EFFECT_CANCELLED.data.reason`` of a cancelled effect (whose ``resolved_*`` fields
    #: name the cancellation, as the SDK's record sets ``resolvedAt``).
    cancel_reason: str | None = None


@frozen(kw_only=True)
class JournalEntry:
    """One journal file as read: its name, the seq and ULID in it, and its JSON object."""

    filename: str
    seq: int
    ulid: str
    body: dict[str, JsonValue]


@frozen(kw_only=True, slots=False)  # a __dict__ for the cached ``events`` (any attrs version)
class Journal:
    """A validated journal: the effects it describes, its head and its files.

    ``events`` (typed :class:`JournalEvent`\\ s) is computed on first use: deriving pending
    actions needs only ``effects`` and ``head``.
    """

    run_path: Path
    head: tuple[int, str] | None
    effects: Mapping[str, EffectRecord]
    entries: tuple[JournalEntry, ...] = field(repr=False)
    line: SdkLine = LINE_0_0

    @cached_property
    def events(self) -> tuple[JournalEvent, ...]:
        """Every event in journal order, structured by :mod:`protocol.converter`."""
        # Imported here: the converter imports this module.
        from protocol.converter import structure_event

        return tuple(
            structure_event(e.body, seq=e.seq, ulid=e.ulid, filename=e.filename)
            for e in self.entries
        )

    @property
    def requested(self) -> tuple[EffectRecord, ...]:
        """Effects with neither a resolution nor a cancellation, in request order, whatever
        the run's state (the SDK's ``listPendingEffects``)."""
        return tuple(r for r in self.effects.values() if r.status == "requested")

    @property
    def pending(self) -> tuple[EffectRecord, ...]:
        """Effects to perform: the requested ones, or none once the run is terminal
        (:attr:`terminal`). Cancelled effects are never pending."""
        if self.terminal:
            return ()
        return self.requested

    @property
    def cancelled(self) -> Mapping[str, EffectRecord]:
        """Effects cancelled with ``EFFECT_CANCELLED`` (6.x ``task:cancel``), by effect id.

        A cancelled effect is final: it is never pending, never performed, and a result
        posted for it is refused (:class:`~protocol.errors.EffectCancelledError`).
        """
        return {k: r for k, r in self.effects.items() if r.status == "cancelled"}

    @cached_property
    def lifecycle_event(self) -> JournalEntry | None:
        """The last ``RUN_CREATED``/``RUN_COMPLETED``/``RUN_HALTED``/``RUN_FAILED``/
        ``PROCESS_RUNTIME_ERROR`` event, as ``findLastLifecycleEventType`` finds it."""
        for entry in reversed(self.entries):
            if entry.body.get("type") in LIFECYCLE_EVENTS:
                return entry
        return None

    @property
    def status(self) -> RunStatus:
        """The run's state as the SDK's ``deriveObservedRunState`` derives it.

        ``failed`` when the last lifecycle event is ``RUN_FAILED`` or
        ``PROCESS_RUNTIME_ERROR``; ``halted`` when it is ``RUN_HALTED`` (``ctx.halt``);
        else ``waiting`` while an effect is requested; else ``completed`` after
        ``RUN_COMPLETED``; else ``created``. (``run:halt`` seals a run with
        ``RUN_COMPLETED``/``RUN_FAILED``, so it reads as completed or failed.)
        """
        last = self.lifecycle_event
        kind = last.body.get("type") if last is not None else None
        if kind in ("RUN_FAILED", "PROCESS_RUNTIME_ERROR"):
            return "failed"
        if kind == "RUN_HALTED":
            return "halted"
        if self.requested:
            return "waiting"
        if kind == "RUN_COMPLETED":
            return "completed"
        return "created"

    @property
    def terminal(self) -> bool:
        """``completed``, ``failed`` or ``halted`` (``isTerminalRunState``): nothing more
        is to be performed or posted."""
        return self.status in ("completed", "failed", "halted")


@frozen(kw_only=True)
class AppendedEvent:
    """What :func:`protocol.journal.append_event` wrote."""

    seq: int
    ulid: str
    filename: str
    path: Path
    checksum: str
    recorded_at: str


# --- tasks ----------------------------------------------------------------------------------


@frozen(kw_only=True)
class ShellSpec:
    """``taskDef.shell``: ``command``, string ``args``, ``cwd``, string ``env``, ``timeoutMs``."""

    command: str | None = None
    args: tuple[str, ...] = ()
    cwd: str | None = None
    env: dict[str, str] = field(factory=dict)
    timeout_ms: float | None = None


@frozen(kw_only=True)
class SleepSpec:
    """``taskDef.sleep``: when the sleep ends."""

    target_epoch_ms: float | None = None
    iso: str | None = None


def _str_or_none(value: JsonValue) -> str | None:
    return value if isinstance(value, str) else None


def _object_or_none(value: JsonValue) -> dict[str, JsonValue] | None:
    return value if isinstance(value, dict) else None


@frozen(kw_only=True)
class TaskDef:
    """A task definition (``tasks/<effectId>/task.json`` or an action's ``taskDef``).

    ``raw`` holds every field exactly as written; the attributes below read from it and are
    ``None`` when the field is absent or not of the expected type.
    """

    raw: dict[str, JsonValue]

    @property
    def kind(self) -> str | None:
        """``kind``: shell, agent, skill, breakpoint, sleep, node, orchestrator_task, ..."""
        return _str_or_none(self.raw.get("kind"))

    @property
    def title(self) -> str | None:
        """``title``."""
        return _str_or_none(self.raw.get("title"))

    @property
    def description(self) -> str | None:
        """``description``."""
        return _str_or_none(self.raw.get("description"))

    @property
    def labels(self) -> tuple[str, ...] | None:
        """The string entries of ``labels``."""
        value = self.raw.get("labels")
        if not isinstance(value, list):
            return None
        return tuple(v for v in value if isinstance(v, str))

    @property
    def metadata(self) -> dict[str, JsonValue] | None:
        """``metadata`` (an object)."""
        return _object_or_none(self.raw.get("metadata"))

    @property
    def shell(self) -> ShellSpec | None:
        """``shell`` with only string ``args`` and ``env`` values kept."""
        spec = _object_or_none(self.raw.get("shell"))
        if spec is None:
            return None
        args = spec.get("args")
        env = spec.get("env")
        return ShellSpec(
            command=_str_or_none(spec.get("command")),
            args=tuple(a for a in args if isinstance(a, str)) if isinstance(args, list) else (),
            cwd=_str_or_none(spec.get("cwd")),
            env={k: v for k, v in env.items() if isinstance(v, str)}
            if isinstance(env, dict)
            else {},
            timeout_ms=_number(spec.get("timeoutMs")),
        )

    @property
    def agent(self) -> dict[str, JsonValue] | None:
        """``agent`` (prompt, outputSchema, ...)."""
        return _object_or_none(self.raw.get("agent"))

    @property
    def skill(self) -> dict[str, JsonValue] | None:
        """``skill``."""
        return _object_or_none(self.raw.get("skill"))

    @property
    def breakpoint(self) -> dict[str, JsonValue] | None:
        """``breakpoint`` (payload, confirmationRequired)."""
        return _object_or_none(self.raw.get("breakpoint"))

    @property
    def sleep(self) -> SleepSpec | None:
        """``sleep`` (targetEpochMs, iso)."""
        spec = _object_or_none(self.raw.get("sleep"))
        if spec is None:
            return None
        return SleepSpec(
            target_epoch_ms=_number(spec.get("targetEpochMs")),
            iso=_str_or_none(spec.get("iso")),
        )

    @property
    def sleep_until_epoch_ms(self) -> float | None:
        """``sleep.targetEpochMs``, else ``metadata.targetEpochMs`` (numbers only), as the
        SDK's ``deriveSleepHint`` reads them."""
        sleep = _object_or_none(self.raw.get("sleep"))
        direct = _number(sleep.get("targetEpochMs")) if sleep is not None else None
        if direct is not None:
            return direct
        metadata = self.metadata
        return _number(metadata.get("targetEpochMs")) if metadata is not None else None


# --- results --------------------------------------------------------------------------------


@frozen(kw_only=True)
class TaskResult:
    """``tasks/<effectId>/result.json`` in the SDK's key order (``serializeTaskResult``).

    ``error`` is stored as written (keys sorted by the SDK's ``stableClone``).
    """

    schema_version: str
    effect_id: str
    task_id: str
    invocation_key: str
    #: ``ok``/``error``, or ``cancelled`` for the result ``task:cancel`` (6.x) writes.
    status: Literal["ok", "error", "cancelled"]
    result: MaybeJson = NO_VALUE
    result_ref: str | None = None
    error: MaybeJson = NO_VALUE
    stdout_ref: str | None = None
    stderr_ref: str | None = None
    #: 6.x ``task:cancel``'s reason.
    reason: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    metadata: dict[str, JsonValue] | None = None
    value: MaybeJson = NO_VALUE
    #: 6.x: the writing SDK's version, last.
    sdk_version: str | None = None
    extra: dict[str, JsonValue] = field(factory=dict)


@frozen(kw_only=True)
class ResultInput:
    """A result to post (see :func:`protocol.results.post_result`).

    ``stdout``/``stderr`` are text, or a file whose text becomes ``stdout.log``/``stderr.log``.
    ``started_at``/``finished_at`` default to the time of posting, as ``task:post`` does.
    """

    status: ResultStatus
    value: MaybeJson = NO_VALUE
    error: EffectError | None = None
    stdout: str | Path | None = None
    stderr: str | Path | None = None
    stdout_ref: str | None = None
    stderr_ref: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    metadata: dict[str, JsonValue] | None = None
    invocation_key: str | None = None
    #: The error JSON exactly as given (``task:post --error FILE``), which 6.x reads when it
    #: turns a shell effect's error into an ok ``{success: false, ...}`` value; absent, the
    #: error's ``data`` (an object) or its fields stand for it.
    error_payload: MaybeJson = NO_VALUE


@frozen(kw_only=True)
class PostReceipt:
    """What :func:`protocol.results.post_result` committed."""

    effect_id: str
    status: ResultStatus
    result_ref: str
    stdout_ref: str | None = None
    stderr_ref: str | None = None
    seq: int
    ulid: str
    recorded_at: str


# --- pending actions ------------------------------------------------------------------------


@frozen(kw_only=True)
class SchedulerHints:
    """``schedulerHints`` of an action, in the key order ``run:iterate`` writes them."""

    sleep_until_epoch_ms: float | None = None
    parallel_group_id: str | None = None
    pending_count: int | None = None
    execution_strategy: str | None = None
    max_concurrency: int | None = None
    extra: dict[str, JsonValue] = field(factory=dict)


@frozen(kw_only=True)
class PendingAction:
    """An effect waiting to be performed, as ``run:iterate`` lists it in ``nextActions``."""

    effect_id: str
    invocation_key: str | None = None
    kind: str | None = None
    label: str | None = None
    labels: tuple[str, ...] | None = None
    task: TaskDef | None = None
    task_id: str | None = None
    step_id: str | None = None
    task_def_ref: str | None = None
    inputs_ref: str | None = None
    requested_at: str | None = None
    scheduler_hints: SchedulerHints | None = None
    extra: dict[str, JsonValue] = field(factory=dict)


# --- verification ---------------------------------------------------------------------------


@frozen(kw_only=True)
class Problem:
    """One finding of :func:`protocol.verify.verify_run`."""

    path: str
    message: str
    severity: Literal["error", "warning"] = "error"


@frozen(kw_only=True)
class VerifyReport:
    """All findings for one run; ``ok`` when none is an error."""

    run_dir: Path
    problems: tuple[Problem, ...] = ()
    events: int = 0
    effects: int = 0
    pending: int = 0

    @property
    def ok(self) -> bool:
        """No problem of severity ``error``."""
        return not any(p.severity == "error" for p in self.problems)
