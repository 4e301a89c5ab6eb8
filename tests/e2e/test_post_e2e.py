"""`babysit-plugin post` against the real SDK: the process receives what `task:post` gives it."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from kit import Project, record

from protocol import jsonjs

pytestmark = pytest.mark.e2e

STAMP = ("--started-at", "2026-03-04T05:06:07.089Z", "--finished-at", "2026-03-04T05:06:08.001Z")

VALUES: dict[str, str] = {
    "unicode": record.UNICODE_VALUE,
    "floats": record.FLOATS_VALUE,
    "keys": record.KEYS_VALUE,
    "nested": record.NESTED_VALUE,
    "scalars": '[null, true, false, "", 0, -0, 1e400, -1e400, "\\u2028"]',
    "null": "null",
    "string": '"just text ✓"',
    "padded": '  \n\t {"a": 1}\n\n',
    "big": record.big_value(),
}


Outcome = tuple[int, str, str]


def post_concurrently(
    project: Project, plugin: dict[str, list[str]], sdk: dict[str, list[str]]
) -> dict[str, Outcome]:
    """Start every plugin post at once while the SDK posts run one after another beside them.

    SDK commands are never run two at a time: the SDK creates run.lock empty and writes it
    afterwards, and a second SDK process reading it in between dies on JSON.parse. The plugin
    writes its lock whole, so plugin posts may overlap anything.
    """
    results: dict[str, Outcome] = {}

    def sdk_posts() -> None:
        for name, argv in sdk.items():
            done = subprocess.run(
                argv, cwd=project.root, env=project.env, capture_output=True, text=True, check=False
            )
            results[name] = (done.returncode, done.stdout, done.stderr)

    sequential = threading.Thread(target=sdk_posts)
    sequential.start()
    started = {
        name: subprocess.Popen(
            argv,
            cwd=project.root,
            env=project.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, argv in plugin.items()
    }
    for name, proc in started.items():
        out, err = proc.communicate(timeout=120)
        results[name] = (proc.returncode, out, err)
    sequential.join(timeout=300)
    return results


def _actions_by_label(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["label"]: a for a in result["nextActions"]}


def _neutral(text: str, action: dict[str, Any]) -> str:
    """A result/event text with the effect's own id and key replaced by placeholders."""
    return text.replace(action["effectId"], "<effect>").replace(action["invocationKey"], "<key>")


def _resolved_event(run_dir: Path, effect_id: str) -> dict[str, Any]:
    for path in sorted((run_dir / "journal").glob("*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        if event["type"] == "EFFECT_RESOLVED" and event["data"]["effectId"] == effect_id:
            data: dict[str, Any] = event["data"]
            return data
    raise AssertionError(f"no EFFECT_RESOLVED for {effect_id}")


def _task_files(run_dir: Path, action: dict[str, Any]) -> dict[str, str]:
    """Every file of the effect's task directory except task.json, ids neutralized."""
    task_dir = run_dir / "tasks" / action["effectId"]
    return {
        p.relative_to(task_dir).as_posix(): _neutral(p.read_text(encoding="utf-8"), action)
        for p in sorted(task_dir.rglob("*"))
        if p.is_file() and p.name != "task.json"
    }


@pytest.mark.slow
def test_values_reach_the_process_exactly_as_sdk_posted_ones(project: Project) -> None:
    """Each value posted by the plugin is received by the process exactly as its SDK twin."""
    names = [f"{value}@{who}" for value in VALUES for who in ("plugin", "sdk")]
    run_dir = project.create("receive", "values", inputs={"names": names})
    actions = _actions_by_label(project.iterate(run_dir))
    assert len(actions) == len(names)
    for i, (value, text) in enumerate(VALUES.items()):
        value_file = project.write(text, f"{value}.json")
        plugin_action, sdk_action = actions[f"{value}@plugin"], actions[f"{value}@sdk"]
        plugin_post = (
            "post",
            str(run_dir),
            plugin_action["effectId"],
            "--status",
            "ok",
            "--value",
            str(value_file),
            *STAMP,
        )
        sdk_post = (
            "task:post",
            str(run_dir),
            sdk_action["effectId"],
            "--status",
            "ok",
            "--value",
            str(value_file),
            *STAMP,
        )
        # Alternate who goes first so each side appends after the other's events.
        if i % 2 == 0:
            project.plugin(*plugin_post)
            project.babysitter(*sdk_post)
        else:
            project.babysitter(*sdk_post)
            project.plugin(*plugin_post)

    result = project.iterate(run_dir)
    assert result["status"] == "completed"
    received = {r["name"]: r for r in project.output(run_dir)["received"]}
    for value, text in VALUES.items():
        ours, theirs = received[f"{value}@plugin"], received[f"{value}@sdk"]
        assert ours["signature"] == theirs["signature"], value
        assert ours["text"] == theirs["text"], value
        # The SDK stores stableClone(value): object keys sorted as localeCompare sorts them.
        expected = jsonjs.dumps(jsonjs.stable_clone(jsonjs.loads(text.strip())), indent=None)
        assert ours["text"] == expected, value
        plugin_action, sdk_action = actions[f"{value}@plugin"], actions[f"{value}@sdk"]
        assert _task_files(run_dir, plugin_action) == _task_files(run_dir, sdk_action), value
        ours_event = _resolved_event(run_dir, plugin_action["effectId"])
        theirs_event = _resolved_event(run_dir, sdk_action["effectId"])
        assert _neutral(json.dumps(ours_event), plugin_action) == _neutral(
            json.dumps(theirs_event), sdk_action
        ), value
    big = _task_files(run_dir, actions["big@plugin"])
    assert any(name.startswith("blobs/result-") for name in big)
    assert project.plugin("verify", str(run_dir)).returncode == 0


ERRORS: dict[str, str | None] = {
    "full": record.ERROR_WITH_NAME,
    "default": None,
    "unnamed": record.ERROR_WITHOUT_NAME,
    "string": '"disk full"',
    "number": "404",
    "array": '[1, "two", {"b": 2, "a": 1}]',
    "nulls": '{"name": null, "message": null, "stack": 5, "data": null}',
    "blank": "  \n",
    "null": "null",
}


@pytest.mark.slow
def test_error_results_reach_the_process_exactly_as_sdk_posted_ones(project: Project) -> None:
    """Errors posted by the plugin surface in the process as their SDK-posted twins do."""
    names = [f"{error}@{who}" for error in ERRORS for who in ("plugin", "sdk")]
    run_dir = project.create("failures", "errors", inputs={"names": names})
    actions = _actions_by_label(project.iterate(run_dir))
    plugin: dict[str, list[str]] = {}
    sdk: dict[str, list[str]] = {}
    for error, text in ERRORS.items():
        extra: tuple[str, ...] = ()
        if text is not None:
            extra = ("--error", str(project.write(text, f"{error}.json")))
        stdout = project.write(f"output of {error}\n", f"{error}.out")
        common = ("--status", "error", "--stdout-file", str(stdout), *extra, *STAMP)
        ours, theirs = actions[f"{error}@plugin"]["effectId"], actions[f"{error}@sdk"]["effectId"]
        plugin[ours] = project.plugin_argv("post", str(run_dir), ours, *common)
        sdk[theirs] = [str(project.sdk.babysitter), "task:post", str(run_dir), theirs, *common]
    results = post_concurrently(project, plugin, sdk)
    for effect in plugin:
        code, out, err = results[effect]
        assert code == 0, out + err
        # A post that found the lock taken says so; nothing else goes to stderr.
        assert all(line.endswith("; waiting up to 10s") for line in err.splitlines()), err
        assert out.startswith(f"posted {effect} status=error "), out
    for effect in sdk:
        # task:post exits 1 after committing an error result.
        code, out, err = results[effect]
        assert code == 1, out + err
        assert out.startswith("[task:post] status=error "), out + err

    assert project.iterate(run_dir)["status"] == "completed"
    outcomes = {o["name"]: o for o in project.output(run_dir)["outcomes"]}
    for error in ERRORS:
        ours, theirs = outcomes[f"{error}@plugin"], outcomes[f"{error}@sdk"]
        assert ours["error"] == theirs["error"], error
        plugin_action, sdk_action = actions[f"{error}@plugin"], actions[f"{error}@sdk"]
        assert _task_files(run_dir, plugin_action) == _task_files(run_dir, sdk_action), error
        assert _neutral(
            json.dumps(_resolved_event(run_dir, plugin_action["effectId"])), plugin_action
        ) == _neutral(json.dumps(_resolved_event(run_dir, sdk_action["effectId"])), sdk_action)
    assert outcomes["default@plugin"]["error"]["message"] == "Task reported failure"
    assert outcomes["unnamed@plugin"]["error"]["name"] == "Object"


def _sdk_view(action: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "effectId",
        "invocationKey",
        "kind",
        "label",
        "labels",
        "taskId",
        "stepId",
        "taskDefRef",
        "inputsRef",
        "requestedAt",
        "schedulerHints",
    )
    return {k: action[k] for k in keys if k in action}


@pytest.mark.slow
def test_sdk_and_plugin_posts_interleave_across_iterations(project: Project) -> None:
    """Alternating plugin and SDK posts, iterating between them, run the process to the end."""
    count = 6
    run_dir = project.create("steps", "steps", inputs={"count": count}, harness="claude-code")
    for n in range(1, count + 1):
        result = project.iterate(run_dir)
        assert result["status"] == "waiting"
        pending = json.loads(project.plugin("pending", str(run_dir), "--json").stdout)
        assert pending["pending"] == [_sdk_view(a) for a in result["nextActions"]]
        (action,) = result["nextActions"]
        value = json.dumps({"n": n, "by": "plugin" if n % 2 else "sdk", "π": n / 3})
        if n % 2:
            project.plugin(
                "post", str(run_dir), action["effectId"], "--status", "ok", "--value-inline", value
            )
        else:
            project.babysitter(
                "task:post",
                str(run_dir),
                action["effectId"],
                "--status",
                "ok",
                "--value-inline",
                value,
            )
    assert project.iterate(run_dir)["status"] == "completed"
    values = project.output(run_dir)["values"]
    assert [v["n"] for v in values] == list(range(1, count + 1))
    assert [v["by"] for v in values] == ["plugin", "sdk"] * (count // 2)
    assert [v["π"] for v in values] == [n / 3 for n in range(1, count + 1)]
    assert project.plugin("verify", str(run_dir)).returncode == 0
    events = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((run_dir / "journal").glob("*.json"))
    ]
    if project.sdk.is6:  # 6.x: eventData.harness = ... after the event's own fields
        assert all(list(e["data"])[-1] == "harness" for e in events[1:])
    else:
        assert all(next(iter(e["data"])) == "harness" for e in events[1:])


def test_simultaneous_posts_from_plugin_and_sdk(project: Project) -> None:
    """Plugin posts started at once, SDK posts beside them: each commits exactly once."""
    names = [f"v{i}" for i in range(8)]
    run_dir = project.create("receive", "burst", inputs={"names": names})
    actions = _actions_by_label(project.iterate(run_dir))
    plugin: dict[str, list[str]] = {}
    sdk: dict[str, list[str]] = {}
    for i, name in enumerate(names):
        effect = actions[name]["effectId"]
        value = json.dumps({"i": i})
        args = ["--status", "ok", "--value-inline", value]
        if i % 2:
            plugin[name] = project.plugin_argv("post", str(run_dir), effect, *args)
        else:
            sdk[name] = [str(project.sdk.babysitter), "task:post", str(run_dir), effect, *args]
    results = post_concurrently(project, plugin, sdk)
    assert {name: code for name, (code, _, _) in results.items()} == dict.fromkeys(names, 0)
    assert project.iterate(run_dir)["status"] == "completed"
    received = project.output(run_dir)["received"]
    assert [json.loads(r["text"]) for r in received] == [{"i": i} for i in range(8)]
    resolved = [
        p
        for p in (run_dir / "journal").glob("*.json")
        if json.loads(p.read_text(encoding="utf-8"))["type"] == "EFFECT_RESOLVED"
    ]
    assert len(resolved) == 8
    assert project.plugin("verify", str(run_dir)).returncode == 0
