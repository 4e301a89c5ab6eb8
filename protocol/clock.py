"""Wall-clock time as the SDK records it.

Rules kept here:

- Time is whole milliseconds since the Unix epoch, like JavaScript's ``Date.now()``.
- Timestamps are written as ``Date.prototype.toISOString`` does: UTC, exactly three digits of
  milliseconds and a ``Z`` (``2026-11-28T04:59:44.615Z``); the SDK uses that form for
  ``recordedAt``, ``acquiredAt``, ``startedAt`` and ``finishedAt``.
- The clock is injected (a ``Callable[[], int]``) wherever time is read, so tests can run it
  backwards; nothing here keeps state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

__all__ = ["Clock", "iso_from_ms", "now_iso", "system_ms"]

#: A source of the current time in epoch milliseconds.
Clock = Callable[[], int]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def system_ms() -> int:
    """The current time in epoch milliseconds (``Date.now()``)."""
    return time.time_ns() // 1_000_000


def iso_from_ms(ms: int) -> str:
    """``new Date(ms).toISOString()`` for years 0000-9999."""
    seconds, millis = divmod(int(ms), 1000)
    moment = _EPOCH + timedelta(seconds=seconds)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{millis:03d}Z"


def now_iso(clock: Clock = system_ms) -> str:
    """The current time as ``new Date().toISOString()`` writes it."""
    return iso_from_ms(clock())
