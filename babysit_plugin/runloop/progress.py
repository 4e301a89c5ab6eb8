"""What a dispatch shows while it runs.

On a terminal: a status line redrawn in place (running / done / failed /
elapsed) with one line printed above it per finished effect.  Elsewhere (a
pipe, a log file, a hook): only the one line per finished effect, flushed at
once.  With ``--json`` nothing is shown until the summary.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Protocol, TextIO

import gevent

if TYPE_CHECKING:
    from babysit_plugin.runloop.dispatch import EffectReport


class Progress(Protocol):
    """Receives the life of each effect, in the dispatching greenlets."""

    def started(self, effect: EffectReport) -> None: ...

    def finished(self, effect: EffectReport) -> None: ...

    def close(self) -> None: ...


class NullProgress:
    """Shows nothing."""

    def started(self, effect: EffectReport) -> None:
        pass

    def finished(self, effect: EffectReport) -> None:
        pass

    def close(self) -> None:
        pass


def _short(text: str | None, width: int) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def finished_line(effect: EffectReport) -> str:
    """``ok     shell  01J...  title  (1.2 s)`` or ``error  ...  — reason``."""
    status = effect.status
    seconds = f"({effect.duration_ms / 1000:.1f} s)" if effect.duration_ms is not None else ""
    parts = [f"{status:<7}", f"{effect.kind:<10}", effect.effect_id]
    if effect.title:
        parts.append(_short(effect.title, 50))
    if seconds:
        parts.append(seconds)
    line = "  ".join(parts)
    if effect.reason:
        line += f" — {_short(effect.reason, 200)}"
    return line


class LineProgress:
    """One line per finished effect."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def started(self, effect: EffectReport) -> None:
        pass

    def finished(self, effect: EffectReport) -> None:
        self.stream.write(finished_line(effect) + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class TtyProgress:
    """A live status line below the finished-effect lines."""

    def __init__(self, stream: TextIO | None = None, interval: float = 0.5) -> None:
        self.stream = stream or sys.stdout
        self.running: dict[str, EffectReport] = {}
        self.done = 0
        self.failed = 0
        self.t0 = time.monotonic()
        self._shown = False
        self._ticker = gevent.spawn(self._tick, interval)

    def _status(self) -> str:
        elapsed = time.monotonic() - self.t0
        names = ", ".join(
            _short(e.title or e.effect_id, 24) for e in list(self.running.values())[:3]
        )
        more = "" if len(self.running) <= 3 else f" +{len(self.running) - 3}"
        text = (
            f"running {len(self.running)} · done {self.done} · failed {self.failed} · "
            f"{int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}"
        )
        if names:
            text += f"  [{names}{more}]"
        return text

    def _draw(self) -> None:
        self.stream.write("\r\x1b[2K" + self._status())
        self.stream.flush()
        self._shown = True

    def _clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[2K")
            self._shown = False

    def _tick(self, interval: float) -> None:
        while True:
            self._draw()
            gevent.sleep(interval)

    def started(self, effect: EffectReport) -> None:
        self.running[effect.effect_id] = effect
        self._draw()

    def finished(self, effect: EffectReport) -> None:
        self.running.pop(effect.effect_id, None)
        if effect.status == "error":
            self.failed += 1
        elif effect.status == "ok":
            self.done += 1
        self._clear()
        self.stream.write(finished_line(effect) + "\n")
        self._draw()

    def close(self) -> None:
        self._ticker.kill()
        self._clear()
        self.stream.flush()


def for_stream(stream: TextIO, *, quiet: bool = False) -> Progress:
    """The display that suits ``stream``: live on a terminal, lines otherwise."""
    if quiet:
        return NullProgress()
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return TtyProgress(stream)
    return LineProgress(stream)
