"""Runs made by the real SDK 6.0.3: in default, repo and --runs-dir scope, addressed by id
and by path (an id found twice or nowhere is one line); the installed hook run by 6.0.3's
run:iterate without a hook dispatcher.

Uses the SDK at ``<repo>/.sdks/6.0.3/node_modules``; skipped with the reason when it or Node
is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kit import REPO, clean_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NODE_MODULES = REPO / ".sdks" / "6.0.3" / "node_modules"
PROCESS = """\
"use strict";
const { defineTask } = require("@a5c-ai/babysitter-sdk");
const sh = defineTask("loc.sh", (args) => ({
  kind: "shell", title: `sh ${args.n}`, shell: { command: `printf ${args.n}` },
}));
exports.process = async function process(inputs, ctx) {
  return await ctx.parallel.all([1, 2].map((n) => () => ctx.task(sh, { n })));
};
"""


class Env:
    def __init__(self, root: Path) -> None:
        self.repo = root / "repo"
        (self.repo / ".git").mkdir(parents=True)
        (self.repo / "procs").mkdir()
        (self.repo / "procs" / "two.cjs").write_text(PROCESS)
        (self.repo / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
        self.home = root / "home"
        self.env = clean_env(self.home)
        self.env["PYTHONPATH"] = str(REPO)

    def run(self, argv: list[str], extra: dict[str, str] | None = None) -> Any:
        proc = subprocess.run(
            argv,
            cwd=self.repo,
            env={**self.env, **(extra or {})},
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        return proc

    def sdk(self, *args: str, **extra: str) -> Any:
        proc = self.run([str(NODE_MODULES / ".bin" / "babysitter"), *args, "--json"], extra)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def plugin(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        result: subprocess.CompletedProcess[str] = self.run(
            [sys.executable, "-m", "babysit_plugin", *args], extra
        )
        return result


@pytest.fixture
def env(tmp_path: Path) -> Env:
    if shutil.which("node") is None or not (NODE_MODULES / ".bin" / "babysitter").exists():
        pytest.skip(f"needs node and the SDK 6.0.3 at {NODE_MODULES}")
    return Env(tmp_path)


def _found(env: Env, ref: list[str], **extra: str) -> str:
    proc = env.plugin("pending", *ref, "--json", **extra)
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["runDir"])


def test_runs_in_each_scope_are_found_by_id_and_by_path(env: Env) -> None:
    """Default (~/.a5c/runs), repo scope and --runs-dir: the run the SDK made, by id and path."""
    entry = ["--process-id", "loc", "--entry", "procs/two.cjs#process"]
    flag_dir = env.repo.parent / "flag"
    scopes: list[tuple[str, list[str], dict[str, str], Path]] = [
        ("d1", [], {}, env.home / ".a5c" / "runs" / "d1"),
        ("s1", [], {"BABYSITTER_RUNS_SCOPE": "repo"}, env.repo / ".a5c" / "runs" / "s1"),
        ("f1", ["--runs-dir", str(flag_dir)], {}, flag_dir / "f1"),
    ]
    for run_id, flags, extra, expected in scopes:
        created = env.sdk("run:create", *entry, "--run-id", run_id, *flags, **extra)
        assert Path(created["runDir"]) == expected
        assert _found(env, [run_id, *flags], **extra) == str(expected)
        assert _found(env, [os.path.relpath(expected, env.repo)]) == str(expected)
        verify = env.plugin("verify", run_id, *flags, **extra)
        assert verify.returncode == 0, verify.stdout + verify.stderr

    # Dispatched by id in --runs-dir scope, the run completes with the values.
    flags = ["--runs-dir", str(flag_dir)]
    env.sdk("run:iterate", "f1", *flags)
    proc = env.plugin("dispatch", "f1", *flags, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"]["posted"] == 2
    assert env.sdk("run:iterate", "f1", *flags)["status"] == "completed"
    assert json.loads((flag_dir / "f1" / "state" / "output.json").read_text()) == ["1", "2"]

    # The repo-scope run is also found without the setting (6.x always reads <repo>/.a5c/runs).
    assert env.plugin("pending", "s1").returncode == 0

    # The same id in the default and in the repo's runs: named, not guessed.
    shutil.copytree(env.home / ".a5c" / "runs" / "d1", env.repo / ".a5c" / "runs" / "d1")
    proc = env.plugin("pending", "d1")
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (
        f"babysit-plugin: error: d1: expected one run with this id, found 2: "
        f"{env.home}/.a5c/runs/d1, {env.repo}/.a5c/runs/d1 — pass the run directory's "
        "path, or --runs-dir\n"
    )
    proc = env.plugin("dispatch", "nope", "--dry-run")
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        f"babysit-plugin: error: nope: expected a run directory holding run.json, found none "
        f"— looked in {env.home}/.a5c/runs/nope (the 6.x default); "
    )


def test_installed_hook_performs_a_parallel_group_inside_run_iterate(env: Env) -> None:
    """6.0.3 runs .a5c/hooks itself: the group is posted during run:iterate, which still
    reports it waiting (its stdout is not read); the next run:iterate completes the run."""
    proc = env.plugin("install", str(env.repo))
    assert proc.returncode == 0, proc.stderr
    assert f"SDK: 6.0.3 ({env.repo}/node_modules/@a5c-ai/babysitter-sdk/package.json)." in (
        proc.stdout
    )
    assert 'reports "waiting", not "executed"' in proc.stdout
    entry = ["--process-id", "loc", "--entry", "procs/two.cjs#process"]
    env.sdk("run:create", *entry, "--run-id", "h1")
    first = env.sdk("run:iterate", "h1")
    assert (first["status"], first["metadata"]["hookStatus"]) == ("waiting", "executed")
    assert len(first["nextActions"]) == 2
    pending = json.loads(env.plugin("pending", "h1", "--json").stdout)
    assert pending["pending"] == []
    assert env.sdk("run:iterate", "h1")["status"] == "completed"
    run_dir = env.home / ".a5c" / "runs" / "h1"
    output = json.loads((run_dir / "state" / "output.json").read_text())
    assert output == ["1", "2"]
    verify = env.plugin("verify", "h1")
    assert verify.returncode == 0, verify.stdout + verify.stderr
