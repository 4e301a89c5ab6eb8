"""Drive a run to its next human decision: iterate, perform, post, iterate again.

One drive is one :class:`~babysit_plugin.runloop.dispatch` dispatcher (its claims, saved
outcomes, group-commit poster and signal handling) kept for the whole run, and a loop
that asks the SDK for the next actions (:mod:`.iterate`):

1. Saved outcomes of an earlier, killed dispatch or drive are posted first, never run
   again.
2. ``run:iterate``.  ``completed`` / ``failed`` / ``halted`` end the drive (with the
   process's output, or the error its ``RUN_FAILED`` recorded).  Every listed action
   that is not already running is planned: what this drive may perform is started at
   once (waves as ``dispatch`` builds them, under ``--max-concurrency`` for the whole
   drive); breakpoints, far sleeps, kinds not opted in, effects another dispatcher owns
   and effects this drive already tried without posting are what the run waits on.
3. Then it waits, and the SDK line decides for what.  **Streaming** (6.x, whose step ids
   are derived from task, label and arguments, so a branch that advances renumbers
   nothing): the first result posted starts the next iteration, while the other effects
   keep running, and the effects it requests start beside them.  Iterations never
   overlap; results that land during one are all seen by the next (one more iteration,
   not one per result).  **Wave by wave** (0.0.x, whose step ids come from one counter
   in replay order: an iteration run while a branch is half advanced would request the
   next step of one branch under an id a sibling's step owns in the final replay), it
   waits for every running effect, as the skill's loop does.
4. Nothing running and nothing new to start ends the drive ``waiting`` (it never spins),
   unless ``interactive`` answers a breakpoint, which is posted with the SDK's own
   ``task:post`` (so a 6.x run's signed-breakpoint policy and task hooks apply), and the
   loop goes on.

SIGINT / SIGTERM / SIGHUP stop the loop: running children are killed, unfinished
effects stay pending, saved outcomes are posted.  A drive killed outright is resumed by
running it again (step 1).
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import gevent
import gevent.event
import gevent.lock
import gevent.pool
import gevent.subprocess

from babysit_plugin.drive.iterate import (
    TERMINAL,
    IterateError,
    Iteration,
    find_cli,
    iterate,
    run_failure,
)
from babysit_plugin.runloop import definitions, faults, heartbeat
from babysit_plugin.runloop.dispatch import (
    DispatchOptions,
    _Dispatcher,
    _Item,
    plan_for,
)
from babysit_plugin.runloop.interrupt import SignalGuard
from babysit_plugin.runloop.progress import NullProgress, Progress
from babysit_plugin.runloop.report import (
    EXIT_NOTHING_DONE,
    SIGNAL_EXIT,
    DispatchReport,
    EffectReport,
    build_waves,
)
from babysit_plugin.runloop.store import Claim
from protocol import jsonjs
from protocol.clock import iso_from_ms
from protocol.journal import open_run, read_journal
from protocol.jsonjs import JsonValue
from protocol.models import Run

#: Exit status of each outcome (1, 3 and 130/143/129 keep their CLI-wide meaning).
#: ``waiting`` is dispatch's :data:`EXIT_NOTHING_DONE` (what is left pending is for
#: someone else to act on); failed and halted follow it.  Dispatch's 4 (the run was
#: already over) is not used: a drive reports which way the run ended.
EXIT_STATUS: dict[str, int] = {
    "completed": 0,
    "waiting": EXIT_NOTHING_DONE,
    "failed": EXIT_NOTHING_DONE + 1,
    "halted": EXIT_NOTHING_DONE + 2,
}


@attrs.frozen
class Waiting:
    """Something the run waits on that this drive may not give."""

    effect_id: str
    kind: str
    title: str | None
    reason: str
    question: str | None = None
    options: tuple[str, ...] = ()
    wakes_at: str | None = None

    def to_json(self) -> dict[str, JsonValue]:
        data: dict[str, JsonValue] = {"effectId": self.effect_id, "kind": self.kind}
        data["title"] = self.title
        data["reason"] = self.reason
        if self.question is not None:
            data["question"] = self.question
        if self.options:
            data["options"] = list(self.options)
        if self.wakes_at is not None:
            data["wakesAt"] = self.wakes_at
        return data


#: Asks a human: the breakpoint, its task definition; the value to post, or None (unanswered).
Asker = Callable[[Waiting], "JsonValue | None"]


@attrs.frozen
class DriveOptions:
    """What ``babysit-plugin drive`` can be told (``dispatch``: how effects are performed)."""

    dispatch: DispatchOptions = attrs.field(factory=DispatchOptions)
    cli: str | None = None
    #: Stream (iterate as each result lands) or go wave by wave; None: as the SDK line allows.
    stream: bool | None = None
    ask: Asker | None = None
    #: Called with each iteration's number, what it reported, how many effects it started
    #: and how many are running in all.
    on_iteration: Callable[[int, Iteration, int, int], None] | None = None
    iterate_timeout: float = 600.0


@attrs.define
class DriveReport:
    """The result of :func:`drive_run`."""

    run_dir: Path
    status: str = "waiting"
    iterations: int = 0
    streaming: bool = False
    effects: list[EffectReport] = attrs.field(factory=list)
    effect_iteration: dict[str, int] = attrs.field(factory=dict)
    waiting_on: list[Waiting] = attrs.field(factory=list)
    answered: list[str] = attrs.field(factory=list)
    output: JsonValue = None
    has_output: bool = False
    error: dict[str, JsonValue] | None = None
    problems: list[str] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)
    interrupted_by: int | None = None
    iterate_seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """The outcome's status (:data:`EXIT_STATUS`); 1 on a failed post; a signal's."""
        if self.interrupted_by is not None:
            return SIGNAL_EXIT.get(self.interrupted_by, 128 + self.interrupted_by)
        if self.problems:
            return 1
        return EXIT_STATUS[self.status]

    def to_json(self) -> dict[str, JsonValue]:
        effects: list[JsonValue] = []
        for rep in self.effects:
            item = rep.to_json()
            item["iteration"] = self.effect_iteration.get(rep.effect_id, 0)
            effects.append(item)
        data: dict[str, JsonValue] = {
            "runDir": str(self.run_dir),
            "status": self.status,
            "iterations": self.iterations,
            "streaming": self.streaming,
            "effects": effects,
            "waitingOn": [w.to_json() for w in self.waiting_on],
        }
        if self.answered:
            data["answered"] = list(self.answered)
        if self.status == "completed" and self.has_output:
            data["output"] = self.output
        if self.status == "failed" and self.error is not None:
            data["error"] = self.error
        if self.problems:
            data["problems"] = list(self.problems)
        if self.notes:
            data["notes"] = list(self.notes)
        if self.interrupted_by is not None:
            data["interruptedBy"] = signal.Signals(self.interrupted_by).name
        return data


class _Tracker:
    """The dispatcher's progress display, also telling the loop when an effect is done."""

    def __init__(self, inner: Progress, on_finished: Callable[[EffectReport], None]) -> None:
        self.inner = inner
        self.on_finished = on_finished

    def started(self, effect: EffectReport) -> None:
        self.inner.started(effect)

    def finished(self, effect: EffectReport) -> None:
        self.inner.finished(effect)
        self.on_finished(effect)

    def close(self) -> None:
        self.inner.close()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def breakpoint_fields(task: Mapping[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """A breakpoint's question and options, wherever its line's task.json keeps them."""
    places: list[object] = []
    for key in ("inputs", "metadata"):
        block = task.get(key)
        if isinstance(block, dict):
            places += [block.get("payload"), block]
    places.append(task.get("breakpoint"))
    question: str | None = None
    options: tuple[str, ...] = ()
    for place in places:
        if not isinstance(place, dict):
            continue
        question = question or _text(place.get("question")) or _text(place.get("message"))
        found = place.get("options")
        if not options and isinstance(found, list):
            options = tuple(str(o) for o in found if isinstance(o, (str, int, float)))
    return question, options


class _Drive:
    def __init__(self, run: Run, options: DriveOptions, report: DriveReport) -> None:
        self.run = run
        self.options = options
        self.report = report
        self.cli = find_cli(run, options.cli)
        self.streaming = run.line.derived_step_ids if options.stream is None else options.stream
        report.streaming = self.streaming
        self.dreport = DispatchReport(run_dir=run.path)
        inner = options.dispatch.progress or NullProgress()
        self.tracker = _Tracker(inner, self._finished)
        self.dispatcher = _Dispatcher(
            run, attrs.evolve(options.dispatch, progress=self.tracker), self.dreport
        )
        cap = options.dispatch.max_concurrency
        self.slots = gevent.lock.BoundedSemaphore(cap) if cap else None
        self.inflight: set[str] = set()
        self.tried: dict[str, str] = {}
        self.landed = gevent.event.Event()
        self.rounds = gevent.pool.Group()
        self.iteration = 0

    # -- effects --------------------------------------------------------------------------

    def _finished(self, rep: EffectReport) -> None:
        self.inflight.discard(rep.effect_id)
        if not rep.posted:
            self.tried[rep.effect_id] = rep.reason or f"{rep.status}, not posted"
        self.landed.set()

    def _one(self, item: _Item, claim: Claim) -> None:
        if self.slots is None:
            self.dispatcher.run_effect(item, claim)
            return
        with self.slots:
            self.dispatcher.run_effect(item, claim)

    def _round(self, items: Sequence[_Item]) -> None:
        """Perform one iteration's new effects: waves as dispatch builds them."""
        by_id = {i.action.effect_id: i for i in items}
        sleeps = [i for i in items if i.plan.action == "sleep"]
        sleepers = gevent.pool.Group()
        for item in sleeps:
            for ready, claim in self.dispatcher.claim_wave([item]):
                sleepers.spawn(self.dispatcher.run_effect, ready, claim)
        others = [i.action for i in items if i.plan.action != "sleep"]
        for wave in build_waves(others):
            wave_items = [by_id[a.effect_id] for a in wave.actions]
            if self.dispatcher.interrupt.is_set:
                for item in wave_items:
                    item.rep.status = "skipped"
                    item.rep.reason = self.dispatcher.interrupt.reason()
                    self.tracker.finished(item.rep)
                continue
            claimed = self.dispatcher.claim_wave(wave_items)
            if claimed:
                self.dispatcher.isolation.new_wave()
            pool = gevent.pool.Pool(wave.max_concurrency or len(claimed) or 1)
            for ready, claim in claimed:
                pool.spawn(self._one, ready, claim)
            pool.join()
        sleepers.join()

    # -- the loop -------------------------------------------------------------------------

    def plan(self, it: Iteration) -> tuple[list[_Item], list[Waiting]]:
        new: list[_Item] = []
        waiting: list[Waiting] = []
        for action in it.actions:
            eid = action.effect_id
            if eid in self.inflight:
                continue
            item, rep = plan_for(self.dispatcher, action, self.dreport)
            kind = rep.kind
            if item is None:
                waiting.append(Waiting(eid, kind, rep.title, rep.reason or "unreadable"))
                continue
            if eid in self.tried:
                waiting.append(Waiting(eid, kind, rep.title, self.tried[eid]))
                continue
            if item.plan.action == "leave":
                question: str | None = None
                options: tuple[str, ...] = ()
                wakes = None
                if kind == "breakpoint":
                    question, options = breakpoint_fields(item.ctx.task)
                if kind == "sleep" and item.ctx.sleep_until_ms is not None:
                    wakes = iso_from_ms(item.ctx.sleep_until_ms)
                reason = item.plan.reason or "not dispatched"
                waiting.append(Waiting(eid, kind, rep.title, reason, question, options, wakes))
                continue
            rep.command = None
            new.append(item)
        return new, waiting

    def start(self, items: Sequence[_Item]) -> None:
        for item in items:
            self.inflight.add(item.action.effect_id)
            self.report.effects.append(item.rep)
            self.report.effect_iteration[item.action.effect_id] = self.iteration
        ids = [item.action.effect_id for item in items]
        self.rounds.spawn(self._round, list(items)).link_exception(
            lambda g: self._round_failed(ids, g.exception)
        )

    def _round_failed(self, ids: Sequence[str], exc: BaseException | None) -> None:
        # A bug or an unreadable journal in a round: recorded, and the loop woken.
        self.report.problems.append(f"performing {', '.join(ids)}: {type(exc).__name__}: {exc}")
        for eid in ids:
            self.inflight.discard(eid)
        self.landed.set()

    def answer(self, waiting: Sequence[Waiting]) -> int:
        """Ask about each breakpoint and post the answers; how many were posted."""
        ask = self.options.ask
        if ask is None:
            return 0
        posted = 0
        for w in waiting:
            if w.kind != "breakpoint":
                continue
            value = ask(w)
            if value is None:
                continue
            if self._task_post(w.effect_id, value):
                posted += 1
                self.report.answered.append(w.effect_id)
        return posted

    def _task_post(self, effect_id: str, value: JsonValue) -> bool:
        proc = gevent.subprocess.run(
            [
                self.cli,
                "task:post",
                str(self.run.path),
                effect_id,
                "--status",
                "ok",
                "--value-inline",
                jsonjs.dumps(value, indent=None),
                "--json",
            ],
            cwd=str(self.run.repo_root),
            stdin=gevent.subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            self.report.problems.append(
                f"{effect_id}: `babysitter task:post` refused the answer (exit "
                f"{proc.returncode}): {detail[-1] if detail else ''}"
            )
            return False
        return True

    def loop(self) -> None:
        interrupt = self.dispatcher.interrupt
        while not interrupt.is_set and not self.report.problems and not self.dreport.problems:
            self.landed.clear()
            faults.point("drive:iterate")
            it = iterate(self.run, self.cli, timeout=self.options.iterate_timeout)
            faults.point("drive:iterated")
            self.iteration += 1
            self.report.iterations = self.iteration
            self.report.iterate_seconds += it.seconds
            if it.status in TERMINAL:
                self._notify(it, 0)
                self.rounds.join()
                self.report.status = it.status
                self.report.waiting_on = []
                return
            # Definitions run:iterate printed that task.json lacks (SDK 0.0.162-0.0.174).
            definitions.remember(self.dispatcher.store, self.run, it.actions)
            new, waiting = self.plan(it)
            if new:
                self.start(new)
            self._notify(it, len(new))
            if it.status == "executed":
                # A hook performed effects inside run:iterate: ask again.
                continue
            if not self.inflight and not new:
                self.report.waiting_on = waiting
                if self.answer(waiting):
                    continue
                return
            if self.streaming:
                self.landed.wait()
            else:
                self.rounds.join()
        self.rounds.join()

    def _notify(self, it: Iteration, started: int) -> None:
        if self.options.on_iteration is not None:
            self.options.on_iteration(self.iteration, it, started, len(self.inflight))


def drive_run(run_dir: str | Path, options: DriveOptions | None = None) -> DriveReport:
    """Drive one run until it is completed, failed, halted or waiting; see the module
    docstring.  Raises :class:`protocol.ProtocolError` when the run cannot be read or the
    SDK's ``run:iterate`` fails."""
    options = options or DriveOptions()
    run = open_run(run_dir)
    report = DriveReport(run_dir=run.path)
    drive = _Drive(run, options, report)
    journal = read_journal(run)
    pending = {r.effect_id: (r.kind or "unknown") for r in journal.pending}
    dispatcher = drive.dispatcher
    beat = None
    with SignalGuard(dispatcher.interrupt.by_signal, options.dispatch.handle_signals):
        try:
            # Set up as dispatch_run does: isolation refused before any state is written,
            # claims kept alive by the heartbeat, half-done merges and saved outcomes
            # settled before anything runs.
            if options.dispatch.isolate.enabled:
                dispatcher.isolation.open()
            dispatcher.store.ensure()
            beat = heartbeat.start(dispatcher.store)
            dispatcher.isolation.prune(
                dispatcher._in_use,
                lambda eid: dispatcher.store.load_outcome(eid) is not None,
            )
            recovered = dispatcher.recover(pending)
            for rep in dispatcher.report.effects:
                if rep.effect_id in recovered:
                    report.effects.append(rep)
            try:
                drive.loop()
            finally:
                # Interrupted or not, every running effect ends posted or pending.
                drive.rounds.join()
        finally:
            if beat is not None:
                beat.stop()
            dispatcher.poster.close()
            dispatcher.progress.close()
    report.interrupted_by = dispatcher.interrupt.signum
    report.problems += drive.dreport.problems
    report.notes += drive.dreport.notes
    if report.status == "completed":
        _read_output(run, report)
    elif report.status == "failed":
        failure = run_failure(read_journal(run).entries)
        if failure is not None:
            kind, report.error = failure
            if kind == "PROCESS_RUNTIME_ERROR":
                report.notes.append(
                    "the process threw (PROCESS_RUNTIME_ERROR); after fixing the cause, "
                    f"`babysitter run:recover-process-error {run.path}` lets it go on"
                )
    return report


def _read_output(run: Run, report: DriveReport) -> None:
    path = run.path / "state" / "output.json"
    try:
        report.output = jsonjs.loads(path.read_text(encoding="utf-8"))
        report.has_output = True
    except (OSError, ValueError):
        report.has_output = False


def continue_command(report: DriveReport) -> str:
    """The exact command that continues this run."""
    return f"babysit-plugin drive {json.dumps(str(report.run_dir))}"


__all__ = [
    "EXIT_STATUS",
    "DriveOptions",
    "DriveReport",
    "IterateError",
    "Waiting",
    "drive_run",
]
