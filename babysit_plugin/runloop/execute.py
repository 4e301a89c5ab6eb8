"""Performing one effect: from its task definition to an :class:`Outcome`.

Two steps, so that ``--dry-run`` can show exactly what would run:
:func:`plan_effect` decides (run a command, sleep, or leave the effect
pending, with the reason) and :func:`perform` carries a plan out.

Per kind:

- ``shell``: ``shell.command``; with a non-empty ``shell.args`` list it runs as
  an argv without a shell, else through ``/bin/sh -c``.  Working directory:
  ``shell.cwd`` (relative to the repository root) or the repository root that
  holds ``.a5c/``.  ``shell.env`` is added to the environment.  Value on exit
  0: the stdout text, untrimmed, exactly as the SDK's own harness posts it
  (``harnessPhase2.resolveEffect``: ``value = stdout``).  Otherwise an error
  whose message names the exit code (or signal, or timeout) and the tail of
  stderr, as the SDK's ``Shell command exited with code N: <stderr>`` does.
- ``agent`` / ``skill`` (and kinds opted in with ``--kinds``): a prompt built
  by :mod:`babysit_plugin.harness.prompts`, run through a harness adapter
  (:mod:`babysit_plugin.harness.adapters`); value: the unwrapped answer parsed by
  :func:`babysit_plugin.harness.prompts.parse_value`.
- ``sleep``: waits (cooperatively) until ``targetEpochMs`` when that is within
  the sleep horizon, then ``{"sleptUntil": ISO}``; later ones stay pending.
- ``breakpoint``: never answered here; stays pending for a human.
- ``node``, ``orchestrator_task`` and unknown kinds stay pending unless opted in.

Output is streamed by the child straight into the attempt's ``stdout.log`` /
``stderr.log`` (memory stays flat whatever the size).  **Value size limit:**
an output over :data:`VALUE_LIMIT` bytes (10 MiB — the SDK's own harness
refuses shell output past the same 10 MiB ``maxBuffer``) is not turned into a
value: the effect becomes an ``error`` result saying so, and the full output
is still kept in its ``stdout.log``.

**Retries:** with ``ExecOptions.retry`` (``--retries N``) a ``run`` whose
error has a transient signature is run again after a backoff; see
:mod:`babysit_plugin.runloop.retry`.

**Log size limit:** a ``stdout.log``/``stderr.log`` over :data:`LOG_LIMIT` bytes
is posted cut to its first :data:`LOG_LIMIT` bytes plus a line saying so; the
whole file is kept in ``<runDir>/.babysit-plugin/kept/<effectId>/``.
"""

from __future__ import annotations

import errno
import math
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import gevent
import gevent.event

from babysit_plugin import schema as schema_mod
from babysit_plugin.harness import adapters, prompts
from babysit_plugin.runloop import faults
from babysit_plugin.runloop.proc import ProcessResult, run_process
from babysit_plugin.runloop.retry import RetryPolicy, with_attempts
from protocol.clock import iso_from_ms
from protocol.fsutil import atomic_write
from protocol.jsonjs import JsonValue

#: Largest stdout (bytes) turned into a value; larger output gives an error result.
VALUE_LIMIT = 10 * 1024 * 1024

#: Largest log (bytes) copied whole into ``tasks/<id>/stdout.log`` / ``stderr.log``.
LOG_LIMIT = 10 * 1024 * 1024

#: How much of stderr an error message quotes (characters, from the end).
STDERR_TAIL = 2000

HARNESS_KINDS = frozenset({"agent", "skill"})
PENDING_KINDS = frozenset({"node", "orchestrator_task"})


@attrs.frozen
class ExecOptions:
    """How effects are performed (the dispatch options that concern one effect)."""

    harness: str | None = None
    harness_command: str | None = None
    model: str | None = None
    kinds: frozenset[str] = frozenset()
    timeout: float | None = None
    stall_timeout: float | None = None
    sleep_horizon: float = 60.0
    env: Mapping[str, str] | None = None
    value_limit: int = VALUE_LIMIT
    kill_grace: float = 2.0
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    schema_retries: int = 0


@attrs.frozen
class EffectContext:
    """One effect as the executor sees it."""

    effect_id: str
    kind: str
    task: Mapping[str, Any]
    run_dir: Path
    workspace: Path
    task_file: Path
    task_id: str | None = None
    run_harness: str | None = None
    sleep_until_ms: int | None = None


@attrs.frozen
class Plan:
    """What :func:`perform` will do for one effect.

    ``action``: ``run`` (``invocation``), ``sleep`` (until ``sleep_until_ms``),
    ``fail`` (post ``error_message`` at once: the effect cannot be run as
    defined), or ``leave`` (stay pending; ``reason`` says why).
    """

    effect_id: str
    kind: str
    action: Literal["run", "sleep", "fail", "leave"]
    reason: str | None = None
    invocation: adapters.Invocation | None = None
    adapter: adapters.Adapter | None = None
    harness: adapters.HarnessChoice | None = None
    prompt: str | None = None
    prompt_file: Path | None = None
    env: Mapping[str, str] | None = None
    timeout: float | None = None
    stall_timeout: float | None = None
    timeout_source: str | None = None
    #: Where ``stall_timeout`` came from (``--stall-timeout``, ``the task's stallTimeoutMs``).
    stall_source: str | None = None
    sleep_until_ms: int | None = None
    error_name: str = "Error"
    error_message: str | None = None
    request: adapters.HarnessRequest | None = None
    schema: Any = None

    def describe(self) -> str:
        """One line for ``--dry-run``: the exact command, or what happens instead."""
        if self.action == "run" and self.invocation is not None:
            where = f"(in {self.invocation.cwd})"
            limit = ""
            if self.timeout is not None:
                limit = f" [timeout {self.timeout:g} s from {self.timeout_source}]"
            if self.stall_timeout is not None:
                limit += f" [stall timeout {self.stall_timeout:g} s]"
            return f"{self.invocation.display()} {where}{limit}"
        if self.action == "sleep":
            return f"sleep until {iso_from_ms(self.sleep_until_ms or 0)}"
        if self.action == "fail":
            return f"error result: {self.error_message}"
        return f"left pending: {self.reason}"


@attrs.frozen
class Outcome:
    """How an effect ended.  ``status`` ``cancelled``: interrupted, stays pending."""

    status: Literal["ok", "error", "cancelled"]
    value: JsonValue = None
    has_value: bool = False
    error: dict[str, JsonValue] | None = None
    stdout_path: Path | None = None
    stderr_path: Path | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    metadata: dict[str, JsonValue] | None = None

    @property
    def duration(self) -> float:
        return max(0.0, self.finished_at - self.started_at)


def _error(message: str, data: dict[str, JsonValue] | None = None) -> dict[str, JsonValue]:
    err: dict[str, JsonValue] = {"name": "Error", "message": message}
    if data:
        err["data"] = data
    return err


# -- planning ------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


#: Where a time limit may be written, and the unit: the library writes
#: ``shell.timeout`` (20 times) and ``shell.timeoutMs``, both milliseconds.
_LIMIT_FIELDS: tuple[tuple[str | None, str], ...] = (
    ("shell", "timeout"),
    ("shell", "timeoutMs"),
    (None, "timeoutMs"),
    ("metadata", "timeoutMs"),
)


def time_limits(task: Mapping[str, Any]) -> list[tuple[float, str]]:
    """Every time limit the task writes, as (seconds, where)."""
    found: list[tuple[float, str]] = []
    for section, key in _LIMIT_FIELDS:
        block = task if section is None else task.get(section)
        if isinstance(block, Mapping):
            ms = _number(block.get(key))
            if ms is not None:
                found.append((ms / 1000.0, key if section is None else f"{section}.{key}"))
    return found


def time_limit(task: Mapping[str, Any], cli_timeout: float | None) -> tuple[float, str] | None:
    """The limit that applies: the smallest of the task's and ``--timeout``, with its source."""
    limits = time_limits(task)
    if cli_timeout is not None:
        limits.append((cli_timeout, "--timeout"))
    return min(limits, key=lambda item: item[0]) if limits else None


def timeout_hint(task: Mapping[str, Any], key: str = "timeoutMs") -> float | None:
    """Seconds of the smallest time limit the task writes (see :func:`time_limits`), if any.

    ``key="stallTimeoutMs"`` reads the stall timeout hint (shell, task, then metadata).
    """
    if key == "timeoutMs":
        limit = time_limit(task, None)
        return None if limit is None else limit[0]
    for block in (task.get("shell"), task, task.get("metadata")):
        if isinstance(block, Mapping):
            ms = _number(block.get(key))
            if ms is not None:
                return ms / 1000.0
    return None


def stall_timeout_of(ctx: EffectContext, opts: ExecOptions) -> dict[str, Any]:
    """The effect's stall timeout and its source, as :class:`Plan` fields:
    ``--stall-timeout``, else the task's ``stallTimeoutMs``, else none."""
    if opts.stall_timeout is not None:
        return {"stall_timeout": opts.stall_timeout, "stall_source": "--stall-timeout"}
    hint = timeout_hint(ctx.task, "stallTimeoutMs")
    if hint is None:
        return {}
    return {"stall_timeout": hint, "stall_source": "the task's stallTimeoutMs"}


def sleep_target_ms(ctx: EffectContext) -> int | None:
    """When a sleep effect is due (hint, ``sleep.targetEpochMs``, ``metadata.targetEpochMs``)."""
    if ctx.sleep_until_ms is not None:
        return ctx.sleep_until_ms
    for block in (ctx.task.get("sleep"), ctx.task.get("metadata")):
        if isinstance(block, Mapping):
            value = block.get("targetEpochMs")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return int(value)
    return None


def child_env(
    ctx: EffectContext, opts: ExecOptions, work_dir: Path | None = None
) -> dict[str, str]:
    """The environment of an effect's child: ours, plus where it belongs.

    ``BABYSIT_PLUGIN_ATTEMPT_DIR`` is this attempt's private directory (its name is
    the claim's token); the effect id and run directory also let the next
    dispatch find and end orphans of a dispatcher that was killed.
    """
    env = dict(os.environ if opts.env is None else opts.env)
    env["BABYSIT_PLUGIN_EFFECT_ID"] = ctx.effect_id
    env["BABYSIT_PLUGIN_RUN_DIR"] = str(ctx.run_dir)
    if work_dir is not None:
        env["BABYSIT_PLUGIN_ATTEMPT_DIR"] = str(work_dir)
    return env


def plan_effect(
    ctx: EffectContext,
    opts: ExecOptions,
    work_dir: Path,
    *,
    now_ms: int | None = None,
) -> Plan:
    """Decide what to do for one effect (pure but for looking up executables)."""
    kind = ctx.kind
    if kind == "shell":
        return _plan_shell(ctx, opts, work_dir)
    if kind == "breakpoint":
        return Plan(ctx.effect_id, kind, "leave", reason="waiting for a human (breakpoint)")
    if kind == "sleep":
        target = sleep_target_ms(ctx)
        if target is None:
            return Plan(
                ctx.effect_id,
                kind,
                "fail",
                error_message="sleep effect has no targetEpochMs in its task definition "
                "(sleep.targetEpochMs or metadata.targetEpochMs)",
            )
        now = int(time.time() * 1000) if now_ms is None else now_ms
        if target - now > opts.sleep_horizon * 1000:
            return Plan(
                ctx.effect_id,
                kind,
                "leave",
                reason=f"waiting until {iso_from_ms(target)}",
                sleep_until_ms=target,
            )
        return Plan(ctx.effect_id, kind, "sleep", sleep_until_ms=target)
    if kind in HARNESS_KINDS or kind in opts.kinds:
        return _plan_harness(ctx, opts, work_dir)
    if kind in PENDING_KINDS:
        reason = f"kind {kind} is not dispatched (opt in with --kinds {kind})"
    else:
        reason = f"unknown kind {kind!r} is not dispatched (opt in with --kinds {kind})"
    return Plan(ctx.effect_id, kind, "leave", reason=reason)


def _plan_shell(ctx: EffectContext, opts: ExecOptions, work_dir: Path) -> Plan:
    shell = ctx.task.get("shell")
    if (
        not isinstance(shell, Mapping)
        or not isinstance(shell.get("command"), str)
        or not str(shell.get("command")).strip()
    ):
        return Plan(
            ctx.effect_id,
            "shell",
            "fail",
            error_message=f"{ctx.task_file}: expected shell.command to be a non-empty string, "
            f"found {_found(shell, 'command')} — fix the task definition in the process",
        )
    command = str(shell["command"])
    args = shell.get("args")
    if isinstance(args, list) and args:
        if not all(isinstance(a, str) for a in args):
            return Plan(
                ctx.effect_id,
                "shell",
                "fail",
                error_message=f"{ctx.task_file}: expected shell.args to be a list of strings, "
                "found other values — fix the task definition in the process",
            )
        argv: tuple[str, ...] = (command, *args)
    else:
        argv = ("/bin/sh", "-c", command)
    cwd = ctx.workspace
    raw_cwd = shell.get("cwd")
    if isinstance(raw_cwd, str) and raw_cwd:
        cwd = (ctx.workspace / raw_cwd) if not os.path.isabs(raw_cwd) else Path(raw_cwd)
    env = child_env(ctx, opts, work_dir)
    extra = shell.get("env")
    if isinstance(extra, Mapping):
        env.update({str(k): v for k, v in extra.items() if isinstance(v, str)})
    limit = time_limit(ctx.task, opts.timeout)
    return Plan(
        ctx.effect_id,
        "shell",
        "run",
        invocation=adapters.Invocation(argv=argv, cwd=cwd),
        env=env,
        timeout=None if limit is None else limit[0],
        timeout_source=None if limit is None else limit[1],
        **stall_timeout_of(ctx, opts),
    )


def _found(block: Any, key: str) -> str:
    if not isinstance(block, Mapping):
        return "no shell block" if block is None else f"shell = {type(block).__name__}"
    if key not in block:
        return f"no {key}"
    return f"{type(block[key]).__name__} {block[key]!r}"[:80]


def _plan_harness(ctx: EffectContext, opts: ExecOptions, work_dir: Path) -> Plan:
    prompt_file = work_dir / "prompt.md"
    env = child_env(ctx, opts, work_dir)
    model = opts.model or adapters.task_model(ctx.task)
    limit = time_limit(ctx.task, opts.timeout)
    choice: adapters.HarnessChoice | None = None
    prompt: str | None = None
    try:
        if opts.harness_command is not None:
            adapter: adapters.Adapter = adapters.CustomCommand(opts.harness_command)
        else:
            choice = adapters.choose_harness(opts.harness, ctx.task, ctx.run_harness, env)
            adapter = adapters.get_adapter(choice.name)
        prompt = prompts.build_prompt(
            ctx.task,
            ctx.effect_id,
            ctx.task_id,
            harness=None if choice is None else choice.name,
            run_dir=ctx.run_dir,
        )
        request = adapters.HarnessRequest(
            prompt=prompt,
            prompt_file=prompt_file,
            task_file=ctx.task_file,
            effect_id=ctx.effect_id,
            run_dir=ctx.run_dir,
            workspace=ctx.workspace,
            work_dir=work_dir,
            model=model,
        )
        invocation = adapter.invocation(request, env)
    except (adapters.HarnessNotFound, adapters.UnknownHarness, adapters.HarnessRefused) as exc:
        names = {
            adapters.HarnessNotFound: "HarnessCliNotInstalledError",
            adapters.UnknownHarness: "UnknownHarnessError",
            adapters.HarnessRefused: "HarnessRefusedError",
        }
        if prompt is None:
            prompt = prompts.build_prompt(ctx.task, ctx.effect_id, ctx.task_id, run_dir=ctx.run_dir)
        return Plan(
            ctx.effect_id,
            ctx.kind,
            "fail",
            harness=choice,
            prompt=prompt,
            error_name=names[type(exc)],
            error_message=str(exc),
        )
    return Plan(
        ctx.effect_id,
        ctx.kind,
        "run",
        invocation=invocation,
        adapter=adapter,
        harness=choice,
        prompt=prompt,
        prompt_file=prompt_file,
        env=env,
        timeout=None if limit is None else limit[0],
        timeout_source=None if limit is None else limit[1],
        **stall_timeout_of(ctx, opts),
        request=request,
        schema=prompts.output_schema(ctx.task),
    )


# -- performing ------------------------------------------------------------------------


def perform(
    plan: Plan,
    opts: ExecOptions,
    work_dir: Path,
    *,
    cancel: gevent.event.Event | None = None,
) -> Outcome:
    """Carry out a plan whose action is ``run``, ``sleep`` or ``fail``.

    Never raises for anything the effect does; an interruption (``cancel``
    set) gives a ``cancelled`` outcome, which is never posted.  A ``run`` that
    fails with a transient signature is retried as ``opts.retry`` says.
    """
    outcome = _perform_once(plan, opts, work_dir, cancel)
    policy, attempts = opts.retry, 1
    first_started = outcome.started_at
    schema_tries = 0
    while schema_tries < opts.schema_retries and _schema_mismatch(outcome):
        schema_tries += 1
        attempts += 1
        plan = _with_violation(plan, str((outcome.error or {}).get("message", "")))
        outcome = _perform_once(plan, opts, work_dir, cancel)
    while (
        plan.action == "run"
        and outcome.status == "error"
        and attempts - schema_tries <= policy.retries
        and policy.transient(outcome.error, outcome.stdout_path, outcome.stderr_path)
    ):
        wait = policy.backoff(attempts)
        if cancel is None:
            gevent.sleep(wait)
        elif cancel.wait(timeout=wait):
            return attrs.evolve(outcome, status="cancelled")
        attempts += 1
        outcome = _perform_once(plan, opts, work_dir, cancel)
    if attempts > 1 and outcome.status != "cancelled":
        outcome = attrs.evolve(
            outcome,
            started_at=first_started,
            metadata=with_attempts(outcome.metadata, attempts),
        )
    faults.point("effect:performed")
    return outcome


#: The error name of an answer that is not JSON matching the task's ``outputSchema``
#: (the SDK's own harness uses the same name).
SCHEMA_MISMATCH = "AgentOutputSchemaMismatch"


def _schema_mismatch(outcome: Outcome) -> bool:
    return outcome.status == "error" and (outcome.error or {}).get("name") == SCHEMA_MISMATCH


def _with_violation(plan: Plan, message: str) -> Plan:
    """The plan again, its prompt carrying the violation (``--schema-retries``)."""
    if plan.request is None or plan.adapter is None or plan.prompt is None:
        return plan
    violation = message.split(": ", 1)[1] if ": " in message else message
    prompt = prompts.with_violation(plan.prompt, violation)
    request = attrs.evolve(plan.request, prompt=prompt)
    invocation = plan.adapter.invocation(request, plan.env or {})
    return attrs.evolve(plan, prompt=prompt, request=request, invocation=invocation)


def _perform_once(
    plan: Plan, opts: ExecOptions, work_dir: Path, cancel: gevent.event.Event | None
) -> Outcome:
    started = time.time()
    if plan.action == "fail":
        err = {"name": plan.error_name, "message": plan.error_message or "effect failed"}
        return Outcome("error", error=dict(err), started_at=started, finished_at=started)
    if plan.action == "sleep":
        return _perform_sleep(plan, started, cancel)
    if plan.action != "run" or plan.invocation is None:
        raise ValueError(f"effect {plan.effect_id}: nothing to perform ({plan.action})")
    work_dir.mkdir(parents=True, exist_ok=True)
    if plan.prompt_file is not None and plan.prompt is not None:
        atomic_write(plan.prompt_file, plan.prompt)
    inv = plan.invocation
    result = run_process(
        inv.argv,
        cwd=inv.cwd,
        env=plan.env,
        input=inv.stdin,
        timeout=plan.timeout,
        stdout_path=work_dir / "stdout.log",
        stderr_path=work_dir / "stderr.log",
        cancel=cancel,
        kill_grace=opts.kill_grace,
        stall_timeout=plan.stall_timeout,
    )
    if result.cancelled:
        return Outcome(
            "cancelled",
            started_at=result.started_at,
            finished_at=result.finished_at,
            stdout_path=result.stdout_path,
            stderr_path=result.stderr_path,
        )
    if plan.adapter is None:
        return _shell_outcome(plan, opts, result)
    return _harness_outcome(plan, opts, result)


def _perform_sleep(plan: Plan, started: float, cancel: gevent.event.Event | None) -> Outcome:
    target = (plan.sleep_until_ms or 0) / 1000.0
    while True:
        delay = target - time.time()
        if delay <= 0:
            break
        if cancel is not None:
            if cancel.wait(timeout=delay):
                return Outcome("cancelled", started_at=started, finished_at=time.time())
        else:
            gevent.sleep(delay)
    finished = time.time()
    return Outcome(
        "ok",
        value={"sleptUntil": iso_from_ms(int(finished * 1000))},
        has_value=True,
        started_at=started,
        finished_at=finished,
    )


def _read_text(path: Path | None, limit: int) -> tuple[str | None, int]:
    """The file's text if it is at most ``limit`` bytes (else None) and its size."""
    if path is None:
        return "", 0
    try:
        size = path.stat().st_size
    except OSError:
        return "", 0
    if size > limit:
        return None, size
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    # Node's String(buffer): UTF-8 with U+FFFD for bad bytes.
    return data.decode("utf-8", errors="replace"), size


_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, hyperlinks
    r"|\x1b[@-Z\\-_]"  # other two-byte escapes
    r"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"  # other control characters (not \t \n \r)
)


def strip_escapes(text: str) -> str:
    """``text`` without terminal escape sequences and control characters."""
    return _ESCAPES.sub("", text)


def _tail(path: Path | None, limit: int = STDERR_TAIL) -> str:
    if path is None:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit * 4))
            data = fh.read()
    except OSError:
        return ""
    text = strip_escapes(data.decode("utf-8", errors="replace")).strip()
    if len(text) > limit:
        text = "…" + text[-limit:]
    return text


def _end_data(result: ProcessResult) -> dict[str, JsonValue]:
    data: dict[str, JsonValue] = {}
    if result.exit_code is not None:
        data["exitCode"] = result.exit_code
    if result.signal is not None:
        data["signal"] = result.signal
    if result.timed_out:
        data["timedOut"] = True
    if result.stalled:
        data["stalled"] = True
    return data


def _ended(result: ProcessResult, plan: Plan) -> str:
    if result.timed_out:
        source = f"the limit of {plan.timeout_source}" if plan.timeout_source else "the limit"
        return f"timed out after {plan.timeout:g} s ({source}; its process group was killed)"
    if result.stalled:
        return (
            f"produced no output for {plan.stall_timeout:g} s ({plan.stall_source}; its "
            "process group was killed)"
        )
    return result.describe_end()


def _too_big(what: str, size: int, limit: int, log: Path | None) -> str:
    return (
        f"{what} is {size} bytes, over the {limit} byte limit for a result value; "
        f"the full output is kept in {log.name if log else 'stdout.log'}"
    )


def _from_process(
    result: ProcessResult,
    verdict: tuple[dict[str, JsonValue] | None, JsonValue],
    metadata: dict[str, JsonValue] | None = None,
) -> Outcome:
    error, value = verdict
    return Outcome(
        "ok" if error is None else "error",
        value=value if error is None else None,
        has_value=error is None,
        error=error,
        stdout_path=result.stdout_path,
        stderr_path=result.stderr_path,
        started_at=result.started_at,
        finished_at=result.finished_at,
        metadata=metadata,
    )


def _shell_outcome(plan: Plan, opts: ExecOptions, result: ProcessResult) -> Outcome:
    return _from_process(result, _shell_verdict(plan, opts, result))


def _shell_verdict(
    plan: Plan, opts: ExecOptions, result: ProcessResult
) -> tuple[dict[str, JsonValue] | None, JsonValue]:
    if result.start_error is not None:
        return _error(f"Shell command could not start: {result.start_error}"), None
    if not result.ok:
        tail = _tail(result.stderr_path)
        if result.timed_out or result.stalled:
            message = f"Shell command {_ended(result, plan)}"
        elif result.signal is not None:
            message = f"Shell command {result.describe_end()}"
        else:
            message = f"Shell command exited with code {result.exit_code}"
        if tail:
            message += f": {tail}"
        return _error(message, _end_data(result)), None
    text, size = _read_text(result.stdout_path, opts.value_limit)
    if text is None:
        return _error(
            _too_big("Shell command stdout", size, opts.value_limit, result.stdout_path)
        ), None
    return None, text


def _harness_outcome(plan: Plan, opts: ExecOptions, result: ProcessResult) -> Outcome:
    return _from_process(result, _harness_verdict(plan, opts, result), _harness_metadata(plan))


def _harness_verdict(
    plan: Plan, opts: ExecOptions, result: ProcessResult
) -> tuple[dict[str, JsonValue] | None, JsonValue]:
    adapter, invocation = plan.adapter, plan.invocation
    assert adapter is not None
    assert invocation is not None
    who = _harness_label(plan)
    if result.start_error is not None:
        return _start_failure(plan, adapter, who, result.start_error), None
    if result.timed_out or result.stalled:
        return _error(f"{who} {_ended(result, plan)}", _end_data(result)), None
    stdout, size = _read_text(result.stdout_path, opts.value_limit)
    if stdout is None:
        return _error(_too_big(f"{who} output", size, opts.value_limit, result.stdout_path)), None
    answer_text: str | None = None
    if invocation.answer_file is not None:
        answer_text, answer_size = _read_text(invocation.answer_file, opts.value_limit)
        if answer_text is None:
            return _error(
                _too_big(f"{who} answer", answer_size, opts.value_limit, invocation.answer_file)
            ), None
    answer = adapter.unwrap(stdout, answer_text)
    if not result.ok:
        detail = answer.error or _tail(result.stderr_path) or answer.text.strip()[-STDERR_TAIL:]
        message = f"{who} {result.describe_end()}"
        if detail:
            message += f": {detail}"
        return _error(message, _end_data(result)), None
    if answer.error is not None:
        return _error(f"{who} {answer.error}"), None
    if plan.schema is None:
        return None, prompts.parse_value(answer.text)
    return _checked_value(plan.schema, answer.text, who)


def _checked_value(
    schema: Any, text: str, who: str
) -> tuple[dict[str, JsonValue] | None, JsonValue]:
    """A schema task's value: JSON that validates, else an error naming the first violation."""
    value, not_json = prompts.parse_json_answer(text)
    if not_json is not None:
        return {"name": SCHEMA_MISMATCH, "message": f"{who} answer: {not_json}"}, None
    try:
        violation = schema_mod.first_violation(value, schema)
    except schema_mod.InvalidSchema as exc:
        return _error(f"{exc} — fix the task definition in the process"), None
    if violation is not None:
        return {
            "name": SCHEMA_MISMATCH,
            "message": f"{who} answer does not match the output schema: {violation}",
        }, None
    return None, value


def _start_failure(
    plan: Plan, adapter: adapters.Adapter, who: str, start_error: str
) -> dict[str, JsonValue]:
    """What actually kept the harness from starting, and what to do."""
    if start_error.endswith("executable not found"):
        message = str(adapters.HarnessNotFound(adapter.name, adapter.executable, adapter.install))
        return {"name": "HarnessCliNotInstalledError", "message": message}
    text = f"{who} could not start: {start_error}"
    if start_error.endswith(os.strerror(errno.E2BIG)):
        size = len((plan.prompt or "").encode("utf-8"))
        text += (
            f" — the command line is too long for the system (prompt of {size} bytes); "
            "use a harness that reads the prompt on stdin, or --harness-command with "
            "{prompt_file}"
        )
    elif start_error.endswith(os.strerror(errno.EACCES)):
        text += " — the file is not executable (or a directory on its path is not searchable)"
    elif start_error.endswith(os.strerror(errno.ENOEXEC)):
        text += " — the file is not a program this system can run (no #! line?)"
    return {"name": "HarnessStartError", "message": text}


def _harness_label(plan: Plan) -> str:
    adapter = plan.adapter
    if adapter is None:
        return "harness"
    if isinstance(adapter, adapters.CustomCommand):
        return f"harness command `{adapter.executable}`"
    return f"{adapter.name} harness"


def _harness_metadata(plan: Plan) -> dict[str, JsonValue] | None:
    if plan.adapter is None:
        return None
    meta: dict[str, JsonValue] = {"harness": plan.adapter.name}
    return meta
