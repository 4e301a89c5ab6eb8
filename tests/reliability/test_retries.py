"""--retries: transient failures (exit codes, output patterns) run again after a capped,
jittered exponential backoff; the last attempt's outcome is the one posted."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from kit import LEDGER, RunDir, ledger, make_run, plugin, resolved_per_effect, shell

from babysit_plugin.cli import main
from babysit_plugin.runloop.dispatch import DispatchOptions, DispatchReport, dispatch_run
from babysit_plugin.runloop.execute import ExecOptions
from babysit_plugin.runloop.retry import DEFAULT_PATTERNS, RetryPolicy

FAST = {"delay": 0.01, "max_delay": 0.02}


def flaky(tmp_path: Path, name: str, ok_at: int, fail: str) -> str:
    """A command failing (``fail``: shell code that prints and exits) until attempt ``ok_at``."""
    counter = tmp_path / f"{name}.count"
    return (
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; {LEDGER}; "
        f'if [ $n -lt {ok_at} ]; then {fail}; fi; printf "ok after $n"'
    )


def dispatch(run: RunDir, policy: RetryPolicy, **exec_opts: object) -> DispatchReport:
    options = DispatchOptions(
        exec=ExecOptions(retry=policy, **exec_opts),  # type: ignore[arg-type]
        handle_signals=False,
    )
    report = dispatch_run(run.path, options)
    assert report.problems == []
    return report


def test_transient_exit_code_is_retried_until_it_succeeds(tmp_path: Path) -> None:
    """Exit 75 (EX_TEMPFAIL) twice, then success: ok is posted, with attempts 3."""
    run = make_run(tmp_path, [shell(flaky(tmp_path, "a", 3, "exit 75"))])
    dispatch(run, RetryPolicy(retries=3, **FAST))
    (eid,) = run.effect_ids
    result = run.result(eid)
    assert result["value"] == "ok after 3"
    assert result["metadata"] == {"attempts": 3}
    assert len(ledger(run.path)) == 3
    assert resolved_per_effect(run.path) == {eid: 1}


@pytest.mark.parametrize(
    "message",
    [
        "429 Too Many Requests",
        "API Error: rate_limit_error",
        "Error: Overloaded",
        "RESOURCE_EXHAUSTED: quota",
        "upstream said: 503 Service Unavailable",
        "HTTP 529",
    ],
)
def test_default_patterns_mark_output_as_transient(tmp_path: Path, message: str) -> None:
    """Rate-limit and overload phrases on stderr make a failure transient."""
    run = make_run(tmp_path, [shell(flaky(tmp_path, "b", 2, f"echo '{message}' >&2; exit 1"))])
    dispatch(run, RetryPolicy(retries=1, **FAST))
    assert run.result(run.effect_ids[0])["value"] == "ok after 2"


def test_last_failure_is_posted_when_retries_run_out(tmp_path: Path) -> None:
    """Still failing after N retries: the last attempt's error is posted."""
    fail = 'echo "attempt $n: rate limit" >&2; exit 75'
    run = make_run(tmp_path, [shell(flaky(tmp_path, "c", 99, fail))])
    dispatch(run, RetryPolicy(retries=2, **FAST))
    (eid,) = run.effect_ids
    result = run.result(eid)
    assert result["status"] == "error"
    assert result["error"]["message"] == "Shell command exited with code 75: attempt 3: rate limit"
    assert result["metadata"] == {"attempts": 3}
    assert (run.path / "tasks" / eid / "stderr.log").read_text() == "attempt 3: rate limit\n"
    assert len(ledger(run.path)) == 3


@pytest.mark.parametrize(
    ("fail", "policy", "options"),
    [
        ("echo 'syntax error' >&2; exit 1", RetryPolicy(retries=3, **FAST), {}),
        ("exit 75", RetryPolicy(retries=0), {}),
        ("sleep 5", RetryPolicy(retries=3, **FAST), {"timeout": 0.2}),
        ("exit 75", RetryPolicy(retries=3, exit_codes=frozenset({9}), **FAST), {}),
        (
            "echo 'rate limit' >&2; exit 1",
            RetryPolicy(retries=3, patterns=("flaky backend",), **FAST),
            {},
        ),
    ],
    ids=["permanent", "no-retries", "timeout", "other-codes", "other-patterns"],
)
def test_failures_without_a_transient_signature_run_once(
    tmp_path: Path, fail: str, policy: RetryPolicy, options: dict[str, object]
) -> None:
    """Permanent failures, timeouts, --retries 0 and replaced signatures: one attempt."""
    run = make_run(tmp_path, [shell(flaky(tmp_path, "d", 99, fail))])
    dispatch(run, policy, **options)
    result = run.result(run.effect_ids[0])
    assert result["status"] == "error"
    assert "metadata" not in result
    assert len(ledger(run.path)) == 1


def test_replaced_signatures_are_the_ones_retried(tmp_path: Path) -> None:
    """--retry-on-exit 9 and --retry-on-pattern 'flaky backend' are retried."""
    run = make_run(
        tmp_path,
        [
            shell(flaky(tmp_path, "e", 2, "exit 9")),
            shell(flaky(tmp_path, "f", 2, "echo 'the flaky backend hiccuped'; exit 1")),
        ],
    )
    dispatch(
        run, RetryPolicy(retries=1, exit_codes=frozenset({9}), patterns=("FLAKY backend",), **FAST)
    )
    assert [run.result(e)["value"] for e in run.effect_ids] == ["ok after 2", "ok after 2"]


def test_harness_rate_limit_is_retried(tmp_path: Path) -> None:
    """An agent whose harness answers "overloaded" once is run again and its answer posted."""
    script = tmp_path / "harness.sh"
    counter = tmp_path / "harness.count"
    script.write_text(
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}\n"
        'if [ $n -lt 2 ]; then echo \'{"type":"error","error":{"type":"overloaded_error"}}\'; '
        "exit 1; fi\n"
        "echo '{\"answer\": 42}'\n"
    )
    task = {"kind": "agent", "title": "t", "agent": {"name": "x", "prompt": "answer"}}
    run = make_run(tmp_path, [task])
    dispatch(run, RetryPolicy(retries=2, **FAST), harness_command=f"sh {script}")
    result = run.result(run.effect_ids[0])
    assert result["value"] == {"answer": 42}
    assert result["metadata"] == {"attempts": 2, "harness": "custom"}


def test_backoff_doubles_from_the_delay_up_to_the_cap_with_jitter() -> None:
    """Backoff k: min(cap, delay * 2**(k-1)) scaled into [0.5, 1] by the jitter."""
    low = RetryPolicy(delay=1.0, max_delay=5.0, jitter=lambda: 0.0)
    high = RetryPolicy(delay=1.0, max_delay=5.0, jitter=lambda: 1.0)
    assert [low.backoff(k) for k in range(1, 6)] == [0.5, 1.0, 2.0, 2.5, 2.5]
    assert [high.backoff(k) for k in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_transient_reason_names_the_signature(tmp_path: Path) -> None:
    """The classifier says which exit code or pattern matched, and ignores timeouts."""
    policy = RetryPolicy()
    assert policy.transient({"message": "x", "data": {"exitCode": 75}}, None, None) == (
        "exit code 75"
    )
    stderr = tmp_path / "stderr.log"
    stderr.write_text("... Too Many Requests ...")
    assert policy.transient({"message": "x", "data": {"exitCode": 1}}, None, stderr) == (
        f"output matches {DEFAULT_PATTERNS[1]!r} ('Too Many Requests')"
    )
    timed_out = {"message": "rate limit", "data": {"timedOut": True}}
    assert policy.transient(timed_out, None, stderr) is None
    assert policy.transient(None, None, stderr) is None


def test_backoff_waits_cooperatively_beside_other_effects(tmp_path: Path) -> None:
    """While one effect backs off, the rest of its group keeps running and posting."""
    times = tmp_path / "times"
    stamp = f"date +%s%N >> {times}"
    run = make_run(
        tmp_path,
        [
            shell(flaky(tmp_path, "g", 2, f"{stamp}; exit 75")),
            shell(f'sleep 0.1; echo "b $(date +%s%N)" >> {times}; printf b'),
        ],
    )
    dispatch(run, RetryPolicy(retries=1, delay=0.6, max_delay=0.6, jitter=lambda: 1.0))
    lines = times.read_text().split()
    first_failure, b_done = int(lines[0]), int(lines[2])
    second_attempt_at = int((tmp_path / "g.count").stat().st_mtime_ns)
    assert b_done < second_attempt_at
    assert second_attempt_at - first_failure >= 0.5e9
    assert run.result(run.effect_ids[0])["value"] == "ok after 2"


def test_an_interruption_ends_the_backoff_and_leaves_the_effect_pending(tmp_path: Path) -> None:
    """The deadline during a 30 s backoff: the dispatch returns at once, nothing posted."""
    run = make_run(tmp_path, [shell(flaky(tmp_path, "h", 99, "exit 75"))])
    options = DispatchOptions(
        exec=ExecOptions(retry=RetryPolicy(retries=3, delay=30.0, max_delay=30.0)),
        handle_signals=False,
        deadline=time.monotonic() + 0.5,
    )
    started = time.monotonic()
    report = dispatch_run(run.path, options)
    assert time.monotonic() - started < 5
    assert report.deadline_reached
    (effect,) = report.effects
    assert effect.status == "skipped"
    assert effect.reason == "interrupted at the deadline; left pending for the next dispatch"
    assert run.status(run.effect_ids[0]) == "requested"
    assert len(ledger(run.path)) == 1


def test_retry_flags_from_the_command_line(tmp_path: Path) -> None:
    """dispatch --retries 2 --retry-on-exit 3 --retry-delay 0.01 retries exit 3."""
    run = make_run(tmp_path, [shell(flaky(tmp_path, "i", 2, "exit 3"))])
    proc = plugin(
        "dispatch",
        run.path,
        "--json",
        "--retries",
        "2",
        "--retry-on-exit",
        "3,4",
        "--retry-delay",
        "0.01",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"]["posted"] == 1
    assert run.result(run.effect_ids[0])["metadata"] == {"attempts": 2}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--retry-on-exit", "abc"],
            "argument --retry-on-exit: expected exit codes 0-255 separated by commas, found 'abc'",
        ),
        (
            ["--retry-on-exit", "75,300"],
            "argument --retry-on-exit: expected exit codes 0-255 separated by commas, found '300'",
        ),
        (
            ["--retry-on-pattern", "(rate"],
            "argument --retry-on-pattern: expected a regular expression, found '(rate' "
            "(missing ), unterminated subpattern at position 0)",
        ),
        (["--retries", "-1"], "argument --retries: expected 0 or more, found -1"),
        (
            ["--retry-delay", "0"],
            "argument --retry-delay: expected a positive number of seconds, found 0",
        ),
    ],
)
def test_bad_retry_flags_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    """Malformed retry flags: exit 2 with argparse's one line naming the flag."""
    with pytest.raises(SystemExit) as exited:
        main(["dispatch", str(tmp_path), *flags])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"babysit-plugin dispatch: error: {message}"
