"""The stall watchdog: a child silent on stdout and stderr for --stall-timeout is ended."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kit import make_run, shell

from babysit_plugin.runloop.dispatch import DispatchOptions, dispatch_run
from babysit_plugin.runloop.execute import ExecOptions
from babysit_plugin.runloop.proc import run_process
from babysit_plugin.runloop.retry import RetryPolicy
from protocol.clock import iso_from_ms, system_ms
from protocol.converter import unstructure
from protocol.journal import open_run
from protocol.jsonjs import dumps
from protocol.pending import pending_actions

REPO = Path(__file__).resolve().parents[2]

TICKER = "import sys, time\nfor i in range(3):\n    time.sleep(1); print(i, flush=True)\n"


def test_silent_child_is_killed(tmp_path: Path) -> None:
    """A child that writes nothing is killed (its group) once it is silent that long."""
    result = run_process(
        ["/bin/sh", "-c", "sleep 30 & wait"],
        stdout_path=tmp_path / "out.log",
        stderr_path=tmp_path / "err.log",
        stall_timeout=0.5,
        kill_grace=0.2,
    )
    assert result.stalled
    assert not result.timed_out
    assert not result.ok
    assert result.describe_end() == "produced no output for too long"


def test_silent_captured_child_is_killed() -> None:
    """Captured pipes count their last read as output: silence there stalls too."""
    result = run_process(["sleep", "30"], stall_timeout=0.3, kill_grace=0.2)
    assert result.stalled
    assert result.signal is not None


def test_child_printing_every_second_is_never_killed(tmp_path: Path) -> None:
    """Output every second keeps a 2 s stall timeout from ever firing (3 s in all)."""
    result = run_process(
        [sys.executable, "-c", TICKER],
        stdout_path=tmp_path / "out.log",
        stderr_path=tmp_path / "err.log",
        stall_timeout=2.0,
    )
    assert result.ok, result
    assert not result.stalled
    assert (tmp_path / "out.log").read_text() == "0\n1\n2\n"


def test_stderr_output_counts(tmp_path: Path) -> None:
    """Writing only to stderr is output as well."""
    script = (
        "import sys, time\n"
        "for i in range(3):\n"
        "    time.sleep(0.4); print(i, file=sys.stderr, flush=True)\n"
    )
    result = run_process(
        [sys.executable, "-c", script],
        stdout_path=tmp_path / "out.log",
        stderr_path=tmp_path / "err.log",
        stall_timeout=1.0,
    )
    assert result.ok, result


def _options(**exec_kwargs: object) -> DispatchOptions:
    return DispatchOptions(
        exec=ExecOptions(kill_grace=0.2, **exec_kwargs),  # type: ignore[arg-type]
        handle_signals=False,
    )


def test_stalled_effect_is_posted_as_error(tmp_path: Path) -> None:
    """Without retries a stalled effect is an error result naming the silence."""
    run = make_run(tmp_path, [shell("sleep 30"), shell("echo fine")])
    report = dispatch_run(run.path, _options(stall_timeout=0.5))
    assert [e.status for e in report.effects] == ["error", "ok"]
    error = run.result(run.effect_ids[0])["error"]
    assert error["message"] == (
        "Shell command produced no output for 0.5 s (--stall-timeout; its process group was killed)"
    )
    assert error["data"]["stalled"] is True


def test_task_hint_sets_the_stall_timeout(tmp_path: Path) -> None:
    """A task's stallTimeoutMs applies when no --stall-timeout is given."""
    run = make_run(tmp_path, [shell("sleep 30", stallTimeoutMs=400)])
    report = dispatch_run(run.path, _options())
    assert report.effects[0].status == "error"
    assert str(run.result(run.effect_ids[0])["error"]["message"]) == (
        "Shell command produced no output for 0.4 s (the task's stallTimeoutMs; its process "
        "group was killed)"
    )


def test_stalled_effect_is_retried(tmp_path: Path) -> None:
    """With --retries a stall is transient: the second attempt, which prints, is posted."""
    marker = tmp_path / "tried"
    command = f"if [ -e {marker} ]; then echo second; else touch {marker}; sleep 30; fi"
    run = make_run(tmp_path, [shell(command)])
    policy = RetryPolicy(retries=1, delay=0.01, max_delay=0.01)
    report = dispatch_run(run.path, _options(stall_timeout=0.5, retry=policy))
    assert report.effects[0].status == "ok"
    result = run.result(run.effect_ids[0])
    assert result["value"] == "second\n"
    assert result["metadata"]["attempts"] == 2


def test_hook_takes_the_stall_timeout_from_its_environment(tmp_path: Path) -> None:
    """$BABYSIT_PLUGIN_HOOK_STALL_TIMEOUT reaches the hook's effects: the silent one is an
    error result, the other is posted ok."""
    run = make_run(tmp_path, [shell("sleep 20"), shell("echo fine")])
    payload = dumps(
        {
            "runId": run.path.name,
            "iteration": 1,
            "status": "waiting",
            "pending": unstructure(pending_actions(open_run(run.path))),
            "timestamp": iso_from_ms(system_ms()),
            "hookType": "on-iteration-start",
        },
        indent=None,
    )
    env = {k: v for k, v in os.environ.items() if k != "HOOK_PAYLOAD"}
    env["PYTHONPATH"] = str(REPO)
    env["BABYSIT_PLUGIN_HOOK_STALL_TIMEOUT"] = "0.5"
    proc = subprocess.run(
        [sys.executable, "-m", "babysit_plugin", "hook", "--repo", str(run.repo)],
        input=payload,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["count"] == 2
    assert run.result(run.effect_ids[0])["error"]["data"]["stalled"] is True
    assert run.result(run.effect_ids[1])["value"] == "fine\n"
