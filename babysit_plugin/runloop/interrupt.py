"""The one interrupt of a dispatch: a signal (SIGINT/SIGTERM/SIGHUP) or the deadline.

Setting it kills running children's process groups; effects not finished stay
pending for the next dispatch.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import gevent.event

__all__ = ["Interrupt", "SignalGuard"]


class Interrupt:
    """The one cancel event, and why it was set."""

    def __init__(self) -> None:
        self.event = gevent.event.Event()
        self.signum: int | None = None
        self.deadline = False

    def by_signal(self, signum: int) -> None:
        if self.signum is None and not self.deadline:
            self.signum = signum
        self.event.set()

    def by_deadline(self) -> None:
        if self.signum is None:
            self.deadline = True
        self.event.set()

    @property
    def is_set(self) -> bool:
        return bool(self.event.is_set())

    def reason(self) -> str:
        if self.deadline:
            return "interrupted at the deadline; left pending for the next dispatch"
        if self.signum is not None:
            return (
                f"interrupted by {signal.Signals(self.signum).name}; "
                "left pending for the next dispatch"
            )
        return "interrupted; left pending for the next dispatch"


class SignalGuard:
    """Routes SIGINT/SIGTERM/SIGHUP to the interrupt while dispatching."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, on_signal: Callable[[int], None], enabled: bool) -> None:
        self.on_signal = on_signal
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.on_signal(signum)

    def __enter__(self) -> SignalGuard:
        if self.enabled:
            for sig in self.SIGNALS:
                self.previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
