"""The README works as written: its commands, its set-up, and its command reference.

Every ```sh block of README.md and examples/README.md is a command a reader runs. The
slow test copies the repository (its tracked files, as a clone has them) into a fresh
directory and runs every block of README.md in order, as a new user would: the two
set-up commands first (a fresh virtual environment, then ``bash .ci/run``), then the
rest, which includes ``examples/run.sh`` and so every block of examples/README.md.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from babysit_plugin.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
EXAMPLES_README = REPO / "examples" / "README.md"
SETUP_DEMO = "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/babysit-plugin demo"
SETUP_TESTS = "bash .ci/run"
NESTED = "BABYSIT_PLUGIN_README_NESTED"
_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def sh_blocks(path: Path) -> list[str]:
    """The ```sh blocks of a markdown file, in order (indentation removed)."""
    blocks = []
    for match in _BLOCK.finditer(re.sub(r"^ +", "", path.read_text(), flags=re.MULTILINE)):
        blocks.append(match.group(1).strip())
    return blocks


def test_setup_commands_come_first() -> None:
    """The README's first two commands are the documented set-up commands."""
    blocks = sh_blocks(README)
    assert blocks[:2] == [SETUP_DEMO, SETUP_TESTS]


def test_second_setup_command_is_what_ci_runs() -> None:
    """The test set-up command runs .ci/run, the script CI runs."""
    ci = REPO / ".ci" / "run"
    assert ci.is_file()
    assert ci.read_text().startswith("#!/usr/bin/env bash\n")
    assert SETUP_TESTS == "bash .ci/run"


def test_example_commands_are_run_by_the_main_readme() -> None:
    """Every command of examples/README.md is also a command of README.md (so it is run)."""
    main_commands = {line for block in sh_blocks(README) for line in block.splitlines()}
    for block in sh_blocks(EXAMPLES_README):
        for line in block.splitlines():
            assert line in main_commands


def test_every_command_and_option_is_in_the_reference() -> None:
    """Each subcommand and each of its options appears in the README's command reference."""
    text = README.read_text()
    reference = text[text.index("## Command reference") :]
    reference = reference[: reference.index("\n## ", 3)]
    parser = build_parser()
    sub_action = next(a for a in parser._actions if a.dest == "command")
    choices = getattr(sub_action, "choices", {})
    assert set(choices) == {
        "dispatch",
        "drive",
        "hook",
        "install",
        "demo",
        "pending",
        "post",
        "verify",
        "status",
    }
    for name, sub in choices.items():
        assert f"| `{name}" in reference, name
        for action in sub._actions:
            for option in action.option_strings:
                if option in ("-h", "--help"):
                    continue
                assert option in reference, f"{name} {option}"


def _tracked_copy(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in files:
        if not raw:
            continue
        rel = raw.decode()
        source = REPO / rel
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)


@pytest.mark.slow
def test_readme_as_a_new_user(tmp_path: Path) -> None:
    """A fresh copy, a fresh HOME: every README command, in order, succeeds."""
    if os.environ.get(NESTED):
        pytest.skip("running inside the README's own `bash .ci/run`")
    for tool in ("git", "node", "npm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not on PATH; the README's second command needs it")
    clone = tmp_path / "babysit-plugin"
    _tracked_copy(clone)
    # A clone is a git work tree: tools honour its .gitignore (build/ from `pip install .`).
    subprocess.run(["git", "init", "-q"], cwd=clone, check=True)
    home = tmp_path / "home"
    project = home / "src" / "my-project"
    project.mkdir(parents=True)
    (project / "README.md").write_text("my project\n")
    real_home = Path.home()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PYTEST", "BABYSIT", "CLAUDE"))
    }
    env.update(
        {
            "HOME": str(home),
            # Caches stay where they are, so the downloads are not repeated every time.
            "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", str(real_home / ".cache")),
            "NPM_CONFIG_CACHE": os.environ.get("NPM_CONFIG_CACHE", str(real_home / ".npm")),
            NESTED: "1",
            # The nested suite runs a small part; this outer suite runs the whole.
            "PYTEST_ADDOPTS": "tests/test_readme.py tests/plugin/test_install.py",
        }
    )
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    outputs = []
    for block in sh_blocks(README):
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert proc.returncode == 0, f"{block}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        outputs.append((block, proc.stdout))
    demo_out = outputs[0][1]
    assert "6 of 6 effects posted ok; the run verifies (journal, results, values)." in demo_out
    assert ".ci/run: all checks passed" in outputs[1][1]
    example = next(out for block, out in outputs if block.startswith("bash examples/run.sh"))
    assert "run:iterate -> completed" in example
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before
