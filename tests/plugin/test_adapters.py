"""Harness adapters: command lines, envelopes, harness choice (no processes run here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from babysit_plugin.harness import adapters
from babysit_plugin.harness.adapters import (
    HarnessNotFound,
    HarnessRequest,
    UnknownHarness,
    choose_harness,
    get_adapter,
)


def _request(tmp_path: Path, prompt: str = "PROMPT", model: str | None = None) -> HarnessRequest:
    return HarnessRequest(
        prompt=prompt,
        prompt_file=tmp_path / "w" / "prompt.md",
        task_file=tmp_path / "run" / "tasks" / "E1" / "task.json",
        effect_id="E1",
        run_dir=tmp_path / "run",
        workspace=tmp_path / "repo",
        work_dir=tmp_path / "w",
        model=model,
    )


def _bin(tmp_path: Path, *names: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in names:
        exe = bin_dir / name
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    return {"PATH": str(bin_dir)}


CURSOR_ARGS = [
    "-p",
    "--output-format",
    "json",
    "-f",
    "--trust",
    "--approve-mcps",
    "--workspace",
    "{repo}",
    "--model",
    "M",
]
CODEX_ARGS = [
    "exec",
    "--dangerously-bypass-approvals-and-sandbox",
    "--skip-git-repo-check",
    "-C",
    "{repo}",
    "--output-last-message",
    "{work}/last-message.txt",
    "--model",
    "M",
    "-",
]


@pytest.mark.parametrize(
    ("harness", "exe", "args", "stdin"),
    [
        (
            "claude-code",
            "claude",
            ["-p", "--output-format", "json", "--dangerously-skip-permissions", "--model", "M"],
            True,
        ),
        ("codex", "codex", CODEX_ARGS, True),
        ("pi", "pi", ["-p", "--model", "M"], True),
        (
            "gemini-cli",
            "gemini",
            ["--output-format", "json", "--yolo", "--skip-trust", "--model", "M"],
            True,
        ),
        ("opencode", "opencode", ["run", "--auto", "--model", "M"], True),
        ("cursor", "agent", [*CURSOR_ARGS, "PROMPT"], False),
        (
            "github-copilot",
            "copilot",
            ["-p", "PROMPT", "-s", "--allow-all-tools", "--model", "M"],
            False,
        ),
    ],
)
def test_command_lines(
    tmp_path: Path, harness: str, exe: str, args: list[str], stdin: bool
) -> None:
    """Each built-in adapter runs its CLI with the flags the CLI's current version needs."""
    env = {**_bin(tmp_path, exe), "IS_SANDBOX": "1"}
    inv = get_adapter(harness).invocation(_request(tmp_path, model="M"), env)
    expected = [
        a.replace("{repo}", str(tmp_path / "repo")).replace("{work}", str(tmp_path / "w"))
        for a in args
    ]
    assert inv.argv == (str(tmp_path / "bin" / exe), *expected)
    assert inv.cwd == tmp_path / "repo"
    assert inv.stdin == (b"PROMPT" if stdin else None)


def test_cursor_old_name_is_used_when_agent_is_missing(tmp_path: Path) -> None:
    """`agent` is the Cursor CLI's name; an install with only `cursor-agent` still works."""
    inv = get_adapter("cursor").invocation(_request(tmp_path), _bin(tmp_path, "cursor-agent"))
    assert inv.argv[:2] == (str(tmp_path / "bin" / "cursor-agent"), "-p")


@pytest.mark.parametrize(("harness", "exe"), [("cursor", "agent"), ("github-copilot", "copilot")])
def test_long_prompt_of_an_argv_only_cli_goes_through_the_prompt_file(
    tmp_path: Path, harness: str, exe: str
) -> None:
    """Over ARGV_PROMPT_LIMIT bytes the argv holds an order to read the prompt file instead."""
    big = "x" * (adapters.ARGV_PROMPT_LIMIT + 1)
    inv = get_adapter(harness).invocation(_request(tmp_path, prompt=big), _bin(tmp_path, exe))
    assert big not in inv.argv
    assert max(len(a) for a in inv.argv) < 1000
    prompt_file = str(tmp_path / "w" / "prompt.md")
    assert any(a.startswith(f"Read the file {prompt_file} and perform the task") for a in inv.argv)
    small = get_adapter(harness).invocation(
        _request(tmp_path, prompt="x" * 1000), _bin(tmp_path, exe)
    )
    assert "x" * 1000 in small.argv


def test_claude_as_root_says_how_to_proceed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As uid 0 without IS_SANDBOX=1 claude would refuse its flags: refused here, with advice."""
    monkeypatch.setattr(adapters, "_euid", lambda: 0)
    env = _bin(tmp_path, "claude")
    with pytest.raises(adapters.HarnessRefused) as info:
        get_adapter("claude-code").invocation(_request(tmp_path), env)
    assert str(info.value) == (
        "claude-code harness: claude refuses --dangerously-skip-permissions as root — in a "
        "container or sandbox set IS_SANDBOX=1 in the environment of babysit-plugin, or run it "
        "as a non-root user"
    )
    for ok_env in ({"IS_SANDBOX": "1"}, {"CLAUDE_CODE_BUBBLEWRAP": "1"}):
        assert get_adapter("claude-code").invocation(_request(tmp_path), {**env, **ok_env})
    monkeypatch.setattr(adapters, "_euid", lambda: 1000)
    assert get_adapter("claude-code").invocation(_request(tmp_path), env)


@pytest.mark.parametrize("name", ["sdk", "sdk:codex"])
def test_sdk_harness_is_refused_with_the_reason(tmp_path: Path, name: str) -> None:
    """SDK 0.0.187's harness:invoke cannot drive the CLIs: refused, naming the way out."""
    with pytest.raises(adapters.HarnessRefused) as info:
        get_adapter(name).invocation(_request(tmp_path), _bin(tmp_path, "babysitter"))
    inner = "claude-code" if name == "sdk" else "codex"
    assert str(info.value) == (
        f"{name} harness: the sdk harness (`babysitter harness:invoke`) cannot work with SDK "
        "0.0.187: its invoker passes flags the agent CLIs reject and leaves their stdin open, "
        f"so they wait forever — use --harness {inner} (the same CLI, driven directly) instead"
    )


def test_missing_executable_names_it_and_the_way_out(tmp_path: Path) -> None:
    """A missing CLI raises HarnessNotFound saying what to install or choose instead."""
    env = _bin(tmp_path)
    with pytest.raises(HarnessNotFound) as info:
        get_adapter("gemini").invocation(_request(tmp_path), env)
    assert str(info.value) == (
        "gemini-cli harness: executable `gemini` not found on PATH — install it with "
        "`npm install -g @google/gemini-cli`, or choose another harness with --harness NAME "
        "(one of claude-code, codex, pi, gemini-cli, opencode, cursor, github-copilot, sdk) or "
        "--harness-command 'CMD {prompt_file}'"
    )


def test_custom_command_substitutes_placeholders(tmp_path: Path) -> None:
    """--harness-command tokens get every placeholder; the prompt also goes to stdin."""
    env = _bin(tmp_path, "mytool")
    adapter = adapters.CustomCommand(
        "mytool --in {prompt_file} --task={task_file} {effect_id} {run_dir} {workspace} {other}"
    )
    inv = adapter.invocation(_request(tmp_path), env)
    assert inv.argv == (
        str(tmp_path / "bin" / "mytool"),
        "--in",
        str(tmp_path / "w" / "prompt.md"),
        f"--task={tmp_path / 'run' / 'tasks' / 'E1' / 'task.json'}",
        "E1",
        str(tmp_path / "run"),
        str(tmp_path / "repo"),
        "{other}",
    )
    assert inv.stdin == b"PROMPT"


def test_custom_command_refuses_bad_quoting() -> None:
    """An unbalanced quote is a one-line error naming the option."""
    with pytest.raises(UnknownHarness) as info:
        adapters.CustomCommand("tool 'open")
    assert str(info.value) == (
        '--harness-command: expected a command line, found "tool \'open" (No closing quotation)'
    )


def test_unknown_harness_is_refused() -> None:
    """An unknown name lists the known ones."""
    with pytest.raises(UnknownHarness) as info:
        get_adapter("vim")
    assert str(info.value) == (
        "harness 'vim': expected one of claude-code, codex, pi, gemini-cli, opencode, cursor, "
        "github-copilot, sdk or sdk:NAME — pass --harness NAME or --harness-command "
        "'CMD {prompt_file}'"
    )


@pytest.mark.parametrize(
    ("stdout", "text", "error"),
    [
        ('{"type":"result","subtype":"success","is_error":false,"result":"hi"}', "hi", None),
        (
            '{"type":"result","subtype":"error_max_turns","is_error":true,"result":"boom"}',
            "boom",
            "reported an error: boom",
        ),
        (
            '[{"type":"system"},{"type":"result","subtype":"success","is_error":false,'
            '"result":"last"}]',
            "last",
            None,
        ),
        ("not json at all", "not json at all", None),
    ],
)
def test_claude_envelope(stdout: str, text: str, error: str | None) -> None:
    """claude's JSON envelope is unwrapped; is_error becomes an error; other text passes."""
    answer = get_adapter("claude-code").unwrap(stdout, None)
    assert answer.text == text
    assert answer.error == error


def test_gemini_envelope() -> None:
    """gemini's {response} is the answer; {error: {message}} an error."""
    ok = get_adapter("gemini-cli").unwrap('{"response": "R", "stats": {}}', None)
    assert (ok.text, ok.error) == ("R", None)
    bad = get_adapter("gemini-cli").unwrap('{"error": {"message": "quota"}}', None)
    assert bad.error == "reported an error: quota"


def test_codex_prefers_the_last_message_file() -> None:
    """codex's answer is its --output-last-message file, stdout only without it."""
    codex = get_adapter("codex")
    assert codex.unwrap("progress noise", "the answer").text == "the answer"
    assert codex.unwrap("fallback", None).text == "fallback"


def test_harness_choice_order() -> None:
    """--harness, then the task's, then run.json's, then BABYSITTER_HARNESS, then claude-code."""
    task = {"execution": {"harness": "codex"}}
    env = {"BABYSITTER_HARNESS": "pi"}
    assert choose_harness("gemini", task, "opencode", env) == adapters.HarnessChoice(
        "gemini-cli", "--harness"
    )
    assert choose_harness(None, task, "opencode", env).name == "codex"
    assert choose_harness(None, {"metadata": {"harness": "copilot"}}, None, env).name == (
        "github-copilot"
    )
    assert choose_harness(None, {}, "opencode", env).name == "opencode"
    assert choose_harness(None, {}, None, env).name == "pi"
    assert choose_harness(None, {}, None, {}) == adapters.HarnessChoice("claude-code", "default")


def test_harness_choice_skips_names_without_an_adapter() -> None:
    """A run created with the SDK's programmatic 'internal' harness falls through."""
    assert choose_harness(None, {}, "internal", {}).name == "claude-code"
    assert choose_harness(None, {"execution": {"harness": "internal"}}, "codex", {}).name == (
        "codex"
    )
