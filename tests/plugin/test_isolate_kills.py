"""SIGKILL at seeded points of worktree set-up and merge-back: the next dispatch leaves no
stray worktree, and every change lands exactly once with its effect posted once."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from test_isolate import AGENT, git, no_worktrees_left, repo_run

from babysit_plugin.runloop.faults import ISOLATE_POINTS
from protocol.journal import open_run, read_journal

pytestmark = pytest.mark.slow

SEED = 20261202
AGENTS = 3


def scenarios() -> list[str]:
    combos = [f"{p}:{n}" for p in ISOLATE_POINTS for n in (1, AGENTS)]
    combos = [c for c in combos if not c.startswith("isolate:snapshot:")] + ["isolate:snapshot:1"]
    combos += ["child:spawned:2", "outcome:saved:2", "lock:held:1"]
    random.Random(SEED).shuffle(combos)
    return combos


def dispatch(run_dir: Path, repo: Path, fault: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, EDIT_AGENT_USER_TREE=str(repo))
    env.pop("BABYSIT_PLUGIN_FAULT", None)
    if fault is not None:
        env["BABYSIT_PLUGIN_FAULT"] = fault
    argv = [
        sys.executable,
        "-m",
        "babysit_plugin",
        "dispatch",
        str(run_dir),
        "--json",
        "--isolate",
        "worktree",
        "--harness-command",
        AGENT,
    ]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("fault", scenarios())
def test_kill_during_isolation_then_dispatch_again(tmp_path: Path, fault: str) -> None:
    """Killed at ``fault``: the next dispatch completes; each append lands once; no worktree."""
    ops = [[["append", f"f{i}.txt", f"agent {i}\n"]] for i in range(AGENTS)]
    run = repo_run(tmp_path, ops, {f"f{i}.txt": f"file {i}\n" for i in range(AGENTS)})
    index = (run.repo / ".git" / "index").read_bytes()
    first = dispatch(run.path, run.repo, fault)
    assert first.returncode == -9, (fault, first.stderr)
    second = dispatch(run.path, run.repo, None)
    assert second.returncode == 0, second.stderr
    journal = read_journal(open_run(run.path))
    resolved = Counter(e.data.effect_id for e in journal.events if e.type == "EFFECT_RESOLVED")
    assert resolved == Counter({eid: 1 for eid in run.effect_ids})
    for i, eid in enumerate(run.effect_ids):
        assert (run.repo / f"f{i}.txt").read_text() == f"file {i}\nagent {i}\n", fault
        assert journal.effects[eid].status == "ok"
        meta = json.loads((run.path / "tasks" / eid / "result.json").read_text())["metadata"]
        assert meta["isolation"]["filesChanged"] == [f"f{i}.txt"]
    assert no_worktrees_left(run)
    assert not list((run.path / ".babysit-plugin" / "merges").glob("*.json"))
    assert (run.repo / ".git" / "index").read_bytes() == index
    assert git(run.repo, "for-each-ref").count("\n") == 1  # refs/heads/main only
