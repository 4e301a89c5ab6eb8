"""``pending``, ``post`` and ``verify``: a run directory from the command line.

``post`` takes the flags of ``babysitter task:post`` with the same meaning (the SDK's
``handleTaskPost``):

- ``--value``, ``--error`` and ``--metadata`` name files read as UTF-8, trimmed as JS
  ``trim()`` does and parsed as JSON; an empty file counts as absent. ``-`` reads stdin.
- A relative file path is relative to the run directory, except one starting with
  ``.a5c/``, which is relative to the current directory. Absolute paths are used as given.
- ``--value-inline`` only with ``--status ok``; ``--value`` and ``--value-inline`` exclude
  each other, as do ``--stdout-ref``/``--stdout-file`` and ``--stderr-ref``/``--stderr-file``.
- ``--status ok`` needs a value (JSON ``null`` is one); ``--status error`` without
  ``--error`` posts ``{"name": "Error", "message": "Task reported failure"}``.
- ``--started-at`` and ``--finished-at`` default to one "now" timestamp.
- ``--metadata`` that is not a JSON object is ignored, as the SDK ignores it.
- RUN_DIR may also be a run id, found as the SDK finds it (:mod:`protocol.locate`).

Differences: ``task:post`` exits 1 after committing an error result, ``post`` exits 0 (the
post succeeded); ``--value`` with ``--status error`` and ``--error`` with ``--status ok`` are
refused instead of ignored; refs must stay inside the run. Every refusal exits 1 with one
line and leaves the run directory as it was.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from babysit_plugin.cli import UsageError
from babysit_plugin.commands import argtypes, runarg
from protocol import (
    NO_VALUE,
    EffectError,
    InvalidValueError,
    Journal,
    JsonValue,
    LockOptions,
    MaybeJson,
    PendingAction,
    ResultInput,
    Run,
    definition_not_on_disk,
    effect_error_from_json,
    iso_from_ms,
    js_trim,
    jsonjs,
    now_iso,
    open_run,
    pending_actions,
    post_result,
    read_journal,
    verify_run,
)
from protocol.locate import collapse_doubled

_A5C_PREFIX = re.compile(r"^\.a5c[/\\]")
_WINDOWS_ABS = re.compile(r"^[A-Za-z]:[\\/]")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pending``, ``post`` and ``verify`` to the parser."""
    pending = sub.add_parser(
        "pending",
        help="list the effects a run waits on, with their parallel groups",
        description="List the pending effects of a run as `babysitter run:iterate` reports "
        "them (same order, parallelGroupId and pendingCount), read from the journal alone.",
    )
    runarg.add_run_argument(pending)
    pending.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pending.set_defaults(handler=run_pending)

    post = sub.add_parser(
        "post",
        help="commit one effect's result (the native `babysitter task:post`)",
        description=(__doc__ or "").split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    runarg.add_run_argument(post)
    post.add_argument("effect_id", metavar="EFFECT_ID", help="the pending effect to resolve")
    post.add_argument("--status", required=True, type=_status, metavar="ok|error")
    post.add_argument("--value", metavar="FILE", help="JSON file holding the value (- = stdin)")
    post.add_argument("--value-inline", metavar="JSON", help="the value as JSON text")
    post.add_argument("--error", metavar="FILE", help="JSON file describing the error")
    post.add_argument("--stdout-file", metavar="FILE", help="captured stdout to store")
    post.add_argument("--stderr-file", metavar="FILE", help="captured stderr to store")
    post.add_argument("--stdout-ref", metavar="REF", help="run-relative ref of stored stdout")
    post.add_argument("--stderr-ref", metavar="REF", help="run-relative ref of stored stderr")
    post.add_argument("--started-at", metavar="ISO", help="when the effect started")
    post.add_argument("--finished-at", metavar="ISO", help="when the effect finished")
    post.add_argument("--metadata", metavar="FILE", help="JSON file with a metadata object")
    post.add_argument("--invocation-key", metavar="KEY", help="refuse unless the key matches")
    post.add_argument(
        "--lock-timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for run.lock (default 10, as the SDK)",
    )
    post.add_argument("--json", action="store_true", help="print the receipt as JSON")
    post.set_defaults(handler=run_post)

    verify = sub.add_parser(
        "verify",
        help="check a run directory against the rules the SDK's replay enforces",
        description="Check a run directory: journal sequence, ULID order, checksums, "
        "required fields, one resolution per effect, task and result files. "
        "Exit 0 when valid, 1 with the problems listed.",
    )
    runarg.add_run_argument(verify)
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(handler=run_verify)


def _status(text: str) -> str:
    lowered = text.lower()
    if lowered not in ("ok", "error"):
        raise argparse.ArgumentTypeError(f'must be "ok" or "error" (received: {text})')
    return lowered


_seconds = argtypes.seconds(zero_allowed=True)


# --- pending ----------------------------------------------------------------------------


def pending_json(
    run: Run, actions: Sequence[PendingAction], journal: Journal | None = None
) -> dict[str, JsonValue]:
    """The ``pending --json`` document; entries have the keys of ``nextActions`` entries.

    With ``journal``: also the run's ``status`` (created, waiting, completed, failed, halted)
    and, on 6.x, the ids of ``cancelled`` effects (final: never performed).
    """
    entries: list[JsonValue] = []
    for action in actions:
        hints: dict[str, JsonValue] = {}
        sh = action.scheduler_hints
        # Key order as run:iterate builds it: sleep hint, then group, then count.
        if sh is not None and sh.sleep_until_epoch_ms is not None:
            hints["sleepUntilEpochMs"] = sh.sleep_until_epoch_ms
        if sh is not None and sh.parallel_group_id is not None:
            hints["parallelGroupId"] = sh.parallel_group_id
        hints["pendingCount"] = sh.pending_count if sh is not None else len(actions)
        entry: dict[str, JsonValue] = {
            "effectId": action.effect_id,
            "invocationKey": action.invocation_key,
            "kind": action.kind,
            "label": action.label,
            "labels": list(action.labels) if action.labels is not None else None,
            "taskId": action.task_id,
            "stepId": action.step_id,
            "taskDefRef": action.task_def_ref,
            "inputsRef": action.inputs_ref,
            "requestedAt": action.requested_at,
            "schedulerHints": hints,
        }
        entries.append({k: v for k, v in entry.items() if v is not None})
    doc: dict[str, JsonValue] = {"runDir": str(run.path)}
    if journal is not None:
        doc["status"] = journal.status
        doc["sdkLine"] = f"{run.line.name}.x"
    doc["pending"] = entries
    if journal is not None and journal.cancelled:
        doc["cancelled"] = list(journal.cancelled)
    notes = definition_notes(run, actions)
    if notes:
        doc["notes"] = list(notes)
    return doc


def definition_notes(run: Run, actions: Sequence[PendingAction]) -> list[str]:
    """One note per action whose definition is only in ``run:iterate``'s output."""
    notes = []
    for action in actions:
        block = definition_not_on_disk(action.task) if action.task is not None else None
        if block is not None:
            notes.append(
                f"{action.effect_id}: its {block} block is not in task.json (SDK "
                "0.0.162-0.0.174); the definition comes from the output of the `run:iterate` "
                f"that requested it — `babysitter run:iterate {run.path} --json | "
                f"babysit-plugin dispatch {run.path} --actions -`"
            )
    return notes


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def pending_table(
    run: Run, actions: Sequence[PendingAction], journal: Journal | None = None
) -> list[str]:
    """The lines ``pending`` prints without ``--json``."""
    if journal is not None and journal.terminal:
        return [f"{run.path}: nothing pending — the run is {journal.status}"]
    if not actions:
        return [f"{run.path}: nothing pending"]
    groups = {a.scheduler_hints.parallel_group_id for a in actions if a.scheduler_hints}
    groups.discard(None)
    noun = "effect" if len(actions) == 1 else "effects"
    head = f"{run.path}: {len(actions)} pending {noun}"
    if groups:
        head += f" in {len(groups)} parallel group{'s' if len(groups) > 1 else ''}"
    rows = [["EFFECT", "KIND", "GROUP", "LABEL", "WAKES"]]
    for action in actions:
        sh = action.scheduler_hints
        wake = sh.sleep_until_epoch_ms if sh is not None else None
        rows.append(
            [
                action.effect_id,
                action.kind or "?",
                (sh.parallel_group_id if sh is not None else None) or "-",
                action.label or action.task_id or "",
                iso_from_ms(int(wake)) if wake is not None else "",
            ]
        )
    return [head, *_table(rows), *(f"note: {n}" for n in definition_notes(run, actions))]


def run_pending(args: argparse.Namespace) -> int:
    """``babysit-plugin pending RUN_DIR [--json]``."""
    run = open_run(runarg.run_dir_of(args))
    journal = read_journal(run)
    actions = pending_actions(run, journal)
    if args.json:
        print(jsonjs.dumps(pending_json(run, actions, journal)))
    else:
        print("\n".join(pending_table(run, actions, journal)))
    return 0


# --- post -------------------------------------------------------------------------------


def _input_path(run: Run, candidate: str) -> Path:
    # resolveMaybeRunRelative: absolute as is, .a5c/... from the cwd, the rest from the run.
    if os.path.isabs(candidate) or _WINDOWS_ABS.match(candidate):
        return Path(candidate)
    if _A5C_PREFIX.match(candidate):
        return Path.cwd() / candidate
    return Path(collapse_doubled(str(run.path / candidate)))


def _read_text(run: Run, flag: str, candidate: str, stdin: TextIO) -> tuple[str, str]:
    """The text a file flag names, and how to name it in messages."""
    if candidate == "-":
        return stdin.read(), f"{flag} - (stdin)"
    path = _input_path(run, candidate)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        hint = ""
        if not os.path.isabs(candidate):
            hint = (
                " (a relative path is taken from the run directory, or from the current "
                "directory when it starts with .a5c/)"
            )
        raise UsageError(f"{path}: expected the {flag} file, found nothing there{hint}") from None
    except OSError as exc:
        raise UsageError(
            f"{path}: expected a readable {flag} file, found {exc.strerror or exc} — "
            "pass a readable file"
        ) from None
    return data.decode("utf-8", errors="replace"), str(path)


def _parse(text: str, name: str, flag: str) -> MaybeJson:
    """``JSON.parse(text.trim())``, :data:`NO_VALUE` when nothing is left after trimming."""
    trimmed = js_trim(text)
    if not trimmed:
        return NO_VALUE
    try:
        return jsonjs.loads(trimmed)
    except ValueError as exc:
        reason = str(exc).split("\n", 1)[0]
        fix = "pass valid JSON text" if flag == "--value-inline" else "fix the file's JSON"
        raise InvalidValueError(
            f"{name}: expected {flag} to hold JSON, found invalid JSON ({reason}) — {fix}",
            None if flag == "--value-inline" else name,
        ) from None


def _error_file_6x(text: str) -> MaybeJson:
    """6.x ``readErrorFile``: JSON, or else the text as ``{name: "Error", message}`` (a
    leading ``Error:`` dropped)."""
    trimmed = js_trim(text)
    if not trimmed:
        return NO_VALUE
    try:
        return jsonjs.loads(trimmed)
    except ValueError:
        return {"name": "Error", "message": re.sub(r"^Error:\s*", "", trimmed)}


def _read_json(run: Run, flag: str, candidate: str | None, stdin: TextIO) -> MaybeJson:
    if candidate is None:
        return NO_VALUE
    text, name = _read_text(run, flag, candidate, stdin)
    return _parse(text, name, flag)


def _check_flags(args: argparse.Namespace, where: str) -> None:
    pairs = (
        ("stdout_ref", "stdout_file", "--stdout-ref", "--stdout-file"),
        ("stderr_ref", "stderr_file", "--stderr-ref", "--stderr-file"),
        ("value", "value_inline", "--value", "--value-inline"),
    )
    for a, b, flag_a, flag_b in pairs:
        if getattr(args, a) is not None and getattr(args, b) is not None:
            raise UsageError(f"{where}: {flag_a} and {flag_b} exclude each other — pass one")
    if args.status == "error" and (args.value is not None or args.value_inline is not None):
        flag = "--value" if args.value is not None else "--value-inline"
        raise UsageError(
            f"{where}: {flag} is only for --status ok — describe the failure with --error FILE"
        )
    if args.status == "ok" and args.value is None and args.value_inline is None:
        raise UsageError(
            f"{where}: --status ok needs a value — pass --value FILE or --value-inline JSON"
        )
    if args.status == "ok" and args.error is not None:
        raise UsageError(f"{where}: --error is only for --status error — drop it or post error")


def build_result(run: Run, args: argparse.Namespace, stdin: TextIO | None = None) -> ResultInput:
    """The result ``post`` commits, from its parsed arguments (reads no file of the run)."""
    source = sys.stdin if stdin is None else stdin
    where = f"{run.path}: effect {args.effect_id}"
    _check_flags(args, where)
    metadata = _read_json(run, "--metadata", args.metadata, source)
    stdout = None
    if args.stdout_file is not None:
        stdout = _read_text(run, "--stdout-file", args.stdout_file, source)[0]
    stderr = None
    if args.stderr_file is not None:
        stderr = _read_text(run, "--stderr-file", args.stderr_file, source)[0]
    value: MaybeJson = NO_VALUE
    error: EffectError | None = None
    if args.status == "ok":
        if args.value_inline is not None:
            value = _parse(args.value_inline, "--value-inline", "--value-inline")
            name = "--value-inline"
        else:
            text, name = _read_text(run, "--value", args.value, source)
            value = _parse(text, name, "--value")
        if value is NO_VALUE:
            raise InvalidValueError(
                f"{name}: expected a JSON value for --status ok, found only whitespace — give "
                "the value (JSON null is a value)",
                None if name.startswith("--") else name,
            )
    else:
        error_json: MaybeJson = NO_VALUE
        error_name = "--error"
        if args.error is not None:
            text, error_name = _read_text(run, "--error", args.error, source)
            if run.line.error_file_text_ok:
                error_json = _error_file_6x(text)
            else:
                error_json = _parse(text, error_name, "--error")
        try:
            error = effect_error_from_json(error_json)
        except InvalidValueError as exc:
            raise InvalidValueError(
                f"{error_name}: {exc.message}", exc.path or error_name
            ) from None
    now = now_iso()
    return ResultInput(
        status="ok" if args.status == "ok" else "error",
        value=value,
        error=error,
        stdout=stdout,
        stderr=stderr,
        stdout_ref=args.stdout_ref,
        stderr_ref=args.stderr_ref,
        started_at=args.started_at if args.started_at is not None else now,
        finished_at=args.finished_at if args.finished_at is not None else now,
        metadata=metadata if isinstance(metadata, dict) else None,
        invocation_key=args.invocation_key,
        error_payload=error_json if args.status == "error" else NO_VALUE,
    )


class _WaitNotice:
    """``sleep`` for the run lock that says once, on stderr, who holds the lock."""

    def __init__(self, run: Run, timeout: float, err: TextIO) -> None:
        self.lock_path = run.path / "run.lock"
        self.timeout = timeout
        self.err = err
        self.told = False

    def __call__(self, seconds: float) -> None:
        if not self.told:
            self.told = True
            self.err.write(f"babysit-plugin: {self._holder()}; waiting up to {self.timeout:g}s\n")
            self.err.flush()
        time.sleep(seconds)

    def _holder(self) -> str:
        try:
            info = jsonjs.loads(self.lock_path.read_bytes().decode("utf-8", errors="replace"))
        except (OSError, ValueError):
            return f"{self.lock_path} is busy"
        if isinstance(info, dict) and "pid" in info:
            owner = info.get("owner")
            suffix = f" ({owner})" if isinstance(owner, str) else ""
            return f"{self.lock_path} is held by pid {jsonjs.dumps(info['pid'])}{suffix}"
        return f"{self.lock_path} is busy"


def _gate(run: Run, effect_id: str, result: ResultInput) -> None:
    """6.x task:post's outputSchema check and task.completed hooks, for a pending effect
    (anything else is refused by the post itself, as task:post refuses it first)."""
    journal = read_journal(run)
    record = journal.effects.get(effect_id)
    if record is None or record.status != "requested" or journal.terminal:
        return
    # Imported here: running hooks needs the process helpers, which a 0.0.x post never loads.
    from babysit_plugin.runloop import sdkhooks

    refused = sdkhooks.check(run, effect_id, record, result, sdkhooks.discover(run.path))
    if refused is not None:
        raise UsageError(
            f"refused by {refused.by}: {refused.reason} — nothing was written; the effect "
            "stays pending"
        )


def run_post(args: argparse.Namespace) -> int:
    """``babysit-plugin post RUN_DIR EFFECT_ID --status ok|error ...``."""
    run = open_run(runarg.run_dir_of(args))
    result = build_result(run, args)
    if run.line.gates_results:
        _gate(run, args.effect_id, result)
    receipt = post_result(
        run,
        args.effect_id,
        result,
        lock=LockOptions(
            owner="babysit-plugin:post",
            timeout=args.lock_timeout,
            sleep=_WaitNotice(run, args.lock_timeout, sys.stderr),
        ),
    )
    if args.json:
        # task:post --json: {status, committed, stdoutRef, stderrRef, resultRef}, one line.
        committed: dict[str, JsonValue] = {"resultRef": receipt.result_ref}
        if receipt.stdout_ref is not None:
            committed["stdoutRef"] = receipt.stdout_ref
        if receipt.stderr_ref is not None:
            committed["stderrRef"] = receipt.stderr_ref
        committed["startedAt"] = result.started_at
        committed["finishedAt"] = result.finished_at
        doc: dict[str, JsonValue] = {"status": receipt.status}
        if run.line.shell_error_as_ok:
            # 6.x: whether a shell effect's error was posted as an ok value.
            doc["normalizedShellFailure"] = result.status == "error" and receipt.status == "ok"
        doc |= {
            "committed": committed,
            "stdoutRef": receipt.stdout_ref,
            "stderrRef": receipt.stderr_ref,
            "resultRef": receipt.result_ref,
        }
        print(jsonjs.dumps(doc, None))
        return 0
    parts = [f"posted {receipt.effect_id} status={receipt.status}"]
    if receipt.stdout_ref:
        parts.append(f"stdoutRef={receipt.stdout_ref}")
    if receipt.stderr_ref:
        parts.append(f"stderrRef={receipt.stderr_ref}")
    parts += [f"resultRef={receipt.result_ref}", f"seq={receipt.seq}"]
    print(" ".join(parts))
    return 0


# --- verify -----------------------------------------------------------------------------


def run_verify(args: argparse.Namespace) -> int:
    """``babysit-plugin verify RUN_DIR [--json]``: exit 0 when valid, 1 with the problems."""
    path = runarg.run_dir_of(args)
    report = verify_run(path)
    errors = [p for p in report.problems if p.severity == "error"]
    if args.json:
        doc: dict[str, JsonValue] = {
            "runDir": str(report.run_dir),
            "ok": not errors,
            "events": report.events,
            "effects": report.effects,
            "pending": report.pending,
            "problems": [
                {"severity": p.severity, "path": p.path, "message": p.message}
                for p in report.problems
            ],
        }
        print(jsonjs.dumps(doc))
    else:
        if errors:
            count = f"{len(errors)} problem{'s' if len(errors) > 1 else ''}"
            print(f"{report.run_dir}: {count}")
        else:
            print(
                f"{report.run_dir}: ok ({report.events} events, {report.effects} effects, "
                f"{report.pending} pending)"
            )
        for problem in report.problems:
            print(f"  {problem.severity}: {problem.message}")
    return 1 if errors else 0
