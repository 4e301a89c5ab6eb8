"""The checks 6.x's task:post makes before it writes a result: the task.completed hooks
(found, fed and obeyed as ``hooks/dispatcher.js`` does) and a shell result's outputSchema."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from babysit_plugin.runloop import sdkhooks
from protocol import open_run, read_journal
from protocol.models import EffectError, ResultInput, Run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runs-6.0.3"


@pytest.fixture
def run(tmp_path: Path) -> Run:
    dest = tmp_path / "project" / ".a5c" / "runs" / "parallel-2"
    shutil.copytree(FIXTURES / "parallel-2", dest)
    return open_run(dest)


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/bash\n" + body + "\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def _first(run: Run) -> tuple[str, str | None, str]:
    record = read_journal(run).pending[0]
    return record.effect_id, record.kind, record.task_id


def test_dispatcher_deny_is_a_refusal_with_the_sdk_payload(run: Run, tmp_path: Path) -> None:
    """A dispatcher's {"decision":"deny"} refuses; it got the SDK's payload on stdin."""
    seen = tmp_path / "payload.json"
    dispatcher = _script(
        tmp_path / "project" / "plugins" / "babysitter" / "hooks" / "hook-dispatcher.sh",
        f'[ "$1" = task.completed ] || exit 9\ncat > "{seen}"\n'
        'echo \'{"decision": "deny", "reason": "needs review"}\'',
    )
    hooks = sdkhooks.discover(run.path, env={"HOME": str(tmp_path / "home")})
    assert hooks == sdkhooks.HookSet(dispatcher=dispatcher)
    effect_id, kind, task_id = _first(run)
    refused = sdkhooks.gate(
        run, effect_id, ResultInput(status="ok", value={"n": 1}), hooks, kind=kind, task_id=task_id
    )
    assert refused is not None
    assert refused.reason.startswith("Runtime hook task.completed blocked execution: needs review")
    payload = json.loads(seen.read_text(encoding="utf-8"))
    timestamp = payload.pop("timestamp")
    assert timestamp.endswith("Z")
    assert payload == {
        "runId": "parallel-2",
        "task_id": effect_id,
        "task_kind": "shell",
        "task_status": "ok",
        "task_result": {"n": 1},
        "taskId": task_id,
        "effectId": effect_id,
        "kind": "shell",
        "status": "ok",
        "result": {"n": 1},
        "hookType": "task.completed",
    }
    assert "\n" not in seen.read_text(encoding="utf-8").strip()  # compact, as JSON.stringify


@pytest.mark.parametrize(
    "body",
    [
        'cat >/dev/null; echo \'{"decision": "allow"}\'',
        "cat >/dev/null; echo not json; exit 0",
        "cat >/dev/null; exit 3",
        "cat >/dev/null; echo '[\"deny\"]'",
    ],
    ids=["allow", "not-json", "crash", "not-an-object"],
)
def test_no_decision_allows(run: Run, tmp_path: Path, body: str) -> None:
    """An allow, output that is not a JSON object, or a crash decides nothing."""
    _script(tmp_path / "project" / "plugins" / "babysitter" / "hooks" / "hook-dispatcher.sh", body)
    hooks = sdkhooks.discover(run.path, env={"HOME": str(tmp_path / "home")})
    effect_id, kind, task_id = _first(run)
    result = ResultInput(status="ok", value="x")
    assert sdkhooks.gate(run, effect_id, result, hooks, kind=kind, task_id=task_id) is None


def test_slow_dispatcher_is_terminated_and_decides_nothing(run: Run, tmp_path: Path) -> None:
    """A dispatcher still running at the timeout is ended; its late deny is never read."""
    marker = tmp_path / "late"
    _script(
        tmp_path / "project" / "plugins" / "babysitter" / "hooks" / "hook-dispatcher.sh",
        f'cat >/dev/null; sleep 30; touch "{marker}"; echo \'{{"decision":"deny"}}\'',
    )
    hooks = sdkhooks.discover(run.path, env={"HOME": str(tmp_path / "home")})
    effect_id, kind, task_id = _first(run)
    result = ResultInput(status="ok", value="x")
    refused = sdkhooks.gate(run, effect_id, result, hooks, kind=kind, task_id=task_id, timeout=0.2)
    assert refused is None
    assert not marker.exists()


def test_without_dispatcher_scripts_run_in_order_and_cannot_deny(run: Run, tmp_path: Path) -> None:
    """Run-dir hooks, then ~/.a5c hooks, then a plugin's: each run, their stdout unread."""
    log = tmp_path / "order.log"
    home = tmp_path / "home"
    mine = run.path / ".a5c" / "hooks" / "task.completed"
    deny = f'cat >/dev/null; echo "$0" >> "{log}"; echo \'{{"decision":"deny"}}\''
    b = _script(mine / "b.sh", deny)
    a = _script(mine / "a.py", deny)
    _script(mine / "c.txt", deny)  # not a hook extension
    (mine / "d.sh").symlink_to(b)  # not a regular file to the SDK's readdir
    user = _script(home / ".a5c" / "hooks" / "task.completed" / "u.bash", deny)
    plugin = _script(
        tmp_path / "project" / "plugins" / "babysitter-unified" / "hooks" / "task.completed.sh",
        deny,
    )
    hooks = sdkhooks.discover(run.path, env={"HOME": str(home)})
    assert hooks.dispatcher is None
    assert hooks.scripts == (a, b, user, plugin)
    effect_id, kind, task_id = _first(run)
    result = ResultInput(status="ok", value="x")
    assert sdkhooks.gate(run, effect_id, result, hooks, kind=kind, task_id=task_id) is None
    assert log.read_text(encoding="utf-8").split() == [str(p) for p in (a, b, user, plugin)]


def test_schema_refusal_only_for_ok_shell_results(run: Run) -> None:
    """An ok shell value failing outputSchema is refused with the SDK's messages."""
    effect_id, kind, _ = _first(run)
    schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "number"}}}
    task = {"kind": "shell", "outputSchema": schema}
    bad = ResultInput(status="ok", value={"n": "1"})
    refused = sdkhooks.schema_refusal(run, effect_id, kind, task, bad)
    assert refused is not None
    assert "Expected n to be number, got string" in refused.reason
    assert refused.reason.startswith(f"{run.path}/tasks/{effect_id}/task.json: ")
    good = ResultInput(status="ok", value={"n": 1})
    assert sdkhooks.schema_refusal(run, effect_id, kind, task, good) is None
    assert sdkhooks.schema_refusal(run, effect_id, "agent", task, bad) is None
    err = ResultInput(status="error", error=None)
    assert sdkhooks.schema_refusal(run, effect_id, kind, task, err) is None


def test_a_failed_shell_is_checked_as_the_value_6x_commits(run: Run, tmp_path: Path) -> None:
    """A shell error result reaches the hook (and outputSchema) as {success: false, ...}."""
    seen = tmp_path / "payload.json"
    _script(
        tmp_path / "project" / "plugins" / "babysitter" / "hooks" / "hook-dispatcher.sh",
        f'cat > "{seen}"',
    )
    hooks = sdkhooks.discover(run.path, env={"HOME": str(tmp_path / "home")})
    effect_id, _, _ = _first(run)
    record = read_journal(run).effects[effect_id]
    failed = ResultInput(
        status="error",
        error=EffectError(name="Error", message="Shell command exited with code 4"),
        stdout="out",
        stderr="err",
    )
    assert sdkhooks.check(run, effect_id, record, failed, hooks) is None
    payload = json.loads(seen.read_text(encoding="utf-8"))
    coerced = {
        "success": False,
        "exitCode": 1,
        "stdout": "out",
        "stderr": "err",
        "error": "Shell command exited with code 4",
    }
    assert (payload["status"], payload["result"], payload["task_result"]) == (
        "ok",
        coerced,
        coerced,
    )
    task_json = run.path / "tasks" / effect_id / "task.json"
    task = json.loads(task_json.read_text(encoding="utf-8"))
    task["outputSchema"] = {"type": "object", "required": ["lines"]}
    task_json.write_text(json.dumps(task), encoding="utf-8")
    refused = sdkhooks.check(run, effect_id, record, failed, hooks)
    assert refused is not None
    assert "Missing required field: lines" in refused.reason


def test_journal_watch_sets_events_of_cancelled_effects_and_of_a_run_that_ended(
    tmp_path: Path,
) -> None:
    """The watch stops a running effect the journal cancelled, and all when the run ends."""
    import gevent.event

    from babysit_plugin.runloop.cancel import JournalWatch

    def copy(name: str) -> Run:
        dest = tmp_path / name
        shutil.copytree(FIXTURES / name, dest)
        return open_run(dest)

    cancelled_run = copy("cancelled")
    journal = read_journal(cancelled_run)
    (gone,) = journal.cancelled
    watch = JournalWatch(cancelled_run, gevent.event.Event(), lambda fn, *a: fn(*a))
    try:
        gone_event, other = watch.start(gone), watch.start("01OTHER")
        watch.check(journal)
        assert gone_event.is_set()
        assert not other.is_set()
        assert "cancelled with task:cancel while it ran" in (watch.why(gone) or "")
        assert watch.why("01OTHER") is None
    finally:
        watch.close()
    halted_run = copy("halted")
    stop = gevent.event.Event()
    watch = JournalWatch(halted_run, stop, lambda fn, *a: fn(*a))
    try:
        running = watch.start("01ANY")
        watch.check(read_journal(halted_run))
        assert running.is_set()
        assert watch.why("01ANY") == (
            "the run became halted while it ran; its process group was killed and nothing "
            "was posted"
        )
        later = watch.start("01LATER")
        assert later.is_set()
    finally:
        watch.close()


def test_a_saved_outcome_is_gated_too_and_dropped_when_denied(run: Run, tmp_path: Path) -> None:
    """An outcome an earlier dispatch saved is refused by a deny like a fresh one: nothing
    posted, the outcome dropped, the journal unchanged."""
    from babysit_plugin.runloop.dispatch import DispatchOptions, dispatch_run
    from babysit_plugin.runloop.outcome import SavedOutcome
    from babysit_plugin.runloop.store import PluginStore

    _script(
        tmp_path / "project" / "plugins" / "babysitter" / "hooks" / "hook-dispatcher.sh",
        'cat >/dev/null; echo \'{"decision": "deny", "reason": "no"}\'',
    )
    effect_id, _, _ = _first(run)
    store = PluginStore(run.path)
    store.ensure()
    store.save_outcome(
        SavedOutcome(effect_id=effect_id, status="ok", value="saved", has_value=True, token="t")
    )
    journal_before = sorted(p.name for p in (run.path / "journal").iterdir())
    report = dispatch_run(run.path, DispatchOptions(group="no-such-group", handle_signals=False))
    (rep,) = [e for e in report.effects if e.effect_id == effect_id]
    assert (rep.status, rep.posted, rep.recovered) == ("refused", False, True)
    assert "Runtime hook task.completed blocked execution: no" in (rep.reason or "")
    assert store.load_outcome(effect_id) is None
    assert sorted(p.name for p in (run.path / "journal").iterdir()) == journal_before
    assert report.exit_code == 1
