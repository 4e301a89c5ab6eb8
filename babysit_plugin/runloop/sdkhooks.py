"""What 6.x's ``task:post`` checks before it writes a result, done the same way.

6.0.3's ``commitEffectResult`` (``dist/runtime/commitEffectResult.js``), after it
finds the effect still requested and before it writes anything:

1. refuses an ``ok`` result of a ``shell`` effect that fails the ``outputSchema``
   of its ``tasks/<id>/task.json``, checked with the SDK's own subset validator
   (``runtime/schemaValidator.js``, reproduced by
   :func:`babysit_plugin.schema.sdk_shell_errors`);
2. calls the ``task.completed`` runtime hook (``runtime/hooks/runtime.js``,
   ``hooks/dispatcher.js``) with ``cwd`` the run directory and a 30 s timeout,
   and refuses the result when the hook's output is a JSON object whose
   ``decision`` is ``"deny"`` or ``"ask"`` ("Runtime hook task.completed blocked
   execution: <reason>").

How the SDK finds and runs the hook, and so how this module does:

- A hook dispatcher ``plugins/babysitter-unified/hooks/hook-dispatcher.sh`` or
  ``plugins/babysitter/hooks/hook-dispatcher.sh`` in the run directory or any
  parent: ``bash <dispatcher> task.completed``, the payload on stdin, its stdout
  parsed as JSON (text that is not JSON is no decision). Its exit status does
  not matter for the decision; a dispatcher still running after 30 s is
  terminated and gives no decision, so the result is allowed.
- Without one: every regular ``*.sh|js|ts|py|bash`` file of
  ``<run>/.a5c/hooks/task.completed/`` then ``~/.a5c/hooks/task.completed/``
  (name order, as libuv's ``scandir`` sorts), then a plugin's
  ``task.completed.<ext>`` under ``plugins/babysitter-unified/hooks`` or
  ``plugins/babysitter/hooks`` in the run directory or a parent, one after the
  other, each as ``bash <file>`` with the payload on stdin and 30 s. On that
  path the SDK never reads their stdout, so they cannot deny.
- A hook that crashes, exits non-zero or cannot start is no decision: allowed.

The payload is ``JSON.stringify`` (compact) of ``{runId, task_id, task_kind,
task_status, task_result, taskId, effectId, kind, status, result, hookType,
timestamp}`` with ``runId`` the run directory's name and ``task_result`` /
``result`` the value (``ok``) or the error (``error``).

One difference, on purpose: the SDK calls the hook under ``run.lock``; the
plugin calls it before it takes the lock, in the effect's own greenlet, so the
hooks of effects finishing together run side by side and never hold up other
commits. The commit still re-checks that the effect is pending.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import attrs

from babysit_plugin.runloop import proc
from babysit_plugin.schema import SchemaCheckFailed, sdk_shell_errors
from protocol.clock import now_iso
from protocol.converter import unstructure
from protocol.errors import ProtocolError
from protocol.jsonjs import JsonParseError, JsonValue, dumps, loads
from protocol.models import NO_VALUE, EffectRecord, ResultInput, Run
from protocol.pending import load_task_def
from protocol.results import as_committed

__all__ = [
    "HOOK_TIMEOUT",
    "HookSet",
    "Refusal",
    "check",
    "discover",
    "gate",
    "schema_refusal",
]

#: ``callRuntimeHook``'s default timeout (ms 30000), per dispatcher or per script.
HOOK_TIMEOUT = 30.0
HOOK_TYPE = "task.completed"
_EXTENSIONS = (".sh", ".js", ".ts", ".py", ".bash")
_PLUGIN_HOOK_DIRS = ("plugins/babysitter-unified/hooks", "plugins/babysitter/hooks")


@attrs.frozen
class Refusal:
    """Why 6.x's ``task:post`` would refuse a result: nothing is posted."""

    #: ``outputSchema`` or the refusing hook (``task.completed hook <path>``).
    by: str
    reason: str


@attrs.frozen
class HookSet:
    """The ``task.completed`` hooks the SDK would run for one run directory."""

    dispatcher: Path | None = None
    scripts: tuple[Path, ...] = ()

    @property
    def empty(self) -> bool:
        return self.dispatcher is None and not self.scripts


def _walk_up(start: Path, names: list[str]) -> Path | None:
    current = start
    for _ in range(50):
        for name in names:
            candidate = current / name
            if os.path.exists(candidate):
                return candidate
        if current.parent == current:
            return None
        current = current.parent
    return None


def _scripts_in(directory: Path) -> list[Path]:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: os.fsencode(e.name))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [
        Path(e.path)
        for e in entries
        if e.is_file(follow_symlinks=False) and os.path.splitext(e.name)[1] in _EXTENSIONS
    ]


def discover(run_dir: Path, env: Mapping[str, str] | None = None) -> HookSet:
    """The hooks 6.0.3's ``callHook`` finds from ``run_dir`` (its ``cwd`` for this hook)."""
    env = os.environ if env is None else env
    start = Path(os.path.abspath(run_dir))
    dispatcher = _walk_up(start, [f"{d}/hook-dispatcher.sh" for d in _PLUGIN_HOOK_DIRS])
    if dispatcher is not None:
        return HookSet(dispatcher=dispatcher)
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    scripts = _scripts_in(start / ".a5c" / "hooks" / HOOK_TYPE)
    scripts += _scripts_in(home / ".a5c" / "hooks" / HOOK_TYPE)
    plugin = _walk_up(
        start, [f"{d}/{HOOK_TYPE}{ext}" for d in _PLUGIN_HOOK_DIRS for ext in _EXTENSIONS]
    )
    if plugin is not None:
        scripts.append(plugin)
    return HookSet(scripts=tuple(scripts))


def payload(
    run: Run, effect_id: str, kind: str | None, task_id: str | None, result: ResultInput
) -> bytes:
    """The JSON the SDK writes to the hook's stdin (undefined members left out)."""
    outcome: JsonValue | None
    if result.status == "ok":
        outcome = None if result.value is NO_VALUE else result.value
    else:
        outcome = unstructure(result.error) if result.error is not None else None
    fields: list[tuple[str, JsonValue | None]] = [
        ("runId", run.path.name),
        ("task_id", effect_id),
        ("task_kind", kind),
        ("task_status", result.status),
        ("task_result", outcome),
        ("taskId", task_id),
        ("effectId", effect_id),
        ("kind", kind),
        ("status", result.status),
        ("result", outcome),
        ("hookType", HOOK_TYPE),
        ("timestamp", now_iso()),
    ]
    has_outcome = result.value is not NO_VALUE if result.status == "ok" else outcome is not None
    body: dict[str, JsonValue] = {
        k: v for k, v in fields if v is not None or (k.endswith("result") and has_outcome)
    }
    return _compact(body).encode("utf-8", errors="surrogatepass")


def _compact(value: JsonValue) -> str:
    return dumps(value, indent=None)  # JSON.stringify(payload): no indent


def _decision(stdout: bytes) -> tuple[str, str | None] | None:
    try:
        parsed = loads(stdout.decode("utf-8", errors="replace"))
    except JsonParseError:
        return None
    if not isinstance(parsed, dict):
        return None
    decision = parsed.get("decision")
    if decision not in ("deny", "ask"):
        return None
    reason = parsed.get("reason")
    return str(decision), reason if isinstance(reason, str) and reason else None


def gate(
    run: Run,
    effect_id: str,
    result: ResultInput,
    hooks: HookSet,
    *,
    kind: str | None,
    task_id: str | None,
    timeout: float | None = None,
) -> Refusal | None:
    """Call the ``task.completed`` hooks as the SDK does; a refusal when one denies."""
    if hooks.empty:
        return None
    timeout = HOOK_TIMEOUT if timeout is None else timeout
    data = payload(run, effect_id, kind, task_id, result)
    if hooks.dispatcher is not None:
        done = proc.run_process(
            ["bash", str(hooks.dispatcher), HOOK_TYPE], cwd=run.path, input=data, timeout=timeout
        )
        if done.timed_out or done.stdout is None:
            return None
        found = _decision(done.stdout)
        if found is None:
            return None
        decision, reason = found
        text = f"Runtime hook {HOOK_TYPE} blocked execution" + (f": {reason}" if reason else "")
        return Refusal(
            by=f"{HOOK_TYPE} hook {hooks.dispatcher}",
            reason=f"{text} (decision {decision!r} from {hooks.dispatcher})",
        )
    for script in hooks.scripts:
        # The SDK does not read their stdout on this path: they run, and cannot deny.
        proc.run_process(["bash", str(script)], cwd=run.path, input=data, timeout=timeout)
    return None


def schema_refusal(
    run: Run,
    effect_id: str,
    kind: str | None,
    task: Mapping[str, JsonValue] | None,
    result: ResultInput,
) -> Refusal | None:
    """6.x's refusal of an ``ok`` shell result that fails its task's ``outputSchema``."""
    if kind != "shell" or result.status != "ok" or task is None:
        return None
    schema = task.get("outputSchema")
    if not isinstance(schema, dict):
        return None
    value = None if result.value is NO_VALUE else result.value
    try:
        errors = sdk_shell_errors(value, schema)
    except SchemaCheckFailed as exc:
        errors = [str(exc)]
    if not errors:
        return None
    return Refusal(
        by="outputSchema",
        reason=(
            f"{run.path}/tasks/{effect_id}/task.json: expected a result matching its "
            f"outputSchema, found {'; '.join(errors)} — shell task result failed outputSchema "
            f"validation for effect {effect_id}, as 6.x task:post checks it; fix the command's "
            "output or the task's outputSchema"
        ),
    )


def check(
    run: Run, effect_id: str, record: EffectRecord | None, result: ResultInput, hooks: HookSet
) -> Refusal | None:
    """Both of 6.x ``task:post``'s gates, in its order, on the result as it would be
    committed (a failed shell command as its ``{success: false, ...}`` value); None on a
    line without them."""
    if not run.line.gates_results:
        return None
    kind = record.kind if record is not None else None
    task_id = record.task_id if record is not None else None
    result = as_committed(run, kind, result)
    try:
        task: dict[str, JsonValue] | None = load_task_def(run, effect_id).raw
    except (ProtocolError, OSError):
        task = None  # readTaskDefinition finds nothing to check against
    refused = schema_refusal(run, effect_id, kind, task, result)
    if refused is not None:
        return refused
    return gate(run, effect_id, result, hooks, kind=kind, task_id=task_id)
