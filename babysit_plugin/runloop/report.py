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

EffectStatus = Literal["ok", "error", "skipped", "planned"]

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

    @property
    def counts(self) -> dict[str, int]:
        counts = {"ok": 0, "error": 0, "skipped": 0, "planned": 0}
        for e in self.effects:
            counts[e.status] = counts.get(e.status, 0) + 1
        if not self.dry_run:
            counts.pop("planned")
        counts["posted"] = sum(1 for e in self.effects if e.posted)
        counts["total"] = len(self.effects)
        return counts

    @property
    def exit_code(self) -> int:
        """0 when every dispatched effect was posted; 130/143/129 on a signal; else 1."""
        if self.interrupted_by is not None:
            return SIGNAL_EXIT.get(self.interrupted_by, 128 + self.interrupted_by)
        return 1 if self.problems else 0

    def to_json(self) -> dict[str, JsonValue]:
        data: dict[str, JsonValue] = {
            "runDir": str(self.run_dir),
            "waves": [w.to_json() for w in self.waves],
            "effects": [e.to_json() for e in self.effects],
            "counts": dict(self.counts),
        }
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
