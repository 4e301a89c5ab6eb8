"""Dispatch the pending effects of a run concurrently, posting each as it finishes.

Order of work in :func:`dispatch_run`:

1. Open the run and read its journal (a run that cannot be read is an error).
2. Recover: drop plugin state of effects that are no longer pending, and post
   every saved outcome of a still-pending effect *without running it again*
   (a dispatcher died after the child returned and before its post landed).
3. Take the pending actions (from the journal, or ``--actions``), keep
   ``--group``, and order them into waves: consecutive actions sharing a
   ``parallelGroupId`` form one concurrent wave; an action without a group, or
   with ``executionStrategy: "sequential"``, is a wave of its own; the
   smallest ``maxConcurrency`` hint of a wave caps it, as does
   ``--max-concurrency``.  Waves run one after the other.  Due sleeps run
   beside the waves; breakpoints, far sleeps and kinds not opted in stay
   pending and are reported.
4. For each wave: claim its effects (see :mod:`babysit_plugin.runloop.store`),
   re-read the journal once (someone may have resolved them meanwhile), then
   run one greenlet per effect in a ``gevent.pool.Pool``.  Each greenlet runs
   its child, saves the outcome, writes its result files to temp files
   (:func:`protocol.prepare_result`, no lock), hands them to the poster and
   waits for the commit, then drops the outcome and the claim.  Every greenlet
   ends in a posted result or a recorded reason.

Posting is group commit: one poster greenlet takes *everything queued when it
wakes* and commits it with :func:`protocol.commit_results` in one hold of the
run lock (one journal re-read; the directories it touched fsynced together).  A
result is handed over the moment it is prepared and the poster starts at
once, so nothing waits for a batch to fill; effects finishing while a commit
runs go together into the next one, and 256 effects finishing at once cost a
handful of lock holds, not 256.

File work that fsyncs (saving an outcome, preparing a result, committing,
dropping state) runs in gevent's thread pool, so the event loop never waits
on the disk and the fsyncs of effects finishing together share the
filesystem's journal commits (measured: 32 atomic writes took 0.23 s one
after another, 0.05 s from 16 threads).  Commits are serialized by the one
poster (and a ``threading.RLock`` per dispatch in front of the run lock,
whose retries sleep with ``time.sleep`` in the worker thread, never in the
loop).

SIGINT / SIGTERM / SIGHUP (when ``handle_signals``) and the ``deadline`` set one
cancel event: running children's process groups are killed, effects not yet
finished release their claims and stay pending, outcomes already saved are
still posted, and the report says what happened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs
import gevent
import gevent.event
import gevent.pool
import gevent.threadpool

from babysit_plugin.isolate import IsolateOptions
from babysit_plugin.isolate.session import Box, Isolation
from babysit_plugin.runloop import definitions, execute, faults, heartbeat, sdkhooks
from babysit_plugin.runloop.cancel import JournalWatch
from babysit_plugin.runloop.interrupt import Interrupt, SignalGuard
from babysit_plugin.runloop.poster import Poster, in_thread
from babysit_plugin.runloop.progress import NullProgress, Progress
from babysit_plugin.runloop.report import (
    DispatchReport,
    EffectReport,
    Wave,
    build_waves,
    iso,
)
from babysit_plugin.runloop.store import Claim, ClaimRefused, PluginStore, SavedOutcome
from protocol.errors import (
    AlreadyResolvedError,
    EffectCancelledError,
    ProtocolError,
    RunTerminalError,
    UnknownEffectError,
)
from protocol.fsutil import safe_join
from protocol.journal import JournalReader, open_run, read_journal
from protocol.jsonjs import JsonValue
from protocol.lock import LockOptions
from protocol.models import (
    NO_VALUE,
    EffectError,
    Journal,
    NoValue,
    PendingAction,
    ResultInput,
    Run,
)
from protocol.pending import pending_actions
from protocol.results import (
    prepare_result,
    sweep_temps,
)

_T = TypeVar("_T")

#: Worker threads for file work (the hub's pool is grown to at least this many).
_IO_THREADS = 16


@attrs.frozen
class DispatchOptions:
    """Everything ``babysit-plugin dispatch`` can be told.

    ``actions``: dispatch these (from ``--actions``) instead of the journal's
    pending list.  ``deadline``: a :func:`time.monotonic` instant at which
    running effects are interrupted (left pending) and the dispatch returns.
    ``handle_signals``: install SIGINT/SIGTERM/SIGHUP handlers for the duration
    (only possible in the main thread; ignored elsewhere).
    """

    exec: execute.ExecOptions = attrs.field(factory=execute.ExecOptions)
    group: str | None = None
    actions: tuple[PendingAction, ...] | None = None
    max_concurrency: int | None = None
    dry_run: bool = False
    deadline: float | None = None
    handle_signals: bool = True
    lock_timeout: float = 10.0
    progress: Progress | None = None
    isolate: IsolateOptions = attrs.field(factory=IsolateOptions)


# -- the dispatcher -----------------------------------------------------------------------


@attrs.define
class _Item:
    """An effect on its way: what it is, what was planned, what is reported."""

    action: PendingAction
    ctx: execute.EffectContext
    plan: execute.Plan
    rep: EffectReport


class _Dispatcher:
    def __init__(self, run: Run, options: DispatchOptions, report: DispatchReport) -> None:
        self.run = run
        self.options = options
        self.report = report
        self.progress: Progress = options.progress or NullProgress()
        self.store = PluginStore(run.path, sleep=gevent.sleep)
        # Posts run in worker threads: a thread lock queues them in front of the run lock.
        self.local_lock = threading.RLock()
        pool = gevent.get_hub().threadpool
        pool.maxsize = max(pool.maxsize, _IO_THREADS)
        self.interrupt = Interrupt()
        self.reports: dict[str, EffectReport] = {}
        self.poster = Poster(self.run, self.lock_options)
        self.reader = JournalReader(run)
        # The journal as last read: results are prepared against it (the commit re-checks).
        self.journal: Journal | None = None
        self.isolation = Isolation(run, self.store.root, options.isolate)
        self.watch = JournalWatch(run, self.interrupt.event, self.io)
        gated = run.line.gates_results
        self.hooks = sdkhooks.discover(run.path) if gated else sdkhooks.HookSet()

    # -- posting --------------------------------------------------------------------

    def lock_options(self) -> LockOptions:
        return LockOptions(
            owner="babysit-plugin",
            timeout=self.options.lock_timeout,
            sleep=time.sleep,
            local=self.local_lock,
            on_contended=self.poster.contended,
        )

    def io(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Run blocking file work in a worker thread; this greenlet waits, the loop runs."""
        return in_thread(gevent.get_hub().threadpool, fn, *args, **kwargs)

    def _result_input(self, saved: SavedOutcome) -> ResultInput:
        error = None
        if saved.error is not None:
            err = saved.error
            stack = err.get("stack")
            error = EffectError(
                name=str(err.get("name") or "Error"),
                message=str(err.get("message") or "Task failed"),
                stack=stack if isinstance(stack, str) else None,
                data=err.get("data", NO_VALUE),
            )

        def log(rel: str | None) -> str | Path | None:
            if rel is None:
                return None
            path = self.store.resolve(rel)
            if path is None or not path.is_file():
                return None
            return _log_for_post(path, self.store.relative(path))

        return ResultInput(
            status=saved.status,
            value=saved.value if saved.has_value else NO_VALUE,
            error=error,
            error_payload=_shell_failure_payload(error),
            stdout=log(saved.stdout_file),
            stderr=log(saved.stderr_file),
            started_at=saved.started_at,
            finished_at=saved.finished_at,
            metadata=saved.metadata,
            invocation_key=saved.invocation_key,
        )

    def post_saved(self, saved: SavedOutcome, rep: EffectReport, claim: Claim | None) -> None:
        """Post a saved outcome; clean up after it unless the post failed."""
        if claim is not None and not self.store.still_holds(claim):
            rep.status, rep.posted, rep.reason = "skipped", False, heartbeat.TAKEN_OVER
            return
        try:
            saved = self._settle(saved, rep)
            result = self._result_input(saved)
            known = self.journal or self.io(self.reader.read)  # in recovery: not read yet
            record = known.effects.get(saved.effect_id)
            refused = sdkhooks.check(self.run, saved.effect_id, record, result, self.hooks)
            if refused is not None:
                # As 6.x task:post refuses it: nothing written, the effect stays pending and
                # its next dispatch performs it again.
                self.io(self.store.drop_outcome, saved.effect_id)
                rep.status, rep.posted = "refused", False
                rep.reason = f"refused by {refused.by}: {refused.reason}"
                self.report.problems.append(f"{saved.effect_id}: {rep.reason}")
                if claim is not None:
                    self.store.release(claim)
                return
            prepared = self.io(
                prepare_result, self.run, saved.effect_id, result, journal=self.journal
            )
            outcome = self.poster.commit(prepared)
            if isinstance(outcome, ProtocolError):
                raise outcome
        except (EffectCancelledError, RunTerminalError) as exc:
            self.io(self.store.drop_outcome, saved.effect_id)
            rep.posted = False
            cancelled = isinstance(exc, EffectCancelledError)
            rep.status = "cancelled" if cancelled else "skipped"
            rep.reason = (
                "cancelled with task:cancel; this outcome was discarded"
                if cancelled
                else f"the run is over; this outcome was discarded: {exc}"
            )
        except (AlreadyResolvedError, UnknownEffectError) as exc:
            self.io(self.store.drop_outcome, saved.effect_id)
            rep.status = "skipped"
            rep.posted = False
            rep.reason = (
                "already resolved by someone else; this outcome was dropped"
                if isinstance(exc, AlreadyResolvedError)
                else f"not an effect of this run any more: {exc}"
            )
        except (ProtocolError, OSError) as exc:
            rep.posted = False
            rep.reason = (
                f"post failed: {exc} — the outcome is saved in "
                f"{self.store.outcome_path(saved.effect_id)} and the next dispatch posts it"
            )
            self.report.problems.append(f"{saved.effect_id}: {rep.reason}")
            if claim is not None:
                self.store.release(claim)
            return
        else:
            self.io(self.store.drop_outcome, saved.effect_id)
            self.io(self.store.drop_definition, saved.effect_id)
            self.store.note_posted(saved, claim, kind=rep.kind, title=rep.title)
            rep.posted = True
        if claim is not None:
            self.store.release(claim)

    def _settle(self, saved: SavedOutcome, rep: EffectReport) -> SavedOutcome:
        """Finish a merge-back a killed dispatch left half done (see isolate.session)."""
        with self.isolation.merge_lock:
            as_outcome = execute.Outcome(
                "ok" if saved.status == "ok" else "error",
                value=saved.value,
                has_value=saved.has_value,
                error=saved.error,
                metadata=saved.metadata,
            )
            conflict = self.isolation.settle(saved.effect_id, as_outcome)
            if conflict is None:
                return saved
            saved = attrs.evolve(
                saved,
                status="error",
                value=None,
                has_value=False,
                error=conflict.error,
                metadata=conflict.metadata,
            )
            self.io(self.store.save_outcome, saved)
            rep.status = "error"
            rep.reason = str((conflict.error or {}).get("message"))
            return saved

    def _in_use(self, effect_id: str) -> bool:
        info = self.store.read_claim(effect_id)
        return info is not None and info.is_live()

    # -- recovery -------------------------------------------------------------------------

    def recover(self, pending: dict[str, str]) -> set[str]:
        """Post saved outcomes of pending effects; return their ids."""
        self.store.forget_resolved(lambda eid: eid in pending)
        # Temp files of posts whose dispatcher died before committing them.
        self.io(sweep_temps, self.run)
        done: set[str] = set()
        for eid in self.store.saved_outcome_ids():
            saved = self.store.load_outcome(eid)
            if saved is None:
                self.report.notes.append(
                    f"{self.store.outcome_path(eid)}: unreadable saved outcome ignored"
                )
                continue
            rep = EffectReport(
                effect_id=eid,
                kind=pending.get(eid, "unknown"),
                status=saved.status,
                recovered=True,
                reason="posted the outcome saved by an earlier dispatch (not run again)",
                started_at=_epoch(saved.started_at),
                finished_at=_epoch(saved.finished_at),
            )
            claimed = self.store.claim(eid)
            if isinstance(claimed, ClaimRefused):
                # Its owner is alive and will post it.
                continue
            self.post_saved(saved, rep, claimed)
            self._add(rep)
            done.add(eid)
            self.progress.finished(rep)
        return done

    def _add(self, rep: EffectReport) -> None:
        self.reports[rep.effect_id] = rep
        self.report.effects.append(rep)

    # -- one effect -----------------------------------------------------------------------

    def context(self, action: PendingAction) -> execute.EffectContext:
        given = self.options.actions is not None
        task = definitions.resolve(self.store, self.run, action, given=given)
        kind = action.kind or task.kind or "unknown"
        hints = action.scheduler_hints
        sleep_ms = hints.sleep_until_epoch_ms if hints is not None else None
        if sleep_ms is None:
            sleep_ms = task.sleep_until_epoch_ms
        ref = action.task_def_ref or f"tasks/{action.effect_id}/task.json"
        return execute.EffectContext(
            effect_id=action.effect_id,
            kind=kind,
            task=task.raw,
            run_dir=self.run.path,
            workspace=self.run.repo_root,
            task_file=safe_join(self.run.path, ref, where=f"{action.effect_id} taskDefRef"),
            task_id=action.task_id,
            run_harness=self.run.metadata.harness,
            sleep_until_ms=None if sleep_ms is None else int(sleep_ms),
        )

    def run_effect(self, item: _Item, claim: Claim) -> None:
        """Perform, save, post: the body of one effect's greenlet."""
        action, rep = item.action, item.rep
        saved_ok = False
        box: Box | None = None
        try:
            if self.interrupt.is_set:
                rep.status = "skipped"
                rep.reason = self.interrupt.reason()
                return
            work_dir = self.store.attempt_dir(claim)
            ctx = item.ctx
            if self.isolation.isolates(ctx.kind):
                box = self.isolation.setup(action.effect_id)
                ctx = attrs.evolve(ctx, workspace=box.workspace)
            # Planned again for this attempt: prompt and answer files live in its directory.
            plan = execute.plan_effect(ctx, self.options.exec, work_dir)
            rep.started_at = time.time()
            self.progress.started(rep)
            cancel = self.watch.start(action.effect_id)
            try:
                outcome = execute.perform(plan, self.options.exec, work_dir, cancel=cancel)
            finally:
                self.watch.end(action.effect_id)
            rep.started_at = outcome.started_at or rep.started_at
            rep.finished_at = outcome.finished_at or time.time()
            if outcome.status == "cancelled":
                why = None if self.interrupt.is_set else self.watch.why(action.effect_id)
                cancelled = why is not None and action.effect_id in self.watch.cancelled
                rep.status = "cancelled" if cancelled else "skipped"
                rep.reason = why or self.interrupt.reason()
                return
            stdout_path, stderr_path = (
                self._keep_if_large(claim, p) for p in (outcome.stdout_path, outcome.stderr_path)
            )
            saved = SavedOutcome(
                effect_id=action.effect_id,
                status="ok" if outcome.status == "ok" else "error",
                value=outcome.value,
                has_value=outcome.has_value,
                error=outcome.error,
                stdout_file=self._rel(stdout_path),
                stderr_file=self._rel(stderr_path),
                started_at=iso(outcome.started_at),
                finished_at=iso(outcome.finished_at),
                metadata=outcome.metadata,
                invocation_key=action.invocation_key,
                token=claim.token,
            )
            if box is None:
                ours = self._save_if_ours(claim, saved)
            else:
                merged = self._merge_back(box, outcome, saved, claim)
                ours = merged is not None
                if merged is not None:
                    saved = merged
                    outcome = attrs.evolve(outcome, error=saved.error)
            if not ours:
                rep.status, rep.reason = "skipped", heartbeat.TAKEN_OVER
                return
            saved_ok = True
            rep.status = saved.status
            if outcome.error is not None:
                rep.reason = str(outcome.error.get("message"))
            self.post_saved(saved, rep, claim)
        except Exception as exc:
            # A bug: recorded, never lost in gevent's stderr printout.
            rep.status = "error"
            rep.posted = False
            rep.reason = f"internal error: {type(exc).__name__}: {exc}"
            self.report.problems.append(f"{action.effect_id}: {rep.reason}")
        except BaseException:
            rep.status = "skipped"
            rep.reason = self.interrupt.reason()
            raise
        finally:
            if rep.finished_at is None and rep.started_at is not None:
                rep.finished_at = time.time()
            if not saved_ok:
                # Nothing to post: give the effect back, pending, to the next dispatch.
                self.store.release(claim)
                self.store.drop_logs(action.effect_id, claim.token)
            if box is not None:
                self.isolation.discard(box)
            self.progress.finished(rep)

    def _save_if_ours(self, claim: Claim, saved: SavedOutcome) -> bool:
        """Save the outcome unless the claim was taken over; whether it was saved."""
        with self.store.holding(claim) as ours:
            if ours:
                self.io(self.store.save_outcome, saved)
        return ours

    def _merge_back(
        self, box: Box, outcome: execute.Outcome, saved: SavedOutcome, claim: Claim
    ) -> SavedOutcome | None:
        """Merge an isolated effect back (one at a time) and save its outcome.

        None: the claim was taken over before the outcome was saved (nothing applied).
        """
        with self.isolation.merge_lock:
            merged, plan = self.isolation.merge_back(box, outcome)
            saved = attrs.evolve(
                saved,
                status="ok" if merged.status == "ok" else "error",
                value=merged.value,
                has_value=merged.has_value,
                error=merged.error,
                metadata=merged.metadata,
            )
            if plan is not None:
                self.isolation.record(box, plan)
                faults.point("isolate:record-written")
            if not self._save_if_ours(claim, saved):
                self.isolation.drop_record(box.effect_id)
                return None
            if plan is None:
                return saved
            faults.point("isolate:applying")
            conflict = self.isolation.apply(box, plan, merged)
            if conflict is not None:
                saved = attrs.evolve(
                    saved,
                    status="error",
                    value=None,
                    has_value=False,
                    error=conflict.error,
                    metadata=conflict.metadata,
                )
                self._save_if_ours(claim, saved)
            return saved

    def _keep_if_large(self, claim: Claim, path: Path | None) -> Path | None:
        if path is None:
            return None
        try:
            size = path.stat().st_size
        except OSError:
            return None
        return self.store.keep_log(claim, path) if size > execute.LOG_LIMIT else path

    def _rel(self, path: Path | None) -> str | None:
        if path is None:
            return None
        try:
            return self.store.relative(path)
        except ValueError:
            return None

    # -- waves -----------------------------------------------------------------------------

    def claim_wave(self, items: Sequence[_Item]) -> list[tuple[_Item, Claim]]:
        claimed: list[tuple[_Item, Claim]] = []
        for item in items:
            got = self.store.claim(item.action.effect_id)
            if isinstance(got, ClaimRefused):
                item.rep.status = "skipped"
                item.rep.reason = got.reason
                item.rep.elsewhere = True
                self.progress.finished(item.rep)
                continue
            claimed.append((item, got))
        if not claimed:
            return claimed
        # Someone may have resolved them since we read the journal; and a saved
        # outcome may have appeared (its dispatcher died after saving it).
        journal = self.journal = self.reader.read()
        ready: list[tuple[_Item, Claim]] = []
        for item, claim in claimed:
            action, rep = item.action, item.rep
            record = journal.effects.get(action.effect_id)
            if record is None or record.status != "requested" or journal.terminal:
                rep.status = "cancelled" if record and record.status == "cancelled" else "skipped"
                rep.elsewhere = not journal.terminal and rep.status == "skipped"
                rep.reason = (
                    "cancelled with task:cancel before it started; not run"
                    if rep.status == "cancelled"
                    else f"the run is {journal.status}; not run"
                    if journal.terminal
                    else "already resolved by someone else"
                )
                self.store.release(claim)
                self.progress.finished(rep)
                continue
            saved = self.store.load_outcome(action.effect_id)
            if saved is not None:
                rep.status = saved.status
                rep.recovered = True
                rep.reason = "posted the outcome saved by an earlier dispatch (not run again)"
                rep.started_at = _epoch(saved.started_at)
                rep.finished_at = _epoch(saved.finished_at)
                self.post_saved(saved, rep, claim)
                self.progress.finished(rep)
                continue
            ready.append((item, claim))
        return ready

    def run_wave(self, wave: Wave, items: Sequence[_Item]) -> None:
        ready = self.claim_wave(items)
        if not ready:
            return
        self.isolation.new_wave()
        size = self.options.max_concurrency or len(ready)
        if wave.max_concurrency:
            size = min(size, wave.max_concurrency)
        pool = gevent.pool.Pool(max(1, size))
        for item, claim in ready:
            if self.interrupt.is_set:
                # Not started: give it back at once.
                item.rep.status = "skipped"
                item.rep.reason = self.interrupt.reason()
                self.store.release(claim)
                self.store.drop_logs(item.action.effect_id, claim.token)
                self.progress.finished(item.rep)
                continue
            pool.spawn(self.run_effect, item, claim)
        pool.join()

    def run_sleeps(self, items: Sequence[_Item]) -> gevent.pool.Group:
        group = gevent.pool.Group()

        def one(item: _Item) -> None:
            for ready, claim in self.claim_wave([item]):
                self.run_effect(ready, claim)

        for item in items:
            group.spawn(one, item)
        return group


def _shell_failure_payload(error: EffectError | None) -> JsonValue | NoValue:
    """The error as a ``task:post --error`` file would carry it, for 6.x's shell rule.

    6.x posts a failed shell effect as an ``ok`` value ``{success: false, exitCode, stdout,
    stderr, error}`` whose ``error`` text it reads from the error's ``data.error`` (else
    ``data.message``), never from its ``message``: without this the process would see only
    "Shell command exited with code N", not why (timed out, could not start, output too
    large). 0.0.x ignores the payload; the ``error`` it posts is unchanged.
    """
    if error is None:
        return NO_VALUE
    data = error.data if isinstance(error.data, dict) else {}
    payload: dict[str, JsonValue] = {"name": error.name, "message": error.message}
    payload["data"] = {**data, "error": error.message}
    return payload


def _log_for_post(path: Path, rel: str) -> str | Path:
    """The log itself, or its first LOG_LIMIT bytes and a note when it is bigger."""
    size = path.stat().st_size
    if size <= execute.LOG_LIMIT:
        return path
    with open(path, "rb") as fh:
        head = fh.read(execute.LOG_LIMIT)
    text = head.decode("utf-8", errors="replace")
    return (
        f"{text}\n[babysit-plugin: output cut at {execute.LOG_LIMIT} of {size} bytes; "
        f"the whole log is kept in .babysit-plugin/{rel}]\n"
    )


def _epoch(iso: str | None) -> float | None:
    if iso is None:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# -- entry point --------------------------------------------------------------------------


def _select(
    run: Run,
    journal_pending: dict[str, str],
    options: DispatchOptions,
    report: DispatchReport,
    cancelled_ids: frozenset[str] = frozenset(),
) -> list[PendingAction]:
    if options.actions is None:
        actions = pending_actions(run)
    else:
        actions = []
        seen: set[str] = set()
        for action in options.actions:
            if action.effect_id in seen:
                continue
            seen.add(action.effect_id)
            if action.effect_id not in journal_pending:
                cancelled = action.effect_id in cancelled_ids
                report.effects.append(
                    EffectReport(
                        effect_id=action.effect_id,
                        kind=action.kind or "unknown",
                        status="cancelled" if cancelled else "skipped",
                        reason="cancelled with task:cancel; not run"
                        if cancelled
                        else "not pending in this run's journal (already resolved, or "
                        "not an effect of this run)",
                    )
                )
                continue
            actions.append(action)
    if options.group is not None:
        kept = [
            a
            for a in actions
            if a.scheduler_hints is not None
            and a.scheduler_hints.parallel_group_id == options.group
        ]
        if not kept:
            report.notes.append(f"no pending effect has parallelGroupId {options.group}")
        actions = kept
    return actions


def plan_for(
    dispatcher: _Dispatcher, action: PendingAction, report: DispatchReport
) -> tuple[_Item | None, EffectReport]:
    """The planned item of one action, or None (reported) when its task cannot be read."""
    rep = EffectReport(effect_id=action.effect_id, kind=action.kind or "unknown")
    try:
        ctx = dispatcher.context(action)
    except definitions.DefinitionMissing as exc:  # to be handed over: not a problem
        rep.status = "skipped"
        rep.reason = exc.reason
        return None, rep
    except ProtocolError as exc:
        rep.status = "skipped"
        rep.reason = f"cannot read its task definition: {exc}"
        report.problems.append(f"{action.effect_id}: {rep.reason}")
        return None, rep
    rep.kind = ctx.kind
    title = ctx.task.get("title")
    rep.title = title if isinstance(title, str) else action.label
    # Where the next attempt's files would go (the real attempt re-plans in its own).
    work_dir = dispatcher.store.logs_dir / action.effect_id / "<attempt>"
    plan = execute.plan_effect(ctx, dispatcher.options.exec, work_dir)
    rep.command = plan.describe()
    return _Item(action, ctx, plan, rep), rep


def dispatch_run(run_dir: str | Path, options: DispatchOptions | None = None) -> DispatchReport:
    """Dispatch the pending effects of one run; see the module docstring.

    Raises :class:`protocol.ProtocolError` when the run cannot be read.  Post
    failures and unreadable task definitions are listed in
    ``report.problems`` (``report.exit_code`` is then 1).
    """
    options = options or DispatchOptions()
    run = open_run(run_dir)
    report = DispatchReport(run_dir=run.path, dry_run=options.dry_run)
    journal = read_journal(run)
    faults.point("dispatch:start")
    pending = {r.effect_id: (r.kind or "unknown") for r in journal.pending}
    # As the SDK derives it (deriveObservedRunState): RUN_HALTED/RUN_FAILED end the run even
    # with effects requested; RUN_COMPLETED only once none is (run:halt seals with it).
    report.run_status = journal.status
    last = journal.lifecycle_event
    report.run_over_event = last.filename if last is not None else None
    if report.run_over:
        # Nothing of a finished run is performed: its process will not read the results.
        return report
    dispatcher = _Dispatcher(run, options, report)
    recovered: set[str] = set()
    with SignalGuard(
        dispatcher.interrupt.by_signal, options.handle_signals and not options.dry_run
    ):
        timer = beat = None
        if options.deadline is not None:
            timer = gevent.spawn_later(
                max(0.0, options.deadline - time.monotonic()), dispatcher.interrupt.by_deadline
            )
        try:
            # Selected (task definitions read) before the state directory is touched, so
            # a run whose input is refused is left byte for byte as it was.
            selected = _select(run, pending, options, report, frozenset(journal.cancelled))
            if options.isolate.enabled:
                # Refused (one line, nothing run) before the state directory is touched.
                dispatcher.isolation.open()
            if not options.dry_run:
                dispatcher.store.ensure()
                beat = heartbeat.start(dispatcher.store)
                if options.actions is not None:
                    definitions.remember(dispatcher.store, run, selected)
                dispatcher.isolation.prune(
                    dispatcher._in_use,
                    lambda eid: dispatcher.store.load_outcome(eid) is not None,
                )
                recovered = dispatcher.recover(pending)
            actions = [a for a in selected if a.effect_id not in recovered]
            report.waves = build_waves(actions)
            _dispatch_waves(dispatcher, report, options)
        finally:
            if timer is not None:
                timer.kill()
            if beat is not None:
                beat.stop()
            dispatcher.watch.close()
            dispatcher.poster.close()
            dispatcher.progress.close()
    report.interrupted_by = dispatcher.interrupt.signum
    report.deadline_reached = dispatcher.interrupt.deadline
    return report


def _dispatch_waves(
    dispatcher: _Dispatcher, report: DispatchReport, options: DispatchOptions
) -> None:
    per_wave: list[list[_Item]] = []
    sleeps: list[_Item] = []
    for wave in report.waves:
        items: list[_Item] = []
        for action in wave.actions:
            item, rep = plan_for(dispatcher, action, report)
            rep.wave = wave.index
            report.effects.append(rep)
            if item is None:
                dispatcher.progress.finished(rep)
                continue
            plan = item.plan
            if plan.action == "leave":
                rep.status = "skipped"
                rep.reason = plan.reason
                rep.command = None
                dispatcher.progress.finished(rep)
                continue
            if options.dry_run:
                rep.status = "planned"
                continue
            rep.command = None
            if plan.action == "sleep":
                sleeps.append(item)
            else:
                items.append(item)
        per_wave.append(items)
    if options.dry_run:
        return
    sleepers = dispatcher.run_sleeps(sleeps)
    for wave, items in zip(report.waves, per_wave, strict=True):
        if dispatcher.interrupt.is_set:
            for item in items:
                item.rep.status = "skipped"
                item.rep.reason = dispatcher.interrupt.reason()
                dispatcher.progress.finished(item.rep)
            continue
        dispatcher.run_wave(wave, items)
    sleepers.join()


def pending_count(run_dir: str | Path) -> int:
    """How many effects of the run are pending (a cheap check for callers)."""
    run = open_run(run_dir)
    return len(read_journal(run).pending)


__all__ = [
    "DispatchOptions",
    "DispatchReport",
    "EffectReport",
    "Wave",
    "build_waves",
    "dispatch_run",
    "pending_count",
]
