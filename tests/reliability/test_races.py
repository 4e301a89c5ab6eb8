"""Several writers on one run: dispatchers racing, the skill posting, the SDK iterating.

Claims decide who runs an effect; the run lock (held for milliseconds) and the
re-check of the journal under it decide who posts.  Each test counts, per effect,
the runs of its command (the ledger) and the EFFECT_RESOLVED events.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from kit import (
    LEDGER,
    Project,
    RunDir,
    journal_events,
    ledger,
    make_run,
    plugin,
    plugin_argv,
    plugin_env,
    plugin_state_is_clean,
    resolved_per_effect,
    runs_per_effect,
    sdk_run,
    shell,
    shell_process,
)

from babysit_plugin.runloop.store import PluginStore
from protocol.journal import open_run
from protocol.jsonjs import to_file_text
from protocol.pending import pending_actions


def _group(tmp_path: Path, count: int, command: str) -> RunDir:
    run = make_run(tmp_path, [shell(command) for _ in range(count)])
    groups = {a.scheduler_hints.parallel_group_id for a in pending_actions(open_run(run.path))}
    assert len(groups) == 1
    return run


def _wait_for(predicate: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.parametrize("dispatchers", [2, 4])
def test_dispatchers_started_together_run_and_post_each_effect_once(
    tmp_path: Path, dispatchers: int
) -> None:
    """2 or 4 dispatchers on one 32-effect group: every effect runs once and is posted once."""
    run = _group(tmp_path, 32, f"{LEDGER}; sleep 0.05; printf done")
    procs = [
        subprocess.Popen(
            plugin_argv("dispatch", run.path, "--json", "--max-concurrency", "8"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=plugin_env(),
        )
        for _ in range(dispatchers)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    assert runs_per_effect(run.path) == Counter({e: 1 for e in run.effect_ids})
    assert resolved_per_effect(run.path) == Counter({e: 1 for e in run.effect_ids})
    posted = Counter(e["effectId"] for r in reports for e in r["effects"] if e["posted"])
    assert posted == Counter({e: 1 for e in run.effect_ids})
    others = {e["reason"] for r in reports for e in r["effects"] if not e["posted"]}
    assert all(
        reason.startswith("claimed by pid ") or reason.startswith("already resolved")
        for reason in others
    ), others
    assert all(run.result(e)["value"] == "done" for e in run.effect_ids)
    assert plugin_state_is_clean(run.path)


def test_skill_posting_an_effect_the_dispatcher_runs_wins_once(
    tmp_path: Path, sdk: Project
) -> None:
    """The skill's task:post lands first: the dispatcher drops its outcome, nothing twice."""
    go = tmp_path / "go"
    command = f"{LEDGER}; while [ ! -e {go} ]; do sleep 0.01; done; printf 'from-plugin'"
    run_dir = sdk_run(sdk, shell_process("skill", 3, command), "skill")
    proc = subprocess.Popen(
        plugin_argv("dispatch", run_dir, "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=plugin_env(),
    )
    _wait_for(lambda: len(ledger(run_dir)) == 3, "three running effects")
    first = ledger(run_dir)[0][0]
    sdk.task_post(run_dir, first, "--status", "ok", "--value-inline", '"from-skill"')
    go.touch()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    by_id = {e["effectId"]: e for e in json.loads(out)["effects"]}
    assert by_id[first]["status"] == "skipped"
    assert by_id[first]["reason"] == "already resolved by someone else; this outcome was dropped"
    assert resolved_per_effect(run_dir) == Counter({e: 1 for e, _ in ledger(run_dir)})
    assert sdk.iterate(run_dir)["status"] == "completed"
    output = json.loads((run_dir / "state" / "output.json").read_text(encoding="utf-8"))
    assert sorted(output) == ["from-plugin", "from-plugin", "from-skill"]
    assert plugin_state_is_clean(run_dir)


@pytest.mark.slow
def test_sdk_iterates_and_posts_while_the_plugin_posts_64_results(
    tmp_path: Path, sdk: Project
) -> None:
    """SDK run:iterate and task:post in a loop beside 64 plugin posts: no SDK failure."""
    # Effect n finishes after n * 120 ms, so the plugin's posts spread over ~7.7 s: room for
    # several SDK calls (0.5-1 s each, slower on a loaded machine) to overlap them.
    command = f"{LEDGER}; sleep ${{(args.n * 0.12).toFixed(3)}}; printf 'p${{args.n}}'"
    run_dir = sdk_run(sdk, shell_process("busy", 64, command, kind_of_rest="breakpoint"), "busy")
    actions = sdk.iterate(run_dir)["nextActions"]
    breakpoints = [a["effectId"] for a in actions if a["kind"] == "breakpoint"]
    assert len(actions) == 128
    assert len(breakpoints) == 64

    calls: list[tuple[str, int, str, float, float]] = []
    plugin_done = threading.Event()

    def call(name: str, *args: str | Path) -> None:
        start = time.time()
        proc = sdk.cli(name, run_dir, *args, check=False)
        calls.append((name, proc.returncode, proc.stderr[-500:], start, time.time()))

    def sdk_loop() -> None:
        for effect_id in breakpoints:
            if plugin_done.is_set() and len(calls) >= 4:
                return
            call("run:iterate", "--json")
            call("task:post", effect_id, "--status", "ok", "--value-inline", "true", "--json")

    looper = threading.Thread(target=sdk_loop)
    looper.start()
    try:
        dispatched = plugin("dispatch", run_dir, "--json", timeout=120)
    finally:
        plugin_done.set()
        looper.join(timeout=120)
    assert dispatched.returncode == 0, dispatched.stderr
    assert json.loads(dispatched.stdout)["counts"]["posted"] == 64
    assert [c for c in calls if c[1] != 0] == []
    ours = [
        _epoch(e["recordedAt"])
        for e in journal_events(run_dir)
        if e["type"] == "EFFECT_RESOLVED" and e["data"]["effectId"] not in breakpoints
    ]
    first, last = min(ours), max(ours)
    during = Counter(name for name, _, _, start, end in calls if start < last and end > first)
    assert during["run:iterate"] >= 2, calls
    assert during["task:post"] >= 2, calls
    print(f"\nSDK calls overlapping the plugin's 64 posts: {dict(during)}; all: {len(calls)}")
    posts = sum(1 for c in calls if c[0] == "task:post")
    resolved = resolved_per_effect(run_dir)
    assert max(resolved.values()) == 1
    assert len(resolved) == 64 + posts
    assert Counter(runs_per_effect(run_dir).values()) == Counter({1: 64})
    assert sdk.iterate(run_dir)["status"] == "waiting"


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_lock_held_too_long_is_one_clear_error_and_the_outcome_waits(tmp_path: Path) -> None:
    """A run lock held past --lock-timeout: exit 1, one line, outcome saved, posted next time."""
    run = make_run(tmp_path, [shell(f"{LEDGER}; printf once")])
    (eid,) = run.effect_ids
    lock = run.path / "run.lock"
    holder = {"pid": os.getpid(), "owner": "test:holder", "acquiredAt": "2026-01-01T00:00:00.000Z"}
    lock.write_text(to_file_text(holder))
    proc = plugin("dispatch", run.path, "--lock-timeout", "0.3")
    assert proc.returncode == 1
    outcome = PluginStore(run.path).outcome_path(eid)
    assert proc.stderr == (
        f"babysit-plugin: error: {eid}: post failed: {lock}: expected to take the run lock "
        f'within 0.3 s, found it held by pid {os.getpid()} ("test:holder") since '
        f'"2026-01-01T00:00:00.000Z" — wait for that process to finish and retry; if pid '
        f"{os.getpid()} is not a babysitter process, delete {lock} — the outcome is saved in "
        f"{outcome} and the next dispatch posts it\n"
    )
    assert run.status(eid) == "requested"
    assert outcome.is_file()
    lock.unlink()
    again = plugin("dispatch", run.path, "--json")
    assert again.returncode == 0, again.stderr
    (effect,) = json.loads(again.stdout)["effects"]
    assert effect["recovered"] is True
    assert run.status(eid) == "ok"
    assert run.result(eid)["value"] == "once"
    assert runs_per_effect(run.path) == Counter({eid: 1})
