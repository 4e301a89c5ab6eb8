"""Merge-back: an effect's changes, three-way against the snapshot, into the working tree.

Rules this module keeps:

- The merge is computed on objects only: the effect's tree ``E`` and the
  working tree's tree ``O`` (both through temporary indexes, see
  :mod:`.snapshot`) become commits on top of the snapshot ``S`` and
  ``git merge-tree --write-tree`` merges them (merge-ort: renames, modes,
  binary files, add/add and delete/modify conflicts).  The user's index is
  never read for writing nor written.
- A conflict applies nothing.  A clean merge turns into a list of
  :class:`Change` (path, state before, state after: ``O`` to the merged tree),
  and :func:`apply` first checks that every path still is in its *before*
  state (the user may have saved a file a moment ago): if one is not, nothing
  is written.  Files are written by ``git checkout-index`` from a temporary
  index holding only the changed entries (modes, symlinks and the
  repository's filters as git checks them out); deletions are unlinks.
- Every change is idempotent and checkable: a path is in its before state,
  its after state, or neither.  :func:`settle` uses that to finish an apply
  that a killed dispatcher left half done, or to undo it when someone
  changed one of its paths since.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import attrs

from babysit_plugin.isolate.git import Repo, git, out
from babysit_plugin.isolate.snapshot import commit_tree, tree_of
from protocol.jsonjs import JsonValue

#: (git mode, object id) of a path; None: absent.
State = tuple[str, str] | None

_GITLINK = "160000"
_SYMLINK = "120000"


@attrs.frozen
class Change:
    """One path of the working tree to take from ``before`` to ``after``."""

    path: str
    before: State
    after: State

    def to_json(self) -> JsonValue:
        return [
            self.path,
            list(self.before) if self.before else None,
            list(self.after) if self.after else None,
        ]

    @classmethod
    def from_json(cls, data: JsonValue) -> Change:
        if not isinstance(data, list) or len(data) != 3 or not isinstance(data[0], str):
            raise ValueError("expected [path, before, after]")

        def state(v: JsonValue) -> State:
            if v is None:
                return None
            if isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v):
                return (str(v[0]), str(v[1]))
            raise ValueError("expected [mode, oid] or null")

        return cls(data[0], state(data[1]), state(data[2]))

    def reversed(self) -> Change:
        return Change(self.path, self.after, self.before)


@attrs.frozen
class MergePlan:
    """What merging one effect back means (nothing written yet)."""

    snapshot_tree: str
    effect_tree: str
    #: The effect's changes relative to the snapshot: ``{status, path[, from]}``.
    files: tuple[dict[str, JsonValue], ...]
    changes: tuple[Change, ...] = ()
    conflicts: tuple[str, ...] = ()


def worktree_index(worktree: Path) -> Path | None:
    """The index of a linked worktree (its admin directory's ``index``)."""
    try:
        text = (worktree / ".git").read_text()
    except OSError:
        return None
    if not text.startswith("gitdir: "):
        return None
    return Path(text[len("gitdir: ") :].strip()) / "index"


def effect_tree(repo: Repo, worktree: Path, tmp_index: Path, links: Sequence[str]) -> str:
    """The tree of an effect's worktree (ignored files, links and the runs directory left out)."""
    prefix = f"{repo.workspace_rel}/" if repo.workspace_rel else ""
    excluded = (*repo.excluded, *(prefix + link.strip("/") for link in links))
    return tree_of(worktree, worktree_index(worktree), tmp_index, excluded)


def _split_z(data: bytes) -> list[str]:
    return [p.decode("utf-8", "surrogateescape") for p in data.split(b"\0")]


def changed_files(repo: Repo, base: str, tree: str) -> tuple[dict[str, JsonValue], ...]:
    """``{status, path[, from]}`` per changed path of ``base`` to ``tree``, renames found."""
    raw = git(repo.toplevel, "diff-tree", "-r", "-z", "-M", "--name-status", base, tree).out
    fields = _split_z(raw)
    names = {"A": "added", "M": "modified", "D": "deleted", "T": "type-changed"}
    files: list[dict[str, JsonValue]] = []
    i = 0
    while i < len(fields) and fields[i]:
        code = fields[i]
        if code[0] in ("R", "C"):
            files.append(
                {
                    "status": "renamed" if code[0] == "R" else "copied",
                    "path": fields[i + 2],
                    "from": fields[i + 1],
                }
            )
            i += 3
        else:
            files.append({"status": names.get(code[0], code), "path": fields[i + 1]})
            i += 2
    return tuple(files)


def tree_changes(repo: Repo, old: str, new: str) -> tuple[Change, ...]:
    """Per path, the state in ``old`` and in ``new`` (no rename pairing)."""
    raw = git(repo.toplevel, "diff-tree", "-r", "-z", "--no-renames", old, new).out
    fields = raw.split(b"\0")
    changes: list[Change] = []
    for i in range(0, len(fields) - 1, 2):
        head = fields[i].decode()
        if not head.startswith(":"):
            break
        old_mode, new_mode, old_oid, new_oid, _status = head[1:].split(" ")
        path = fields[i + 1].decode("utf-8", "surrogateescape")
        before = None if old_mode == "000000" else (old_mode, old_oid)
        after = None if new_mode == "000000" else (new_mode, new_oid)
        changes.append(Change(path, before, after))
    return tuple(changes)


def plan_merge(repo: Repo, snapshot: str, effect: str, tmp_index: Path) -> MergePlan:
    """Merge ``effect`` (a tree) into the working tree as it is now; write nothing."""
    s_tree = out(repo.toplevel, "rev-parse", f"{snapshot}^{{tree}}")
    if effect == s_tree:
        return MergePlan(s_tree, effect, ())
    files = changed_files(repo, s_tree, effect)
    ours = tree_of(repo.toplevel, repo.index, tmp_index, repo.excluded)
    if ours == s_tree:
        merged = effect
    else:
        ours_c = commit_tree(repo, ours, snapshot, "babysit-plugin: working tree")
        effect_c = commit_tree(repo, effect, snapshot, "babysit-plugin: effect")
        res = git(
            repo.toplevel,
            "merge-tree",
            "--write-tree",
            "--name-only",
            "-z",
            "--no-messages",
            ours_c,
            effect_c,
            ok_codes=(0, 1),
        )
        fields = _split_z(res.out)
        merged = fields[0].strip()
        if res.code == 1:
            conflicts = sorted({f for f in fields[1:] if f})
            return MergePlan(s_tree, effect, files, conflicts=tuple(conflicts))
    changes = tree_changes(repo, ours, merged)
    gitlinks = [c.path for c in changes if any(s and s[0] == _GITLINK for s in (c.before, c.after))]
    if gitlinks:
        # Submodule pointers are not checked out by a merge-back: report them, apply nothing.
        return MergePlan(s_tree, effect, files, conflicts=tuple(sorted(gitlinks)))
    return MergePlan(s_tree, effect, files, changes=changes)


# -- the working tree ---------------------------------------------------------------------


def _blob_id(repo: Repo, data: bytes) -> str:
    h = hashlib.new(repo.object_format)
    h.update(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def current_states(repo: Repo, paths: Sequence[str]) -> dict[str, State | str]:
    """Each path's state in the working tree (``"other"`` for a directory or a special file)."""
    states: dict[str, State | str] = {}
    regular: list[tuple[str, str]] = []
    for path in paths:
        full = repo.toplevel / path
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            states[path] = None
            continue
        if stat.S_ISLNK(st.st_mode):
            states[path] = (_SYMLINK, _blob_id(repo, os.fsencode(os.readlink(full))))
        elif stat.S_ISREG(st.st_mode):
            regular.append((path, "100755" if st.st_mode & 0o100 else "100644"))
        else:
            states[path] = "other"
    if regular:
        # hash-object applies the repository's filters (eol, clean) as `git add` did.
        data = b"".join(os.fsencode(p) + b"\n" for p, _ in regular)
        oids = out(repo.toplevel, "hash-object", "--stdin-paths", input=data).split("\n")
        for (path, mode), oid in zip(regular, oids, strict=True):
            states[path] = (mode, oid)
    return states


def mismatched(repo: Repo, changes: Sequence[Change], *, want_after: bool = False) -> list[str]:
    """Paths not in their before state (nor, with ``want_after``, in their after state)."""
    states = current_states(repo, [c.path for c in changes])
    bad = []
    for c in changes:
        now = states[c.path]
        if now == c.before or (want_after and now == c.after):
            continue
        bad.append(c.path)
    return bad


def write_changes(repo: Repo, changes: Sequence[Change], tmp_index: Path) -> None:
    """Take every path to its after state (no check: see :func:`apply`)."""
    for c in changes:
        if c.after is None:
            full = repo.toplevel / c.path
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                os.unlink(full)
            parent = full.parent
            while parent != repo.toplevel and repo.toplevel in parent.parents:
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent
    writes = [c for c in changes if c.after is not None]
    if not writes:
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp_index)
    try:
        info = b"".join(
            f"{c.after[0]} {c.after[1]}\t".encode() + os.fsencode(c.path) + b"\0"
            for c in writes
            if c.after is not None
        )
        git(repo.toplevel, "update-index", "-z", "--index-info", input=info, index=tmp_index)
        git(repo.toplevel, "checkout-index", "-a", "-f", "-q", index=tmp_index)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_index)


def apply(repo: Repo, changes: Sequence[Change], tmp_index: Path) -> list[str]:
    """Apply a clean merge: nothing when a path moved off its before state (returned)."""
    bad = mismatched(repo, changes)
    if bad:
        return bad
    write_changes(repo, changes, tmp_index)
    return []


def settle(repo: Repo, changes: Sequence[Change], tmp_index: Path) -> list[str]:
    """Finish an interrupted apply, or undo it when a path is in neither state (returned)."""
    states = current_states(repo, [c.path for c in changes])
    bad = [c.path for c in changes if states[c.path] not in (c.before, c.after)]
    if not bad:
        write_changes(repo, [c for c in changes if states[c.path] != c.after], tmp_index)
        return []
    undo = [c.reversed() for c in changes if c.after != c.before and states[c.path] == c.after]
    write_changes(repo, undo, tmp_index)
    return bad


def patch_text(repo: Repo, base: str, tree: str) -> bytes:
    """The effect's whole change as a binary-safe patch `git apply` takes at the top."""
    return git(repo.toplevel, "diff", "--binary", "--full-index", "-M", base, tree).out


def keep_branch(repo: Repo, name: str, snapshot: str, tree: str, message: str) -> str:
    """Commit ``tree`` on top of the snapshot as branch ``name`` (never moves an existing one)."""
    commit = commit_tree(repo, tree, snapshot, message)
    git(repo.toplevel, "update-ref", f"refs/heads/{name}", commit, "")
    return commit


__all__ = [
    "Change",
    "MergePlan",
    "apply",
    "changed_files",
    "effect_tree",
    "keep_branch",
    "patch_text",
    "plan_merge",
    "settle",
    "write_changes",
]
