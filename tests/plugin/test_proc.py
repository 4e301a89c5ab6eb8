"""The one subprocess helper: results, timeouts, cancellation, process groups, output."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import gevent
import gevent.event

from babysit_plugin.proc import group_alive, run_process


def _wait_for_file(path: Path, timeout: float = 10.0) -> str:
    """Block (cooperatively) until a child has written ``path``; return its text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        gevent.sleep(0.005)
    raise AssertionError(f"{path} never appeared")


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


def test_exit_code_and_output_are_reported() -> None:
    """A non-zero exit is a result, with both streams captured."""
    result = run_process(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert result.exit_code == 3
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"
    assert not result.ok
    assert result.describe_end() == "exited with code 3"
    assert result.duration >= 0
    assert result.finished_at >= result.started_at


def test_missing_executable_is_a_result() -> None:
    """A program that is not installed gives start_error, not an exception."""
    result = run_process(["no-such-program-babysit"])
    assert result.exit_code is None
    assert result.start_error == "no-such-program-babysit: executable not found"
    assert result.describe_end() == (
        "could not start: no-such-program-babysit: executable not found"
    )


def test_missing_working_directory_is_named(tmp_path: Path) -> None:
    """A missing cwd is reported as the working directory, not as the program."""
    missing = tmp_path / "nowhere"
    result = run_process(["true"], cwd=missing)
    assert result.start_error == f"working directory {missing}: No such file or directory"


def test_stdin_input_reaches_the_child() -> None:
    """``input`` is written to the child's stdin, then closed."""
    result = run_process(["cat"], input=b"hello\nworld")
    assert result.stdout == b"hello\nworld"


def test_stdin_is_devnull_without_input() -> None:
    """Without input the child reads EOF at once instead of hanging."""
    result = run_process(["cat"], timeout=5)
    assert result.ok
    assert result.stdout == b""


def test_capture_keeps_at_most_the_limit() -> None:
    """Captured output beyond the limit is drained and dropped, and says so."""
    result = run_process(
        [sys.executable, "-c", "import sys; sys.stdout.write('x' * 300000)"], capture_limit=1000
    )
    assert result.ok
    assert result.stdout == b"x" * 1000
    assert result.stdout_truncated
    assert not result.stderr_truncated


def test_streams_go_to_files(tmp_path: Path) -> None:
    """With paths the child writes straight to files (nothing held in memory)."""
    out, err = tmp_path / "logs" / "stdout.log", tmp_path / "logs" / "stderr.log"
    code = "import sys; sys.stdout.write('y' * 5_000_000); sys.stderr.write('e')"
    result = run_process([sys.executable, "-c", code], stdout_path=out, stderr_path=err)
    assert result.ok
    assert result.stdout is None
    assert result.stderr is None
    assert result.stdout_path == out
    assert out.stat().st_size == 5_000_000
    assert err.read_text() == "e"


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    """On timeout the child and its background grandchild are both gone."""
    pidfile = tmp_path / "grandchild.pid"
    script = f"sleep 60 & echo $! > {pidfile}; wait"
    result = run_process(["sh", "-c", script], timeout=0.5)
    assert result.timed_out
    assert result.describe_end() == "timed out"
    assert result.signal == signal.SIGTERM
    grandchild = int(pidfile.read_text())
    assert not _pid_alive(grandchild)
    assert result.pid is not None
    assert not group_alive(result.pid)


def test_sigterm_ignoring_child_is_killed_after_grace(tmp_path: Path) -> None:
    """A child that ignores SIGTERM gets SIGKILL once the grace period is over."""
    ready = tmp_path / "ready"
    script = f"trap '' TERM; echo up > {ready}; while :; do sleep 0.05; done"
    t0 = time.monotonic()
    result = run_process(["sh", "-c", script], timeout=0.3, kill_grace=0.3)
    elapsed = time.monotonic() - t0
    assert ready.exists()
    assert result.timed_out
    assert result.signal == signal.SIGKILL
    assert 0.55 <= elapsed < 5
    assert result.pid is not None
    assert not group_alive(result.pid)


def test_cancel_event_kills_the_group(tmp_path: Path) -> None:
    """Setting the cancel event ends the child's group and marks the result cancelled."""
    started = tmp_path / "started"
    cancel = gevent.event.Event()
    job = gevent.spawn(run_process, ["sh", "-c", f"echo $$ > {started}; sleep 60"], cancel=cancel)
    pid = int(_wait_for_file(started))
    cancel.set()
    result = job.get(timeout=10)
    assert result.cancelled
    assert not result.timed_out
    assert not result.ok
    assert result.describe_end() == "was interrupted"
    assert not _pid_alive(pid)
    assert not group_alive(pid)


def test_killed_greenlet_does_not_leave_its_child(tmp_path: Path) -> None:
    """Killing the waiting greenlet still kills and reaps the child."""
    started = tmp_path / "started"
    job = gevent.spawn(run_process, ["sh", "-c", f"echo $$ > {started}; sleep 60"])
    pid = int(_wait_for_file(started))
    job.kill(block=True, timeout=10)
    assert job.dead
    assert not _pid_alive(pid)
    assert not group_alive(pid)


def test_child_runs_in_its_own_process_group(tmp_path: Path) -> None:
    """The child's process group is its own pid, not ours."""
    result = run_process(["sh", "-c", "ps -o pgid= -p $$"])
    assert result.pid is not None
    assert int(result.stdout or b"0") == result.pid
    assert result.pid != os.getpgrp()


def test_children_run_concurrently() -> None:
    """Sixteen one-second children in greenlets finish in well under two seconds."""
    t0 = time.monotonic()
    jobs = [gevent.spawn(run_process, ["sleep", "1"]) for _ in range(16)]
    gevent.joinall(jobs, raise_error=True)
    elapsed = time.monotonic() - t0
    assert all(j.value.ok for j in jobs)
    assert elapsed < 1.9
