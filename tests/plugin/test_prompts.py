"""Agent prompts match the SDK's buildAgentPrompt; values are read back from answers."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import rundirs

from babysit_plugin.harness.prompts import (
    build_agent_prompt,
    build_fallback_prompt,
    build_skill_prompt,
    parse_value,
)

AGENT_TASKS: list[dict[str, Any]] = [
    {"kind": "agent", "title": "t"},
    {"kind": "agent"},
    {"kind": "agent", "title": "x", "agent": {"prompt": "  Do the thing  "}},
    {"kind": "agent", "agent": {"prompt": ["first", "", 3, "  second  "]}},
    {"kind": "agent", "title": "fallback", "agent": {"prompt": []}},
    {"kind": "agent", "title": "fallback", "agent": {"prompt": "   "}},
    {"kind": "agent", "title": "no prompt", "agent": {"name": "n"}},
    {
        "kind": "agent",
        "agent": {
            "name": "general-purpose",
            "prompt": {
                "role": "Code reviewer",
                "task": "Review src/app.py",
                "context": {"file": "src/app.py", "n": [1, 2.5, None], "ü": "ß"},
                "instructions": ["Read", 7, None, True, {"a": 1}, [1, [2, 3]]],
                "outputFormat": "JSON",
            },
            "outputSchema": {"type": "object", "required": ["problems"]},
        },
    },
    {"kind": "agent", "agent": {"prompt": {"task": "only task", "context": 0}}},
    {"kind": "agent", "agent": {"prompt": {"context": ""}, "outputSchema": []}},
    {"kind": "agent", "agent": {"prompt": "str", "outputSchema": {"type": "string"}}},
]


def _sdk_prompts(tasks: list[dict[str, Any]]) -> list[str]:
    found = rundirs.find_sdk()
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
def test_agent_prompt_is_the_sdks() -> None:
    """build_agent_prompt gives byte-identical text to the SDK's buildAgentPrompt."""
    expected = _sdk_prompts(AGENT_TASKS)
    assert [build_agent_prompt(t) for t in AGENT_TASKS] == expected


def test_agent_prompt_structured_sections() -> None:
    """Role, task, context, numbered instructions and output format appear in order."""
    text = build_agent_prompt(AGENT_TASKS[7])
    assert text.startswith("You are an autonomous agent. PERFORM the task below")
    assert "Role: Code reviewer\n\nTask:\nReview src/app.py\n\nContext:\n{\n" in text
    assert "\nInstructions:\n1. Read\n2. 7\n3. null\n4. true\n5. [object Object]\n6. 1,2,3\n" in (
        text
    )
    assert text.endswith(
        'Output schema: {\n  "type": "object",\n  "required": [\n    "problems"\n  ]\n}'
    )


def test_skill_prompt_names_the_skill_and_context() -> None:
    """A skill prompt says which skill to use, the title and the context as JSON."""
    task = {
        "kind": "skill",
        "title": "Analyze the codebase",
        "skill": {"name": "codebase-analyzer", "context": {"scope": "src", "depth": 2}},
    }
    text = build_skill_prompt(task, "E1")
    assert "Use the skill: codebase-analyzer" in text
    assert "\nTask:\nAnalyze the codebase" in text
    assert text.endswith('Context:\n{\n  "scope": "src",\n  "depth": 2\n}')


def test_fallback_prompts_follow_the_sdk() -> None:
    """node/orchestrator use metadata.prompt, then title, then 'Execute task'; others 'Handle'."""
    assert build_fallback_prompt({"kind": "node", "metadata": {"prompt": "P"}}, "E", "t") == "P"
    assert build_fallback_prompt({"kind": "node", "title": "T"}, "E", "t") == "T"
    assert build_fallback_prompt({"kind": "orchestrator_task"}, "E", "t.id") == (
        "Execute task t.id"
    )
    assert build_fallback_prompt({"kind": "weird"}, "E9", None) == (
        "Handle effect E9 (kind: weird)"
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ("  [1, 2]\n", [1, 2]),
        ("42", 42),
        ('"quoted"', "quoted"),
        ("null", None),
        ('Here you go:\n```json\n{"score": 90}\n```\nThanks', {"score": 90}),
        ("```JSON\n[true]\n```", [True]),
        ('```json\nnot json\n```\n```json\n{"second": 2}\n```', {"second": 2}),
        ("plain answer\n", "plain answer"),
        ("```python\nprint(1)\n```", "```python\nprint(1)\n```"),
        ("{broken", "{broken"),
        ("", ""),
    ],
)
def test_parse_value(text: str, value: object) -> None:
    """JSON when the answer is JSON or holds a ```json block, else the trimmed text."""
    assert parse_value(text) == value
