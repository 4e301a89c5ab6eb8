"""One detached worktree per isolated effect, under ``<run>/.babysit-plugin/worktrees/``.

``git worktree add --detach`` registers the worktree in the repository's
``worktrees/`` admin directory; :func:`remove` takes both away again.  A
dispatch killed at any instant leaves at most a directory here and its admin
entry (possibly still marked "initializing"), which :func:`prune_stale` of the
next dispatch removes before anything starts: ``git worktree remove --force``
where git still knows the worktree, else the directory and the admin entries
that point into it — only ours, never another worktree of the user's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from babysit_plugin.isolate.git import GitError, Repo, git

#: Names the repository the worktrees here belong to (written before the first is added).
COMMON_FILE = ".common"


def worktrees_dir(state_root: Path) -> Path:
    return state_root / "worktrees"


def create(repo: Repo, path: Path, snapshot: str, links: Iterable[str]) -> Path:
    """Check out ``snapshot`` detached at ``path``; return the workspace inside it.

    Each of ``links`` (relative to the user's workspace) becomes a symlink to
    the user's own copy.
    """
    remove(repo, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    git(repo.toplevel, "worktree", "add", "--detach", "--quiet", str(path), snapshot)
    workspace = path / repo.workspace_rel if repo.workspace_rel else path
    user_ws = repo.toplevel / repo.workspace_rel if repo.workspace_rel else repo.toplevel
    for link in links:
        target = workspace / link
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(target):
            continue
        os.symlink(user_ws / link, target)
    return workspace


def _admin_entries_for(repo_common: Path, path: Path) -> list[Path]:
    """Admin entries of the worktree at ``path``: pointing at it, or half made by a killed
    ``git worktree add`` (no ``gitdir`` or ``commondir`` yet) under its name."""
    found: list[Path] = []
    admin = repo_common / "worktrees"
    with contextlib.suppress(OSError):
        for entry in admin.iterdir():
            try:
                pointer = (entry / "gitdir").read_text().strip()
            except OSError:
                pointer = ""
            mine = bool(pointer) and Path(pointer).parent == path
            # git names an entry after the directory, plus digits when the name is taken.
            suffix = entry.name[len(path.name) :]
            named = entry.name.startswith(path.name) and (not suffix or suffix.isdigit())
            half_made = named and (not pointer or not (entry / "commondir").exists())
            if mine or half_made:
                found.append(entry)
    return found


def _common_dir_of(path: Path) -> Path | None:
    """The repository a (possibly half-made) worktree at ``path`` belongs to."""
    try:
        text = (path / ".git").read_text()
    except OSError:
        return None
    if not text.startswith("gitdir: "):
        return None
    admin = Path(text[len("gitdir: ") :].strip())
    return admin.parent.parent


def remove(repo: Repo | None, path: Path, common_dir: Path | None = None) -> None:
    """Remove the worktree at ``path`` and its admin entry; never raises for a missing one."""
    common = common_dir or (repo.common_dir if repo is not None else None) or _common_dir_of(path)
    if common is not None and path.is_dir() and (path / ".git").is_file():
        with contextlib.suppress(GitError):
            git(
                path.parent,
                f"--git-dir={common}",
                "worktree",
                "remove",
                "--force",
                "--force",
                str(path),
            )
    if os.path.lexists(path):
        shutil.rmtree(path, ignore_errors=True)
    if common is not None:
        for entry in _admin_entries_for(common, path):
            shutil.rmtree(entry, ignore_errors=True)


def prune_stale(
    state_root: Path, in_use: Callable[[str], bool], common_dir: Path | None = None
) -> list[str]:
    """Remove every worktree left here whose effect nobody alive is working on."""
    root = worktrees_dir(state_root)
    removed: list[str] = []
    if common_dir is None:
        with contextlib.suppress(OSError):
            common_dir = Path((root / COMMON_FILE).read_text().strip())
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return removed
    for name in names:
        if name.startswith(".") or in_use(name):
            continue
        path = root / name
        remove(None, path, _common_dir_of(path) or common_dir)
        removed.append(name)
    return removed


__all__ = ["create", "prune_stale", "remove", "worktrees_dir"]
