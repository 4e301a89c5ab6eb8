"""Prompts for harness-run effects, and reading a value back from harness output.

The agent prompt is shaped as the SDK's own harness shapes it
(``harnessPhase1.buildAgentPrompt``): the same preamble, ``Role:``/``Task:``/
``Context:``/``Instructions:``/``Output format:`` sections, the same
structured-output lines when the agent declares an ``outputSchema``, and the
same fallbacks (a string or list ``prompt`` is used as the task text; no
``agent`` at all gives the title).  ``JSON.stringify(x, null, 2)`` there is
:func:`protocol.jsonjs.dumps` here, and ``${item}`` is :func:`js_string`.

Skill effects (``taskDef.skill = {name, context?, prompt?}``) get the same
preamble, the skill to use, the title/description and the context.  Other
kinds opted in with ``--kinds`` get the SDK's fallback: ``metadata.prompt``,
else the title, else ``Execute task <taskId>`` (node, orchestrator_task) or
``Handle effect <id> (kind: <kind>)``.

Values: a harness's answer is trimmed; if the whole text is JSON it is parsed;
else the first fenced ```json block that parses is used; else the text itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from protocol import jsonjs
from protocol.jsonjs import JsonValue

PREAMBLE = (
    "You are an autonomous agent. PERFORM the task below using your available tools.",
    "Do not just describe what you would do. Execute the work and then summarize what you changed.",
)


def js_string(value: Any) -> str:
    """``String(value)`` as JavaScript writes it, for JSON values."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return jsonjs.js_number(value)
    if isinstance(value, list):
        return ",".join("" if v is None else js_string(v) for v in value)
    return "[object Object]"


def _js_truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return value is not None


def structured_output_instructions(agent: Mapping[str, Any]) -> list[str]:
    """The lines the SDK adds when an agent declares an ``outputSchema`` object."""
    schema = agent.get("outputSchema")
    # `!schema || typeof schema !== "object"`: any object or array counts.
    if not isinstance(schema, (dict, list)):
        return []
    return [
        "Return ONLY a JSON object that matches the declared output schema.",
        "Do not wrap the JSON in markdown fences, and do not prepend or append prose.",
        f"Output schema: {jsonjs.dumps(schema)}",
    ]


def _title(task: Mapping[str, Any], default: str) -> str:
    title = task.get("title")
    # `taskDef.title ?? default`: only null/undefined fall through.
    return default if title is None else js_string(title)


def build_agent_prompt(task: Mapping[str, Any]) -> str:
    """The prompt for an ``agent`` effect, from its raw task definition."""
    agent = task.get("agent")
    if not _js_truthy(agent) or not isinstance(agent, Mapping):
        return _title(task, "Execute task")
    structured = structured_output_instructions(agent)
    raw = agent.get("prompt")
    if isinstance(raw, str) and raw.strip():
        return "\n".join([*PREAMBLE, *structured, "", "Task:", raw.strip()])
    if isinstance(raw, list) and raw:
        lines = [e.strip() for e in raw if isinstance(e, str) and e.strip()]
        if lines:
            return "\n".join([*PREAMBLE, *structured, "", "Task:", *lines])
    if isinstance(raw, list):
        # An array is an object in JS: it falls through to the sections, none of which apply.
        raw = {}
    if not isinstance(raw, Mapping):
        return _title(task, "Execute task")
    parts: list[str] = [*PREAMBLE, ""]
    if isinstance(raw.get("role"), str):
        parts.append(f"Role: {raw['role']}")
    if isinstance(raw.get("task"), str):
        parts.append(f"\nTask:\n{raw['task']}")
    if _js_truthy(raw.get("context")):
        parts.append(f"\nContext:\n{jsonjs.dumps(raw['context'])}")
    instructions = raw.get("instructions")
    if isinstance(instructions, list):
        numbered = "\n".join(f"{i + 1}. {js_string(item)}" for i, item in enumerate(instructions))
        parts.append(f"\nInstructions:\n{numbered}")
    if isinstance(raw.get("outputFormat"), str):
        parts.append(f"\nOutput format: {raw['outputFormat']}")
    if structured:
        parts.append("\n" + "\n".join(structured))
    return "\n".join(parts)


def build_skill_prompt(task: Mapping[str, Any], effect_id: str) -> str:
    """The prompt for a ``skill`` effect: which skill, what for, with what context."""
    skill = task.get("skill")
    if not isinstance(skill, Mapping):
        return _title(task, f"Handle effect {effect_id} (kind: skill)")
    parts: list[str] = [*PREAMBLE, ""]
    name = skill.get("name")
    if isinstance(name, str) and name:
        parts.append(f"Use the skill: {name}")
    title = task.get("title")
    if isinstance(title, str) and title:
        parts.append(f"\nTask:\n{title}")
    description = task.get("description")
    if isinstance(description, str) and description:
        parts.append(f"\nDescription:\n{description}")
    prompt = skill.get("prompt")
    if isinstance(prompt, str) and prompt.strip():
        parts.append(f"\nInstructions:\n{prompt.strip()}")
    if _js_truthy(skill.get("context")):
        parts.append(f"\nContext:\n{jsonjs.dumps(skill['context'])}")
    structured = structured_output_instructions(skill)
    if structured:
        parts.append("\n" + "\n".join(structured))
    return "\n".join(parts)


def build_fallback_prompt(task: Mapping[str, Any], effect_id: str, task_id: str | None) -> str:
    """The SDK's prompt for node / orchestrator_task / unknown kinds."""
    kind = task.get("kind")
    if kind in ("node", "orchestrator_task"):
        meta = task.get("metadata")
        if isinstance(meta, Mapping) and isinstance(meta.get("prompt"), str):
            return str(meta["prompt"])
        return _title(task, f"Execute task {task_id or effect_id}")
    return _title(task, f"Handle effect {effect_id} (kind: {js_string(kind)})")


def build_prompt(task: Mapping[str, Any], effect_id: str, task_id: str | None) -> str:
    """The prompt for any harness-run effect, chosen by its kind."""
    kind = task.get("kind")
    if kind == "agent":
        return build_agent_prompt(task)
    if kind == "skill":
        return build_skill_prompt(task, effect_id)
    return build_fallback_prompt(task, effect_id, task_id)


_FENCED_JSON = re.compile(r"```json[ \t]*\r?\n(.*?)```", re.DOTALL | re.IGNORECASE)


def parse_value(text: str) -> JsonValue:
    """A harness answer as a value: JSON if it is JSON (or holds a ```json block), else text."""
    trimmed = text.strip()
    if not trimmed:
        return trimmed
    try:
        return jsonjs.loads(trimmed)
    except ValueError:
        pass
    for match in _FENCED_JSON.finditer(trimmed):
        try:
            return jsonjs.loads(match.group(1).strip())
        except ValueError:
            continue
    return trimmed
