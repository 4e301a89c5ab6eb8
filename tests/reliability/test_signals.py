"""Signals: SIGINT/SIGTERM/SIGHUP end every child process group; SIGKILL leaves children
that die with the dispatcher (or are ended by the next dispatch) and never post."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kit import (
    LEDGER,
    ledger,
    make_run,
    plugin,
    plugin_argv,
    plugin_env,
    plugin_state_is_clean,
    resolved_per_effect,
    shell,
)

from babysit_plugin.runloop.store import pid_alive


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def _pids(path: Path) -> list[int]:
    """The pids the effects wrote, one line "<leader> <background>" per effect."""
    if not path.exists():
        return []
    return [int(p) for line in path.read_text().splitlines() for p in line.split()]


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
)
def test_signal_ends_every_process_group_and_leaves_effects_pending(
    tmp_path: Path, signum: int, code: int
) -> None:
    """SIGINT/SIGTERM/SIGHUP: leaders and their background children die; nothing posted."""
    pids = tmp_path / "pids"
    command = f'{LEDGER}; sleep 60 & echo "$$ $!" >> {pids}; wait'
    run = make_run(tmp_path, [shell(command) for _ in range(3)])
    proc = subprocess.Popen(
        plugin_argv("dispatch", run.path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=plugin_env(),
    )
    _wait_for(lambda: len(_pids(pids)) == 6, "three effects with a background child each")
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code, stderr
    assert stderr == "babysit-plugin: interrupted; unfinished effects left pending\n"
    assert [pid for pid in _pids(pids) if pid_alive(pid)] == []
    assert [run.status(e) for e in run.effect_ids] == ["requested"] * 3
    assert plugin_state_is_clean(run.path)
    assert not (run.path / "run.lock").exists()


def test_sigkill_children_die_with_the_dispatcher_and_orphans_never_post(
    tmp_path: Path,
) -> None:
    """SIGKILL: the child dies with it; its orphan is ended by the next dispatch, unposted."""
    pids, marker = tmp_path / "pids", tmp_path / "marker"
    command = (
        f"{LEDGER}; if [ -e {marker} ]; then printf fresh; exit 0; fi; touch {marker}; "
        f'(sleep 30; echo LATE) & echo "$$ $!" > {pids}; wait'
    )
    run = make_run(tmp_path, [shell(command)])
    (eid,) = run.effect_ids
    proc = subprocess.Popen(plugin_argv("dispatch", run.path), env=plugin_env())
    _wait_for(lambda: len(_pids(pids)) == 2, "the effect and its background child")
    leader, orphan = _pids(pids)
    proc.kill()
    proc.wait(timeout=10)
    _wait_for(lambda: not pid_alive(leader), "the child to die with its dispatcher")
    assert pid_alive(orphan)

    again = plugin("dispatch", run.path, "--json")
    assert again.returncode == 0, again.stderr
    assert not pid_alive(orphan)
    (effect,) = json.loads(again.stdout)["effects"]
    assert effect["status"] == "ok"
    assert run.result(eid)["value"] == "fresh"
    assert (run.path / "tasks" / eid / "stdout.log").read_text() == "fresh"
    assert resolved_per_effect(run.path) == {eid: 1}
    tokens = [token for _, token in ledger(run.path)]
    assert len(tokens) == 2
    assert len(set(tokens)) == 2
    assert plugin_state_is_clean(run.path)
    assert list((run.path / ".babysit-plugin" / "logs").iterdir()) == []
