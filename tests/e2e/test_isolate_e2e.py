"""A real SDK run whose parallel agents edit the repository, each in its own worktree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from kit import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

AGENT = Path(__file__).resolve().parents[1] / "plugin" / "fakes" / "edit_agent.py"


def test_parallel_agents_edit_files_through_worktrees(project: Project) -> None:
    """parallel.all of isolated agents: every edit merged, each result naming its file."""
    root = project.root
    (root / ".gitignore").write_text("node_modules\n.a5c/\nhome/\nscratch/\n")
    (root / "README").write_text("project\n")
    ident = ["-c", "user.name=t", "-c", "user.email=t@x"]
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], [*ident, "commit", "-qm", "base"]):
        subprocess.run(["git", *argv], cwd=root, env=project.env, check=True, capture_output=True)
    run_dir = project.create("isolated", "iso-1")
    command = f"{sys.executable} {AGENT} {{task_file}}"
    for _ in range(6):
        status = project.iterate(run_dir)["status"]
        if status == "completed":
            break
        project.plugin(
            "dispatch",
            str(run_dir),
            "--json",
            "--isolate",
            "worktree",
            "--harness-command",
            command,
        )
    assert project.output(run_dir) == {
        "edits": [1, 1, 1, 1],
        "merged": "module 1\nmodule 2\nmodule 3\nmodule 4\n",
    }
    changed = []
    for result in sorted((run_dir / "tasks").glob("*/result.json")):
        meta = json.loads(result.read_text()).get("metadata") or {}
        if "isolation" in meta:
            changed += meta["isolation"]["filesChanged"]
    assert sorted(changed) == [f"src/m{n}.txt" for n in range(1, 5)]
    listed = subprocess.run(
        ["git", "worktree", "list"], cwd=root, env=project.env, check=True, capture_output=True
    ).stdout.decode()
    assert listed.count("\n") == 1
