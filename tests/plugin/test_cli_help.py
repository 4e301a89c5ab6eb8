"""Each adapter's flags are pinned by the recorded --help of the real CLI version.

A CLI upgrade that renames or drops a flag is caught by re-recording its help
(``tests/fixtures/cli-help/README.md``) and running this test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from babysit_plugin.harness import adapters
from babysit_plugin.harness.adapters import HarnessRequest, get_adapter

HELP = Path(__file__).resolve().parents[1] / "fixtures" / "cli-help"
BUILTIN = ("claude-code", "codex", "pi", "gemini-cli", "opencode", "cursor", "github-copilot")
EXECUTABLES = {"cursor": "agent"}


def _help_file(adapter: adapters.Adapter) -> Path:
    name, _, version = adapter.checked_against.partition(" ")
    return HELP / f"{name}-{version}.txt"


def _request(tmp_path: Path) -> HarnessRequest:
    return HarnessRequest(
        prompt="PROMPT",
        prompt_file=tmp_path / "prompt.md",
        task_file=tmp_path / "task.json",
        effect_id="E1",
        run_dir=tmp_path,
        workspace=tmp_path,
        work_dir=tmp_path,
        model="M",
    )


def _flags(argv: tuple[str, ...]) -> list[str]:
    return [a.split("=", 1)[0] for a in argv[1:] if a.startswith("-") and a != "-"]


@pytest.mark.parametrize("harness", BUILTIN)
def test_every_flag_is_in_the_recorded_help(tmp_path: Path, harness: str) -> None:
    """Every flag the adapter passes appears as an option in its CLI version's help."""
    adapter = get_adapter(harness)
    help_text = _help_file(adapter).read_text()
    exe = tmp_path / "bin" / EXECUTABLES.get(harness, adapter.executable)
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    inv = adapter.invocation(_request(tmp_path), {"PATH": str(exe.parent), "IS_SANDBOX": "1"})
    flags = _flags(inv.argv)
    assert flags, "an adapter passes at least one flag"
    for flag in flags:
        pattern = rf"(^|[\s,]){re.escape(flag)}([\s,=<\[]|$)"
        assert re.search(pattern, help_text, re.MULTILINE), (
            f"{harness}: {flag} is not an option of {adapter.checked_against}"
        )


@pytest.mark.parametrize("harness", BUILTIN)
def test_help_is_recorded_for_the_version_named(harness: str) -> None:
    """The help file named by each adapter's checked_against is recorded."""
    adapter = get_adapter(harness)
    path = _help_file(adapter)
    assert path.is_file(), f"record {path.name} (tests/fixtures/cli-help/README.md)"


def test_unknown_flag_is_caught() -> None:
    """The check fails for a flag the help does not list (gemini has no --dangerously-x)."""
    help_text = (HELP / "gemini-cli-0.61.0.txt").read_text()
    assert not re.search(r"(^|[\s,])--dangerously-x([\s,=<\[]|$)", help_text, re.MULTILINE)
    assert re.search(r"(^|[\s,])--skip-trust([\s,=<\[]|$)", help_text, re.MULTILINE)
