"""Noticing, while effects run, that the run no longer wants them (6.x).

6.x's ``task:cancel`` appends ``EFFECT_CANCELLED``: the effect is final and
its result is not wanted. ``ctx.halt`` (``RUN_HALTED``), ``run:halt
--final-status failed`` (``RUN_FAILED``) and the like end the run: nothing more
is performed or posted. Either can land while a dispatch runs the effect.

:class:`JournalWatch` re-reads the journal every ``interval`` seconds while at
least one effect runs, with a :class:`protocol.JournalReader` of its own (an
incremental read: a directory listing and the new files only; measured in
``bench/``), in a worker thread. An effect cancelled meanwhile has its cancel
event set, which kills its child's process group; when the run became
terminal, every running effect's is set. The dispatcher then posts nothing for
them. A cancel that lands after the last read is still caught: the commit
re-reads the journal under the run lock and refuses a cancelled effect or a
terminal run (:class:`protocol.EffectCancelledError`,
:class:`protocol.RunTerminalError`), and the outcome is discarded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
import gevent.event

from protocol.errors import ProtocolError
from protocol.journal import JournalReader
from protocol.models import Journal, Run

__all__ = ["WATCH_INTERVAL", "JournalWatch"]

#: Seconds between journal re-reads while effects run.
WATCH_INTERVAL = 0.5


class JournalWatch:
    """Per-effect cancel events, set when the journal cancels the effect or ends the run."""

    def __init__(
        self,
        run: Run,
        stop: gevent.event.Event,
        io: Callable[..., Any],
        interval: float = WATCH_INTERVAL,
    ) -> None:
        self.reader = JournalReader(run)
        self.stop = stop
        self.io = io
        self.interval = interval
        self.running: dict[str, gevent.event.Event] = {}
        #: Effect id -> the ``EFFECT_CANCELLED`` reason (or "") of effects cancelled while running.
        self.cancelled: dict[str, str] = {}
        #: The run's state once it became terminal while effects ran.
        self.terminal: str | None = None
        self.reads = 0
        self._greenlet: gevent.Greenlet[Any] | None = None
        stop.rawlink(lambda _: self._set_all())

    def start(self, effect_id: str) -> gevent.event.Event:
        """The event that interrupts ``effect_id``; watch the journal while it runs."""
        event = gevent.event.Event()
        if self.stop.is_set() or self.terminal is not None:
            event.set()
        self.running[effect_id] = event
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._loop)
        return event

    def end(self, effect_id: str) -> None:
        self.running.pop(effect_id, None)

    def close(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()

    def why(self, effect_id: str) -> str | None:
        """Why ``effect_id`` was stopped by the journal, or None if it was not."""
        if effect_id in self.cancelled:
            reason = self.cancelled[effect_id]
            return (
                "cancelled with task:cancel while it ran"
                + (f" ({reason})" if reason else "")
                + "; its process group was killed and nothing was posted"
            )
        if self.terminal is not None:
            return (
                f"the run became {self.terminal} while it ran; its process group was killed "
                "and nothing was posted"
            )
        return None

    def _set_all(self) -> None:
        for event in self.running.values():
            event.set()

    def _loop(self) -> None:
        while self.running and not self.stop.is_set():
            if self.stop.wait(timeout=self.interval):
                return
            if not self.running:
                return
            try:
                journal: Journal = self.io(self.reader.read)
            except (ProtocolError, OSError):
                continue  # the commit re-reads and refuses what it must
            self.reads += 1
            self.check(journal)

    def check(self, journal: Journal) -> None:
        """Set the events of running effects the journal no longer wants."""
        if journal.terminal:
            self.terminal = journal.status
            self._set_all()
            return
        for effect_id, event in list(self.running.items()):
            record = journal.effects.get(effect_id)
            if record is not None and record.status == "cancelled":
                self.cancelled[effect_id] = record.cancel_reason or ""
                event.set()
