"""What a dispatch reports: its waves and what happened to each effect."""

from __future__ import annotations

import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import attrs

from protocol.clock import iso_from_ms
from protocol.jsonjs import JsonValue
from protocol.models import PendingAction

EffectStatus = Literal["ok", "error", "skipped", "planned", "cancelled", "refused"]
RunStatus = Literal["created", "waiting", "completed", "failed", "halted"]

#: Exit status of a dispatch of a run that is over (completed, failed or halted).
EXIT_RUN_OVER = 4
#: Exit status of a dispatch that could perform nothing: every pending effect was
#: left pending for someone else to act on (breakpoints, later sleeps, kinds not
#: opted in), or nothing is pending on a run that is not over.  Effects another
#: dispatcher is running are progress, not a reason to stop: those exit 0.
EXIT_NOTHING_DONE = 5

#: The journal events that end a run, and the status each gives it (newest wins).
_TERMINAL_EVENTS: dict[str, RunStatus] = {
    "RUN_COMPLETED": "completed",
    "RUN_FAILED": "failed",
    "RUN_HALTED": "halted",
}


def run_status(event_types: Iterable[str], pending: int) -> RunStatus:
    """The run's status from its journal's event types, as ``run:status`` names it."""
    status: RunStatus | None = None
    for event_type in event_types:
        status = _TERMINAL_EVENTS.get(event_type, status)
    if status is not None:
        return status
    return "waiting" if pending else "created"


SIGNAL_EXIT: dict[int, int] = {
    int(signal.SIGINT): 130,
    int(signal.SIGTERM): 143,
    int(signal.SIGHUP): 129,
}


@attrs.frozen
class Wave:
    """Effects performed together."""

    index: int
    parallel_group_id: str | None
    sequential: bool
    max_concurrency: int | None
    actions: tuple[PendingAction, ...]

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "index": self.index,
            "parallelGroupId": self.parallel_group_id,
            "sequential": self.sequential,
            "maxConcurrency": self.max_concurrency,
            "effectIds": [a.effect_id for a in self.actions],
        }


@attrs.define
class EffectReport:
    """What happened to one effect in this dispatch."""

    effect_id: str
    kind: str
    title: str | None = None
    status: EffectStatus = "skipped"
    reason: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    posted: bool = False
    recovered: bool = False
    wave: int | None = None
    command: str | None = None
    #: Skipped because another dispatcher or writer has it (claimed, or resolved meanwhile).
    elsewhere: bool = False

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0, round((self.finished_at - self.started_at) * 1000))

    def to_json(self) -> dict[str, JsonValue]:
        data: dict[str, JsonValue] = {
            "effectId": self.effect_id,
            "kind": self.kind,
            "status": self.status,
        }
        if self.title is not None:
            data["title"] = self.title
        if self.reason is not None:
            data["reason"] = self.reason
        data["startedAt"] = iso(self.started_at)
        data["finishedAt"] = iso(self.finished_at)
        data["durationMs"] = self.duration_ms
        data["posted"] = self.posted
        if self.recovered:
            data["recovered"] = True
        if self.wave is not None:
            data["wave"] = self.wave
        if self.command is not None:
            data["command"] = self.command
        return data


@attrs.define
class DispatchReport:
    """The result of :func:`dispatch_run`."""

    run_dir: Path
    waves: list[Wave] = attrs.field(factory=list)
    effects: list[EffectReport] = attrs.field(factory=list)
    interrupted_by: int | None = None
    deadline_reached: bool = False
    problems: list[str] = attrs.field(factory=list)
    dry_run: bool = False
    notes: list[str] = attrs.field(factory=list)
    run_status: RunStatus | None = None
    #: The journal file of the event that ended a run that is over.
    run_over_event: str | None = None

    @property
    def run_over(self) -> bool:
        """True when the run was completed, failed or halted before this dispatch."""
        return self.run_status in ("completed", "failed", "halted")

    @property
    def nothing_done(self) -> bool:
        """True when no effect was started, posted, (dry run) planned or taken by another."""
        return not any(
            e.posted
            or e.elsewhere
            or e.started_at is not None
            or e.status in ("ok", "error", "planned")
            for e in self.effects
        )

    @property
    def counts(self) -> dict[str, int]:
        counts = {"ok": 0, "error": 0, "skipped": 0, "planned": 0, "cancelled": 0, "refused": 0}
        for e in self.effects:
            counts[e.status] = counts.get(e.status, 0) + 1
        if not self.dry_run:
            counts.pop("planned")
        for status in ("cancelled", "refused"):  # 6.x only: listed when they happened
            if not counts[status]:
                counts.pop(status)
        counts["posted"] = sum(1 for e in self.effects if e.posted)
        counts["total"] = len(self.effects)
        return counts

    @property
    def exit_code(self) -> int:
        """0 when effects were performed and posted; 130/143/129 on a signal; 1 on a problem;
        :data:`EXIT_RUN_OVER` for a run already over; :data:`EXIT_NOTHING_DONE` when
        nothing could be performed."""
        if self.interrupted_by is not None:
            return SIGNAL_EXIT.get(self.interrupted_by, 128 + self.interrupted_by)
        if self.problems:
            return 1
        if self.run_over:
            return EXIT_RUN_OVER
        if self.nothing_done and not self.deadline_reached:
            return EXIT_NOTHING_DONE
        return 0

    def left_pending(self) -> str:
        """What is left pending and why, in one line (for a dispatch that did nothing)."""
        if self.run_over:
            where = self.run_dir / "journal" / (self.run_over_event or "")
            return (
                f"{where}: run is {self.run_status}: nothing to dispatch, nothing changed; "
                "the SDK performs nothing more for this run"
            )
        skipped = [e for e in self.effects if e.status == "skipped"]
        if not skipped:
            return "nothing performed: no pending effect (run `babysitter run:iterate` first)"
        reasons = "; ".join(f"{e.effect_id} ({e.kind}): {e.reason}" for e in skipped[:5])
        more = f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        n = len(skipped)
        return (
            f"nothing performed: {n} effect{'s' if n != 1 else ''} left pending — {reasons}{more}"
        )

    def to_json(self) -> dict[str, JsonValue]:
        data: dict[str, JsonValue] = {
            "runDir": str(self.run_dir),
            "waves": [w.to_json() for w in self.waves],
            "effects": [e.to_json() for e in self.effects],
            "counts": dict(self.counts),
        }
        if self.run_status is not None:
            data["runStatus"] = self.run_status
        if self.dry_run:
            data["dryRun"] = True
        if self.interrupted_by is not None:
            data["interruptedBy"] = signal.Signals(self.interrupted_by).name
        if self.deadline_reached:
            data["deadlineReached"] = True
        if self.problems:
            data["problems"] = list(self.problems)
        if self.notes:
            data["notes"] = list(self.notes)
        return data


def iso(t: float | None) -> str | None:
    return None if t is None else iso_from_ms(int(t * 1000))


# -- waves ----------------------------------------------------------------------------


def build_waves(actions: Iterable[PendingAction]) -> list[Wave]:
    """Order actions into waves (see the module docstring)."""
    waves: list[Wave] = []
    current: list[PendingAction] = []
    current_gid: str | None = None

    def close() -> None:
        if not current:
            return
        hints = [a.scheduler_hints for a in current]
        caps = [h.max_concurrency for h in hints if h is not None and h.max_concurrency]
        sequential = any(h is not None and h.execution_strategy == "sequential" for h in hints)
        waves.append(
            Wave(
                index=len(waves),
                parallel_group_id=current_gid,
                sequential=sequential,
                max_concurrency=1 if sequential else (min(caps) if caps else None),
                actions=tuple(current),
            )
        )
        current.clear()

    for action in actions:
        hints = action.scheduler_hints
        gid = hints.parallel_group_id if hints is not None else None
        sequential = hints is not None and hints.execution_strategy == "sequential"
        if gid is not None and not sequential and current and current_gid == gid:
            current.append(action)
            continue
        close()
        current.append(action)
        current_gid = gid
        if gid is None or sequential:
            close()
            current_gid = None
    close()
    return waves
