"""babysit-plugin status: states while dispatching, after a crash, saved and cancelled; read
only; --watch under a pseudo-terminal."""

from __future__ import annotations

import builtins
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kit
import pytest
from kit import make_run, shell

from babysit_plugin import cli
from babysit_plugin.commands.status import CLEAR, changes
from babysit_plugin.runloop.store import Claim, PluginStore, SavedOutcome

REPO = Path(__file__).resolve().parents[2]
FIXTURES_6 = Path(__file__).resolve().parents[1] / "fixtures" / "runs-6.0.3"


def plugin_argv(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "babysit_plugin", *map(str, args)]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [e.get("PYTHONPATH")])])
    return e


def status_json(run_dir: Path) -> dict[str, Any]:
    proc = subprocess.run(
        plugin_argv("status", run_dir, "--json"),
        capture_output=True,
        text=True,
        env=env(),
        check=True,
        timeout=60,
    )
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def wait_for(condition: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_running_then_orphaned(tmp_path: Path) -> None:
    """While three 6 s effects run: running, the dispatcher's pid, elapsed > 1 s, a last
    output time and log paths; after SIGKILL of the dispatcher: orphaned, none running, and
    the command that resumes them."""
    run = make_run(tmp_path, [shell(f"echo start {i}; sleep 6") for i in range(3)])
    dispatcher = subprocess.Popen(
        plugin_argv("dispatch", run.path, "--json"),
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        seen: dict[str, Any] = {}

        def running_long_enough() -> bool:
            seen.update(status_json(run.path))
            effects = seen["effects"]
            return all(e["state"] == "running" and e["elapsedMs"] > 1000 for e in effects)

        wait_for(running_long_enough, "three effects running for over a second")
        assert seen["runStatus"] == "waiting"
        assert [e["effectId"] for e in seen["effects"]] == run.effect_ids
        for effect in seen["effects"]:
            assert effect["pid"] == dispatcher.pid
            assert effect["kind"] == "shell"
            assert effect["title"].startswith("echo start")
            assert effect["attempt"] == 1
            assert 0 <= effect["lastOutputMs"] <= effect["elapsedMs"]
            assert Path(effect["logs"]["stdout"]).read_text().startswith("start")
            assert effect["group"]
        assert "resume" not in seen
    finally:
        dispatcher.kill()
        dispatcher.wait()
    after = status_json(run.path)
    assert [e["state"] for e in after["effects"]] == ["orphaned"] * 3
    assert all(e["reason"] == f"pid {dispatcher.pid} is gone" for e in after["effects"])
    assert after["resume"] == f"babysit-plugin dispatch {run.path}"
    text = subprocess.run(
        plugin_argv("status", run.path), capture_output=True, text=True, env=env(), check=True
    ).stdout
    assert f"resume with: babysit-plugin dispatch {run.path}" in text
    assert text.splitlines()[0].endswith(": waiting; 3 orphaned")


def test_saved_outcome_is_saved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An outcome saved but not yet posted shows as saved, with the resume command."""
    run = make_run(tmp_path, [shell("true"), shell("true")])
    store = PluginStore(run.path)
    store.ensure()
    store.save_outcome(SavedOutcome(run.effect_ids[0], "ok", value=1, has_value=True))
    assert cli.main(["status", str(run.path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [e["state"] for e in data["effects"]] == ["saved", "pending"]
    assert data["effects"][0]["status"] == "ok"
    assert data["resume"] == f"babysit-plugin dispatch {run.path}"


def test_cancelled_on_6x(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run recorded with SDK 6.0.3 where task:cancel cancelled one of three effects."""
    run_dir = tmp_path / "cancelled"
    shutil.copytree(FIXTURES_6 / "cancelled", run_dir)
    assert cli.main(["status", str(run_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    states = [e["state"] for e in data["effects"]]
    assert states.count("cancelled") == 1
    cancelled = next(e for e in data["effects"] if e["state"] == "cancelled")
    assert cancelled["title"] == "step drop"


def test_status_never_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Text, JSON and a dead claim: the run is byte for byte and mode for mode as it was,
    no file is opened for writing, and run.lock is never created."""
    run = make_run(tmp_path, [shell("true"), shell("true"), shell("true")])
    store = PluginStore(run.path)
    store.ensure()
    store.save_outcome(SavedOutcome(run.effect_ids[0], "error", error={"name": "E"}))
    claim = store.claim(run.effect_ids[1])
    assert isinstance(claim, Claim)
    text = claim.path.read_text().replace(f'"pid": {os.getpid()}', '"pid": 999999999')
    claim.path.write_text(text)
    before = kit.snapshot(run.path)
    real_open, real_os_open = builtins.open, os.open
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        assert not set(mode) & set("wax+"), f"status opened {file} with mode {mode}"
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        assert not flags & writes, f"status opened {path} for writing"
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    assert cli.main(["status", str(run.path)]) == 0
    assert cli.main(["status", str(run.path), "--json"]) == 0
    monkeypatch.undo()
    out = capsys.readouterr().out
    data = json.loads(out[out.index("\n{") + 1 :])
    assert [e["state"] for e in data["effects"]] == ["saved", "orphaned", "pending"]
    assert kit.snapshot_diff(before, kit.snapshot(run.path)) == []
    assert not (run.path / "run.lock").exists()


def test_watch_redraws_in_place_on_a_tty(tmp_path: Path) -> None:
    """Under a pseudo-terminal --watch clears and redraws each interval; Ctrl-C ends it, 0."""
    run = make_run(tmp_path, [shell("true"), shell("true")])
    pid, fd = pty.fork()
    if pid == 0:  # the child: status on the terminal
        os.environ["PYTHONPATH"] = str(REPO)
        os.execv(sys.executable, plugin_argv("status", run.path, "--watch", "--interval", "0.1"))
    output = b""
    try:
        deadline = time.monotonic() + 30
        while output.count(CLEAR.encode()) < 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                output += os.read(fd, 65536)
        assert output.count(CLEAR.encode()) >= 3
        assert b"2 pending" in output
        os.kill(pid, signal.SIGINT)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        with_suppress_kill(pid)
        os.close(fd)


def with_suppress_kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def test_watch_without_a_tty_prints_only_changes() -> None:
    """Off a terminal, each look prints one line per effect whose state changed."""
    before = {"": "waiting", "A": "running", "B": "pending"}
    after = {"": "waiting", "A": "posted", "B": "pending", "C": "pending"}
    lines = changes(before, after, 0.0)
    assert [line.split(" ", 1)[1] for line in lines] == ["A: running -> posted", "C: - -> pending"]
    assert changes(after, after, 0.0) == []


def test_status_starts_without_gevent(tmp_path: Path) -> None:
    """status loads no gevent (nor anything that dispatches): it starts in interpreter time."""
    run = make_run(tmp_path, [shell("true")])
    code = (
        "import sys\nfrom babysit_plugin import cli\n"
        f"assert cli.main(['status', {str(run.path)!r}]) == 0\n"
        "assert 'gevent' not in sys.modules, 'gevent imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env(), check=True, capture_output=True)


def test_posted_effects_keep_kind_title_and_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a dispatch, each effect it posted shows as posted with its status and duration
    (kind and title from the dispatch's note in posted.jsonl)."""
    from babysit_plugin.runloop.dispatch import DispatchOptions, dispatch_run

    run = make_run(tmp_path, [shell("echo one"), shell("exit 3")])
    dispatch_run(run.path, DispatchOptions(handle_signals=False))
    assert cli.main(["status", str(run.path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    effects = data["effects"]
    assert [(e["state"], e["status"], e["title"]) for e in effects] == [
        ("posted", "ok", "echo one"),
        ("posted", "error", "exit 3"),
    ]
    assert all(e["kind"] == "shell" and e["durationMs"] >= 0 and e["pid"] for e in effects)
    assert "resume" not in data


def test_planted_posted_note_is_never_followed(tmp_path: Path) -> None:
    """A symlink planted as posted.jsonl is neither followed nor a reason to fail a post."""
    from babysit_plugin.runloop.dispatch import DispatchOptions, dispatch_run

    run = make_run(tmp_path, [shell("echo one"), shell("echo two")])
    PluginStore(run.path).ensure()
    outside = tmp_path / "outside.txt"
    outside.write_text("mine\n")
    (run.path / ".babysit-plugin" / "posted.jsonl").symlink_to(outside)
    report = dispatch_run(run.path, DispatchOptions(handle_signals=False))
    assert [(e.status, e.posted) for e in report.effects] == [("ok", True), ("ok", True)]
    assert report.problems == []
    assert outside.read_text() == "mine\n"


def test_watch_without_a_tty_prints_one_line_per_change(tmp_path: Path) -> None:
    """Through a pipe --watch prints the table once, then only a line per state change."""
    run = make_run(tmp_path, [shell("true"), shell("true")])
    watcher = subprocess.Popen(
        plugin_argv("status", run.path, "--watch", "--interval", "0.1"),
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert watcher.stdout is not None
    guard = threading.Timer(60, watcher.kill)  # a missing line fails the test, never hangs it
    guard.start()
    try:
        first = [watcher.stdout.readline() for _ in range(5)]
        assert first[0].endswith(": waiting; 2 pending\n")
        assert first[4].startswith("parallel group ")
        store = PluginStore(run.path)
        store.ensure()
        store.save_outcome(SavedOutcome(run.effect_ids[1], "ok", value=1, has_value=True))
        change = watcher.stdout.readline()
        assert change.endswith(f" {run.effect_ids[1]}: pending -> saved\n"), change
        watcher.send_signal(signal.SIGINT)
        rest, _ = watcher.communicate(timeout=30)
        assert watcher.returncode == 0
        assert CLEAR not in rest
    finally:
        guard.cancel()
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate()
