"""Schema-checked answers, time limits as the library writes them, start failures,
escape-free error text and the exit statuses a loop can stop on."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kit import Fakes, agent, make_run, shell

from babysit_plugin.runloop.dispatch import DispatchOptions, dispatch_run
from babysit_plugin.runloop.execute import ExecOptions, strip_escapes, time_limit
from babysit_plugin.runloop.report import EXIT_NOTHING_DONE, EXIT_RUN_OVER
from protocol.journal import append_event, open_run, read_journal

REPO = Path(__file__).resolve().parents[2]
SCORE = {"type": "object", "required": ["score"], "properties": {"score": {"type": "number"}}}


def opts(**kwargs: Any) -> DispatchOptions:
    return DispatchOptions(exec=ExecOptions(**kwargs), handle_signals=False)


def schema_task(reply: str, **extra: Any) -> dict[str, Any]:
    task = agent(f"Score it\n@reply {reply}")
    task["agent"]["outputSchema"] = SCORE  # type: ignore[index]
    task.update(extra)
    return task


def test_valid_answer_is_posted_as_its_value(tmp_path: Path, fakes: Fakes) -> None:
    """An answer that validates against outputSchema is the posted value."""
    run = make_run(tmp_path, [schema_task('{"score": 7}')])
    dispatch_run(run.path, opts(harness="claude-code"))
    assert run.result(run.effect_ids[0])["value"] == {"score": 7}


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            '{"score": "high"}',
            "claude-code harness answer does not match the output schema: "
            "$.score: 'high' is not of type 'number'",
        ),
        (
            "All done, scored it.",
            "claude-code harness answer: the answer is not JSON: 'All done, scored it.'",
        ),
    ],
)
def test_invalid_answer_is_an_error_naming_the_violation(
    tmp_path: Path, fakes: Fakes, reply: str, message: str
) -> None:
    """Prose or a violating value for a schema task is an error result, as the SDK posts it."""
    run = make_run(tmp_path, [schema_task(reply)])
    dispatch_run(run.path, opts(harness="claude-code"))
    result = run.result(run.effect_ids[0])
    assert result["status"] == "error"
    assert result["error"]["name"] == "AgentOutputSchemaMismatch"
    assert result["error"]["message"] == message


def test_without_schema_prose_stays_text(tmp_path: Path, fakes: Fakes) -> None:
    """No outputSchema: today's rule (JSON when it parses, else the text)."""
    run = make_run(tmp_path, [agent("@reply just words")])
    dispatch_run(run.path, opts(harness="claude-code"))
    assert run.result(run.effect_ids[0])["value"] == "just words"


def test_schema_retries_append_the_violation(tmp_path: Path) -> None:
    """--schema-retries re-runs with the violation in the prompt; the fixed answer is posted."""
    script = tmp_path / "answer.py"
    script.write_text(
        "import sys\n"
        "prompt = sys.stdin.read()\n"
        "print('{\"score\": 3}' if 'did not match the output schema' in prompt else 'prose')\n"
    )
    run = make_run(tmp_path, [{**schema_task("x"), "title": "t"}])
    cmd = f"{sys.executable} {script}"
    dispatch_run(run.path, opts(harness_command=cmd, schema_retries=1))
    result = run.result(run.effect_ids[0])
    assert (result["status"], result["value"]) == ("ok", {"score": 3})
    assert result["metadata"]["attempts"] == 2
    other = make_run(tmp_path / "b", [schema_task("x")])
    dispatch_run(other.path, opts(harness_command=f"{sys.executable} -c print('prose')"))
    assert other.result(other.effect_ids[0])["status"] == "error"


@pytest.mark.parametrize(
    ("task", "cli", "expected"),
    [
        ({"shell": {"timeout": 300000}}, None, (300.0, "shell.timeout")),
        ({"shell": {"timeout": 300000, "timeoutMs": 5000}}, None, (5.0, "shell.timeoutMs")),
        ({"shell": {"timeout": 9000}, "timeoutMs": 4000}, 60.0, (4.0, "timeoutMs")),
        ({"metadata": {"timeoutMs": 2000}, "timeoutMs": 4000}, None, (2.0, "metadata.timeoutMs")),
        ({"shell": {"timeout": 300000}}, 1.5, (1.5, "--timeout")),
        ({"shell": {"timeout": "soon", "timeoutMs": -1}}, None, None),
    ],
)
def test_smallest_time_limit_wins(
    task: dict[str, Any], cli: float | None, expected: tuple[float, str] | None
) -> None:
    """shell.timeout and shell.timeoutMs (ms), task timeoutMs, the hint, --timeout: smallest."""
    assert time_limit(task, cli) == expected


def test_shell_timeout_fires_and_says_which(tmp_path: Path) -> None:
    """A library-style shell.timeout (ms) kills the effect; the error names that limit."""
    run = make_run(tmp_path, [shell("sleep 30", timeout=300)])
    dispatch_run(run.path, opts(timeout=60.0, kill_grace=0.2))
    result = run.result(run.effect_ids[0])
    assert result["error"]["message"] == (
        "Shell command timed out after 0.3 s (the limit of shell.timeout; "
        "its process group was killed)"
    )


def test_start_failures_say_what_failed(tmp_path: Path, fakes: Fakes) -> None:
    """Not executable and too-long command lines are named, not reported as not installed."""
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\necho hi\n")
    tool.chmod(stat.S_IRUSR | stat.S_IWUSR)
    big = "y" * (200 * 1024)
    run = make_run(tmp_path, [agent("a"), agent(big)])
    dispatch_run(run.path, opts(harness_command=str(tool)))
    first = run.result(run.effect_ids[0])["error"]
    assert first["name"] == "HarnessStartError"
    assert first["message"].startswith(f"harness command `{tool}` could not start: ")
    assert "not executable" in first["message"]
    tool.chmod(0o755)
    run2 = make_run(tmp_path / "b", [agent(big)])
    dispatch_run(run2.path, opts(harness_command=f"{tool} {{prompt_file}} {big}"))
    err = run2.result(run2.effect_ids[0])["error"]
    assert err["name"] == "HarnessStartError"
    assert "Argument list too long — the command line is too long" in err["message"]


def test_megabyte_prompt_starts_on_stdin(tmp_path: Path, fakes: Fakes) -> None:
    """A 1 MiB prompt reaches every stdin CLI and the argv-only ones through the prompt file."""
    big = "z" * (1024 * 1024)
    harnesses = ["claude-code", "codex", "pi", "gemini-cli", "opencode", "cursor", "github-copilot"]
    for i, harness in enumerate(harnesses):
        run = make_run(tmp_path / str(i), [agent(f"@reply ok-{harness}\n{big}")])
        dispatch_run(run.path, opts(harness=harness))
        result = run.result(run.effect_ids[0])
        assert result["status"] == "ok", (harness, result)
        [record] = [r for r in fakes.records() if r["effect"] == run.effect_ids[0]]
        if harness in ("cursor", "github-copilot"):
            assert big not in " ".join(record["argv"])
            assert "Read the file " in " ".join(record["argv"])
        else:
            assert big in record["stdin"]


def test_escape_codes_are_stripped_from_error_text(tmp_path: Path) -> None:
    """A CLI's coloured stderr reaches the error message as plain text."""
    assert strip_escapes("\x1b[31mred\x1b[0m \x1b]0;title\x07ok\x07") == "red ok"
    run = make_run(tmp_path, [shell("printf '\\033[1;31mboom\\033[0m\\n' >&2; exit 3")])
    dispatch_run(run.path, opts())
    assert run.result(run.effect_ids[0])["error"]["message"] == (
        "Shell command exited with code 3: boom"
    )


def test_claude_as_root_is_an_error_result_with_advice(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """claude-code as root without IS_SANDBOX: posted error and --dry-run both say what to do."""
    from babysit_plugin.harness import adapters

    monkeypatch.setattr(adapters, "_euid", lambda: 0)
    monkeypatch.delenv("IS_SANDBOX")
    run = make_run(tmp_path, [agent("x")])
    plan = dispatch_run(run.path, DispatchOptions(exec=ExecOptions(), dry_run=True))
    assert "IS_SANDBOX=1" in (plan.effects[0].command or "")
    dispatch_run(run.path, opts())
    err = run.result(run.effect_ids[0])["error"]
    assert err["name"] == "HarnessRefusedError"
    assert "set IS_SANDBOX=1" in err["message"]
    assert fakes.records() == []


def _plugin(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run(
        [sys.executable, "-m", "babysit_plugin", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("event", ["RUN_COMPLETED", "RUN_FAILED", "RUN_HALTED"])
def test_finished_run_says_so_and_exits_4(tmp_path: Path, event: str) -> None:
    """dispatch of a completed/failed/halted run: one line, runStatus, exit 4, nothing run."""
    run = make_run(tmp_path, [shell("echo a")], resolved=[0])
    opened = open_run(run.path)
    append_event(opened, read_journal(opened), event, {})
    before = sorted(p.name for p in (run.path / "journal").iterdir())
    proc = _plugin("dispatch", str(run.path))
    status = event.removeprefix("RUN_").lower()
    ending = run.path / "journal" / before[-1]
    assert (proc.returncode, proc.stdout) == (
        EXIT_RUN_OVER,
        f"{ending}: run is {status}: nothing to dispatch, nothing changed; the SDK performs "
        "nothing more for this run\n",
    )
    proc = _plugin("dispatch", str(run.path), "--json")
    assert proc.returncode == EXIT_RUN_OVER
    assert json.loads(proc.stdout)["runStatus"] == status
    assert sorted(p.name for p in (run.path / "journal").iterdir()) == before
    assert not (run.path / ".babysit-plugin").exists()


def test_nothing_performed_exits_5_saying_what_is_left(tmp_path: Path) -> None:
    """Every pending effect left pending: exit 5 and the reasons, so a loop can stop."""
    run = make_run(tmp_path, [{"kind": "breakpoint", "title": "ok?"}, {"kind": "node"}])
    proc = _plugin("dispatch", str(run.path))
    e1, e2 = run.effect_ids
    assert proc.returncode == EXIT_NOTHING_DONE
    assert proc.stdout.splitlines()[-1] + "\n" == (
        f"nothing performed: 2 effects left pending — {e1} (breakpoint): waiting for a human "
        f"(breakpoint); {e2} (node): kind node is not dispatched (opt in with --kinds node)\n"
    )
    proc = _plugin("dispatch", str(run.path), "--json")
    assert json.loads(proc.stdout)["runStatus"] == "waiting"
    assert _plugin("dispatch", str(run.path), "--kinds", "node", "--dry-run").returncode == 0


def test_sdk_harness_is_refused_on_the_command_line(tmp_path: Path) -> None:
    """--harness sdk is refused with the reason, in --dry-run as at run time."""
    run = make_run(tmp_path, [agent("x")])
    for extra in ((), ("--dry-run",)):
        proc = _plugin("dispatch", str(run.path), "--harness", "sdk", *extra)
        assert proc.returncode == 2
        assert "cannot work with SDK 0.0.187" in proc.stderr
