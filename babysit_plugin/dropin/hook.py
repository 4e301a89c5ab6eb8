"""``babysit-plugin hook``: perform a pending parallel group inside ``run:iterate``.

How the SDK (0.0.187) calls an ``on-iteration-start`` hook, read off ``dist/``:

- ``run:iterate`` calls it twice. First from ``orchestrateIteration`` **while holding the run
  lock**, with ``{runId, iteration, hookType, timestamp}`` (no ``pending``); its output is
  ignored. Then, after the lock is released, with ``{runId, iteration, status, pending:
  nextActions, timestamp, hookType}``; its stdout is parsed as the decision ``{action, count,
  reason}``, and ``action: "executed-tasks"`` makes the iteration's status ``executed``.
- The hook runs through a hook dispatcher (``bash hook-dispatcher.sh on-iteration-start``) with
  the project root as working directory and the payload on stdin. After 30 s
  (``callRuntimeHook``'s fixed default) the SDK sends SIGTERM to the dispatcher only; it then
  still waits for the hook's stdout to close, and reports the hook as timed out, dropping its
  decision.

The design kept here:

- The first call never touches the run (the lock is held by ``run:iterate`` itself): no
  ``pending`` field, nothing to do.
- Only actions that carry a ``parallelGroupId`` (more than one pending) and whose kind is in
  ``--kinds`` (default ``shell``) are performed; agents usually need minutes, so by default
  they go back to the skill, which runs ``babysit-plugin dispatch`` without a time limit.
- **Deadline.** Everything must be over ``--budget`` seconds (default 25) after the payload's
  ``timestamp`` (``run:iterate`` stamps it just before calling the hook, so hooks that ran
  before this one count too), leaving 5 s of the SDK's 30 for killing children and exiting.
  An effect whose ``timeoutMs`` hint does not fit the time left is not started. An effect
  still running at the deadline is killed and left pending, never posted as a failure; it is
  remembered (``<run>/.babysit-plugin/hook.json``) and not tried by the hook again, so the
  skill performs it. Every result is committed whole or not at all (``post_result``), so a
  hook killed at any instant leaves each effect either posted or pending.
- Stdout carries only the decision, one line of JSON. ``executed-tasks`` when at least one
  result was posted, with a reason saying what was done and what was left; otherwise
  ``{"action": "none", "count": 0}`` without a reason, so ``run:iterate`` keeps its own
  (``breakpoint-waiting``, ``mixed-pending:...``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

import attrs

from babysit_plugin.runloop import definitions
from babysit_plugin.runloop.dispatch import DispatchOptions, DispatchReport, dispatch_run
from babysit_plugin.runloop.execute import ExecOptions, timeout_hint
from babysit_plugin.runloop.report import EXIT_NOTHING_DONE, EXIT_RUN_OVER
from babysit_plugin.runloop.store import PluginStore
from protocol import actions_from_payload, jsonjs, locate, open_run
from protocol.errors import PayloadError, ProtocolError, RunNotFoundError
from protocol.fsutil import atomic_write, ensure_private_dir
from protocol.jsonjs import JsonValue
from protocol.models import PendingAction

#: The SDK's hook limit (``runtime/hooks/runtime.js`` ``callRuntimeHook``; ``run:iterate``
#: passes no other value, and ``BABYSITTER_HOOK_TIMEOUT`` does not reach it).
SDK_HOOK_LIMIT = 30.0
#: Default seconds after the payload's timestamp by which the hook is done.
DEFAULT_BUDGET = 25.0
#: No effect is started with less time than this left.
MIN_START = 2.0
#: Seconds a killed child gets between SIGTERM and SIGKILL inside the hook.
KILL_GRACE = 1.0
DEFAULT_KINDS: frozenset[str] = frozenset({"shell"})
STATE_FILE = "hook.json"


@attrs.frozen
class Decision:
    """What the hook tells ``run:iterate`` (its only stdout)."""

    action: Literal["executed-tasks", "none"]
    count: int = 0
    reason: str | None = None

    def to_json(self) -> dict[str, JsonValue]:
        data: dict[str, JsonValue] = {"action": self.action, "count": self.count}
        if self.reason is not None:
            data["reason"] = self.reason
        return data

    def text(self) -> str:
        """One line of JSON."""
        return jsonjs.dumps(self.to_json(), indent=None)


NONE = Decision("none", 0)


@attrs.frozen
class HookOptions:
    """What ``babysit-plugin hook`` can be told."""

    repo: Path | None = None
    run_dir: Path | None = None
    budget: float = DEFAULT_BUDGET
    kinds: frozenset[str] = DEFAULT_KINDS
    exec: ExecOptions | None = None
    clock: Callable[[], float] = time.time


@attrs.frozen
class HookOutcome:
    """The decision, the exit status, and what to tell stderr."""

    decision: Decision
    exit_code: int = 0
    messages: tuple[str, ...] = ()
    report: DispatchReport | None = None


# --- payload and run --------------------------------------------------------------------------


def parse_payload(text: str, source: str) -> dict[str, JsonValue]:
    """The payload object; :class:`PayloadError` when it is not a JSON object."""
    try:
        data = jsonjs.loads(text)
    except ValueError as exc:
        raise PayloadError(
            f"{source}: expected the on-iteration-start payload as JSON, found text that is "
            f"not JSON ({exc}) — the hook dispatcher passes it on stdin unchanged",
            source,
        ) from exc
    if not isinstance(data, dict):
        raise PayloadError(
            f"{source}: expected a JSON object (the on-iteration-start payload), found "
            f"{type(data).__name__} — the hook dispatcher passes it on stdin unchanged",
            source,
        )
    return data


def _timestamp(payload: dict[str, JsonValue]) -> float | None:
    raw = payload.get("timestamp")
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _run_id(payload: dict[str, JsonValue], source: str) -> str:
    run_id = payload.get("runId")
    if (
        not isinstance(run_id, str)
        or run_id in ("", ".", "..")
        or "/" in run_id
        or "\\" in run_id
        or "\0" in run_id
    ):
        raise PayloadError(
            f"{source}: expected $.runId to be a run id (one path component), found "
            f"{jsonjs.dumps(run_id, indent=None)} — the hook dispatcher passes the payload "
            "unchanged",
            source,
        )
    return run_id


def locate_run(run_id: str, bases: Sequence[Path]) -> Path:
    """The run directory of ``run_id`` under one of ``bases`` (project roots).

    ``run:iterate`` runs hooks in ``dirname(dirname(dirname(runDir)))``, so the run is
    ``<base>/<a>/<b>/<runId>``: ``.a5c/runs/<runId>`` first, then any other such directory
    holding a ``run.json``. Before that, the places the SDK itself looks in from each base
    (:func:`protocol.locate.locate_run`: ``$BABYSITTER_RUNS_DIR``, the runs scope,
    ``~/.a5c/runs`` on 6.x), with the environment ``run:iterate`` gave the hook.
    """
    for base in dict.fromkeys(bases):
        try:
            return locate.locate_run(run_id, cwd=base, env=os.environ, home=Path.home())
        except RunNotFoundError:
            continue
    seen: list[Path] = []
    for base in bases:
        if base in seen:
            continue
        seen.append(base)
        usual = base / ".a5c" / "runs" / run_id
        if (usual / "run.json").is_file():
            return usual
        for first in sorted(_subdirs(base)):
            for second in sorted(_subdirs(first)):
                candidate = second / run_id
                if (candidate / "run.json").is_file():
                    return candidate
    where = ", ".join(str(b) for b in seen)
    raise RunNotFoundError(
        f"{where}: expected the run {run_id} at .a5c/runs/{run_id} (or <dir>/<dir>/{run_id}) "
        "with a run.json, found none — pass --run-dir, or --repo with the project root",
        str(seen[0] / ".a5c" / "runs" / run_id) if seen else None,
    )


def _subdirs(path: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


# --- what to perform ----------------------------------------------------------------------


def _kind(action: PendingAction) -> str:
    task_kind = action.task.kind if action.task is not None else None
    return action.kind or task_kind or "unknown"


def _hint_seconds(action: PendingAction) -> float | None:
    if action.task is None:
        return None
    return timeout_hint(action.task.raw)


def _sleep_due_ms(action: PendingAction) -> float | None:
    hints = action.scheduler_hints
    if hints is not None and hints.sleep_until_epoch_ms is not None:
        return hints.sleep_until_epoch_ms
    return action.task.sleep_until_epoch_ms if action.task is not None else None


def select_actions(
    actions: Sequence[PendingAction],
    kinds: frozenset[str],
    handed_back: dict[str, str],
    remaining: float,
    now: float,
) -> tuple[list[PendingAction], list[tuple[PendingAction, str]]]:
    """(performed here, left for the skill with the reason) among the pending actions."""
    chosen: list[PendingAction] = []
    left: list[tuple[PendingAction, str]] = []
    for action in actions:
        kind = _kind(action)
        hints = action.scheduler_hints
        if hints is None or hints.parallel_group_id is None:
            left.append((action, "not part of a parallel group"))
        elif kind not in kinds:
            left.append((action, f"kind {kind} is not run by the hook"))
        elif action.effect_id in handed_back:
            left.append((action, handed_back[action.effect_id]))
        elif kind == "sleep":
            due = _sleep_due_ms(action)
            if due is None or due / 1000.0 > now + remaining - MIN_START:
                left.append((action, "not due within the hook's time budget"))
            else:
                chosen.append(action)
        else:
            hint = _hint_seconds(action)
            if hint is not None and hint > remaining:
                left.append(
                    (action, f"its timeoutMs hint ({hint:g} s) exceeds the hook's time left")
                )
            else:
                chosen.append(action)
    return chosen, left


# --- state --------------------------------------------------------------------------------


def _state_path(run_dir: Path) -> Path:
    return ensure_private_dir(run_dir) / STATE_FILE


def read_handed_back(run_dir: Path) -> dict[str, str]:
    """Effects the hook gave up on (id -> reason); unreadable state counts as empty."""
    path = run_dir / ".babysit-plugin" / STATE_FILE
    try:
        data = jsonjs.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    section = data.get("handedBack") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        return {}
    return {k: v for k, v in section.items() if isinstance(v, str)}


def write_handed_back(run_dir: Path, handed_back: dict[str, str]) -> None:
    """Replace the hook's state of ``run_dir``."""
    state: dict[str, JsonValue] = {"handedBack": dict(handed_back)}
    atomic_write(_state_path(run_dir), jsonjs.to_file_text(state))


# --- the hook -----------------------------------------------------------------------------


def run_hook(text: str, source: str, options: HookOptions) -> HookOutcome:
    """Read a payload, perform what fits, and decide; see the module docstring."""
    payload = parse_payload(text, source)
    if "pending" not in payload:
        # The call from inside orchestrateIteration: the run lock is held; nothing to do.
        return HookOutcome(NONE)
    actions = actions_from_payload(payload, source)
    if not actions or payload.get("status", "waiting") != "waiting":
        return HookOutcome(NONE, messages=("nothing pending in the payload",))
    run_id = _run_id(payload, source)
    if options.run_dir is not None:
        run_dir = options.run_dir
    else:
        bases = [p for p in (options.repo, Path.cwd()) if p is not None]
        run_dir = locate_run(run_id, [Path(os.path.abspath(b)) for b in bases])
    # SDK 0.0.162-0.0.174: the payload is the one place the definitions of new effects are
    # printed; keep them for a later `dispatch` of the effects left to the skill.
    definitions.remember(PluginStore(run_dir), open_run(run_dir), actions)

    now = options.clock()
    stamped = _timestamp(payload)
    start = now if stamped is None else min(stamped, now)
    remaining = start + options.budget - now
    if remaining < MIN_START:
        return HookOutcome(
            NONE,
            messages=(
                f"run {run_id}: {remaining:.1f} s of the {options.budget:g} s budget left; "
                "leaving everything to the skill",
            ),
        )

    handed_back = read_handed_back(run_dir)
    pending_ids = {a.effect_id for a in actions}
    handed_back = {k: v for k, v in handed_back.items() if k in pending_ids}
    chosen, left = select_actions(actions, options.kinds, handed_back, remaining, now)
    if not chosen:
        return HookOutcome(
            NONE,
            messages=tuple(
                f"run {run_id}: left {a.effect_id} ({_kind(a)}) for the skill: {why}"
                for a, why in left
            ),
        )

    base_exec = options.exec or ExecOptions()
    exec_options = attrs.evolve(
        base_exec,
        kinds=base_exec.kinds | (options.kinds - {"shell", "sleep"}),
        sleep_horizon=max(0.0, remaining - MIN_START),
        kill_grace=min(base_exec.kill_grace, KILL_GRACE),
    )
    deadline = time.monotonic() + (start + options.budget - options.clock())
    report = dispatch_run(
        run_dir,
        DispatchOptions(
            exec=exec_options,
            actions=tuple(chosen),
            deadline=deadline,
            handle_signals=True,
        ),
    )
    return _decide(run_id, run_dir, report, chosen=chosen, left=left, handed_back=handed_back)


def _decide(
    run_id: str,
    run_dir: Path,
    report: DispatchReport,
    *,
    chosen: Sequence[PendingAction],
    left: Sequence[tuple[PendingAction, str]],
    handed_back: dict[str, str],
) -> HookOutcome:
    messages: list[str] = []
    chosen_ids = {a.effect_id for a in chosen}
    posted = [e for e in report.effects if e.posted]
    ok = sum(1 for e in posted if e.status == "ok")
    failed = len(posted) - ok
    unfinished = [e for e in report.effects if e.effect_id in chosen_ids and not e.posted]
    new_handed_back = dict(handed_back)
    for effect in unfinished:
        if report.deadline_reached and effect.started_at is not None:
            new_handed_back[effect.effect_id] = "did not finish within the hook's time budget"
    for effect in report.effects:
        state = effect.status if effect.posted else f"left pending ({effect.reason})"
        messages.append(f"run {run_id}: {effect.effect_id} ({effect.kind}): {state}")
    for action, why in left:
        messages.append(
            f"run {run_id}: left {action.effect_id} ({_kind(action)}) for the skill: {why}"
        )
    messages.extend(report.problems)
    if new_handed_back != handed_back:
        write_handed_back(run_dir, new_handed_back)
    # A hook that performs nothing is not a failure: run:iterate goes on as usual.
    exit_code = 0 if report.exit_code in (EXIT_RUN_OVER, EXIT_NOTHING_DONE) else report.exit_code
    if not posted:
        return HookOutcome(NONE, exit_code, tuple(messages), report)
    group = next(
        (
            a.scheduler_hints.parallel_group_id
            for a in chosen
            if a.scheduler_hints is not None and a.scheduler_hints.parallel_group_id
        ),
        None,
    )
    reason = (
        f"babysit-plugin: performed {len(posted)} effect(s) of parallel group {group} "
        f"({ok} ok, {failed} error)"
    )
    still = len(unfinished) + len(left)
    if still:
        reason += f"; {still} left pending for the skill"
    if report.deadline_reached:
        reason += " (hook time budget reached)"
    return HookOutcome(
        Decision("executed-tasks", len(posted), reason), exit_code, tuple(messages), report
    )


def hook_error(exc: ProtocolError) -> HookOutcome:
    """The outcome for a payload or run that cannot be read: nothing done, exit 1."""
    return HookOutcome(NONE, 1, (f"error: {exc}",))
