"""dispatch_run in-process: waves, concurrency, per-kind results, posting, housekeeping."""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import kit
import pytest
from kit import FAKES, Fakes, RunDir, agent, make_run, shell

from babysit_plugin.harness.prompts import build_prompt
from babysit_plugin.runloop import progress
from babysit_plugin.runloop.dispatch import DispatchOptions, build_waves, dispatch_run
from babysit_plugin.runloop.execute import ExecOptions
from babysit_plugin.runloop.report import EXIT_NOTHING_DONE
from babysit_plugin.runloop.store import PluginStore, SavedOutcome
from protocol.errors import NotARunError
from protocol.journal import open_run, read_journal
from protocol.pending import actions_from_payload, pending_actions
from protocol.verify import verify_run

pytestmark = pytest.mark.usefixtures("each_line")

STAMP = FAKES / "stamp.py"


def stamp(directory: Path, name: str, seconds: float, output: str | None = None) -> str:
    """A shell command that records when it ran."""
    cmd = f"{sys.executable} {STAMP} {directory} {name} {seconds}"
    return cmd + (f" {output}" if output else "")


def intervals(directory: Path, names: list[str]) -> list[tuple[int, int]]:
    return [
        (int((directory / f"{n}.start").read_text()), int((directory / f"{n}.end").read_text()))
        for n in names
    ]


def max_overlap(spans: list[tuple[int, int]]) -> int:
    """The largest number of spans running at one instant."""
    points = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = best = 0
    for _, step in points:
        running += step
        best = max(best, running)
    return best


def opts(**kwargs: Any) -> DispatchOptions:
    exec_keys = {
        "harness",
        "harness_command",
        "model",
        "kinds",
        "timeout",
        "sleep_horizon",
        "kill_grace",
    }
    exec_opts = ExecOptions(**{k: v for k, v in kwargs.items() if k in exec_keys})
    rest = {k: v for k, v in kwargs.items() if k not in exec_keys}
    return DispatchOptions(exec=exec_opts, handle_signals=False, **rest)


def assert_valid(run: RunDir) -> None:
    report = verify_run(run.path)
    assert report.ok, report.problems


# -- concurrency -------------------------------------------------------------------------


def test_group_effects_overlap(tmp_path: Path) -> None:
    """Effects of one parallel group run at the same time (recorded by the children)."""
    names = [f"e{i}" for i in range(4)]
    run = make_run(tmp_path, [shell(stamp(tmp_path, n, 0.5)) for n in names])
    report = dispatch_run(run.path, opts())
    assert report.exit_code == 0
    assert [e.status for e in report.effects] == ["ok"] * 4
    spans = intervals(tmp_path, names)
    assert max(s for s, _ in spans) < min(e for _, e in spans)
    assert_valid(run)


def test_max_concurrency_caps_running_effects(tmp_path: Path) -> None:
    """With max_concurrency 2, never three effects run at once, but two do."""
    names = [f"e{i}" for i in range(5)]
    run = make_run(tmp_path, [shell(stamp(tmp_path, n, 0.3)) for n in names])
    report = dispatch_run(run.path, opts(max_concurrency=2))
    assert report.counts["ok"] == 5
    assert max_overlap(intervals(tmp_path, names)) == 2


def _payload(run: RunDir, hints: list[dict[str, Any]]) -> list[Any]:
    """A run:iterate-like payload for the run's pending effects with the given hints."""
    actions = pending_actions(open_run(run.path))
    items = []
    for action, extra in zip(actions, hints, strict=True):
        items.append(
            {
                "effectId": action.effect_id,
                "invocationKey": action.invocation_key,
                "kind": action.kind,
                "taskId": action.task_id,
                "schedulerHints": extra,
            }
        )
    return actions_from_payload(items, "test")  # type: ignore[arg-type, return-value]


def test_sequential_strategy_does_not_overlap(tmp_path: Path) -> None:
    """executionStrategy "sequential" makes each action a wave of its own, one after another."""
    names = ["a", "b", "c"]
    run = make_run(tmp_path, [shell(stamp(tmp_path, n, 0.2)) for n in names])
    hints = [{"parallelGroupId": "g1", "executionStrategy": "sequential"}] * 3
    actions = tuple(_payload(run, hints))
    assert [len(w.actions) for w in build_waves(actions)] == [1, 1, 1]
    report = dispatch_run(run.path, opts(actions=actions))
    assert report.counts["ok"] == 3
    spans = intervals(tmp_path, names)
    assert max_overlap(spans) == 1
    assert spans[0][1] <= spans[1][0]
    assert spans[1][1] <= spans[2][0]


def test_max_concurrency_hint_caps_a_wave(tmp_path: Path) -> None:
    """A maxConcurrency hint of 1 on a group serializes it."""
    names = ["a", "b", "c"]
    run = make_run(tmp_path, [shell(stamp(tmp_path, n, 0.2)) for n in names])
    actions = tuple(_payload(run, [{"parallelGroupId": "g", "maxConcurrency": 1}] * 3))
    waves = build_waves(actions)
    assert [(w.parallel_group_id, w.max_concurrency) for w in waves] == [("g", 1)]
    dispatch_run(run.path, opts(actions=actions))
    assert max_overlap(intervals(tmp_path, names)) == 1


def test_waves_split_on_group_changes(tmp_path: Path) -> None:
    """Consecutive actions of a group form a wave; ungrouped ones stand alone."""
    run = make_run(tmp_path, [shell("true")] * 5)
    hints = [
        {"parallelGroupId": "g1"},
        {"parallelGroupId": "g1"},
        {},
        {"parallelGroupId": "g2"},
        {"parallelGroupId": "g1"},
    ]
    waves = build_waves(_payload(run, hints))
    assert [(w.parallel_group_id, len(w.actions)) for w in waves] == [
        ("g1", 2),
        (None, 1),
        ("g2", 1),
        ("g1", 1),
    ]


def test_group_option_restricts_the_dispatch(tmp_path: Path) -> None:
    """--group keeps only that group's effects; others stay pending."""
    run = make_run(tmp_path, [shell("echo a"), shell("echo b"), shell("echo c")])
    actions = tuple(_payload(run, [{"parallelGroupId": "g1"}] * 2 + [{"parallelGroupId": "g2"}]))
    report = dispatch_run(run.path, opts(actions=actions, group="g2"))
    assert [e.effect_id for e in report.effects] == [run.effect_ids[2]]
    assert [run.status(e) for e in run.effect_ids] == ["requested", "requested", "ok"]


def test_unknown_group_is_a_note(tmp_path: Path) -> None:
    """A group nobody has dispatches nothing and says so."""
    run = make_run(tmp_path, [shell("echo a"), shell("echo b")])
    report = dispatch_run(run.path, opts(group="nope"))
    assert report.effects == []
    assert report.notes == ["no pending effect has parallelGroupId nope"]
    assert report.exit_code == EXIT_NOTHING_DONE


# -- shell ---------------------------------------------------------------------------------


def test_shell_value_is_stdout_text(tmp_path: Path) -> None:
    """A shell value is its stdout, untrimmed, and stdout.log/stderr.log are posted."""
    run = make_run(tmp_path, [shell("printf 'héllo\\n\\n'; echo warn >&2")])
    dispatch_run(run.path, opts())
    eid = run.effect_ids[0]
    result = run.result(eid)
    assert result["status"] == "ok"
    assert result["value"] == "héllo\n\n"
    assert result["stdoutRef"] == f"tasks/{eid}/stdout.log"
    assert (run.path / "tasks" / eid / "stdout.log").read_text() == "héllo\n\n"
    assert (run.path / "tasks" / eid / "stderr.log").read_text() == "warn\n"
    assert_valid(run)


def test_shell_args_run_without_a_shell(tmp_path: Path) -> None:
    """With args the command is an argv: no word splitting, no $ expansion."""
    run = make_run(tmp_path, [shell("printf", args=["%s|", "a b", "$HOME"])])
    dispatch_run(run.path, opts())
    assert run.result(run.effect_ids[0])["value"] == "a b|$HOME|"


def test_shell_cwd_defaults_to_the_repository_root(tmp_path: Path) -> None:
    """Without shell.cwd the command runs where .a5c/ is; a relative cwd is under it."""
    run = make_run(tmp_path, [shell("pwd"), shell("pwd", cwd="sub")])
    (run.repo / "sub").mkdir()
    dispatch_run(run.path, opts())
    assert run.result(run.effect_ids[0])["value"] == f"{run.repo}\n"
    assert run.result(run.effect_ids[1])["value"] == f"{run.repo / 'sub'}\n"


def test_shell_failure_names_exit_code_and_stderr(tmp_path: Path) -> None:
    """A non-zero exit is a posted error naming the code and the tail of stderr."""
    run = make_run(tmp_path, [shell("echo partial; echo 'it broke' >&2; exit 7")])
    report = dispatch_run(run.path, opts())
    assert report.exit_code == 0
    failure = run.failure(run.effect_ids[0])
    assert failure["message"] == "Shell command exited with code 7: it broke"
    if run.is6:  # the SDK's coerceShellFailureResult: the exit code and logs in the value
        assert (failure["exitCode"], failure["stdout"], failure["stderr"]) == (
            7,
            "partial\n",
            "it broke\n",
        )
    else:
        assert failure == {
            "data": {"exitCode": 7},
            "message": "Shell command exited with code 7: it broke",
            "name": "Error",
        }
        assert "value" not in run.result(run.effect_ids[0])


def test_shell_that_cannot_start_is_an_error_result(tmp_path: Path) -> None:
    """A missing program is an error result, not a crash."""
    run = make_run(tmp_path, [shell("no-such-program-xyz", args=["x"])])
    report = dispatch_run(run.path, opts())
    assert report.exit_code == 0
    assert run.failure(run.effect_ids[0])["message"] == (
        "Shell command could not start: no-such-program-xyz: executable not found"
    )


def test_timeout_kills_the_group_and_posts_an_error(tmp_path: Path) -> None:
    """On --timeout the child's whole group dies and the error says it timed out."""
    pidfile = tmp_path / "bg.pid"
    run = make_run(tmp_path, [shell(f"sleep 30 & echo $! > {pidfile}; wait")])
    t0 = time.monotonic()
    dispatch_run(run.path, opts(timeout=0.5))
    assert time.monotonic() - t0 < 5
    error = run.failure(run.effect_ids[0])
    assert error["message"] == (
        "Shell command timed out after 0.5 s (the limit of --timeout; its process group was killed)"
    )
    if not run.is6:  # 6.x keeps only the message, exit code and logs of a shell failure
        assert error["data"] == {"signal": 15, "timedOut": True}
    bg = int(pidfile.read_text())
    assert not Path(f"/proc/{bg}").exists() or b"Z" in Path(f"/proc/{bg}/stat").read_bytes()


def test_timeout_ms_hint_applies(tmp_path: Path) -> None:
    """A task's shell.timeoutMs is the default time limit."""
    run = make_run(tmp_path, [shell("sleep 30", timeoutMs=300)])
    dispatch_run(run.path, opts())
    assert run.failure(run.effect_ids[0])["message"].startswith(
        "Shell command timed out after 0.3 s"
    )


def test_value_over_the_limit_is_refused(tmp_path: Path) -> None:
    """Output above the value limit becomes an error; the log is posted cut and kept whole."""
    run = make_run(tmp_path, [shell("head -c 11000000 /dev/zero | tr '\\0' x")])
    dispatch_run(run.path, opts())
    eid = run.effect_ids[0]
    assert run.failure(eid)["message"] == (
        "Shell command stdout is 11000000 bytes, over the 10485760 byte limit for a result "
        "value; the full output is kept in stdout.log"
    )
    posted = (run.path / "tasks" / eid / "stdout.log").read_text()
    assert posted.startswith("x" * 1000)
    assert "[babysit-plugin: output cut at 10485760 of 11000000 bytes" in posted
    kept = list((run.path / ".babysit-plugin" / "kept" / eid).iterdir())
    assert [p.stat().st_size for p in kept] == [11000000]


# -- agents through harnesses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("harness", "cli"),
    [
        ("claude-code", "claude"),
        ("codex", "codex"),
        ("pi", "pi"),
        ("gemini-cli", "gemini"),
        ("opencode", "opencode"),
        ("cursor", "agent"),
        ("github-copilot", "copilot"),
    ],
)
def test_agent_through_each_harness(tmp_path: Path, fakes: Fakes, harness: str, cli: str) -> None:
    """Every adapter gets the SDK-shaped prompt to its CLI and posts the unwrapped JSON value."""
    task = agent('Score it\n@reply {"score": 90, "note": "ok"}')
    run = make_run(tmp_path, [task])
    report = dispatch_run(run.path, opts(harness=harness))
    assert report.exit_code == 0, report.problems
    result = run.result(run.effect_ids[0])
    assert result["value"] == {"note": "ok", "score": 90}
    assert result["metadata"] == {"harness": harness}
    [record] = fakes.records()
    assert record["name"] == cli
    assert record["prompt"] == build_prompt(task, "", None)
    assert record["cwd"] == str(run.repo)
    assert record["effect"] == run.effect_ids[0]


def test_agent_text_and_fenced_values(tmp_path: Path, fakes: Fakes) -> None:
    """A plain answer is posted as text; a ```json block is parsed."""
    run = make_run(
        tmp_path,
        [agent("@reply just words"), agent('@reply see ```json\n["a"]\n```')],
    )
    dispatch_run(run.path, opts(harness="pi"))
    assert run.result(run.effect_ids[0])["value"] == "just words"
    assert run.result(run.effect_ids[1])["value"] == "see ```json"


def test_agent_group_through_a_harness_overlaps(tmp_path: Path, fakes: Fakes) -> None:
    """Agents of one group run their harness processes concurrently."""
    run = make_run(tmp_path, [agent(f"@sleep 0.5\n@reply {i}") for i in range(4)])
    dispatch_run(run.path, opts())
    spans = [(r["start"], r["end"]) for r in fakes.records()]
    assert len(spans) == 4
    assert max_overlap(spans) == 4
    assert [run.result(e)["value"] for e in run.effect_ids] == [0, 1, 2, 3]


def test_harness_nonzero_exit_is_an_error(tmp_path: Path, fakes: Fakes) -> None:
    """A harness exiting non-zero posts an error naming the harness and the code."""
    run = make_run(tmp_path, [agent("@reply partial\n@stderr rate limited\n@exit 2")])
    dispatch_run(run.path, opts(harness="opencode"))
    assert run.result(run.effect_ids[0])["error"]["message"] == (
        "opencode harness exited with code 2: rate limited"
    )


def test_harness_reported_error_is_an_error(tmp_path: Path, fakes: Fakes) -> None:
    """claude's is_error envelope becomes an error result."""
    run = make_run(tmp_path, [agent("@error max turns reached")])
    dispatch_run(run.path, opts())
    assert run.result(run.effect_ids[0])["error"]["message"] == (
        "claude-code harness reported an error: max turns reached"
    )


def test_missing_harness_is_an_error_result(tmp_path: Path, fakes: Fakes) -> None:
    """Without the CLI on PATH the effect gets an error result saying how to get one."""
    fakes.remove("codex")
    run = make_run(tmp_path, [agent("@reply x")])
    report = dispatch_run(run.path, opts(harness="codex"))
    assert report.exit_code == 0
    error = run.result(run.effect_ids[0])["error"]
    assert error["name"] == "HarnessCliNotInstalledError"
    assert error["message"].startswith(
        "codex harness: executable `codex` not found on PATH — install it with "
        "`npm install -g @openai/codex`, or choose another harness with --harness NAME"
    )
    assert fakes.records() == []


def test_run_json_harness_is_used(tmp_path: Path, fakes: Fakes) -> None:
    """Without --harness, run.json's harness picks the CLI."""
    run = make_run(tmp_path, [agent("@reply 1")], harness="gemini-cli")
    dispatch_run(run.path, opts())
    assert [r["name"] for r in fakes.records()] == ["gemini"]


def test_harness_command_placeholders(tmp_path: Path, fakes: Fakes) -> None:
    """--harness-command substitutes placeholders and feeds the prompt on stdin."""
    script = tmp_path / "tool.sh"
    script.write_text(
        '#!/bin/sh\necho "$1|$2|$3|$4|$5" > "$6"\ncat > "$6.stdin"\necho \'{"from": "tool"}\'\n'
    )
    script.chmod(0o755)
    out = tmp_path / "args.txt"
    run = make_run(tmp_path, [agent("hello tool")])
    command = (
        f"{script} {{prompt_file}} {{task_file}} {{effect_id}} {{run_dir}} {{workspace}} {out}"
    )
    dispatch_run(run.path, opts(harness_command=command))
    eid = run.effect_ids[0]
    prompt_file, task_file, effect_id, run_dir, workspace = out.read_text().strip().split("|")
    assert (task_file, effect_id, run_dir, workspace) == (
        str(run.path / "tasks" / eid / "task.json"),
        eid,
        str(run.path),
        str(run.repo),
    )
    assert prompt_file.startswith(str(run.path / ".babysit-plugin" / "logs" / eid))
    assert Path(str(out) + ".stdin").read_text() == build_prompt(agent("hello tool"), "", None)
    assert run.result(eid)["value"] == {"from": "tool"}


# -- kinds left pending ---------------------------------------------------------------------


def test_breakpoint_and_unopted_kinds_stay_pending(tmp_path: Path, fakes: Fakes) -> None:
    """Breakpoints wait for a human; node/unknown kinds wait unless --kinds opts them in."""
    run = make_run(
        tmp_path,
        [
            {"kind": "breakpoint", "title": "approve?"},
            {"kind": "node", "title": "@reply 5"},
            {"kind": "mystery", "title": "m"},
        ],
    )
    report = dispatch_run(run.path, opts())
    assert [(e.status, e.reason) for e in report.effects] == [
        ("skipped", "waiting for a human (breakpoint)"),
        ("skipped", "kind node is not dispatched (opt in with --kinds node)"),
        ("skipped", "unknown kind 'mystery' is not dispatched (opt in with --kinds mystery)"),
    ]
    assert report.exit_code == EXIT_NOTHING_DONE
    assert run.resolved_count() == 0
    report = dispatch_run(run.path, opts(kinds=frozenset({"node"})))
    assert run.result(run.effect_ids[1])["value"] == 5
    [record] = fakes.records()
    assert record["prompt"].endswith("\n\nTask:\n@reply 5")


def test_due_sleep_is_posted_far_sleep_waits(tmp_path: Path) -> None:
    """A sleep due within the horizon is waited for and posted; a later one is reported."""
    now = int(time.time() * 1000)
    soon = {"kind": "sleep", "sleep": {"iso": "x", "targetEpochMs": now + 300}}
    later = {"kind": "sleep", "sleep": {"iso": "y", "targetEpochMs": now + 3_600_000}}
    run = make_run(tmp_path, [soon, later, shell("echo side")])
    report = dispatch_run(run.path, opts())
    statuses = {e.effect_id: (e.status, e.reason) for e in report.effects}
    assert statuses[run.effect_ids[0]] == ("ok", None)
    status, reason = statuses[run.effect_ids[1]]
    assert status == "skipped"
    assert reason is not None
    assert reason.startswith("waiting until ")
    slept = run.result(run.effect_ids[0])["value"]["sleptUntil"]
    assert slept >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((now + 300) // 1000))
    assert run.result(run.effect_ids[2])["value"] == "side\n"


# -- dry run, actions ---------------------------------------------------------------------------


def test_dry_run_writes_nothing(tmp_path: Path, fakes: Fakes) -> None:
    """--dry-run plans every effect, runs nothing and leaves the run byte-for-byte unchanged."""
    run = make_run(tmp_path, [shell("echo a"), agent("@reply 1")])
    before = kit.snapshot(run.path)
    report = dispatch_run(run.path, opts(dry_run=True))
    assert kit.snapshot_diff(before, kit.snapshot(run.path)) == []
    assert [e.status for e in report.effects] == ["planned", "planned"]
    assert report.effects[0].command == f"/bin/sh -c 'echo a' (in {run.repo})"
    assert report.effects[1].command is not None
    assert report.effects[1].command.startswith(f"{fakes.bin / 'claude'} -p --output-format json")
    assert fakes.records() == []


def test_actions_not_pending_are_skipped(tmp_path: Path) -> None:
    """--actions naming an already-resolved effect reports it and dispatches the rest."""
    run = make_run(tmp_path, [shell("echo a"), shell("echo b")], resolved=[0])
    items = [{"effectId": e, "kind": "shell"} for e in run.effect_ids]
    actions = tuple(actions_from_payload({"nextActions": items}, "payload.json"))  # type: ignore[dict-item]
    report = dispatch_run(run.path, opts(actions=actions))
    assert [(e.effect_id, e.status) for e in report.effects] == [
        (run.effect_ids[0], "skipped"),
        (run.effect_ids[1], "ok"),
    ]
    assert report.effects[0].reason == (
        "not pending in this run's journal (already resolved, or not an effect of this run)"
    )


# -- claims and saved outcomes ---------------------------------------------------------------------


def test_saved_outcome_is_posted_without_running_again(tmp_path: Path) -> None:
    """An outcome saved by a dispatcher that died is posted; the effect does not run again."""
    marker = tmp_path / "ran"
    run = make_run(tmp_path, [shell(f"touch {marker}; echo fresh")])
    eid = run.effect_ids[0]
    store = PluginStore(run.path)
    store.ensure()
    store.save_outcome(
        SavedOutcome(effect_id=eid, status="ok", value="saved value\n", has_value=True)
    )
    (store.claims_dir / f"{eid}.json").write_text(
        json.dumps(
            {
                "effectId": eid,
                "pid": 999_999_999,
                "host": os.uname().nodename,
                "startedAt": "2026-01-01T00:00:00.000Z",
                "token": "dead",
            }
        )
    )
    report = dispatch_run(run.path, opts())
    assert not marker.exists()
    assert run.result(eid)["value"] == "saved value\n"
    [effect] = report.effects
    assert (effect.status, effect.recovered, effect.posted) == ("ok", True, True)
    assert store.saved_outcome_ids() == []
    assert not (store.claims_dir / f"{eid}.json").exists()
    assert_valid(run)


def test_live_claim_is_respected(tmp_path: Path) -> None:
    """An effect claimed by a live process is skipped and reported with its pid."""
    marker = tmp_path / "ran"
    run = make_run(tmp_path, [shell(f"touch {marker}")])
    eid = run.effect_ids[0]
    holder = os.getppid()
    store = PluginStore(run.path)
    store.ensure()
    (store.claims_dir / f"{eid}.json").write_text(
        json.dumps(
            {
                "effectId": eid,
                "pid": holder,
                "host": os.uname().nodename,
                "startedAt": "2026-01-01T00:00:00.000Z",
                "token": "live",
            }
        )
    )
    report = dispatch_run(run.path, opts())
    assert [(e.status, e.reason) for e in report.effects] == [
        ("skipped", f"claimed by pid {holder}")
    ]
    assert not marker.exists()
    assert run.status(eid) == "requested"


def test_dead_claim_is_taken_over(tmp_path: Path) -> None:
    """A claim whose pid is dead does not block the effect."""
    run = make_run(tmp_path, [shell("echo ran")])
    eid = run.effect_ids[0]
    store = PluginStore(run.path)
    store.ensure()
    (store.claims_dir / f"{eid}.json").write_text(
        json.dumps(
            {
                "effectId": eid,
                "pid": 999_999_999,
                "host": os.uname().nodename,
                "startedAt": "2026-01-01T00:00:00.000Z",
                "token": "dead",
            }
        )
    )
    dispatch_run(run.path, opts())
    assert run.result(eid)["value"] == "ran\n"
    assert list(store.claims_dir.glob("*.json")) == []


def test_resolved_by_someone_else_meanwhile_is_reported(tmp_path: Path) -> None:
    """If another writer posts while the child runs, our post is refused and reported."""
    code = (
        "import os, sys; sys.path[:0] = sys.argv[1:2];"
        "from protocol.journal import open_run;"
        "from protocol.models import ResultInput;"
        "from protocol.results import post_result;"
        "post_result(open_run(os.environ['BABYSIT_PLUGIN_RUN_DIR']),"
        " os.environ['BABYSIT_PLUGIN_EFFECT_ID'], ResultInput(status='ok', value='theirs'))"
    )
    protocol_root = str(Path(__import__("protocol").__file__).parent.parent)
    run = make_run(tmp_path, [shell(sys.executable, args=["-c", code, protocol_root])])
    report = dispatch_run(run.path, opts())
    [effect] = report.effects
    assert (effect.status, effect.posted) == ("skipped", False)
    assert effect.reason == "already resolved by someone else; this outcome was dropped"
    assert report.exit_code == 0
    assert run.result(run.effect_ids[0])["value"] == "theirs"
    assert run.resolved_count() == 1
    assert PluginStore(run.path).saved_outcome_ids() == []
    assert_valid(run)


def test_state_of_resolved_effects_is_dropped(tmp_path: Path) -> None:
    """Claims, outcomes and logs of effects resolved elsewhere are cleaned at start."""
    run = make_run(tmp_path, [shell("echo a"), shell("echo b")], resolved=[0])
    done = run.effect_ids[0]
    store = PluginStore(run.path)
    store.ensure()
    store.save_outcome(SavedOutcome(effect_id=done, status="ok", value=1, has_value=True))
    (store.logs_dir / done / "tok").mkdir(parents=True)
    (store.claims_dir / f"{done}.json").write_text("{}")
    dispatch_run(run.path, opts())
    assert store.saved_outcome_ids() == []
    assert not (store.logs_dir / done).exists()
    assert not (store.claims_dir / f"{done}.json").exists()
    assert (run.path / ".babysit-plugin" / ".gitignore").read_text() == "*\n"


def test_deadline_leaves_unfinished_effects_pending(tmp_path: Path, fakes: Fakes) -> None:
    """At the deadline running children are killed, their effects stay pending, claims go."""
    run = make_run(tmp_path, [agent("@forever"), shell("echo quick")])
    t0 = time.monotonic()
    report = dispatch_run(run.path, opts(deadline=time.monotonic() + 1.0, kill_grace=0.2))
    assert time.monotonic() - t0 < 6
    assert report.deadline_reached
    assert report.exit_code == 0
    by_id = {e.effect_id: e for e in report.effects}
    assert by_id[run.effect_ids[0]].status == "skipped"
    assert by_id[run.effect_ids[0]].reason == (
        "interrupted at the deadline; left pending for the next dispatch"
    )
    assert by_id[run.effect_ids[1]].status == "ok"
    assert run.status(run.effect_ids[0]) == "requested"
    store = PluginStore(run.path)
    assert list(store.claims_dir.glob("*.json")) == []
    [record] = [r for r in fakes.records() if r["effect"] == run.effect_ids[0]]
    assert not Path(f"/proc/{record['pid']}").exists() or (
        b") Z" in Path(f"/proc/{record['pid']}/stat").read_bytes()
    )
    assert_valid(run)


def test_unreadable_run_raises(tmp_path: Path) -> None:
    """A directory that is not a run is a protocol error with one line."""
    with pytest.raises(NotARunError):
        dispatch_run(tmp_path, opts())


def test_journal_is_read_once_per_wave(tmp_path: Path) -> None:
    """A run with nothing pending dispatches nothing and says nothing could be performed."""
    run = make_run(tmp_path, [shell("echo a")], resolved=[0])
    report = dispatch_run(run.path, opts())
    assert report.effects == []
    assert report.exit_code == EXIT_NOTHING_DONE
    assert len(read_journal(open_run(run.path)).events) == 3


def test_terminal_progress_shows_status_and_finished_lines(tmp_path: Path) -> None:
    """On a terminal a status line is redrawn and each finished effect gets its own line."""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    display = progress.for_stream(stream)
    assert isinstance(display, progress.TtyProgress)
    run = make_run(tmp_path, [shell("echo a"), shell("exit 1")])
    dispatch_run(run.path, opts(progress=display))
    text = stream.getvalue()
    assert "running 1 · done 0 · failed 0 · 00:00" in text or "running 2 ·" in text
    assert f"ok       shell       {run.effect_ids[0]}  echo a" in text
    assert f"error    shell       {run.effect_ids[1]}  exit 1" in text
    assert text.endswith("\r\x1b[2K")
