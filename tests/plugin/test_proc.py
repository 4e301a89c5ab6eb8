"""The one subprocess helper: results, timeouts, cancellation, process groups, output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import gevent
import gevent.event
import pytest

from babysit_plugin.runloop import proc
from babysit_plugin.runloop.proc import ProcessResult, group_alive, run_process


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


def test_argv_is_reported_as_given_and_relative_paths_follow_cwd(tmp_path: Path) -> None:
    """``./prog`` runs from ``cwd``; the result's argv is the command as given."""
    prog = tmp_path / "prog"
    prog.write_text('#!/bin/sh\necho "$0 $1"\n')
    prog.chmod(0o755)
    result = run_process(["./prog", "x"], cwd=tmp_path)
    assert result.ok
    assert result.argv == ("./prog", "x")
    assert result.stdout == b"./prog x\n"


def test_missing_relative_program_and_unexecutable_file_are_start_errors(
    tmp_path: Path,
) -> None:
    """A missing ``./prog`` is not found; a file without the x bit is refused."""
    missing = run_process(["./nope"], cwd=tmp_path)
    assert missing.start_error == "./nope: executable not found"
    (tmp_path / "plain").write_text("echo hi\n")
    refused = run_process(["./plain"], cwd=tmp_path)
    assert refused.start_error == "./plain: Permission denied"


def test_program_is_looked_up_in_the_childs_path(tmp_path: Path) -> None:
    """A program found only on ``env``'s PATH starts (and is missing without it)."""
    prog = tmp_path / "only-here-babysit"
    prog.write_text("#!/bin/sh\necho found\n")
    prog.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}"}
    assert run_process(["only-here-babysit"], env=env).stdout == b"found\n"
    assert run_process(["only-here-babysit"]).start_error == (
        "only-here-babysit: executable not found"
    )


@pytest.mark.skipif(
    not proc._spawner().pidfd, reason="gevent.subprocess waits for children only in the main thread"
)
def test_child_started_from_another_thread_runs() -> None:
    """From a non-main thread (its own hub) a child runs and is reaped normally."""
    box: list[ProcessResult] = []
    thread = threading.Thread(target=lambda: box.append(run_process(["sh", "-c", "exit 4"])))
    thread.start()
    thread.join(timeout=10)
    assert [r.exit_code for r in box] == [4]
    assert box[0].argv == ("sh", "-c", "exit 4")


def test_child_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    """SIGKILL of the process that ran run_process kills the child too (PDEATHSIG)."""
    pidfile = tmp_path / "child.pid"
    code = (
        "from babysit_plugin.runloop.proc import run_process\n"
        f"run_process(['sh', '-c', 'echo $$ > {pidfile}; exec sleep 60'])\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        child = int(_wait_for_file(pidfile))
        assert _pid_alive(child)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 5
    while _pid_alive(child) and time.monotonic() < deadline:
        gevent.sleep(0.01)
    assert not _pid_alive(child)
