"""Crash injection at named points: a testing aid for the crash-safety tests.

``BABYSIT_PLUGIN_FAULT=POINT[:N]`` makes the process kill itself with SIGKILL
the N-th time (default 1) it reaches ``POINT``; the crash tests use it to stop
a dispatcher at exact places and check that the next dispatch completes the
run.  Unset (the normal case) a :func:`point` call is a function call and one
comparison: nothing is patched and nothing is counted.

Points, in the order a dispatch meets them:

``dispatch:start``         the journal was read, nothing claimed yet
``claim:before``           about to claim an effect
``claim:made``             the claim file exists, nothing run yet
``child:spawned``          a child process was started and is running
``effect:performed``       the child returned; its outcome is not saved yet
``outcome:saved``          the outcome is saved; nothing posted yet
``lock:held``              the run lock was just taken (to post)
``post:result-written``    ``tasks/<id>/result.json`` written; no journal event yet
``post:appended``          ``EFFECT_RESOLVED`` appended; run lock still held
``outcome:dropping``       posted; the saved outcome is about to be deleted
``claim:releasing``        about to give a claim back

Reached only by isolated effects (``--isolate worktree``), in this order:

``isolate:snapshot``       the wave's snapshot commit was written
``isolate:worktree-added`` the effect's worktree is checked out; the effect not started
``isolate:merge-planned``  the merge-back is computed; nothing recorded or written
``isolate:record-written`` the clean merge is recorded; the outcome not saved yet
``isolate:applying``       outcome saved; about to write the merge into the working tree
``isolate:applied``        the merge is written; its record not dropped yet

Reached only by a ``drive`` (:mod:`babysit_plugin.drive.loop`), around each SDK iteration:

``drive:iterate``          about to run ``run:iterate`` (effects may be running)
``drive:iterated``         ``run:iterate`` returned; nothing of its answer acted on yet

The three ``lock:``/``post:`` points live inside :mod:`protocol`, which stays
free of test hooks: when armed, this module wraps the steps of
:func:`protocol.results.commit_results` (``commit_locked``, entered once the
lock is taken, counts ``lock:held`` once per result of the batch;
``install_result_files`` and ``install_event`` report after each result).
Counts stay per result, as when every result took the lock alone.
``child:spawned`` is reached in :mod:`babysit_plugin.runloop.proc` right after a spawn
on its stdlib/pidfd path, and through a wrapped ``gevent.subprocess.Popen`` on
its fallback path.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from protocol import results

ENV = "BABYSIT_PLUGIN_FAULT"

POINTS = (
    "dispatch:start",
    "claim:before",
    "claim:made",
    "child:spawned",
    "effect:performed",
    "outcome:saved",
    "lock:held",
    "post:result-written",
    "post:appended",
    "outcome:dropping",
    "claim:releasing",
)

ISOLATE_POINTS = (
    "isolate:snapshot",
    "isolate:worktree-added",
    "isolate:merge-planned",
    "isolate:record-written",
    "isolate:applying",
    "isolate:applied",
)

DRIVE_POINTS = (
    "drive:iterate",
    "drive:iterated",
)


class _Armed:
    target: str | None = None
    remaining = 0
    installed = False


_ARMED = _Armed()


def point(name: str) -> None:
    """Reach the named point: SIGKILL this process if it is the armed one, N-th time."""
    if _ARMED.target is None or name != _ARMED.target:
        return
    _ARMED.remaining -= 1
    if _ARMED.remaining <= 0:
        os.kill(os.getpid(), signal.SIGKILL)


def parse(spec: str) -> tuple[str, int]:
    """``POINT[:N]`` as (point, N); raises ValueError naming the problem."""
    name, sep, count = spec.strip().rpartition(":")
    if not sep or not count.isdigit():
        name, count = spec.strip(), "1"
    if name not in POINTS + ISOLATE_POINTS + DRIVE_POINTS:
        raise ValueError(
            f"{ENV}={spec!r}: expected POINT[:N] with POINT one of "
            f"{', '.join(POINTS + ISOLATE_POINTS + DRIVE_POINTS)}, "
            f"found {name!r} — fix the variable or unset it"
        )
    if int(count) < 1:
        raise ValueError(f"{ENV}={spec!r}: expected N of at least 1, found {count}")
    return name, int(count)


def arm(spec: str | None) -> None:
    """Arm (``POINT[:N]``) or disarm (None or empty) the crash point."""
    if not spec:
        _ARMED.target, _ARMED.remaining = None, 0
        return
    _ARMED.target, _ARMED.remaining = parse(spec)
    if not _ARMED.installed:
        _ARMED.installed = True
        _install_wrappers()


def _install_wrappers() -> None:
    commit = getattr(results, "commit_locked")  # noqa: B009

    def commit_and_report(run: Any, prepared: Any, *args: Any, **kwargs: Any) -> Any:
        for _ in prepared:
            point("lock:held")
        return commit(run, prepared, *args, **kwargs)

    setattr(results, "commit_locked", commit_and_report)  # noqa: B010

    install_files = getattr(results, "install_result_files")  # noqa: B009

    def install_files_and_report(prepared: Any) -> None:
        install_files(prepared)
        point("post:result-written")

    setattr(results, "install_result_files", install_files_and_report)  # noqa: B010

    install_event = getattr(results, "install_event")  # noqa: B009

    def install_event_and_report(tmp: Path, final: Path) -> None:
        install_event(tmp, final)
        point("post:appended")

    setattr(results, "install_event", install_event_and_report)  # noqa: B010

    # Imported only when a point is armed: ``status`` imports the store (hence this
    # module) and must start without gevent.
    from gevent import subprocess as gsub

    popen = gsub.Popen

    class _ReportingPopen(popen):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            point("child:spawned")

    gsub.Popen = _ReportingPopen


try:
    arm(os.environ.get(ENV))
except ValueError as _exc:
    raise SystemExit(f"babysit-plugin: error: {_exc}") from None
