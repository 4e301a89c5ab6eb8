"""The one way babysit_plugin runs a child process.

Rules this module keeps:

- Every child runs in its own session, hence its own process group, so that a
  timeout or an interruption can end the child *and everything it started*
  (a harness CLI spawns tools, shells spawn pipelines) with one ``killpg``.
- :func:`run_process` never raises because of the child: a non-zero exit, a
  signal, a timeout, a cancellation and a program that cannot start are all
  reported in the returned :class:`ProcessResult`.  Only bugs raise.
- **Stall watchdog.**  With ``stall_timeout``, a child whose stdout and stderr
  both stay silent that long is ended like a timed-out one.  Silence is
  measured from the log files' modification times (the child writes them
  itself) and, for captured pipes, from the last chunk read; the supervisor
  wakes exactly when the stall would be due, so it costs one ``stat`` per
  stream per wake, not a polling loop.
- Output either goes straight to files (the child writes them itself: memory
  stays flat whatever the size) or is captured in memory up to
  ``capture_limit`` bytes per stream; the rest is drained and dropped.
- Spawning is cheap: on Linux a child is started with the standard library's
  ``subprocess.Popen`` (vfork + exec, no Python code in the child: about 1 ms
  per spawn) and its exit is awaited through a pidfd watched by the gevent hub,
  so hundreds of children run side by side in one thread.  (``gevent.subprocess``
  forks and runs Python in the child: 8-11 ms per spawn with a 30 MB heap,
  serialised, so the 256th of 256 effects started about 2 s after the first.)
  Pipes are read and written with non-blocking fds and the hub.  A greenlet
  killed while it waits still kills and reaps its child before it ends.
- Where ``os.pidfd_open`` is missing or refused (not Linux, old kernels), or
  ``setpriv`` is (see below), the process uses ``gevent.subprocess`` for all
  of its children.  The choice is made once per process: gevent's SIGCHLD
  child watcher reaps with ``waitpid(-1)`` and would steal the exit status of
  children it did not start.
- A child dies with its parent: on Linux, a child started from the main thread
  gets ``PR_SET_PDEATHSIG`` = SIGKILL, so a dispatcher killed with SIGKILL (no
  handler runs) does not leave harness CLIs working for nobody.  (The kernel
  sends it when the *thread* that forked exits, hence main thread only.)  With
  pidfds the command is started through util-linux ``setpriv --pdeathsig KILL
  --``, which sets the flag and execs it (argv[0] is looked up first, so a
  missing program is still a ``start_error``); on the ``gevent.subprocess``
  path a ``preexec_fn`` sets it before the exec.  With setpriv a child whose
  parent dies in the instant after the spawn, before setpriv set the flag,
  survives it, as may what a child started itself: the next dispatch that
  takes the effect over ends those (:func:`babysit_plugin.runloop.claims.kill_orphans`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import signal
import subprocess as std_subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import attrs
import gevent
import gevent.event
import gevent.os
import gevent.socket
from gevent import subprocess

from babysit_plugin.runloop import faults
from babysit_plugin.runloop.store import last_output

#: Default number of bytes kept per captured stream (streams sent to files are
#: not limited here).
CAPTURE_LIMIT = 1024 * 1024

#: Seconds between SIGTERM and SIGKILL when a process group is ended.
KILL_GRACE = 2.0

_READ_CHUNK = 64 * 1024
#: After the leader exits, how long captured pipes may stay open (held by a
#: background grandchild) before they are abandoned.
_DRAIN_AFTER_EXIT = 0.5


_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def _die_with_parent_hook() -> Any:
    """A ``preexec_fn`` giving the child PDEATHSIG=SIGKILL, or None where that is unsafe."""
    if _PRCTL is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def die_with_parent() -> None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the flag was set
            os.kill(os.getpid(), signal.SIGKILL)

    return die_with_parent


class _Spawner:
    """How this process starts children; decided once, on first use."""

    decided = False
    #: True: stdlib Popen + pidfd + setpriv; False: gevent.subprocess (never
    #: both in one process).
    pidfd = False
    #: Absolute path of a ``setpriv`` that knows ``--pdeathsig``, or None.
    setpriv: str | None = None


_SPAWNER = _Spawner()


def _pidfd_works() -> bool:
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return False
    try:
        fd = pidfd_open(os.getpid())
    except OSError:
        return False
    os.close(fd)
    return True


def _find_setpriv() -> str | None:
    if not sys.platform.startswith("linux"):
        return None
    path = shutil.which("setpriv")
    if path is None:
        return None
    try:  # util-linux before 2.33 has no --pdeathsig
        done = std_subprocess.run(
            [path, "--pdeathsig", "KILL", "--", "true"],
            stdin=std_subprocess.DEVNULL,
            stdout=std_subprocess.DEVNULL,
            stderr=std_subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
    except (OSError, std_subprocess.SubprocessError):
        return None
    return path if done.returncode == 0 else None


def _spawner() -> _Spawner:
    if not _SPAWNER.decided:
        if _pidfd_works():
            _SPAWNER.setpriv = _find_setpriv()
            # Without setpriv the child would need a preexec_fn to die with us.
            _SPAWNER.pidfd = _SPAWNER.setpriv is not None or _PRCTL is None
        _SPAWNER.decided = True
    return _SPAWNER


@attrs.frozen
class ProcessResult:
    """What happened to one child process.

    ``exit_code`` is the child's exit status, or ``None`` when it did not exit
    by itself (never started, or ended by a signal: see ``signal``).
    ``stdout``/``stderr`` hold captured bytes when the stream was captured,
    else ``None``; ``stdout_path``/``stderr_path`` name the files when the
    stream was sent to a file.  Times are wall-clock epoch seconds; ``duration``
    is measured on the monotonic clock.
    """

    argv: tuple[str, ...]
    exit_code: int | None
    signal: int | None = None
    stdout: bytes | None = None
    stderr: bytes | None = None
    stdout_path: Path | None = None
    stderr_path: Path | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    started_at: float = 0.0
    finished_at: float = 0.0
    duration: float = 0.0
    timed_out: bool = False
    stalled: bool = False
    cancelled: bool = False
    start_error: str | None = None
    pid: int | None = None

    @property
    def ok(self) -> bool:
        """True when the child exited by itself with status 0."""
        return (
            self.exit_code == 0 and not self.timed_out and not self.stalled and not self.cancelled
        )

    def describe_end(self) -> str:
        """A short phrase saying how the child ended ("exited with code 2")."""
        if self.start_error is not None:
            return f"could not start: {self.start_error}"
        if self.timed_out:
            return "timed out"
        if self.stalled:
            return "produced no output for too long"
        if self.cancelled:
            return "was interrupted"
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = str(self.signal)
            return f"was killed by signal {name}"
        return f"exited with code {self.exit_code}"


class _Capture:
    """Reads one pipe to EOF, keeping at most ``limit`` bytes."""

    def __init__(self, stream: IO[bytes], limit: int, *, nonblocking: bool = False) -> None:
        self._stream = stream
        self._read: Callable[[int], bytes] = stream.read
        if nonblocking:
            fd = stream.fileno()
            os.set_blocking(fd, False)
            self._read = lambda n: gevent.os.nb_read(fd, n)
        self._limit = limit
        self._chunks: list[bytes] = []
        self._kept = 0
        self.truncated = False
        #: Wall-clock time of the last chunk read (0: nothing yet).
        self.last_read = 0.0
        self.greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        while True:
            try:
                chunk = self._read(_READ_CHUNK)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            self.last_read = time.time()
            room = self._limit - self._kept
            if room > 0:
                kept = chunk[:room]
                self._chunks.append(kept)
                self._kept += len(kept)
            if len(chunk) > max(room, 0):
                self.truncated = True

    def value(self) -> bytes:
        return b"".join(self._chunks)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.close()


def _write_stdin(stream: IO[bytes], data: bytes) -> None:
    # A child that exits without reading its input is not an error.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError, ValueError):
        stream.write(data)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError, ValueError):
        stream.close()


def _write_stdin_nonblocking(stream: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError, ValueError):
        fd = stream.fileno()
        os.set_blocking(fd, False)
        view = memoryview(data)
        while view:
            view = view[gevent.os.nb_write(fd, view) :]
    with contextlib.suppress(OSError, ValueError):
        stream.close()


def _wait_exit(proc: std_subprocess.Popen[bytes]) -> int:
    """Wait cooperatively for a stdlib child to exit (its pidfd turns readable), then reap it."""
    try:
        fd = os.pidfd_open(proc.pid)
    except OSError:  # out of fds, say: poll instead
        delay = 0.005
        while proc.poll() is None:
            gevent.sleep(delay)
            delay = min(delay * 2, 0.1)
        return proc.returncode
    try:
        gevent.socket.wait_read(fd)
    finally:
        os.close(fd)
    return proc.wait()


def _group_members(pgid: int) -> list[int]:
    """Pids of live (non-zombie) processes in process group ``pgid``."""
    members: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        entries = []
    if not entries:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ..." where comm may contain spaces and ")".
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) < 3:
            continue
        state, pgrp = fields[0], fields[2]
        if state in (b"Z", b"X"):
            continue
        if int(pgrp) == pgid:
            members.append(int(entry))
    return members


def group_alive(pgid: int) -> bool:
    """True while any non-zombie process of process group ``pgid`` exists."""
    return bool(_group_members(pgid))


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def kill_group(pgid: int, grace: float = KILL_GRACE) -> None:
    """End process group ``pgid``: SIGTERM, then SIGKILL after ``grace`` seconds.

    Cooperative: waits with ``gevent.sleep`` so other greenlets keep running.
    """
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    delay = 0.005
    while group_alive(pgid):
        if time.monotonic() >= deadline:
            _signal_group(pgid, signal.SIGKILL)
            break
        gevent.sleep(delay)
        delay = min(delay * 2, 0.05)
    # SIGKILL cannot be caught; wait (bounded) for the kernel to finish the job.
    deadline = time.monotonic() + 5.0
    while group_alive(pgid) and time.monotonic() < deadline:
        _signal_group(pgid, signal.SIGKILL)
        gevent.sleep(0.01)


def _open_sink(path: Path | None) -> IO[bytes] | None:
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    # Handed to the child; closed by the caller once the child has it.
    return open(path, "wb")


def _resolve(argv0: str, cwd: Path | str | None, env: Mapping[str, str] | None) -> str | None:
    """Where the child's exec would find ``argv0`` (its PATH, its cwd), or None."""
    if os.sep in argv0:
        if cwd is not None:
            argv0 = os.path.join(os.fspath(cwd), argv0)
        return shutil.which(argv0)
    return shutil.which(argv0, path=os.pathsep.join(os.get_exec_path(env)))


def _start_error_text(exc: OSError, argv: Sequence[str], cwd: Path | str | None) -> str:
    reason = exc.strerror or type(exc).__name__
    if cwd is not None and exc.filename is not None and str(exc.filename) == str(cwd):
        return f"working directory {cwd}: {reason}"
    if exc.errno == errno.ENOENT:
        return f"{argv[0]}: executable not found"
    return f"{argv[0]}: {reason}"


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    timeout: float | None = None,
    stdout_path: Path | None = None,
    stderr_path: Path | None = None,
    capture_limit: int = CAPTURE_LIMIT,
    cancel: gevent.event.Event | None = None,
    kill_grace: float = KILL_GRACE,
    stall_timeout: float | None = None,
) -> ProcessResult:
    """Run ``argv`` to completion in its own process group and report how it went.

    ``input`` is written to the child's stdin (which is otherwise /dev/null).
    A stream with a path is written by the child straight to that file;
    without one it is captured, keeping at most ``capture_limit`` bytes.  When
    ``timeout`` seconds pass, or ``cancel`` is set, the whole process group is
    ended (SIGTERM, SIGKILL after ``kill_grace`` s) and the result says so.
    With ``stall_timeout``, a child whose stdout and stderr both stay silent
    that long (see :func:`last_output`) is ended the same way (``stalled``).
    Never raises for anything the child does.
    """
    argv_t = tuple(argv)
    started_at = time.time()
    t0 = time.monotonic()
    if not argv_t:
        return ProcessResult(
            argv_t, None, start_error="empty command", started_at=started_at, finished_at=started_at
        )
    out_sink = err_sink = None
    try:
        out_sink = _open_sink(stdout_path)
        err_sink = _open_sink(stderr_path)
        popen_kwargs: dict[str, Any] = {
            "cwd": None if cwd is None else os.fspath(cwd),
            "env": None if env is None else dict(env),
            "stdin": subprocess.DEVNULL if input is None else subprocess.PIPE,
            "stdout": out_sink if out_sink is not None else subprocess.PIPE,
            "stderr": err_sink if err_sink is not None else subprocess.PIPE,
            "start_new_session": True,
            "close_fds": True,
        }
        spawner = _spawner()
        try:
            if spawner.pidfd:
                proc: Any = _spawn_std(argv_t, spawner, cwd, env, popen_kwargs)
                faults.point("child:spawned")
            else:
                proc = subprocess.Popen(
                    list(argv_t), preexec_fn=_die_with_parent_hook(), **popen_kwargs
                )
        except OSError as exc:
            now = time.time()
            return ProcessResult(
                argv_t,
                None,
                stdout_path=stdout_path,
                stderr_path=stderr_path,
                started_at=started_at,
                finished_at=now,
                duration=time.monotonic() - t0,
                start_error=_start_error_text(exc, argv_t, cwd),
            )
    finally:
        for sink in (out_sink, err_sink):
            if sink is not None:
                sink.close()

    return _supervise(
        proc,
        argv_t,
        nonblocking=spawner.pidfd,
        started_at=started_at,
        t0=t0,
        input=input,
        timeout=timeout,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
        capture_limit=capture_limit,
        cancel=cancel,
        kill_grace=kill_grace,
        stall_timeout=stall_timeout,
    )


def _spawn_std(
    argv: tuple[str, ...],
    spawner: _Spawner,
    cwd: Path | str | None,
    env: Mapping[str, str] | None,
    popen_kwargs: dict[str, Any],
) -> std_subprocess.Popen[bytes]:
    """Start ``argv`` with the stdlib (vfork when nothing runs in the child)."""
    command = list(argv)
    # PDEATHSIG follows the forking thread: main thread only.  An argv[0] exec
    # cannot find is left to Popen, which raises as usual (through setpriv it
    # would be an exit status 127).
    if (
        spawner.setpriv is not None
        and threading.current_thread() is threading.main_thread()
        and _resolve(argv[0], cwd, env) is not None
    ):
        command = [spawner.setpriv, "--pdeathsig", "KILL", "--", *command]
    return std_subprocess.Popen(command, bufsize=0, **popen_kwargs)


def _supervise(
    proc: Any,
    argv: tuple[str, ...],
    *,
    nonblocking: bool,
    started_at: float,
    t0: float,
    input: bytes | None,
    timeout: float | None,
    stdout_path: Path | None,
    stderr_path: Path | None,
    capture_limit: int,
    cancel: gevent.event.Event | None,
    kill_grace: float,
    stall_timeout: float | None,
) -> ProcessResult:
    pgid = proc.pid
    helpers: list[gevent.Greenlet[Any, Any]] = []
    out_cap = err_cap = None
    if proc.stdin is not None:
        write = _write_stdin_nonblocking if nonblocking else _write_stdin
        helpers.append(gevent.spawn(write, proc.stdin, input or b""))
    if proc.stdout is not None:
        out_cap = _Capture(proc.stdout, capture_limit, nonblocking=nonblocking)
    if proc.stderr is not None:
        err_cap = _Capture(proc.stderr, capture_limit, nonblocking=nonblocking)
    waiter = gevent.spawn(_wait_exit, proc) if nonblocking else gevent.spawn(proc.wait)
    timed_out = cancelled = stalled = False

    def silent_since() -> float:
        caps = [c.last_read for c in (out_cap, err_cap) if c is not None]
        return max(last_output((stdout_path, stderr_path), started_at), *caps, 0.0)

    try:
        watched: list[Any] = [waiter]
        if cancel is not None:
            watched.append(cancel)
        deadline = None if timeout is None else t0 + timeout
        while True:
            wait: float | None = None if deadline is None else deadline - time.monotonic()
            if stall_timeout is not None:
                # Wake when the child would have been silent that long, unless it writes.
                due = silent_since() + stall_timeout - time.time()
                wait = due if wait is None else min(wait, due)
            gevent.wait(watched, timeout=None if wait is None else max(wait, 0.0), count=1)
            if waiter.ready() or (cancel is not None and cancel.is_set()):
                break
            if deadline is not None and time.monotonic() >= deadline:
                timed_out = True
                break
            if stall_timeout is not None and time.time() - silent_since() >= stall_timeout:
                stalled = True
                break
        if not waiter.ready():
            if cancel is not None and cancel.is_set() and not (timed_out or stalled):
                cancelled = True
            kill_group(pgid, kill_grace)
            waiter.join()
        caps = [c for c in (out_cap, err_cap) if c is not None]
        if caps:
            gevent.joinall([c.greenlet for c in caps], timeout=_DRAIN_AFTER_EXIT)
    finally:
        if not waiter.ready():
            # The calling greenlet was killed (or a bug raised): never leave the
            # child behind.
            kill_group(pgid, kill_grace)
            waiter.join()
        # Readers and the writer end before their fds close (a raw fd must not
        # be closed under a greenlet waiting on it).
        caps = [c for c in (out_cap, err_cap) if c is not None]
        gevent.killall([c.greenlet for c in caps] + helpers, block=nonblocking)
        for cap in caps:
            cap.close()
        if proc.stdin is not None:  # the writer may have been stopped mid-way
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.close()
    code = proc.returncode
    sig = -code if code is not None and code < 0 else None
    return ProcessResult(
        argv,
        None if sig is not None else code,
        signal=sig,
        stdout=None if out_cap is None else out_cap.value(),
        stderr=None if err_cap is None else err_cap.value(),
        stdout_path=stdout_path,
        stderr_path=stderr_path,
        stdout_truncated=False if out_cap is None else out_cap.truncated,
        stderr_truncated=False if err_cap is None else err_cap.truncated,
        started_at=started_at,
        finished_at=time.time(),
        duration=time.monotonic() - t0,
        timed_out=timed_out,
        stalled=stalled,
        cancelled=cancelled,
        pid=proc.pid,
    )
