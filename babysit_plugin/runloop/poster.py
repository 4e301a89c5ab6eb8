"""Group commit: prepared results committed in batches under one hold of the run lock."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import gevent
import gevent.event
import gevent.threadpool

from protocol.errors import ProtocolError
from protocol.fsutil import fsync_dir
from protocol.lock import LockOptions
from protocol.models import PostReceipt, Run
from protocol.results import PreparedResult, commit_results, fsync_dirs

_T = TypeVar("_T")

#: Threads fsyncing the directories of one commit.
_SYNC_THREADS = 8


def in_thread(
    pool: gevent.threadpool.ThreadPool, fn: Callable[..., _T], *args: Any, **kwargs: Any
) -> _T:
    """``fn(*args, **kwargs)`` in a thread of ``pool``; this greenlet waits, the loop runs."""

    def call() -> tuple[bool, Any]:
        # Errors travel back as values: the pool would print them as crashes.
        try:
            return True, fn(*args, **kwargs)
        except Exception as exc:
            return False, exc

    ok, value = pool.spawn(call).get()
    if not ok:
        raise value
    result: _T = value
    return result


_SYNC_POOL: list[concurrent.futures.ThreadPoolExecutor] = []


def _sync_dirs(directories: Sequence[Path]) -> None:
    """fsync the directories a commit renamed results into, several at once.

    Called in a worker thread while the run lock is held: the first fsync commits the
    filesystem's journal, the others mostly wait on it, so in parallel the lock is held
    for about one fsync instead of one per effect.
    """
    if len(directories) < 2:
        fsync_dirs(directories)
        return
    if not _SYNC_POOL:
        _SYNC_POOL.append(
            concurrent.futures.ThreadPoolExecutor(_SYNC_THREADS, thread_name_prefix="fsync")
        )
    for _ in _SYNC_POOL[0].map(fsync_dir, directories):
        pass


#: While another process uses the run lock, commits are at least this far apart (the SDK
#: retries its lock every 250 ms) ...
CONTENDED_GAP = 0.5
#: ... for this long after the last time the lock was found held by someone else.
CONTENDED_FOR = 5.0


class Poster:
    """Commits prepared results in batches: whatever is queued when it wakes, one lock hold.

    :meth:`commit` queues a result and waits for its receipt (or refusal).  The
    poster greenlet runs while the queue is not empty: each round takes the
    whole queue and commits it in one :func:`protocol.commit_results` call in
    its own thread (never queued behind the file work of effects in the shared
    pool), while results arriving meanwhile queue for the next round.
    """

    def __init__(self, run: Run, lock_options: Callable[[], LockOptions]) -> None:
        self.run = run
        self.lock_options = lock_options
        self.queue: list[tuple[PreparedResult, gevent.event.AsyncResult]] = []
        # True from the spawn of the poster greenlet until it finds the queue empty (set
        # back with no switch in between, so nothing queued can be left behind).
        self.running = False
        self.thread: gevent.threadpool.ThreadPool | None = None
        #: Size of every batch committed (for tests and diagnostics).
        self.batches: list[int] = []
        # Until this monotonic instant, commits are spaced by CONTENDED_GAP (see below).
        self.contended_until = 0.0
        self.last_commit_end = 0.0

    def contended(self, holder: str) -> None:
        """``run.lock`` was found held by another process (an SDK command, another dispatch).

        The SDK's lock fails its command when the lock vanishes between its failed create and
        its read of the holder (``storage/lock.js`` reads the file after ``EEXIST`` and does
        not retry on ``ENOENT``), so each release of ours while an SDK command waits is a
        small risk for that command. While others are active, releases are made rarer:
        commits are spaced by :data:`CONTENDED_GAP` for :data:`CONTENDED_FOR` seconds.
        Called from the commit thread; only sets a number.
        """
        self.contended_until = time.monotonic() + CONTENDED_FOR

    def commit(self, prepared: PreparedResult) -> PostReceipt | ProtocolError:
        """Queue ``prepared`` and wait for its commit; errors of the whole batch raise."""
        waiter = gevent.event.AsyncResult()
        self.queue.append((prepared, waiter))
        if not self.running:
            self.running = True
            gevent.spawn(self._run)
        outcome: PostReceipt | ProtocolError = waiter.get()
        return outcome

    def close(self) -> None:
        """End the commit thread (the poster is idle once every effect has finished)."""
        if self.thread is not None:
            self.thread.kill()
            self.thread = None

    def _run(self) -> None:
        try:
            self._commit_all()
        finally:
            self.running = False

    def _commit_all(self) -> None:
        if self.thread is None:
            self.thread = gevent.threadpool.ThreadPool(1)
        thread = self.thread
        while self.queue:
            if time.monotonic() < self.contended_until:
                gevent.sleep(max(0.0, self.last_commit_end + CONTENDED_GAP - time.monotonic()))
            batch, self.queue = self.queue, []
            self.batches.append(len(batch))
            try:
                outcomes = in_thread(
                    thread,
                    commit_results,
                    self.run,
                    [p for p, _ in batch],
                    lock=self.lock_options(),
                    sync_dirs=_sync_dirs,
                )
            except Exception as exc:
                for _, waiter in batch:
                    waiter.set_exception(exc)
                continue
            except BaseException as exc:
                # Killed: nobody may wait forever for a commit that will not come.
                for _, waiter in batch + self.queue:
                    waiter.set_exception(exc)
                self.queue = []
                raise
            finally:
                self.last_commit_end = time.monotonic()
            for (_, waiter), outcome in zip(batch, outcomes, strict=True):
                waiter.set(outcome)
