"""babysit-plugin hook: payload handling, what it performs, the time budget, stdout discipline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import kit
import pytest
from kit import RunDir, agent, make_run, shell

from babysit_plugin.dropin.hook import (
    DEFAULT_BUDGET,
    NONE,
    Decision,
    HookOptions,
    locate_run,
    parse_payload,
    read_handed_back,
    run_hook,
)
from protocol import unstructure
from protocol.clock import iso_from_ms, system_ms
from protocol.errors import PayloadError, RunNotFoundError
from protocol.journal import open_run, read_journal
from protocol.jsonjs import dumps
from protocol.pending import pending_actions
from protocol.verify import verify_run


def payload(run: RunDir, *, age: float = 0.0, status: str = "waiting") -> str:
    """The second on-iteration-start payload of run:iterate, as the SDK writes it."""
    actions = pending_actions(open_run(run.path))
    return dumps(
        {
            "runId": run.path.name,
            "iteration": 1,
            "status": status,
            "pending": unstructure(actions),
            "timestamp": iso_from_ms(system_ms() - int(age * 1000)),
            "hookType": "on-iteration-start",
        },
        indent=None,
    )


def hook(run: RunDir, text: str, **kwargs: Any) -> Any:
    return run_hook(text, "<stdin>", HookOptions(repo=run.repo, **kwargs))


def group_id(run: RunDir) -> str:
    hints = pending_actions(open_run(run.path))[0].scheduler_hints
    assert hints is not None
    assert hints.parallel_group_id is not None
    return hints.parallel_group_id


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of nobody we know still answers kill(0); read its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# -- decisions and payloads -----------------------------------------------------------------


def test_decision_is_one_line_of_json() -> None:
    """The decision prints as compact JSON: action, count, then reason when given."""
    assert NONE.text() == '{"action":"none","count":0}'
    done = Decision("executed-tasks", 2, "babysit-plugin: did it")
    assert done.text() == '{"action":"executed-tasks","count":2,"reason":"babysit-plugin: did it"}'


def test_call_without_pending_never_touches_the_run(tmp_path: Path) -> None:
    """The first call of run:iterate (inside its run lock, no pending) is a no-op."""
    text = dumps({"runId": "not-here", "iteration": 3, "hookType": "on-iteration-start"})
    outcome = run_hook(text, "<stdin>", HookOptions(repo=tmp_path))
    assert outcome.decision == NONE
    assert outcome.exit_code == 0
    assert list(tmp_path.iterdir()) == []


def test_payload_that_is_not_an_object_is_refused() -> None:
    """A payload that is JSON but not an object is a PayloadError naming the source."""
    with pytest.raises(PayloadError) as info:
        parse_payload("[1, 2]", "<stdin>")
    assert str(info.value) == (
        "<stdin>: expected a JSON object (the on-iteration-start payload), found list — "
        "the hook dispatcher passes it on stdin unchanged"
    )


def test_payload_that_is_not_json_is_refused() -> None:
    """Text that is not JSON is a PayloadError that says so."""
    with pytest.raises(PayloadError) as info:
        parse_payload("{oops", "$HOOK_PAYLOAD")
    message = str(info.value)
    assert message.startswith(
        "$HOOK_PAYLOAD: expected the on-iteration-start payload as JSON, found text that is "
        "not JSON ("
    )
    assert message.endswith(") — the hook dispatcher passes it on stdin unchanged")


def test_run_id_leaving_the_runs_directory_is_refused(tmp_path: Path) -> None:
    """A runId that is not one path component is refused before any path is built."""
    run = make_run(tmp_path, [shell("echo 1"), shell("echo 2")])
    data = json.loads(payload(run))
    data["runId"] = "../../etc"
    with pytest.raises(PayloadError) as info:
        hook(run, json.dumps(data))
    assert str(info.value) == (
        '<stdin>: expected $.runId to be a run id (one path component), found "../../etc" — '
        "the hook dispatcher passes the payload unchanged"
    )


def test_unknown_run_names_where_it_looked(tmp_path: Path) -> None:
    """A run that is not under the project root is a RunNotFoundError with the fix."""
    with pytest.raises(RunNotFoundError) as info:
        locate_run("run-9", [tmp_path])
    assert str(info.value) == (
        f"{tmp_path}: expected the run run-9 at .a5c/runs/run-9 (or <dir>/<dir>/run-9) with a "
        "run.json, found none — pass --run-dir, or --repo with the project root"
    )


def test_run_in_another_runs_directory_is_found(tmp_path: Path) -> None:
    """A run created with --runs-dir elsewhere under the project root is found too."""
    run_dir = tmp_path / "work" / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text("{}")
    assert locate_run("r1", [tmp_path]) == run_dir


# -- what it performs -----------------------------------------------------------------------


def test_group_of_shells_is_performed_and_posted(tmp_path: Path) -> None:
    """A pending group of shell effects is posted; the decision counts them."""
    run = make_run(tmp_path, [shell(f"echo value-{n}") for n in range(3)])
    gid = group_id(run)
    outcome = hook(run, payload(run))
    assert outcome.exit_code == 0
    assert outcome.decision == Decision(
        "executed-tasks",
        3,
        f"babysit-plugin: performed 3 effect(s) of parallel group {gid} (3 ok, 0 error)",
    )
    assert [run.result(e)["value"] for e in run.effect_ids] == [
        "value-0\n",
        "value-1\n",
        "value-2\n",
    ]
    assert verify_run(run.path).ok


def test_failing_shell_is_posted_as_an_error(tmp_path: Path) -> None:
    """A shell that exits non-zero is a posted error result, counted in the decision."""
    run = make_run(tmp_path, [shell("echo fine"), shell("echo broken >&2; exit 3")])
    outcome = hook(run, payload(run))
    assert outcome.decision.action == "executed-tasks"
    assert outcome.decision.count == 2
    assert outcome.decision.reason is not None
    assert outcome.decision.reason.endswith("(1 ok, 1 error)")
    assert run.status(run.effect_ids[1]) == "error"


def test_single_pending_effect_is_left_to_the_skill(tmp_path: Path) -> None:
    """One pending effect has no parallel group: nothing is run, the run is untouched."""
    run = make_run(tmp_path, [shell("echo alone")])
    before = kit.snapshot(run.path)
    outcome = hook(run, payload(run))
    assert outcome.decision == NONE
    assert outcome.messages == (
        f"run run-1: left {run.effect_ids[0]} (shell) for the skill: not part of a parallel group",
    )
    assert kit.snapshot(run.path) == before


def test_kinds_outside_the_hook_stay_pending(tmp_path: Path) -> None:
    """Agents and breakpoints of the group stay pending; the reason counts them."""
    run = make_run(
        tmp_path,
        [shell("echo ran"), agent("say hi"), {"kind": "breakpoint", "title": "approve?"}],
    )
    gid = group_id(run)
    outcome = hook(run, payload(run))
    assert outcome.decision == Decision(
        "executed-tasks",
        1,
        f"babysit-plugin: performed 1 effect(s) of parallel group {gid} (1 ok, 0 error); "
        "2 left pending for the skill",
    )
    assert [run.status(e) for e in run.effect_ids] == ["ok", "requested", "requested"]


def test_timeout_hint_longer_than_the_budget_is_not_started(tmp_path: Path) -> None:
    """A shell whose timeoutMs hint exceeds the time left is not started at all."""
    marker = tmp_path / "started"
    run = make_run(tmp_path, [shell("echo quick"), shell(f"touch {marker}", timeoutMs=120000)])
    outcome = hook(run, payload(run))
    assert outcome.decision.count == 1
    assert not marker.exists()
    assert run.status(run.effect_ids[1]) == "requested"
    assert any(
        "its timeoutMs hint (120 s) exceeds the hook's time left" in m for m in outcome.messages
    )


def test_budget_already_spent_does_nothing(tmp_path: Path) -> None:
    """When the payload is older than the budget, the hook leaves everything untouched."""
    run = make_run(tmp_path, [shell("echo 1"), shell("echo 2")])
    before = kit.snapshot(run.path)
    outcome = hook(run, payload(run, age=DEFAULT_BUDGET))
    assert outcome.decision == NONE
    assert outcome.messages[0].startswith("run run-1: ")
    assert outcome.messages[0].endswith(
        f"s of the {DEFAULT_BUDGET:g} s budget left; leaving everything to the skill"
    )
    assert kit.snapshot(run.path) == before


def test_deadline_kills_unfinished_effects_and_hands_them_back(tmp_path: Path) -> None:
    """At the deadline running effects are killed, left pending, and not retried by the hook."""
    pids = [tmp_path / f"slow{n}.pid" for n in range(2)]
    run = make_run(
        tmp_path, [shell("echo fast")] + [shell(f"echo $$ > {p}; exec sleep 60") for p in pids]
    )
    gid = group_id(run)
    budget = 3.0
    started = time.monotonic()
    outcome = hook(run, payload(run), budget=budget)
    elapsed = time.monotonic() - started
    assert elapsed < budget + 2.0
    assert outcome.decision == Decision(
        "executed-tasks",
        1,
        f"babysit-plugin: performed 1 effect(s) of parallel group {gid} (1 ok, 0 error); "
        "2 left pending for the skill (hook time budget reached)",
    )
    slow = run.effect_ids[1:]
    assert [run.status(e) for e in slow] == ["requested", "requested"]
    assert not any(alive(int(p.read_text())) for p in pids)
    why = "did not finish within the hook's time budget"
    assert read_handed_back(run.path) == {e: why for e in slow}
    assert verify_run(run.path).ok

    for p in pids:
        p.unlink()
    again = hook(run, payload(run), budget=budget)
    assert again.decision == NONE
    assert again.messages == tuple(
        f"run run-1: left {e} (shell) for the skill: {why}" for e in slow
    )
    assert not any(p.exists() for p in pids)


# -- as a process ---------------------------------------------------------------------------


def plugin_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HOOK_PAYLOAD", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(kit.REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env.update(extra)
    return env


def run_plugin_hook(run: RunDir, stdin: str | None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "babysit_plugin", "hook", "--repo", str(run.repo)],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        env=plugin_env(**env),
        timeout=60,
        check=False,
    )


def test_stdout_carries_only_the_decision(tmp_path: Path) -> None:
    """Effects and messages never reach stdout: it holds exactly the decision line."""
    run = make_run(tmp_path, [shell("echo loud; echo louder >&2"), shell("seq 1 1000")])
    gid = group_id(run)
    proc = run_plugin_hook(run, payload(run))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        '{"action":"executed-tasks","count":2,"reason":"babysit-plugin: performed 2 effect(s) '
        f'of parallel group {gid} (2 ok, 0 error)"}}\n'
    )
    assert "babysit-plugin hook: run run-1:" in proc.stderr


def test_payload_from_the_environment(tmp_path: Path) -> None:
    """With nothing on stdin, the payload is read from $HOOK_PAYLOAD."""
    run = make_run(tmp_path, [shell("echo a"), shell("echo b")])
    proc = run_plugin_hook(run, None, HOOK_PAYLOAD=payload(run))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["count"] == 2


def test_no_payload_at_all_is_a_usage_error(tmp_path: Path) -> None:
    """Neither stdin nor $HOOK_PAYLOAD: exit 1, one line, nothing on stdout."""
    run = make_run(tmp_path, [shell("echo a"), shell("echo b")])
    proc = run_plugin_hook(run, None)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == (
        "babysit-plugin: error: hook: expected the on-iteration-start payload on stdin or in "
        "$HOOK_PAYLOAD, found neither — run:iterate's hook dispatcher provides it; to try by "
        "hand, pipe a payload in\n"
    )


def test_unreadable_run_is_reported_with_decision_none(tmp_path: Path) -> None:
    """A payload naming a run that is not there: exit 1, decision none, the reason on stderr."""
    run = make_run(tmp_path, [shell("echo a"), shell("echo b")])
    data = json.loads(payload(run))
    data["runId"] = "run-9"
    proc = run_plugin_hook(run, json.dumps(data))
    assert proc.returncode == 1
    assert proc.stdout == '{"action":"none","count":0}\n'
    assert proc.stderr.startswith(f"babysit-plugin hook: error: {run.repo}")


def wait_for(paths: list[Path], timeout: float = 20.0) -> None:
    """Until every file exists (each is written by a child process)."""
    end = time.monotonic() + timeout
    while not all(p.exists() and p.stat().st_size for p in paths):
        if time.monotonic() > end:
            raise AssertionError(f"not written in {timeout} s: {paths}")
        time.sleep(0.02)


def test_sigterm_leaves_unfinished_effects_pending(tmp_path: Path) -> None:
    """SIGTERM: children are killed, unfinished effects stay pending, exit 143."""
    pids = [tmp_path / f"{n}.pid" for n in range(2)]
    run = make_run(tmp_path, [shell(f"echo $$ > {p}; exec sleep 60") for p in pids])
    proc = subprocess.Popen(
        [sys.executable, "-m", "babysit_plugin", "hook", "--repo", str(run.repo)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=plugin_env(),
    )
    assert proc.stdin is not None
    proc.stdin.write(payload(run))
    proc.stdin.close()
    wait_for(pids)
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout is not None
    out = proc.stdout.read()
    assert proc.wait(timeout=30) == 143
    assert out == '{"action":"none","count":0}\n'
    assert [run.status(e) for e in run.effect_ids] == ["requested", "requested"]
    assert not any(alive(int(p.read_text())) for p in pids)
    assert verify_run(run.path).ok


def test_hook_killed_outright_leaves_every_effect_whole(tmp_path: Path) -> None:
    """SIGKILL mid-dispatch: each effect is posted whole or pending; a dispatch finishes it."""
    fast = tmp_path / "fast.pid"
    slow = [tmp_path / f"slow{n}.pid" for n in range(2)]
    commands = [f"echo $$ > {fast}; echo done"] + [f"echo $$ > {p}; exec sleep 60" for p in slow]
    run = make_run(tmp_path, [shell(c) for c in commands])
    proc = subprocess.Popen(
        [sys.executable, "-m", "babysit_plugin", "hook", "--repo", str(run.repo)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=plugin_env(),
    )
    assert proc.stdin is not None
    proc.stdin.write(payload(run))
    proc.stdin.close()
    wait_for([fast, *slow])
    proc.kill()
    proc.wait(timeout=30)
    for p in slow:  # orphaned children of the killed hook: gone with it in real life
        os.killpg(int(p.read_text()), signal.SIGKILL)
    assert verify_run(run.path).ok
    journal = read_journal(open_run(run.path))
    for effect_id in run.effect_ids:
        record = journal.effects[effect_id]
        result = run.path / "tasks" / effect_id / "result.json"
        assert record.status in ("ok", "requested")
        assert result.exists() == (record.status == "ok")
    for effect_id in run.effect_ids[1:]:
        task = run.path / "tasks" / effect_id / "task.json"
        data = json.loads(task.read_text())
        data["shell"]["command"] = "echo again"
        task.write_text(json.dumps(data, indent=2) + "\n")
    finish = subprocess.run(
        [sys.executable, "-m", "babysit_plugin", "dispatch", str(run.path), "--json"],
        capture_output=True,
        text=True,
        env=plugin_env(),
        timeout=60,
        check=False,
    )
    assert finish.returncode == 0, finish.stderr
    assert [run.status(e) for e in run.effect_ids] == ["ok", "ok", "ok"]
    assert verify_run(run.path).ok
