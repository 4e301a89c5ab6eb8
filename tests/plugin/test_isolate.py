"""``--isolate worktree`` on real git repositories: one worktree per agent, merge-back in turn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kit import FAKES, RunDir, agent, make_run

from babysit_plugin.isolate import IsolateOptions
from babysit_plugin.isolate.git import IsolationRefused
from babysit_plugin.runloop.dispatch import DispatchOptions, DispatchReport, dispatch_run
from babysit_plugin.runloop.execute import ExecOptions

AGENT = f"{sys.executable} {FAKES / 'edit_agent.py'} {{task_file}}"


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_AUTHOR_NAME="u",
        GIT_AUTHOR_EMAIL="u@x",
        GIT_COMMITTER_NAME="u",
        GIT_COMMITTER_EMAIL="u@x",
    )
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout


def repo_run(tmp_path: Path, op_lists: list[list[Any]], files: dict[str, str]) -> RunDir:
    """A run of one agent per op list, in a git repository holding ``files`` (committed)."""
    run = make_run(tmp_path, [agent(json.dumps(ops)) for ops in op_lists])
    git(run.repo, "init", "-q", "-b", "main")
    for name, text in files.items():
        (run.repo / name).parent.mkdir(parents=True, exist_ok=True)
        (run.repo / name).write_text(text)
    (run.repo / ".gitignore").write_text("node_modules/\n")
    git(run.repo, "add", "-A", "--", ".", ":(exclude).a5c")
    git(run.repo, "commit", "-qm", "base")
    return run


def isolated(run: RunDir, **iso: Any) -> DispatchReport:
    options = DispatchOptions(
        exec=ExecOptions(
            harness_command=AGENT, env={**os.environ, "EDIT_AGENT_USER_TREE": str(run.repo)}
        ),
        handle_signals=False,
        isolate=IsolateOptions(mode="worktree", **iso),
    )
    return dispatch_run(run.path, options)


def user_state(repo: Path) -> tuple[bytes, str, str, str]:
    """The user's index bytes, HEAD, refs and stash: never written by the isolation."""
    index = (repo / ".git" / "index").read_bytes()
    refs = git(repo, "for-each-ref")
    stash = git(repo, "stash", "list")
    return index, git(repo, "rev-parse", "HEAD"), refs, stash


def no_worktrees_left(run: RunDir) -> bool:
    listed = git(run.repo, "worktree", "list", "--porcelain").count("worktree ")
    left = run.path / ".babysit-plugin" / "worktrees"
    return listed == 1 and not [p for p in left.glob("*") if not p.name.startswith(".")]


def test_eight_agents_edit_eight_files_concurrently(tmp_path: Path) -> None:
    """8 agents side by side (each waits for all 8 to start), 8 files: all changes land,
    one merge each, the user's own work intact."""
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    ops = [
        [["barrier", str(stamps), f"a{i}", "8"], ["append", f"f{i}.txt", f"agent {i}\n"]]
        for i in range(8)
    ]
    run = repo_run(tmp_path, ops, {f"f{i}.txt": f"file {i}\n" for i in range(8)})
    (run.repo / "f0.txt").write_text("file 0\nuser edit\n")  # uncommitted, before the group
    (run.repo / "notes.txt").write_text("untracked\n")
    before = user_state(run.repo)
    report = isolated(run)
    assert report.exit_code == 0
    assert [e.status for e in report.effects] == ["ok"] * 8
    assert (run.repo / "f0.txt").read_text() == "file 0\nuser edit\nagent 0\n"
    for i in range(1, 8):
        assert (run.repo / f"f{i}.txt").read_text() == f"file {i}\nagent {i}\n"
    assert (run.repo / "notes.txt").read_text() == "untracked\n"
    assert user_state(run.repo) == before
    assert no_worktrees_left(run)
    for i, eid in enumerate(run.effect_ids):
        meta = run.result(eid)["metadata"]["isolation"]
        assert meta["filesChanged"] == [f"f{i}.txt"]
        # The agent ran in its own worktree, not in the repository.
        assert run.result(eid)["value"]["cwd"] == str(
            run.path / ".babysit-plugin" / "worktrees" / eid
        )
    assert ".babysit-plugin" not in git(run.repo, "status", "--porcelain", "-uall")


def test_two_agents_on_one_line_one_lands_the_other_keeps_its_patch(tmp_path: Path) -> None:
    """Same line twice: exactly one lands; the other is an error naming the file, patch kept."""
    ops = [[["write", "a.txt", "first\n"]], [["write", "a.txt", "second\n"]]]
    run = repo_run(tmp_path, ops, {"a.txt": "original\n"})
    report = isolated(run)
    statuses = sorted(e.status for e in report.effects)
    assert statuses == ["error", "ok"]
    loser = next(e for e in report.effects if e.status == "error")
    winner = next(e for e in report.effects if e.status == "ok")
    landed = (run.repo / "a.txt").read_text()
    assert landed in ("first\n", "second\n")
    error = run.result(loser.effect_id)["error"]
    assert error["name"] == "MergeConflictError"
    assert error["data"]["conflicts"] == ["a.txt"]
    patch = Path(error["data"]["patch"])
    assert patch == run.path / ".babysit-plugin" / "patches" / f"{loser.effect_id}.patch"
    assert f"git -C {run.repo} apply {patch}" in error["message"]
    assert run.result(winner.effect_id)["metadata"]["isolation"]["filesChanged"] == ["a.txt"]
    # Revert the first, then the kept patch applies cleanly by hand.
    (run.repo / "a.txt").write_text("original\n")
    git(run.repo, "apply", str(patch))
    assert (run.repo / "a.txt").read_text() != landed
    assert no_worktrees_left(run)


def test_delete_rename_chmod_binary_symlink(tmp_path: Path) -> None:
    """Deletions, renames, modes, binary files and symlinks come back as the agent left them."""
    ops = [
        [
            ["delete", "gone.txt"],
            ["rename", "old.txt", "sub/new.txt"],
            ["chmod", "run.sh", "755"],
            ["bytes", "blob.bin", "00ff10ee00"],
            ["symlink", "link", "sub/new.txt"],
        ]
    ]
    files = {"gone.txt": "x\n", "old.txt": "moved\n", "run.sh": "echo\n", "keep/k.txt": "k\n"}
    run = repo_run(tmp_path, ops, files)
    before = user_state(run.repo)
    report = isolated(run)
    assert report.exit_code == 0, report.effects
    assert [e.status for e in report.effects] == ["ok"]
    assert not (run.repo / "gone.txt").exists()
    assert not (run.repo / "old.txt").exists()
    assert (run.repo / "sub/new.txt").read_text() == "moved\n"
    assert os.stat(run.repo / "run.sh").st_mode & 0o111
    assert (run.repo / "blob.bin").read_bytes() == bytes.fromhex("00ff10ee00")
    assert os.readlink(run.repo / "link") == "sub/new.txt"
    changes = run.result(run.effect_ids[0])["metadata"]["isolation"]["changes"]
    assert {"status": "renamed", "path": "sub/new.txt", "from": "old.txt"} in changes
    assert {"status": "deleted", "path": "gone.txt"} in changes
    assert user_state(run.repo) == before


def test_user_edit_during_the_group_wins(tmp_path: Path) -> None:
    """The user edits a file the agent also edits meanwhile: conflict, the user's edit intact."""
    ops = [
        [["write", "a.txt", "agent\n"], ["user", "a.txt", "user\n"]],
        [["write", "b.txt", "agent made\n"], ["user", "b.txt", "user made\n"]],
    ]
    run = repo_run(tmp_path, ops, {"a.txt": "original\n"})
    report = isolated(run)
    assert [e.status for e in report.effects] == ["error", "error"]
    assert (run.repo / "a.txt").read_text() == "user\n"
    assert (run.repo / "b.txt").read_text() == "user made\n"
    for eid, name in zip(run.effect_ids, ["a.txt", "b.txt"], strict=True):
        assert run.result(eid)["error"]["data"]["conflicts"] == [name]


def test_keep_branch_commits_the_conflicting_tree(tmp_path: Path) -> None:
    """--on-conflict keep-branch: the effect's tree on babysit/<runId>/<effectId>, named."""
    ops = [[["write", "a.txt", "agent\n"], ["user", "a.txt", "user\n"]]]
    run = repo_run(tmp_path, ops, {"a.txt": "original\n"})
    isolated(run, on_conflict="keep-branch")
    eid = run.effect_ids[0]
    branch = f"babysit/run-1/{eid}"
    assert run.result(eid)["error"]["data"]["branch"] == branch
    assert git(run.repo, "show", f"{branch}:a.txt") == "agent\n"
    assert git(run.repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"


def test_failed_agent_changes_are_kept_as_a_patch_not_applied(tmp_path: Path) -> None:
    """An agent that fails: its changes are not merged; its patch is named in the metadata."""
    run = repo_run(tmp_path, [[["write", "a.txt", "half\n"], ["fail"]]], {"a.txt": "x\n"})
    isolated(run)
    assert (run.repo / "a.txt").read_text() == "x\n"
    meta = run.result(run.effect_ids[0])["metadata"]["isolation"]
    assert meta["merged"] is False
    assert Path(meta["patch"]).is_file()


def test_links_and_refusals(tmp_path: Path) -> None:
    """--worktree-link symlinks an ignored directory; no repo / mid-merge: refused, run intact."""
    run = repo_run(tmp_path, [[["write", "node_modules/seen.txt", "via link\n"]]], {"a": "a\n"})
    (run.repo / "node_modules").mkdir()
    assert isolated(run, links=("node_modules",)).exit_code == 0
    assert (run.repo / "node_modules/seen.txt").read_text() == "via link\n"
    assert git(run.repo, "status", "--porcelain", "--", ".", ":(exclude).a5c") == ""

    plain = make_run(tmp_path / "plain", [agent("[]")])
    snapshot = sorted(p.relative_to(plain.path) for p in plain.path.rglob("*"))
    with pytest.raises(IsolationRefused, match="needs a git repository"):
        isolated(plain)
    assert sorted(p.relative_to(plain.path) for p in plain.path.rglob("*")) == snapshot

    merging = repo_run(tmp_path / "m", [[]], {"a": "a\n"})
    (merging.repo / ".git" / "MERGE_HEAD").write_text(git(merging.repo, "rev-parse", "HEAD"))
    with pytest.raises(IsolationRefused, match="in the middle of a merge"):
        isolated(merging)
    assert merging.status(merging.effect_ids[0]) == "requested"


def test_which_kinds_are_isolated() -> None:
    """Agents, skills and opted-in kinds get a worktree; shell only with --isolate-shell;
    sleeps never."""
    on = IsolateOptions(mode="worktree")
    assert [on.isolates(k) for k in ("agent", "skill", "node", "shell", "sleep")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert IsolateOptions(mode="worktree", shell=True).isolates("shell")
    assert not IsolateOptions().isolates("agent")
