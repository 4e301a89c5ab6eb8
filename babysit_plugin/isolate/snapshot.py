"""Trees of working trees, and the snapshot commit an isolated wave starts from.

A working tree's tree is written through a *temporary* index: a copy of the
tree's own index (its stat data lets ``git add -A`` hash only what changed),
``git add -A`` of tracked and untracked non-ignored files (the repository's
ignore rules apply), the excluded paths dropped, ``git write-tree``.  The
user's index, HEAD, branches and stash are never written; the snapshot commit
(``git commit-tree``, parent HEAD when there is one) is an object no ref points
to.  It stays reachable while a worktree is checked out at it (git's gc keeps
every worktree's HEAD); the other objects written here are loose and fresh,
and gc prunes unreachable objects only after ``gc.pruneExpire`` (two weeks by
default), long after a merge-back reads them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from babysit_plugin.isolate.git import GitError, Repo, git, out


def _pathspec(excluded: tuple[str, ...]) -> list[str]:
    return ["--", ":(top)", *(f":(exclude,top){p}" for p in excluded)]


def _only_ignored_named(err: str) -> bool:
    """git add exits 1 when an excluded path is itself ignored; everything else was added."""
    lines = [line for line in err.splitlines() if line.strip()]
    return (
        bool(lines)
        and lines[0].startswith("The following paths are ignored")
        and not any(line.startswith(("error:", "fatal:", "warning: could not")) for line in lines)
    )


def tree_of(
    work_tree: Path, seed_index: Path | None, tmp_index: Path, excluded: tuple[str, ...]
) -> str:
    """The tree id of ``work_tree`` as ``git add -A`` sees it, minus ``excluded``."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp_index)
    if seed_index is not None:
        with contextlib.suppress(FileNotFoundError):
            shutil.copyfile(seed_index, tmp_index)
    try:
        added = git(
            work_tree,
            "add",
            "-A",
            "--ignore-errors",
            *_pathspec(excluded),
            index=tmp_index,
            ok_codes=(0, 1),
        )
        if added.code == 1 and not _only_ignored_named(added.err):
            raise GitError(f"git add -A (in {work_tree}) exited with code 1: {added.err[-800:]}")
        if excluded:
            git(
                work_tree,
                "rm",
                "--cached",
                "-r",
                "-q",
                "--ignore-unmatch",
                "--",
                *(f":(top){p}" for p in excluded),
                index=tmp_index,
            )
        return out(work_tree, "write-tree", index=tmp_index)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_index)


def head_commit(repo: Repo) -> str | None:
    """HEAD's commit id, or None on an unborn branch."""
    res = git(repo.toplevel, "rev-parse", "-q", "--verify", "HEAD^{commit}", ok_codes=(0, 1, 128))
    text = res.out.decode().strip()
    return text if res.code == 0 and text else None


def commit_tree(repo: Repo, tree: str, parent: str | None, message: str) -> str:
    args = ["commit-tree", "--no-gpg-sign", tree, "-m", message]
    if parent is not None:
        args += ["-p", parent]
    return out(repo.toplevel, *args)


def take_snapshot(repo: Repo, tmp_dir: Path) -> str:
    """One commit of the working tree as it is now (see the module docstring)."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tree = tree_of(
        repo.toplevel, repo.index, tmp_dir / f"snapshot-{os.getpid()}.index", repo.excluded
    )
    return commit_tree(
        repo, tree, head_commit(repo), "babysit-plugin: snapshot of the working tree"
    )


__all__ = ["commit_tree", "head_commit", "take_snapshot", "tree_of"]
