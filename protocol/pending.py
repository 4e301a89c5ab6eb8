"""Pending actions: what ``run:iterate`` lists in ``nextActions``, derived from disk or read
from its output.

Rules kept here (``runtime/intrinsics/task.js`` ``buildEffectAction``,
``runtime/orchestrateIteration.js`` ``annotateWaitingActions``, ``tasks/batching.js``):

- An effect is pending while its ``EFFECT_REQUESTED`` has no ``EFFECT_RESOLVED``; actions are
  listed in request (journal) order.
- Each action's task definition is ``tasks/<effectId>/task.json`` (the SDK reads that path,
  not ``taskDefRef``); a missing one fails, as the SDK's iteration does.
- ``kind`` is the request's ``kind``, else the task's; ``label`` the request's ``label``,
  else its first label, else the task's ``title``; ``labels`` the request's normalized
  labels, else the task's.
- Scheduler hints, in ``run:iterate``'s key order: ``sleepUntilEpochMs`` from
  ``taskDef.sleep.targetEpochMs`` or else ``taskDef.metadata.targetEpochMs`` (numbers only);
  ``parallelGroupId`` only when more than one action is pending: the first 16 hex digits of
  sha1 over each action's ``invocationKey`` followed by ``|``, in order; ``pendingCount``, the
  number of pending actions, always.
- :func:`actions_from_payload` reads a ``run:iterate --json`` output (``nextActions``), an
  ``on-iteration-start`` hook payload (``pending``) or a bare list; hints there are taken as
  given (they may carry ``executionStrategy``/``maxConcurrency``). Malformed input raises
  :class:`PayloadError` naming the JSON path; effect ids must be usable as one path component.
- SDK 0.0.162-0.0.174 write ``task.json`` through a serializer that keeps only its own keys
  (``schemaVersion`` first, then ``effectId`` ... ``metadata``, ``inputs``): the ``shell``,
  ``agent`` and ``skill`` blocks the process gave are dropped, and only the ``run:iterate``
  that *requested* the effect prints them (``nextActions[].taskDef`` is the built definition
  there; every later iteration prints ``task.json``). :func:`definition_not_on_disk` names the
  block such a ``task.json`` lacks, so the effect is never performed on a guess.
"""

from __future__ import annotations

import hashlib

from protocol import converter as cv
from protocol.errors import PayloadError, TaskDefinitionError
from protocol.fsutil import check_effect_id, safe_join
from protocol.journal import read_journal, read_json_file
from protocol.jsonjs import JsonParseError, JsonValue
from protocol.models import EffectRecord, Journal, PendingAction, Run, SchedulerHints, TaskDef

__all__ = [
    "PERFORM_BLOCKS",
    "actions_from_payload",
    "definition_not_on_disk",
    "load_task_def",
    "parallel_group_id",
    "pending_actions",
]

#: The block of a task definition that says how to perform each kind.
PERFORM_BLOCKS: dict[str, str] = {"shell": "shell", "agent": "agent", "skill": "skill"}

#: Every key of the task.json that SDK 0.0.162-0.0.174 write (``tasks/serializer.js``
#: ``serializeTaskDefinition``, ``schemaVersion`` first); 0.0.183 and later spread the
#: process's definition in first, so its blocks are kept.
_STRIPPED_TASK_KEYS = frozenset(
    {
        "schemaVersion",
        "effectId",
        "taskId",
        "invocationKey",
        "stepId",
        "kind",
        "title",
        "description",
        "labels",
        "io",
        "node",
        "breakpoint",
        "orchestratorTask",
        "sleep",
        "metadata",
        "inputs",
        "inputsRef",
    }
)


def definition_not_on_disk(task: TaskDef) -> str | None:
    """The block (``shell``, ``agent``, ``skill``) ``task`` needs and its SDK did not write.

    None when the block is there, the kind needs none, or the definition was not written by
    the 0.0.162-0.0.174 serializer (a definition without the block written by another SDK is
    the process's own mistake, reported as such when it is performed).
    """
    block = PERFORM_BLOCKS.get(task.kind or "")
    if block is None or block in task.raw:
        return None
    keys = list(task.raw)
    if not keys or keys[0] != "schemaVersion" or not set(keys) <= _STRIPPED_TASK_KEYS:
        return None
    return block


def parallel_group_id(invocation_keys: list[str]) -> str:
    """``assignParallelGroupHints``: sha1 of ``key + "|"`` for each key, first 16 hex digits."""
    digest = hashlib.sha1(usedforsecurity=False)
    for key in invocation_keys:
        digest.update(key.encode("utf-8", errors="surrogatepass"))
        digest.update(b"|")
    return digest.hexdigest()[:16]


def load_task_def(run: Run, effect_id: str) -> TaskDef:
    """``tasks/<effectId>/task.json`` of ``run``.

    Raises :class:`TaskDefinitionError` when it is missing, not JSON, or has no ``kind``,
    and :class:`UnsafePathError` for an effect id or a symlink that would leave the run.
    """
    check_effect_id(effect_id, f"{run.path}/tasks")
    rel = f"tasks/{effect_id}/task.json"
    path = safe_join(run.path, rel, where=f"{run.path}/{rel}")
    try:
        raw = read_json_file(path)
    except (FileNotFoundError, NotADirectoryError):
        raise TaskDefinitionError(
            f"{path}: expected the task definition of effect {effect_id}, found no such file "
            "— the SDK cannot iterate this run either; restore it from version control",
            str(path),
        ) from None
    except (JsonParseError, IsADirectoryError) as exc:
        raise TaskDefinitionError(
            f"{path}: expected a JSON task definition, found unreadable text ({exc}) — "
            "restore it from version control",
            str(path),
        ) from None
    return cv.structure_as(
        raw,
        TaskDef,
        where=str(path),
        error=TaskDefinitionError,
        path=str(path),
        fix="restore the task definition as the SDK wrote it",
    )


def _action(record: EffectRecord, task: TaskDef, group: str | None, count: int) -> PendingAction:
    label = record.label
    if label is None and record.labels:
        label = record.labels[0]
    if label is None:
        label = task.title
    return PendingAction(
        effect_id=record.effect_id,
        invocation_key=record.invocation_key,
        kind=record.kind if record.kind is not None else task.kind,
        label=label,
        labels=record.labels if record.labels is not None else task.labels,
        task=task,
        task_id=record.task_id,
        step_id=record.step_id,
        task_def_ref=record.task_def_ref,
        inputs_ref=record.inputs_ref,
        requested_at=record.requested_at,
        scheduler_hints=SchedulerHints(
            sleep_until_epoch_ms=task.sleep_until_epoch_ms,
            parallel_group_id=group,
            pending_count=count,
        ),
    )


def pending_actions(run: Run, journal: Journal | None = None) -> list[PendingAction]:
    """The pending effects of ``run`` as ``run:iterate`` would list them, in request order."""
    if journal is None:
        journal = read_journal(run)
    pending = journal.pending
    count = len(pending)
    group = parallel_group_id([r.invocation_key for r in pending]) if count > 1 else None
    return [_action(r, load_task_def(run, r.effect_id), group, count) for r in pending]


def _describe(data: object) -> str:
    if data is None:
        return "null"
    if isinstance(data, dict):
        keys = ", ".join(list(data)[:5])
        return f"an object with keys {keys}" if keys else "an empty object"
    return type(data).__name__


def actions_from_payload(data: JsonValue, source: str) -> list[PendingAction]:
    """Actions from a ``run:iterate --json`` output, an ``on-iteration-start`` payload or a list.

    ``source`` names where ``data`` came from (a file, ``<stdin>``) for error messages.
    """
    root: str
    items: JsonValue
    if isinstance(data, list):
        root, items = "$", data
    elif isinstance(data, dict) and "nextActions" in data:
        root, items = "$.nextActions", data["nextActions"]
    elif isinstance(data, dict) and "pending" in data:
        root, items = "$.pending", data["pending"]
    elif isinstance(data, dict) and "status" in data and "iteration" in data:
        # A completed or failed iteration prints no nextActions.
        return []
    else:
        raise PayloadError(
            f"{source}: expected the output of `babysitter run:iterate --json` (nextActions), "
            f"an on-iteration-start payload (pending) or a list of actions, found "
            f"{_describe(data)} — pass that JSON unchanged",
            source,
        )
    if items is None:
        return []
    if not isinstance(items, list):
        raise PayloadError(
            f"{source}: expected an array at {root}, found {_describe(items)} — pass the "
            "JSON unchanged",
            source,
        )
    actions: list[PendingAction] = []
    for index, item in enumerate(items):
        where = f"{root}[{index}]"
        action = cv.structure_as(
            item,
            PendingAction,
            where=source,
            error=PayloadError,
            path=source,
            fix="pass the JSON that run:iterate printed, unchanged",
            root=where,
        )
        check_effect_id(action.effect_id, f"{source} {where}.effectId")
        actions.append(action)
    return actions
