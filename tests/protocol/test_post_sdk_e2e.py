"""post_result writes the same bytes as the SDK's `task:post`, and the SDK replays them.

One run with six parallel effects is created by the real SDK and copied twice; one copy gets
its results from `babysitter task:post`, the other from `post_result`, with the same
startedAt/finishedAt. The two run directories must then be identical byte for byte, except
the new journal files' ULID (name), recordedAt and checksum, the state cache's savedAt (6.x
rebuilds it on every post), and our private directory. Finally `run:iterate` completes both
copies with the same process output.

Run on SDK 0.0.187 and on 6.0.3 (``.sdks/6.0.3``; skipped when absent), the latter also for
a run created with ``--harness claude-code`` and session variables in the environment of both
writers (6.x adds ``data.sessionId``).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kit import Project, find_sdk

from protocol import (
    ResultInput,
    effect_error_from_json,
    event_checksum,
    loads,
    open_run,
    post_result,
    read_json_arg,
    to_file_text,
    verify_run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STARTED = "2026-03-04T05:06:07.089Z"
FINISHED = "2026-03-04T05:06:08.001Z"

PROCESS = """\
const { defineTask } = require("@a5c-ai/babysitter-sdk");

const work = defineTask("work", (args) => ({
  kind: "shell",
  title: `work ${args.name}`,
  shell: { command: "true" },
}));

// An agent's error stays an error on 6.x too (only shell errors become values).
const think = defineTask("think", (args) => ({
  kind: "agent",
  title: `work ${args.name}`,
  agent: { name: "thinker", prompt: { task: "think" } },
}));

exports.process = async function (inputs, ctx) {
  const names = ["unicode", "floats", "keys", "error", "logs", "big", "agent-error"];
  return await ctx.parallel.all(
    names.map((name) => async () => {
      try {
        const task = name === "agent-error" ? think : work;
        return { name, ok: await ctx.task(task, { name }) };
      } catch (e) {
        if (e && e.isIntrinsic) throw e;
        return { name, caught: e.name, message: e.message };
      }
    }),
  );
};
"""

# Value files as a user would write them: task:post trims and JSON.parses them.
VALUES = {
    "unicode": '  "ü € 😀 \\u2028 \\u0000 e\\u0301 \\ud800 \\udfff\\ud83d"\n',
    "floats": "[1e21, 1.5e-7, 5e-324, -0, 100.0, 0.1, 1.7976931348623157e308, "
    "9007199254740993, 123456789012345680000, 1e-7, 12345.678e3]",
    "keys": '{"b": {"Z": 1, "a": 2, "\\u00e4": 3, "10": 4, "2": 5, "A": 6, "_": 7, "-": 8, '
    '"a1": 9, "a10": 10, "a2": 11}, "a": [{"y": 1, "x": {"d": [], "c": {}}}], "": 0, '
    '"B": null, "b": 1}',
    "logs": '{"done": true}',
}
ERROR = (
    '{"name": "ValidationError", "message": "bad input ✗", "stack": "Error: bad\\n    at x", '
    '"data": {"z": 1, "a": [2, {"d": 1, "c": 2}], "10": "ten"}, "extra": "dropped"}'
)


def _big_value() -> str:
    rows = [{"id": i, "text": f"row {i} ✓", "v": i / 7} for i in range(12_000)]
    return json.dumps({"rows": rows, "zz": "end", "aa": "start"})


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".babysit-plugin" not in p.relative_to(root).parts
    }


def _normalized_event(text: bytes) -> str:
    body = loads(text.decode("utf-8"))
    assert isinstance(body, dict)
    assert body["checksum"] == event_checksum(
        body["type"], body["recordedAt"], body["data"], body.get("sdkVersion")
    )
    body["recordedAt"] = "<recordedAt>"
    body["checksum"] = "<checksum>"
    return to_file_text(body)


def _normalized_state(text: bytes) -> str:
    body = loads(text.decode("utf-8"))
    assert isinstance(body, dict)
    # The rebuild's time, and the new events' ULID and recordedAt (= resolvedAt).
    body["savedAt"] = "<savedAt>"
    head = body["journalHead"]
    assert isinstance(head, dict)
    head["ulid"] = "<ulid>"
    effects = body["effectsByInvocation"]
    assert isinstance(effects, dict)
    for summary in effects.values():
        assert isinstance(summary, dict)
        if "resolvedAt" in summary:
            summary["resolvedAt"] = "<resolvedAt>"
    return to_file_text(body)


SESSION_ENV = {"CLAUDE_ENV_FILE": "/tmp/claude-env-1", "AGENT_SESSION_ID": "agent-7"}


@pytest.fixture(
    params=[
        pytest.param(("0.0.187", None), id="0.0.187"),
        pytest.param(("6.0.3", None), id="6.0.3"),
        pytest.param(("6.0.3", "claude-code"), id="6.0.3-harness-session"),
    ]
)
def project(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Project, str, str | None]:
    version, harness = request.param
    found = find_sdk(version)
    if isinstance(found, str):
        pytest.skip(found)
    project = Project(found, tmp_path)
    if version == "0.0.187":
        return project, version, harness
    for key in ("AGENT_SESSION_ID", "CLAUDE_ENV_FILE", "AGENT_TRUST_ENV_SESSION"):
        monkeypatch.delenv(key, raising=False)
    if harness is not None:
        project.env.update(SESSION_ENV)
        for key, value in SESSION_ENV.items():
            monkeypatch.setenv(key, value)
    return project, version, harness


def test_post_result_matches_task_post_byte_for_byte(
    project: tuple[Project, str, str | None],
) -> None:
    """Same results posted by task:post and post_result give identical run directories."""
    project_, version, harness = project
    _parity(project_, version, harness)


def _parity(project: Project, version: str, harness: str | None) -> None:
    six = version.startswith("6.")
    # 6.x's run:create makes .a5c/ an ES module package: a CommonJS process must be .cjs.
    process = project.write_file("proc.cjs" if six else "proc.js", PROCESS)
    flags = {"harness": harness} if harness is not None else {}
    run_dir = project.create_run(process, **flags)
    waiting = project.iterate(run_dir)
    assert waiting["status"] == "waiting"
    actions = {a["taskDef"]["title"].split()[1]: a["effectId"] for a in waiting["nextActions"]}
    assert sorted(actions) == ["agent-error", "big", "error", "floats", "keys", "logs", "unicode"]

    by_sdk = project.runs / "by-sdk"
    by_py = project.runs / "by-py"
    shutil.copytree(run_dir, by_sdk, symlinks=True)
    shutil.copytree(run_dir, by_py, symlinks=True)

    stamps = ("--started-at", STARTED, "--finished-at", FINISHED)
    files = {name: project.write_file(f"in/{name}.json", text) for name, text in VALUES.items()}
    files["big"] = project.write_file("in/big.json", _big_value())
    error_file = project.write_file("in/error.json", ERROR)
    stdout = project.write_file("in/stdout.txt", "out ✓\nline 2\n")
    stderr = project.write_file("in/stderr.txt", "warn\n")
    run = open_run(by_py)
    order = ["unicode", "floats", "keys", "error", "logs", "big", "agent-error"]
    for name in order:
        effect_id = actions[name]
        if name in ("error", "agent-error"):
            project.task_post(
                by_sdk, effect_id, "--status", "error", "--error", error_file, *stamps
            )
            result = ResultInput(
                status="error",
                error=effect_error_from_json(read_json_arg(error_file)),
                started_at=STARTED,
                finished_at=FINISHED,
            )
        else:
            extra: tuple[str | Path, ...] = ()
            if name == "logs":
                extra = ("--stdout-file", stdout, "--stderr-file", stderr)
            project.task_post(
                by_sdk, effect_id, "--status", "ok", "--value", files[name], *stamps, *extra
            )
            result = ResultInput(
                status="ok",
                value=read_json_arg(files[name]),
                stdout=stdout if name == "logs" else None,
                stderr=stderr if name == "logs" else None,
                started_at=STARTED,
                finished_at=FINISHED,
            )
        post_result(run, effect_id, result)

    sdk_files, py_files = _files(by_sdk), _files(by_py)
    new_sdk = sorted(k for k in sdk_files if k.startswith("journal/") and k not in _files(run_dir))
    new_py = sorted(k for k in py_files if k.startswith("journal/") and k not in _files(run_dir))
    assert len(new_sdk) == len(new_py) == 7
    for sdk_name, py_name in zip(new_sdk, new_py, strict=True):
        assert sdk_name.split(".")[0] == py_name.split(".")[0]
        assert _normalized_event(sdk_files.pop(sdk_name)) == _normalized_event(
            py_files.pop(py_name)
        )
    if six:
        state = "state/state.json"
        assert _normalized_state(sdk_files.pop(state)) == _normalized_state(py_files.pop(state))
        events = [loads(p.read_bytes().decode("utf-8")) for p in sorted(by_py.glob("journal/*"))]
        assert all(isinstance(e, dict) and e["sdkVersion"] == version for e in events)
        if harness is not None:
            resolved = [e for e in events if isinstance(e, dict) and e["type"] == "EFFECT_RESOLVED"]
            for event in resolved:
                assert isinstance(event, dict)
                data = event["data"]
                assert isinstance(data, dict)
                assert list(data)[-2:] == ["harness", "sessionId"]
                assert data["sessionId"] == SESSION_ENV["CLAUDE_ENV_FILE"]
    assert sorted(sdk_files) == sorted(py_files)
    for name in sdk_files:
        assert sdk_files[name] == py_files[name], f"{name} differs"
    assert any("/blobs/result-" in name for name in py_files)
    assert any(name.endswith("stdout.log") for name in py_files)
    assert verify_run(by_py).problems == ()

    outputs: list[Any] = []
    for copy in (by_sdk, by_py):
        done = project.iterate(copy)
        assert done["status"] == "completed", done
        outputs.append((copy / "state" / "output.json").read_bytes())
    assert outputs[0] == outputs[1]
    output = json.loads(outputs[1])
    if six:
        # 6.x's task:post turns a shell effect's error into an ok value.
        assert output[3] == {
            "name": "error",
            "ok": {
                "error": "Shell command exited with code 1",
                "exitCode": 1,
                "stderr": "",
                "stdout": "",
                "success": False,
            },
        }
    else:
        assert output[3] == {
            "name": "error",
            "caught": "ValidationError",
            "message": "bad input ✗",
        }
    assert output[4] == {"name": "logs", "ok": {"done": True}}
    assert output[6] == {
        "name": "agent-error",
        "caught": "ValidationError",
        "message": "bad input ✗",
    }
