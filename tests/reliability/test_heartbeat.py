"""Heartbeats: a stopped dispatcher's claims are taken over after the bound while its pid lives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kit import make_run, plugin_argv, plugin_env, resolved_per_effect, shell

from babysit_plugin.runloop.claims import HEARTBEAT_ENV
from babysit_plugin.runloop.dispatch import DispatchOptions, dispatch_run
from babysit_plugin.runloop.execute import ExecOptions
from babysit_plugin.runloop.store import Claim, PluginStore, pid_alive

#: First run of an effect hangs silently; a second one (after a takeover) answers.
COMMAND = (
    'm="$BABYSIT_PLUGIN_RUN_DIR.$BABYSIT_PLUGIN_EFFECT_ID"; '
    'if [ -e "$m" ]; then echo second; else : > "$m"; sleep 60; fi'
)


def wait_for(condition: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    """Return once ``condition()`` holds; fail naming ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.mark.slow
def test_stopped_dispatcher_is_taken_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGSTOP a dispatcher: its claims go stale after 6 heartbeats and a second dispatcher
    takes them over (ending the hung children) while the first pid still lives; resumed,
    the first posts nothing, and each effect is resolved once."""
    monkeypatch.setenv(HEARTBEAT_ENV, "0.2")
    run = make_run(tmp_path, [shell(COMMAND), shell(COMMAND)])
    store = PluginStore(run.path)
    first = subprocess.Popen(
        plugin_argv("dispatch", run.path, "--json"),
        env=plugin_env({HEARTBEAT_ENV: "0.2"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        markers = [Path(f"{run.path}.{eid}") for eid in run.effect_ids]
        wait_for(lambda: all(m.exists() for m in markers), "both effects to start")
        claims = [store.read_claim(eid) for eid in run.effect_ids]
        assert all(c is not None and c.pid == first.pid and c.heartbeat_s == 0.2 for c in claims)
        # Alive and running: refreshed, so still fresh well after one bound (1.2 s).
        made = min(c.heartbeat_at or 0.0 for c in claims if c is not None)
        wait_for(lambda: time.time() > made + 2.5, "two bounds to pass")
        infos = [store.read_claim(eid) for eid in run.effect_ids]
        assert all(i is not None and not i.heartbeat_stale() for i in infos)
        os.kill(first.pid, signal.SIGSTOP)

        def stale() -> bool:
            infos = [store.read_claim(eid) for eid in run.effect_ids]
            return all(i is not None and i.heartbeat_stale() for i in infos)

        wait_for(stale, "the stopped dispatcher's claims to go stale")
        assert pid_alive(first.pid)
        report = dispatch_run(
            run.path, DispatchOptions(exec=ExecOptions(kill_grace=0.2), handle_signals=False)
        )
        assert [e.status for e in report.effects] == ["ok", "ok"], report.to_json()
        assert all(e.posted for e in report.effects)
        assert [run.result(eid)["value"] for eid in run.effect_ids] == ["second\n"] * 2

        os.kill(first.pid, signal.SIGCONT)
        out, err = first.communicate(timeout=60)
        summary = json.loads(out)
        assert [e["posted"] for e in summary["effects"]] == [False, False], err
        assert all("taken over" in e["reason"] for e in summary["effects"])
        assert resolved_per_effect(run.path) == {eid: 1 for eid in run.effect_ids}
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGCONT)
            first.kill()
            first.communicate()


def test_fresh_heartbeat_is_respected(tmp_path: Path) -> None:
    """A claim refreshed within its bound is live; one older than 6 intervals is not."""
    run = make_run(tmp_path, [shell("true")])
    store = PluginStore(run.path)
    store.ensure()
    claim = store.claim(run.effect_ids[0])
    assert isinstance(claim, Claim)
    info = store.read_claim(run.effect_ids[0])
    assert info is not None
    assert info.is_live()
    bound = info.stale_after()
    assert bound == 6 * store.heartbeat_s
    old = time.time() - bound - 1
    os.utime(store.claim_path(run.effect_ids[0]), (old, old))
    info = store.read_claim(run.effect_ids[0])
    assert info is not None
    assert info.heartbeat_stale()
    assert not info.is_live()
    assert store.refresh_held() == []
    info = store.read_claim(run.effect_ids[0])
    assert info is not None
    assert info.is_live()
