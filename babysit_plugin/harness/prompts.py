"""The prompt of a harness-run effect: the whole task, as the process wrote it.

One builder for every harness and every kind.  It renders, in this order:

1. the SDK's preamble (``harnessPhase1.buildAgentPrompt``'s two lines);
2. ``Role:``; for a skill, which skill to use and how to invoke it in the
   harness at hand; ``Agent:`` (the agent block's ``name``); ``Title:`` when
   the task text is not the title;
3. ``Task:`` — the prompt text (a string, the non-empty lines of a list, or an
   object prompt's ``task``), else the title; ``Description:`` when the task
   has one;
4. an object prompt's ``Context:`` (JSON), numbered ``Instructions:``,
   ``Output format:``, and every other field it has, each under its own name
   (a string as it is, anything else as JSON);
5. ``Inputs:`` — the task's arguments (``task.json``'s ``inputs``) as JSON;
6. for ``node``: the script to run (``node ENTRY ARGS...``, ``node.args`` also
   as JSON) and the input file; for ``orchestrator_task``: its ``payload`` as
   JSON; for both, ``metadata.prompt`` when given;
7. when the task declares an ``outputSchema``: the babysit skill's advice
   ("perform the task in full and return only the summary result in the
   requested schema") and the SDK's structured-output lines, schema included.

Where the prompt and schema come from: ``agent.prompt``/``agent.outputSchema``
for agents; for skills ``skill.prompt``/``skill.outputSchema``, else those of
an ``agent`` block beside ``skill`` (21 library skill tasks keep them there);
a top-level ``outputSchema`` (read by SDK 6.x) applies to any kind.

Compared line by line with the SDK: every line ``buildAgentPrompt`` renders
for an agent task appears here too (a test runs the SDK's function over the
same tasks); SDK 6.x's ``externalAgentEffect`` renders a subset (the string
prompt, or the instructions, or the task).  ``JSON.stringify(x, null, 2)`` is
:func:`protocol.jsonjs.dumps`, ``${item}`` is :func:`js_string`.

Values: :func:`parse_value` reads an answer with no schema (JSON if the whole
text is JSON or holds a fenced ```json block, else the text).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from protocol import jsonjs
from protocol.jsonjs import JsonValue, js_string, js_truthy

PREAMBLE = (
    "You are an autonomous agent. PERFORM the task below using your available tools.",
    "Do not just describe what you would do. Execute the work and then summarize what you changed.",
)

#: The babysit skill's advice to the orchestrator for a task with a schema.
SCHEMA_ADVICE = (
    "Perform the task in full and return only the summary result in the requested schema."
)

#: Object prompt fields rendered by name in the SDK's own layout; the rest follow them.
_KNOWN_PROMPT_FIELDS = ("role", "task", "context", "instructions", "outputFormat")

#: How a skill is invoked, per harness (others get the generic line).
SKILL_HOW = {
    "claude-code": "invoke it with the Skill tool (or /{name})",
    "codex": "invoke it as ${name}",
    "pi": "invoke it with /skill:{name}",
    "gemini-cli": "activate it with the activate_skill tool",
    "opencode": "load it with the skill tool",
}
_SKILL_GENERIC = (
    "read its SKILL.md (.claude/skills/{name}/ or .agents/skills/{name}/ in the workspace) "
    "and follow it"
)


def _block(task: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = task.get(key)
    return value if isinstance(value, Mapping) else None


def prompt_source(task: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The block holding the task's prompt: ``agent``, or for a skill ``skill`` / its ``agent``."""
    agent, skill = _block(task, "agent"), _block(task, "skill")
    if (
        task.get("kind") == "skill"
        and skill is not None
        and (skill.get("prompt") is not None or agent is None or agent.get("prompt") is None)
    ):
        return skill
    return agent if agent is not None else skill


def output_schema(task: Mapping[str, Any]) -> Any:
    """The ``outputSchema`` a task declares (object or boolean), else ``None``.

    ``agent.outputSchema``; for a skill ``skill.outputSchema`` then the agent
    block's; then a top-level ``outputSchema``.
    """
    blocks = [_block(task, "agent")]
    if task.get("kind") == "skill":
        blocks.insert(0, _block(task, "skill"))
    for block in (*blocks, task):
        if block is None:
            continue
        schema = block.get("outputSchema")
        if isinstance(schema, (dict, bool)):
            return schema
    return None


def structured_output_instructions(schema: Any) -> list[str]:
    """The SDK's lines for a declared ``outputSchema``, after the skill's advice."""
    if schema is None:
        return []
    return [
        SCHEMA_ADVICE,
        "Return ONLY a JSON object that matches the declared output schema.",
        "Do not wrap the JSON in markdown fences, and do not prepend or append prose.",
        f"Output schema: {jsonjs.dumps(schema)}",
    ]


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else jsonjs.dumps(value)


def _label(key: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key).replace("_", " ").strip()
    return (words[:1].upper() + words[1:]) if words else key


def _task_text(raw: Any) -> list[str] | None:
    if isinstance(raw, str) and raw.strip():
        return [raw.strip()]
    if isinstance(raw, list):
        lines = [e.strip() for e in raw if isinstance(e, str) and e.strip()]
        return lines or None
    return None


def _skill_line(skill: Mapping[str, Any], harness: str | None) -> str | None:
    name = skill.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    how = SKILL_HOW.get(harness or "", _SKILL_GENERIC).replace("{name}", name)
    return f"Skill: use the skill `{name}` — {how}."


def _node_section(task: Mapping[str, Any]) -> list[str]:
    node = _block(task, "node")
    if node is None:
        return []
    parts: list[str] = []
    entry = node.get("entry")
    args = node.get("args")
    arg_list = [js_string(a) for a in args] if isinstance(args, list) else []
    if isinstance(entry, str) and entry:
        command = shlex.join(["node", entry, *arg_list])
        parts.append(f"\nRun this Node script in the workspace and report its result:\n{command}")
    if args is not None:
        parts.append(f"\nScript arguments:\n{jsonjs.dumps(args)}")
    rest = {k: v for k, v in node.items() if k not in ("entry", "args")}
    if rest:
        parts.append(f"\nNode options:\n{jsonjs.dumps(rest)}")
    return parts


def _input_file(task: Mapping[str, Any], run_dir: Path | None) -> list[str]:
    io = _block(task, "io")
    path = io.get("inputJsonPath") if io is not None else None
    if not isinstance(path, str) or not path:
        return []
    where = str(run_dir / path) if run_dir is not None else path
    return [f"\nInput file: {where}"]


def build_prompt(
    task: Mapping[str, Any],
    effect_id: str,
    task_id: str | None,
    *,
    harness: str | None = None,
    run_dir: Path | None = None,
) -> str:
    """The prompt for any harness-run effect (see the module docstring for the layout)."""
    kind = task.get("kind")
    source = prompt_source(task)
    raw = source.get("prompt") if source is not None else None
    prompt_obj = raw if isinstance(raw, Mapping) else None
    parts: list[str] = [*PREAMBLE, ""]

    if prompt_obj is not None and isinstance(prompt_obj.get("role"), str):
        parts.append(f"Role: {prompt_obj['role']}")
    skill = _block(task, "skill")
    if kind == "skill" and skill is not None:
        line = _skill_line(skill, harness)
        if line:
            parts.append(line)
    agent = _block(task, "agent")
    if agent is not None and isinstance(agent.get("name"), str) and agent["name"]:
        parts.append(f"Agent: {agent['name']}")

    text = _task_text(raw)
    if text is None and prompt_obj is not None and isinstance(prompt_obj.get("task"), str):
        text = [prompt_obj["task"]]
    meta = _block(task, "metadata")
    if (
        text is None
        and kind in ("node", "orchestrator_task")
        and meta is not None
        and isinstance(meta.get("prompt"), str)
    ):
        text = [meta["prompt"]]
    title = None if task.get("title") is None else js_string(task.get("title"))
    if text is not None and title:
        parts.append(f"Title: {title}")
    if text is None:
        if title is not None:
            text = [title]
        elif kind in ("node", "orchestrator_task"):
            text = [f"Execute task {task_id or effect_id}"]
        elif kind not in ("agent", "skill"):
            text = [f"Handle effect {effect_id} (kind: {js_string(kind)})"]
        else:
            text = ["Execute task"]
    if parts[-1] == "":
        parts.pop()  # no header lines: the blank line of the preamble is enough
    parts.append("\nTask:\n" + "\n".join(text))
    description = task.get("description")
    if isinstance(description, str) and description.strip():
        parts.append(f"\nDescription:\n{description.strip()}")

    if prompt_obj is not None:
        if js_truthy(prompt_obj.get("context")):
            parts.append(f"\nContext:\n{jsonjs.dumps(prompt_obj['context'])}")
        instructions = prompt_obj.get("instructions")
        if isinstance(instructions, list):
            numbered = "\n".join(f"{i + 1}. {js_string(x)}" for i, x in enumerate(instructions))
            parts.append(f"\nInstructions:\n{numbered}")
        elif isinstance(instructions, str) and instructions.strip():
            parts.append(f"\nInstructions:\n{instructions.strip()}")
        if isinstance(prompt_obj.get("outputFormat"), str):
            parts.append(f"\nOutput format: {prompt_obj['outputFormat']}")
        for key, value in prompt_obj.items():
            if key in _KNOWN_PROMPT_FIELDS or value is None:
                continue
            parts.append(f"\n{_label(str(key))}:\n{_as_text(value)}")
    if skill is not None and kind == "skill" and js_truthy(skill.get("context")):
        parts.append(f"\nSkill context:\n{jsonjs.dumps(skill['context'])}")

    inputs = task.get("inputs")
    if inputs is not None and inputs != {}:
        parts.append(f"\nInputs:\n{jsonjs.dumps(inputs)}")
    if kind == "node":
        parts.extend(_node_section(task))
    if kind == "orchestrator_task":
        orch = _block(task, "orchestratorTask")
        if orch is not None and "payload" in orch:
            parts.append(f"\nPayload:\n{jsonjs.dumps(orch['payload'])}")
    if kind in ("node", "orchestrator_task"):
        parts.extend(_input_file(task, run_dir))

    structured = structured_output_instructions(output_schema(task))
    if structured:
        parts.append("\n" + "\n".join(structured))
    return "\n".join(parts)


def with_violation(prompt: str, violation: str) -> str:
    """The prompt again, with the previous answer's schema violation appended."""
    return (
        f"{prompt}\n\nYour previous answer did not match the output schema ({violation}). "
        "Answer again with ONLY the JSON value."
    )


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


def parse_json_answer(text: str) -> tuple[JsonValue, str | None]:
    """A schema task's answer: the JSON value, or an error saying it is not JSON.

    The whole trimmed text, else the first fenced ```json block, else the text
    from its first ``{`` or ``[`` to the matching last one (the SDK's
    ``extractJsonObjectFromText`` looks the same way).
    """
    trimmed = text.strip()
    if not trimmed:
        return None, "the answer is empty, expected JSON"
    try:
        return jsonjs.loads(trimmed), None
    except ValueError:
        pass
    for match in _FENCED_JSON.finditer(trimmed):
        try:
            return jsonjs.loads(match.group(1).strip()), None
        except ValueError:
            continue
    for open_c, close_c in (("{", "}"), ("[", "]")):
        start, end = trimmed.find(open_c), trimmed.rfind(close_c)
        if 0 <= start < end:
            try:
                return jsonjs.loads(trimmed[start : end + 1]), None
            except ValueError:
                continue
    snippet = trimmed[:80] + ("…" if len(trimmed) > 80 else "")
    return None, f"the answer is not JSON: {snippet!r}"
