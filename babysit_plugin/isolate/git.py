"""Running git for the isolation, and the checks a repository must pass first.

Every git command goes through :func:`babysit_plugin.runloop.proc.run_process`
(cooperative, own process group, never raises for the child).  The environment
is the dispatcher's minus any ``GIT_DIR``/``GIT_INDEX_FILE``/``GIT_WORK_TREE``
it inherited (a dispatch started from a git hook must not aim at another
repository), with a fixed identity for the commits it writes (snapshot and
merge inputs are objects only; no ref is created) and no prompts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from babysit_plugin.runloop.proc import run_process
from protocol.errors import ProtocolError

_DROPPED = (
    "GIT_DIR",
    "GIT_INDEX_FILE",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_PREFIX",
)

IDENTITY = {
    "GIT_AUTHOR_NAME": "babysit-plugin",
    "GIT_AUTHOR_EMAIL": "babysit-plugin@localhost",
    "GIT_COMMITTER_NAME": "babysit-plugin",
    "GIT_COMMITTER_EMAIL": "babysit-plugin@localhost",
    # Fixed dates: the same tree and parent give the same commit id.
    "GIT_AUTHOR_DATE": "1700000000 +0000",
    "GIT_COMMITTER_DATE": "1700000000 +0000",
}


class GitError(ProtocolError, RuntimeError):
    """A git command failed (the message quotes it and its stderr)."""


class IsolationRefused(ProtocolError, ValueError):
    """``--isolate worktree`` cannot work on this directory (the message says why and the fix)."""


def git_env(index: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    env.update(IDENTITY)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    return env


@attrs.frozen
class GitResult:
    code: int | None
    out: bytes
    err: str


def git(
    cwd: Path,
    *args: str,
    input: bytes | None = None,
    index: Path | None = None,
    ok_codes: Sequence[int] = (0,),
    env: Mapping[str, str] | None = None,
) -> GitResult:
    """Run ``git ARGS`` in ``cwd``; raise :class:`GitError` unless it exits with ``ok_codes``."""
    run_env = git_env(index)
    if env:
        run_env.update(env)
    argv = ("git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", *args)
    result = run_process(argv, cwd=cwd, env=run_env, input=input, capture_limit=256 << 20)
    err = (result.stderr or b"").decode("utf-8", "replace").strip()
    if result.start_error is not None:
        raise GitError(f"git {args[0]}: {result.start_error} — install git 2.38 or later")
    if result.exit_code not in ok_codes:
        raise GitError(f"git {' '.join(args)} (in {cwd}) {result.describe_end()}: {err[-800:]}")
    return GitResult(result.exit_code, result.stdout or b"", err)


def out(cwd: Path, *args: str, index: Path | None = None, input: bytes | None = None) -> str:
    """Stdout of a git command that must succeed, stripped."""
    return git(cwd, *args, index=index, input=input).out.decode("utf-8", "surrogateescape").strip()


@attrs.frozen
class Repo:
    """The user's repository as the isolation sees it."""

    toplevel: Path
    git_dir: Path
    common_dir: Path
    index: Path
    #: The workspace (where effects run) relative to ``toplevel``; "" at the top.
    workspace_rel: str
    #: ``sha1`` or ``sha256``.
    object_format: str
    #: Paths (relative to ``toplevel``) never snapshotted nor merged back: the
    #: runs directory, when it lies inside the work tree.
    excluded: tuple[str, ...]


_IN_PROGRESS = (
    ("MERGE_HEAD", "a merge", "finish it (`git commit`) or abort it (`git merge --abort`)"),
    ("rebase-merge", "a rebase", "finish it (`git rebase --continue`) or `git rebase --abort`"),
    ("rebase-apply", "a rebase or `git am`", "finish it or abort it (`--abort`)"),
    ("CHERRY_PICK_HEAD", "a cherry-pick", "finish it or `git cherry-pick --abort`"),
    ("REVERT_HEAD", "a revert", "finish it or `git revert --abort`"),
)


def open_repo(workspace: Path, run_path: Path) -> Repo:
    """The repository holding ``workspace``, or :class:`IsolationRefused` saying why not."""
    where = f"{workspace}"
    fix = "run without --isolate, or put the project under git (`git init && git add -A`)"
    if not workspace.is_dir():
        raise IsolationRefused(f"{where}: --isolate worktree needs the workspace directory")
    probe = git(workspace, "rev-parse", "--is-bare-repository", "--git-dir", ok_codes=(0, 128))
    if probe.code != 0:
        raise IsolationRefused(
            f"{where}: --isolate worktree needs a git repository, found none ({probe.err}) — {fix}"
        )
    bare, _ = probe.out.decode().split("\n", 1)
    if bare.strip() == "true":
        raise IsolationRefused(
            f"{where}: --isolate worktree needs a working tree, found a bare repository — "
            "run in a clone with a working tree"
        )
    lines = out(
        workspace,
        "rev-parse",
        "--is-inside-work-tree",
        "--show-toplevel",
        "--absolute-git-dir",
        "--git-common-dir",
        "--git-path",
        "index",
        "--show-object-format",
    ).split("\n")
    if len(lines) != 6 or lines[0] != "true":
        raise IsolationRefused(
            f"{where}: --isolate worktree needs to run inside a working tree, found the "
            "repository's git directory — point the run at the working tree"
        )
    toplevel = Path(lines[1]).resolve()
    git_dir = Path(lines[2])
    common = Path(lines[3])
    common = (common if common.is_absolute() else workspace / common).resolve()
    index = Path(lines[4])
    index = index if index.is_absolute() else (workspace / index)
    for name, what, how in _IN_PROGRESS:
        if (git_dir / name).exists():
            raise IsolationRefused(
                f"{toplevel}: --isolate worktree cannot start in the middle of {what} "
                f"({git_dir / name} exists) — {how}, then dispatch again"
            )
    ws = workspace.resolve()
    try:
        rel = ws.relative_to(toplevel).as_posix()
    except ValueError:
        rel = ""
    rel = "" if rel == "." else rel
    excluded: list[str] = []
    try:
        runs_rel = run_path.resolve().parent.relative_to(toplevel).as_posix()
    except ValueError:
        runs_rel = ""
    if runs_rel and runs_rel != ".":
        excluded.append(runs_rel)
    return Repo(
        toplevel=toplevel,
        git_dir=git_dir,
        common_dir=common,
        index=index.resolve(),
        workspace_rel=rel,
        object_format=lines[5] or "sha1",
        excluded=tuple(excluded),
    )


__all__ = ["GitError", "IsolationRefused", "Repo", "git", "git_env", "open_repo", "out"]
