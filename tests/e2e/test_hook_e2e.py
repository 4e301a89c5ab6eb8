"""The on-iteration-start hook under the real SDK's run:iterate, installed by `install`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from kit import Project

from babysit_plugin.dropin import install
from babysit_plugin.dropin.demo import stage_demo
from protocol.journal import open_run, read_journal
from protocol.pending import pending_actions

pytestmark = pytest.mark.e2e

# Plain {id, build} tasks, so the process loads without the SDK beside it.
SLOW_GROUP = """\
"use strict";
const step = {
  id: "e2e.step",
  build(args) {
    return { kind: "shell", title: args.name, shell: { command: args.command } };
  },
};
exports.process = async function process(inputs, ctx) {
  const results = await ctx.parallel.all([
    () => ctx.task(step, { name: "fast", command: "echo fast" }, { label: "fast" }),
    () => ctx.task(step, { name: "slow-1", command: "exec sleep 60" }, { label: "slow-1" }),
    () => ctx.task(step, { name: "slow-2", command: "exec sleep 60" }, { label: "slow-2" }),
  ]);
  return { results };
};
"""


def group_of(run_dir: Path) -> str:
    hints = pending_actions(open_run(run_dir))[0].scheduler_hints
    assert hints is not None
    assert hints.parallel_group_id is not None
    return hints.parallel_group_id


def resolved(run_dir: Path) -> list[str]:
    journal = read_journal(open_run(run_dir))
    return [e.effect_id for e in journal.effects.values() if e.status != "requested"]


def demo_run(project: Project) -> Path:
    run_dir = stage_demo(project.root)
    assert run_dir == project.runs / "demo"
    return run_dir


def values(run_dir: Path) -> list[Any]:
    journal = read_journal(open_run(run_dir))
    out = []
    for effect_id in journal.effects:
        result = json.loads((run_dir / "tasks" / effect_id / "result.json").read_text())
        out.append(result["value"])
    return out


def test_iterate_performs_the_group_in_the_hook_and_moves_on(project: Project) -> None:
    """With install's hook and a dispatcher where the plugin keeps it: executed, then completed."""
    run_dir = demo_run(project)
    gid = group_of(run_dir)
    report = install.install(project.root, with_dispatcher=True, env=project.env)
    assert report.dispatcher.path == project.root / "plugins/babysitter/hooks/hook-dispatcher.sh"

    first = project.iterate(run_dir)
    assert first["status"] == "executed"
    assert first["action"] == "executed-tasks"
    assert first["count"] == 6
    assert first["reason"] == (
        f"babysit-plugin: performed 6 effect(s) of parallel group {gid} (6 ok, 0 error)"
    )
    assert first["metadata"]["hookStatus"] == "executed"
    assert len(resolved(run_dir)) == 6
    assert values(run_dir) == [f"chunk {n} done\n" for n in range(1, 7)]

    second = project.iterate(run_dir)
    assert second["status"] == "completed"
    assert project.output(run_dir) == {"results": [f"chunk {n} done\n" for n in range(1, 7)]}


def _only_0x(project: Project) -> None:
    if project.sdk.is6:
        pytest.skip(
            "0.0.x hook discovery: 6.x runs .a5c/hooks itself (test_sdk603_runs_e2e.py covers it)"
        )


def test_dispatcher_under_claude_plugin_root(project: Project, tmp_path: Path) -> None:
    """The dispatcher is also found at $CLAUDE_PLUGIN_ROOT/hooks/ under Claude Code."""
    _only_0x(project)
    run_dir = demo_run(project)
    install.install(project.root, env=project.env)
    plugin_root = tmp_path / "claude-plugin"
    dispatcher = plugin_root / "hooks" / "hook-dispatcher.sh"
    dispatcher.parent.mkdir(parents=True)
    dispatcher.write_text(install.render_dispatcher([]))
    env_file = tmp_path / "claude.env"
    env_file.write_text("")
    project.env["CLAUDE_PLUGIN_ROOT"] = str(plugin_root)
    project.env["CLAUDE_ENV_FILE"] = str(env_file)

    first = project.iterate(run_dir)
    assert (first["status"], first["count"]) == ("executed", 6)
    assert project.iterate(run_dir)["status"] == "completed"


def test_without_a_dispatcher_the_hook_never_runs(project: Project) -> None:
    """SDK 0.0.187 with no hook dispatcher: run:iterate ignores .a5c/hooks entirely."""
    _only_0x(project)
    run_dir = demo_run(project)
    report = install.install(project.root, env=project.env)
    assert report.dispatcher.path is None
    result = project.iterate(run_dir)
    assert result["status"] == "waiting"
    assert result["metadata"]["hookStatus"] == "no-hooks-configured"
    assert resolved(run_dir) == []


@pytest.mark.slow
def test_hook_stays_within_its_budget_under_the_sdk(project: Project) -> None:
    """Effects over the budget are killed and left pending; the next iterate hands them back."""
    (project.processes / "slow-group.js").write_text(SLOW_GROUP)
    run_dir = project.create("slow-group", "slow")
    first_wait = project.iterate(run_dir)
    assert first_wait["status"] == "waiting"
    gid = group_of(run_dir)
    install.install(project.root, with_dispatcher=True, env=project.env)
    project.env["BABYSIT_PLUGIN_HOOK_BUDGET"] = "4"

    started = time.monotonic()
    first = project.iterate(run_dir)
    elapsed = time.monotonic() - started
    assert elapsed < 15
    assert first["status"] == "executed"
    assert first["count"] == 1
    assert first["reason"] == (
        f"babysit-plugin: performed 1 effect(s) of parallel group {gid} (1 ok, 0 error); "
        "2 left pending for the skill (hook time budget reached)"
    )
    assert first["metadata"]["hookStatus"] == "executed"

    second = project.iterate(run_dir)
    assert second["status"] == "waiting"
    assert second["action"] == "none"
    assert second["reason"] == "shell-pending"
    assert [a["label"] for a in second["nextActions"]] == ["slow-1", "slow-2"]


# -- the skill against SDK 0.0.187's CLI ---------------------------------------------------------

_SDK_CALL = re.compile(r"babysitter ([a-z]+:[a-z-]+)([^`\n|]*)")


def test_skill_uses_only_commands_and_flags_of_the_sdk_cli(project: Project) -> None:
    """Every `babysitter CMD --flag` the skill names exists in the pinned SDK's usage."""
    usage = project.babysitter("--help").stdout
    lines = {
        m.group(1): m.group(0)
        for m in re.finditer(r"^\s*babysitter ([a-z]+:[a-z-]+)(.*)$", usage, re.MULTILINE)
    }
    calls = _SDK_CALL.findall(install.skill_source())
    assert {cmd for cmd, _ in calls} >= {"run:iterate", "task:list", "task:post"}
    for cmd, rest in calls:
        assert cmd in lines, cmd
        for flag in re.findall(r"--[a-z-]+", rest):
            assert flag in lines[cmd], f"{cmd} {flag}"


def test_installed_skill_commands_drive_a_run(project: Project) -> None:
    """The installed skill's commands, run as written, take a run of the demo process to
    completion: once step by step (dispatch, run:iterate), once with drive."""
    # Runs made by this line's own run:create (the bundled demo run is a 0.0.187 recording).
    demo = Path(install.__file__).resolve().parents[1] / "data" / "demo" / "processes" / "demo.js"
    shutil.copy2(demo, project.processes / "demo.js")
    run_dir = project.create("demo", "demo")
    driven = project.create("demo", "driven")
    install.install(project.root, env=project.env)
    skill = (project.root / ".claude/skills/babysit-plugin/SKILL.md").read_text()
    fenced = re.findall(r"^```bash\n(.*?)^```$", skill, re.MULTILINE | re.DOTALL)
    commands = [line for block in fenced for line in block.splitlines()]
    plugin = install.skill_command()
    assert commands == [
        f"{plugin} drive <runId> --json",
        f"{plugin} dispatch <runId> --json",
        "babysitter run:iterate <runId> --json | tee /tmp/iterate.json | "
        f"{plugin} dispatch <runId> --actions - --json",
        "babysitter run:iterate <runId> --json",
        f"{plugin} status <runId>",
        f"{plugin} pending <runId>",
        f"{plugin} verify <runId>",
    ]
    drive, dispatch, _, iterate, status, pending, verify = commands

    def shell(command: str, run: Path = run_dir) -> subprocess.CompletedProcess[str]:
        command = command.replace("<runId>", run.name)
        command = command.replace("babysitter ", f"{project.sdk.babysitter} ", 1)
        return subprocess.run(
            ["bash", "-c", command],
            cwd=project.root,
            env=project.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    waiting = json.loads(shell(iterate).stdout)
    assert waiting["status"] == "waiting"
    groups = {a["schedulerHints"]["parallelGroupId"] for a in waiting["nextActions"]}
    assert len(groups) == 1
    dispatched = shell(dispatch)
    if project.sdk.is6:
        # 6.x ran the installed hook itself inside that run:iterate (no dispatcher needed)
        # and posted the group there, so dispatch finds nothing left and says so (exit 5).
        assert dispatched.returncode == 5, dispatched.stderr
        assert json.loads(dispatched.stdout)["counts"]["total"] == 0
        assert len(values(run_dir)) == 6
    else:
        assert dispatched.returncode == 0, dispatched.stderr
        assert json.loads(dispatched.stdout)["counts"] == {
            "ok": 6,
            "error": 0,
            "skipped": 0,
            "posted": 6,
            "total": 6,
        }
    assert json.loads(shell(iterate).stdout)["status"] == "completed"
    for command in (status, pending, verify):
        assert shell(command).returncode == 0, command
    done = shell(drive, driven)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "completed"
    assert project.output(driven) == {"results": [f"chunk {n} done\n" for n in range(1, 7)]}
    if not project.sdk.is6:  # on 6.x the installed hook performs them inside run:iterate
        assert sorted(e["status"] for e in report["effects"]) == ["ok"] * 6
    assert shell(verify, driven).returncode == 0
