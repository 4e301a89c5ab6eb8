"""The run lock, compatible with the SDK's ``run.lock`` (``storage/lock.js``).

Rules kept here:

- ``<runDir>/run.lock`` holds ``{"pid", "owner", "acquiredAt"}`` as
  ``JSON.stringify(info, null, 2) + "\\n"``; whoever creates it holds the lock, whoever
  removes it releases it. The SDK takes it for ``run:iterate`` and ``task:post``; we take it
  only around a journal append (milliseconds), never while an effect runs.
- The SDK creates the file with flag ``"wx"`` and writes the content afterwards, so for an
  instant it is empty; an SDK process that reads it then fails (``JSON.parse``). We never
  leave it empty: the full content goes to a temp file ``<runDir>/.run.lock.<random>.tmp``
  that is then ``os.link``-ed to ``run.lock`` (exclusive, atomic, never seen empty) and
  removed. A lock that could not be taken leaves the run directory as it was.
- An existing lock whose ``pid`` is a positive integer of a process that no longer exists is
  stale and is deleted, as the SDK's ``acquireRunLock`` does (``process.kill(pid, 0)`` gives
  ``ESRCH``). A lock that is empty or not JSON is someone mid-write: it is treated as held
  and waited for, never broken. Any other content (live pid, unknown pid, ``EPERM``) is held.
- Before deleting a stale lock its content is read again and must be unchanged, so a lock
  re-created in between is not deleted.
- Creating is exclusive by itself; breaking a stale lock is not, so processes of this
  plugin serialize it on a ``filelock.FileLock`` over
  ``<runDir>/.babysit-plugin/run.lock.guard`` and re-read the lock under it: two of them
  never both break the same stale lock (nor one break the other's fresh lock). The guard is
  taken non-blocking, retried in the loop with the injected ``sleep``: a blocking
  ``FileLock`` would freeze gevent's hub (``sleep=gevent.sleep`` keeps it running).
- The ``local`` context manager (a per-run ``gevent.lock.RLock`` from babysit_plugin) is
  entered first, so greenlets of one process queue there instead of on the file.
- Waiting ends after ``timeout`` seconds with :class:`LockTimeoutError` naming the lock file,
  the holder's pid and owner, and the fix.
- ``<runDir>/.babysit-plugin/`` is created (with a ``.gitignore`` of ``*``) only when a
  stale lock has to be broken.
- Release deletes ``run.lock`` only if it still holds exactly what we wrote.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from attrs import frozen

from protocol.clock import Clock, now_iso, system_ms
from protocol.errors import LockTimeoutError
from protocol.fsutil import PRIVATE_DIR, encode_text, ensure_private_dir
from protocol.jsonjs import JsonParseError, JsonValue, dumps, loads
from protocol.models import Run

__all__ = ["GUARD_NAME", "LOCK_NAME", "LockOptions", "RunLock", "pid_alive"]

LOCK_NAME = "run.lock"
GUARD_NAME = "run.lock.guard"


@frozen(kw_only=True)
class LockOptions:
    """How to take the run lock: owner text, timeout, how to sleep, the in-process lock."""

    owner: str = "babysit-plugin"
    timeout: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    local: contextlib.AbstractContextManager[Any] | None = None
    #: Called (with the holder's text) when ``run.lock`` is found held by someone else.
    on_contended: Callable[[str], None] | None = None


def pid_alive(pid: object) -> bool:
    """False only when ``pid`` is a positive int and no such process exists (``ESRCH``)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError, OSError):
        return True
    return True


class _Holder:
    """What ``run.lock`` held when we looked."""

    def __init__(self, text: str | None) -> None:
        self.text = text
        self.pid: JsonValue = None
        self.owner: JsonValue = None
        self.acquired_at: JsonValue = None
        self.parsed = False
        if text is None:
            return
        try:
            info = loads(text)
        except JsonParseError:
            return
        if isinstance(info, dict):
            self.parsed = True
            self.pid = info.get("pid")
            self.owner = info.get("owner")
            self.acquired_at = info.get("acquiredAt")


class RunLock:
    """``with RunLock(run, owner): ...`` holds ``<runDir>/run.lock`` for the block.

    ``sleep`` is how to wait between attempts (``gevent.sleep`` under gevent); ``local`` is
    entered before and exited after the file lock. One instance is used by one caller at a
    time.
    """

    def __init__(
        self,
        run: Run | Path | str,
        owner: str,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        local: contextlib.AbstractContextManager[Any] | None = None,
        *,
        poll: float = 0.025,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Clock = system_ms,
        on_contended: Callable[[str], None] | None = None,
    ) -> None:
        self.run_path = Path(run.path if isinstance(run, Run) else os.path.abspath(run))
        self.owner = owner
        self.timeout = timeout
        self.sleep = sleep
        self.local = local
        self.poll = poll
        self.monotonic = monotonic
        self.clock = clock
        self.on_contended = on_contended
        self.lock_path = self.run_path / LOCK_NAME
        self.stale_broken = 0
        self._content: str | None = None
        self._local_entered = False

    @classmethod
    def from_options(cls, run: Run | Path | str, options: LockOptions) -> RunLock:
        """A lock configured by :class:`LockOptions`."""
        return cls(
            run,
            options.owner,
            options.timeout,
            options.sleep,
            options.local,
            on_contended=options.on_contended,
        )

    # -- acquiring ----------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the lock or raise :class:`LockTimeoutError` after ``timeout`` seconds."""
        if self.local is not None:
            self.local.__enter__()
            self._local_entered = True
        try:
            self._acquire_file()
        except BaseException:
            self._exit_local(None, None, None)
            raise

    def _acquire_file(self) -> None:
        deadline = self.monotonic() + self.timeout
        holder: _Holder | None = None
        guard_busy = False
        while True:
            guard_busy = False
            content = self._lock_text()
            if self._create(content):
                self._content = content
                return
            holder = _Holder(self._read())
            if holder.text is None:
                continue  # released between our attempt and the read: retry now
            if self.on_contended is not None:
                self.on_contended(holder.text)
            if holder.parsed and not pid_alive(holder.pid):
                broke, guard_busy = self._break_guarded(holder)
                if broke:
                    continue
            if self.monotonic() >= deadline:
                raise self._timeout_error(holder, guard_busy)
            self.sleep(self.poll)

    def _break_guarded(self, holder: _Holder) -> tuple[bool, bool]:
        """Break a stale lock under the guard: ``(broken, guard_busy)``."""
        # Imported here: only a stale lock needs it, and every post pays for its imports.
        import filelock

        private = ensure_private_dir(self.run_path)
        guard = filelock.FileLock(str(private / GUARD_NAME), thread_local=False)
        try:
            guard.acquire(blocking=False)
        except filelock.Timeout:
            return False, True
        try:
            return self._break(holder), False
        finally:
            guard.release()

    def _lock_text(self) -> str:
        info: JsonValue = {
            "pid": os.getpid(),
            "owner": self.owner,
            "acquiredAt": now_iso(self.clock),
        }
        return dumps(info) + "\n"

    def _create(self, content: str) -> bool:
        tmp = self.run_path / f".{LOCK_NAME}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            try:
                os.write(fd, encode_text(content))
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, self.lock_path)
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                    raise
                return self._create_exclusive(content)
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _create_exclusive(self, content: str) -> bool:
        # Filesystems without hard links: exclusive create, then write (briefly empty).
        try:
            fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return False
        try:
            os.write(fd, encode_text(content))
        finally:
            os.close(fd)
        return True

    def _read(self) -> str | None:
        try:
            return self.lock_path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return None

    def _break(self, holder: _Holder) -> bool:
        if self._read() != holder.text:
            return False
        try:
            os.unlink(self.lock_path)
        except FileNotFoundError:
            return True
        self.stale_broken += 1
        return True

    def _timeout_error(self, holder: _Holder | None, guard_busy: bool) -> LockTimeoutError:
        lock = str(self.lock_path)
        waited = f"{self.timeout:g} s"
        guard_path = self.run_path / PRIVATE_DIR / GUARD_NAME
        if holder is None or guard_busy:
            return LockTimeoutError(
                f"{guard_path}: expected to take the run-lock guard within {waited} to clear "
                "a stale run.lock, found it held by another babysit-plugin process — retry; if "
                f"no babysit-plugin process is running, delete {guard_path}",
                str(guard_path),
            )
        if not holder.parsed:
            return LockTimeoutError(
                f"{lock}: expected to take the run lock within {waited}, found it empty or "
                "not JSON the whole time (a writer that died mid-write?) — if no babysitter "
                f"process is running, delete {lock}",
                lock,
            )
        return LockTimeoutError(
            f"{lock}: expected to take the run lock within {waited}, found it held by pid "
            f"{dumps(holder.pid)} ({dumps(holder.owner)}) since {dumps(holder.acquired_at)} — "
            f"wait for that process to finish and retry; if pid {dumps(holder.pid)} is not a "
            f"babysitter process, delete {lock}",
            lock,
            holder.pid,
            holder.owner,
        )

    # -- releasing ----------------------------------------------------------------------

    def release(self) -> None:
        """Delete ``run.lock`` if it still holds our content, then leave ``local``."""
        try:
            if self._content is not None and self._read() == self._content:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.lock_path)
        finally:
            self._content = None
            self._exit_local(None, None, None)

    def _exit_local(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._local_entered and self.local is not None:
            self._local_entered = False
            self.local.__exit__(exc_type, exc, tb)

    @property
    def held(self) -> bool:
        """True between a successful :meth:`acquire` and :meth:`release`."""
        return self._content is not None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
