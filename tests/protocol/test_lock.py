"""RunLock is compatible with the SDK's run.lock, exclusive across processes and threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock
import pytest

from protocol import LockTimeoutError, RunLock
from protocol.lock import pid_alive

REPO = Path(__file__).resolve().parents[2]


class FakeTime:
    """A monotonic clock that only moves when slept on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


def _lock(run: Path, t: FakeTime, timeout: float = 1.0) -> RunLock:
    return RunLock(run, "test", timeout, t.sleep, monotonic=t.monotonic)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _sdk_lock(pid: object, owner: str = "runtime:orchestrateIteration") -> str:
    info = {"pid": pid, "owner": owner, "acquiredAt": "2026-01-01T00:00:00.000Z"}
    return json.dumps(info, indent=2) + "\n"


def test_lock_file_content_and_release(tmp_path: Path) -> None:
    """run.lock holds {pid, owner, acquiredAt} as JSON.stringify(.., null, 2) and goes away."""
    lock = RunLock(tmp_path, "babysit-plugin:post", clock=lambda: 1_767_225_600_123)
    with lock:
        text = (tmp_path / "run.lock").read_text()
        assert text == (
            "{\n"
            f'  "pid": {os.getpid()},\n'
            '  "owner": "babysit-plugin:post",\n'
            '  "acquiredAt": "2026-01-01T00:00:00.123Z"\n'
            "}\n"
        )
        assert lock.held
    assert not (tmp_path / "run.lock").exists()
    assert not lock.held
    assert os.listdir(tmp_path) == []


def test_live_holder_times_out_with_holder_named(tmp_path: Path) -> None:
    """A lock of a live process is waited on, then LockTimeoutError names pid, owner and fix."""
    holder = os.getppid()
    (tmp_path / "run.lock").write_text(_sdk_lock(holder))
    t = FakeTime()
    with pytest.raises(LockTimeoutError) as info:
        _lock(tmp_path, t, timeout=0.5).acquire()
    lock = tmp_path / "run.lock"
    assert str(info.value) == (
        f"{lock}: expected to take the run lock within 0.5 s, found it held by pid {holder} "
        '("runtime:orchestrateIteration") since "2026-01-01T00:00:00.000Z" — wait for that '
        f"process to finish and retry; if pid {holder} is not a babysitter process, delete "
        f"{lock}"
    )
    assert info.value.path == str(lock)
    assert info.value.holder_pid == holder
    assert info.value.holder_owner == "runtime:orchestrateIteration"
    assert isinstance(info.value, TimeoutError)
    assert t.sleeps >= 10
    assert lock.read_text() == _sdk_lock(holder)


def test_stale_lock_of_dead_pid_is_broken(tmp_path: Path) -> None:
    """A lock whose pid no longer exists is deleted and taken, as the SDK does."""
    dead = _dead_pid()
    assert not pid_alive(dead)
    (tmp_path / "run.lock").write_text(_sdk_lock(dead))
    t = FakeTime()
    lock = _lock(tmp_path, t)
    with lock:
        assert json.loads((tmp_path / "run.lock").read_text())["pid"] == os.getpid()
    assert lock.stale_broken == 1
    assert t.sleeps == 0
    assert (tmp_path / ".babysit-plugin" / ".gitignore").read_text() == "*\n"
    assert sorted(os.listdir(tmp_path / ".babysit-plugin")) == [".gitignore", "run.lock.guard"]


def test_empty_lock_is_waited_on_not_broken(tmp_path: Path) -> None:
    """An empty run.lock (an SDK writer between create and write) is held, never broken."""
    lock_path = tmp_path / "run.lock"
    lock_path.write_text("")
    t = FakeTime()
    with pytest.raises(LockTimeoutError) as info:
        _lock(tmp_path, t, timeout=0.2).acquire()
    assert str(info.value) == (
        f"{lock_path}: expected to take the run lock within 0.2 s, found it empty or not JSON "
        "the whole time (a writer that died mid-write?) — if no babysitter process is "
        f"running, delete {lock_path}"
    )
    assert lock_path.read_text() == ""
    assert os.listdir(tmp_path) == ["run.lock"]


def test_partial_lock_then_release_is_acquired(tmp_path: Path) -> None:
    """A half-written lock is waited for; once its writer releases it, we take it."""
    lock_path = tmp_path / "run.lock"
    lock_path.write_text('{"pid": ')
    t = FakeTime()

    def sleep(seconds: float) -> None:
        t.sleep(seconds)
        if t.sleeps == 3:
            lock_path.unlink()

    with RunLock(tmp_path, "test", 5.0, sleep, monotonic=t.monotonic) as lock:
        assert lock.held
    assert t.sleeps == 3


@pytest.mark.parametrize("pid", ["123", None, -1, 0, True])
def test_unusable_pid_is_held_not_broken(tmp_path: Path, pid: object) -> None:
    """A pid that is not a positive integer cannot be checked, so the lock is held."""
    (tmp_path / "run.lock").write_text(_sdk_lock(pid))
    with pytest.raises(LockTimeoutError):
        _lock(tmp_path, FakeTime(), timeout=0.1).acquire()
    assert (tmp_path / "run.lock").exists()


def test_guard_held_by_another_plugin_process(tmp_path: Path) -> None:
    """A stale lock is broken only under the guard: while another plugin process holds it,
    we wait and then name the guard."""
    guard_path = tmp_path / ".babysit-plugin" / "run.lock.guard"
    guard_path.parent.mkdir()
    (tmp_path / "run.lock").write_text(_sdk_lock(_dead_pid()))
    other = filelock.FileLock(str(guard_path), thread_local=False)
    other.acquire()
    try:
        t = FakeTime()
        with pytest.raises(LockTimeoutError) as info:
            _lock(tmp_path, t, timeout=0.3).acquire()
    finally:
        other.release()
    assert str(info.value) == (
        f"{guard_path}: expected to take the run-lock guard within 0.3 s to clear a stale "
        "run.lock, found it held by another babysit-plugin process — retry; if no "
        f"babysit-plugin process is running, delete {guard_path}"
    )
    assert (tmp_path / "run.lock").exists()


def test_local_is_entered_first_and_exited_last(tmp_path: Path) -> None:
    """The in-process lock wraps the file lock: entered before it, left after it."""
    events: list[str] = []

    @contextmanager
    def local() -> Iterator[None]:
        events.append(f"enter lock={(tmp_path / 'run.lock').exists()}")
        yield
        events.append(f"exit lock={(tmp_path / 'run.lock').exists()}")

    with RunLock(tmp_path, "test", local=local()):
        events.append("body")
    assert events == ["enter lock=False", "body", "exit lock=False"]


def test_local_is_left_when_acquire_fails(tmp_path: Path) -> None:
    """A timed-out acquire leaves the in-process lock too."""
    (tmp_path / "run.lock").write_text(_sdk_lock(os.getppid()))
    local = threading.Lock()
    t = FakeTime()
    with pytest.raises(LockTimeoutError):
        RunLock(tmp_path, "t", 0.1, t.sleep, local, monotonic=t.monotonic).acquire()
    assert not local.locked()
    assert os.listdir(tmp_path) == ["run.lock"]


def test_release_keeps_a_lock_that_is_not_ours(tmp_path: Path) -> None:
    """If run.lock was replaced while we held it, release leaves the other one alone."""
    lock = RunLock(tmp_path, "test")
    lock.acquire()
    (tmp_path / "run.lock").write_text(_sdk_lock(os.getppid()))
    lock.release()
    assert (tmp_path / "run.lock").read_text() == _sdk_lock(os.getppid())


_WORKER = """
import os, sys
sys.path.insert(0, {repo!r})
from protocol import RunLock
run, log, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(rounds):
    with RunLock(run, "worker-%d" % os.getpid(), timeout=30):
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, b"enter %d\\n" % os.getpid())
        counter = os.path.join(run, "counter")
        value = int(open(counter).read()) if os.path.exists(counter) else 0
        with open(counter, "w") as f:
            f.write(str(value + 1))
        os.write(fd, b"exit %d\\n" % os.getpid())
        os.close(fd)
"""


def _check_log(lines: list[str]) -> None:
    assert len(lines) % 2 == 0
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):
        assert enter.startswith("enter ")
        assert leave == "exit " + enter.split()[1]


def test_two_processes_never_hold_it_together(tmp_path: Path) -> None:
    """Two processes taking the lock in a loop never overlap and lose no update."""
    log = tmp_path / "log"
    script = _WORKER.format(repo=str(REPO))
    rounds = 40
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(log), str(rounds)])
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    lines = log.read_text().splitlines()
    _check_log(lines)
    assert len(lines) == 2 * 2 * rounds
    assert (tmp_path / "counter").read_text() == str(2 * rounds)
    assert len({line.split()[1] for line in lines}) == 2
    assert not (tmp_path / "run.lock").exists()


def test_two_threads_never_hold_it_together(tmp_path: Path) -> None:
    """Threads of one process exclude each other through run.lock as well."""
    order: list[str] = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for _ in range(30):
                with RunLock(tmp_path, name, timeout=30):
                    order.append(f"enter {name}")
                    order.append(f"exit {name}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    _check_log(order)
    assert len(order) == 120


def test_two_processes_break_one_stale_lock_once(tmp_path: Path) -> None:
    """Processes racing for a stale lock break it once and then take turns."""
    (tmp_path / "run.lock").write_text(_sdk_lock(_dead_pid()))
    log = tmp_path / "log"
    script = _WORKER.format(repo=str(REPO))
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(log), "5"])
        for _ in range(3)
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    lines = log.read_text().splitlines()
    _check_log(lines)
    assert (tmp_path / "counter").read_text() == "15"
