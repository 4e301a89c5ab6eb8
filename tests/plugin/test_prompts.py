"""Prompts carry the whole task; answers are read back as values.

Golden prompts: every task definition in ``tests/fixtures/tasks/`` (shapes
taken from upstream's process library, contents written here) and every
harness-kind task of the recorded runs in ``tests/fixtures/runs/`` is rendered
and compared with ``tests/fixtures/prompts/<name>.txt``.  After a deliberate
change of the layout, rewrite them with ``BABYSIT_UPDATE_GOLDEN=1 pytest
tests/plugin/test_prompts.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import kit
import pytest

from babysit_plugin.harness.prompts import (
    SCHEMA_ADVICE,
    build_prompt,
    output_schema,
    parse_json_answer,
    parse_value,
    with_violation,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TASKS = FIXTURES / "tasks"
GOLDEN = FIXTURES / "prompts"
RUN_DIR = Path("/repo/.a5c/runs/R")
HARNESS_KINDS = ("agent", "skill", "node", "orchestrator_task")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _golden_cases() -> list[tuple[str, dict[str, Any]]]:
    cases = [(p.stem, _load(p)) for p in sorted(TASKS.glob("*.json"))]
    for path in sorted((FIXTURES / "runs").glob("*/tasks/*/task.json")):
        task = _load(path)
        if task.get("kind") in HARNESS_KINDS:
            cases.append((f"run-{path.parts[-4]}-{path.parts[-2]}", task))
    return [(n, t) for n, t in cases if t.get("kind") in HARNESS_KINDS]


def _render(task: dict[str, Any]) -> str:
    return build_prompt(
        task, str(task.get("effectId")), task.get("taskId"), harness="claude-code", run_dir=RUN_DIR
    )


@pytest.mark.parametrize(
    ("name", "task"), _golden_cases(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_golden_prompt(name: str, task: dict[str, Any]) -> None:
    """The prompt of each fixture task is exactly its golden text."""
    text = _render(task) + "\n"
    golden = GOLDEN / f"{name}.txt"
    if os.environ.get("BABYSIT_UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text()


def test_library_shapes_are_enough() -> None:
    """At least ten library-shaped task definitions, covering every harness kind."""
    tasks = [_load(p) for p in TASKS.glob("*.json")]
    assert len(tasks) >= 10
    assert {t["kind"] for t in tasks} >= {"agent", "skill", "node", "orchestrator_task", "shell"}


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [] if value is None else [value if isinstance(value, str) else json.dumps(value)]


@pytest.mark.parametrize("path", sorted(TASKS.glob("*.json")), ids=lambda p: p.stem)
def test_nothing_the_process_wrote_is_dropped(path: Path) -> None:
    """Every string and number of the prompt, context, inputs, node and payload reaches the text."""
    task = _load(path)
    if task["kind"] not in HARNESS_KINDS:
        pytest.skip("not a harness kind")
    text = _render(task)
    wanted: list[Any] = [task.get("inputs"), task.get("title"), task.get("description")]
    for key in ("agent", "skill"):
        block = task.get(key) or {}
        wanted += [block.get("prompt"), block.get("name")]
    wanted += [task.get("node"), (task.get("orchestratorTask") or {}).get("payload")]
    wanted += [(task.get("metadata") or {}).get("prompt")]
    for leaf in _leaves(wanted):
        assert leaf.strip() in text, f"{leaf!r} missing from the prompt of {path.name}"
    schema = output_schema(task)
    if schema is not None:
        assert json.dumps(schema, indent=2) in text
        assert text.endswith(json.dumps(schema, indent=2))
        assert SCHEMA_ADVICE in text


def test_skill_block_and_agent_block_beside_it() -> None:
    """A skill's prompt and schema come from skill, else from the agent block beside it."""
    task = _load(TASKS / "skill-agent-block.json")
    assert output_schema(task) == task["agent"]["outputSchema"]
    text = _render(task)
    assert "Role: Security tester" in text
    assert "Skill: use the skill `fuzzing` — invoke it with the Skill tool (or /fuzzing)." in text
    assert "Instructions:\n1. Write a harness\n2. Run it\n3. Triage crashes" in text


@pytest.mark.parametrize(
    ("harness", "line"),
    [
        ("claude-code", "invoke it with the Skill tool (or /fmt)"),
        ("codex", "invoke it as $fmt"),
        ("pi", "invoke it with /skill:fmt"),
        ("gemini-cli", "activate it with the activate_skill tool"),
        ("opencode", "load it with the skill tool"),
        ("cursor", "read its SKILL.md (.claude/skills/fmt/ or .agents/skills/fmt/"),
        (None, "read its SKILL.md (.claude/skills/fmt/ or .agents/skills/fmt/"),
    ],
)
def test_skill_invocation_per_harness(harness: str | None, line: str) -> None:
    """The skill line says how to invoke the skill in the harness at hand."""
    task = {"kind": "skill", "title": "t", "skill": {"name": "fmt"}}
    assert f"Skill: use the skill `fmt` — {line}" in build_prompt(task, "E", None, harness=harness)


def test_node_and_orchestrator_sections() -> None:
    """node: the command, its args as JSON and the input file; orchestrator_task: the payload."""
    node = _render(_load(TASKS / "node-entry-args.json"))
    assert (
        "Run this Node script in the workspace and report its result:\n"
        "node .a5c/orchestrator_scripts/gsd/verify-task.js --task 3 --plan tasks/E10/input.json "
        "--strict"
    ) in node
    assert f"Input file: {RUN_DIR}/tasks/E10/input.json" in node
    orch = _render(_load(TASKS / "orchestrator-task-payload.json"))
    assert '"operation": "analyze-phase"' in orch.split("Payload:\n", 1)[1]


def _sdk_prompts(tasks: list[dict[str, Any]]) -> list[str]:
    found = kit.find_sdk()
    if isinstance(found, str):
        pytest.skip(found)
    module = found.dist / "cli" / "commands" / "harnessPhase1.js"
    script = (
        f"const m = require({json.dumps(str(module))});"
        "const tasks = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(tasks.map(t => m.buildAgentPrompt(t))));"
    )
    proc = subprocess.run(
        [found.node, "-e", script],
        input=json.dumps(tasks),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: list[str] = json.loads(proc.stdout)
    return result


@pytest.mark.e2e
def test_every_line_of_the_sdks_prompt_is_kept() -> None:
    """Field by field: each line the SDK's buildAgentPrompt renders is in our prompt."""
    tasks = [t for _, t in _golden_cases() if t["kind"] == "agent"]
    for task, sdk_text in zip(tasks, _sdk_prompts(tasks), strict=True):
        ours = build_prompt(task, "E", None).splitlines()
        missing = [line for line in sdk_text.splitlines() if line and line not in ours]
        assert not missing, (task.get("title"), missing)


def test_with_violation_appends() -> None:
    """A schema retry's prompt is the prompt, then the violation."""
    text = with_violation("P", "$.score: 'x' is not of type 'number'")
    assert text.startswith("P\n\nYour previous answer did not match the output schema")
    assert "$.score: 'x' is not of type 'number'" in text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ("  [1, 2]\n", [1, 2]),
        ("42", 42),
        ('"s"', "s"),
        ("plain words", "plain words"),
        ('Here:\n```json\n{"b": true}\n```\nbye', {"b": True}),
        ("```json\nnot json\n```", "```json\nnot json\n```"),
        ("", ""),
    ],
)
def test_parse_value(text: str, value: Any) -> None:
    """Whole-text JSON, else the first fenced json block, else the trimmed text."""
    assert parse_value(text) == value


@pytest.mark.parametrize(
    ("text", "value", "error"),
    [
        ('{"a": 1}', {"a": 1}, None),
        ('Done.\n```json\n{"a": 2}\n```', {"a": 2}, None),
        ('Result: {"a": 3} as asked', {"a": 3}, None),
        (
            "All done, the cache is configured.",
            None,
            "the answer is not JSON: 'All done, the cache is configured.'",
        ),
        ("  ", None, "the answer is empty, expected JSON"),
    ],
)
def test_parse_json_answer(text: str, value: Any, error: str | None) -> None:
    """A schema task's answer: JSON found in the text, or an error saying it is not JSON."""
    assert parse_json_answer(text) == (value, error)
