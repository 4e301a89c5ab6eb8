"""The isolation of one dispatch: snapshot per wave, a worktree per effect, merge-backs in turn.

Order of work for one isolated effect (the dispatcher calls these):

1. :meth:`Isolation.setup`: the wave's snapshot (taken once, by the first
   effect that needs it), then ``git worktree add --detach`` at
   ``<run>/.babysit-plugin/worktrees/<effectId>`` and the ``--worktree-link``
   symlinks.  The effect runs with that worktree as its workspace.
2. Under :attr:`Isolation.merge_lock` (one merge-back at a time, in the order
   effects finish): :meth:`Isolation.merge_back` computes the merge; a clean
   one is written to ``merges/<effectId>.json`` (:meth:`record`) *before* the
   outcome is saved and *before* a file is touched; :meth:`apply` writes the
   files and drops the record.  A conflict keeps the effect's patch under
   ``patches/`` and turns the outcome into an error result.
3. :meth:`discard` removes the worktree once the result is posted.

A dispatcher killed during 2 leaves a record: with no saved outcome nothing was
applied and the effect runs again; with one, :meth:`settle` (before the saved
outcome is posted) finishes the apply, or undoes it and posts a conflict when a
path changed since.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import attrs
import gevent
import gevent.lock

from babysit_plugin.isolate import IsolateOptions, merge, worktrees
from babysit_plugin.isolate.git import GitError, IsolationRefused, Repo, git, open_repo
from babysit_plugin.isolate.snapshot import take_snapshot
from babysit_plugin.runloop import faults
from babysit_plugin.runloop.execute import Outcome
from protocol.fsutil import atomic_write
from protocol.jsonjs import JsonValue
from protocol.models import Run

_LINK_OK = re.compile(r"^[^/\0][^\0]*$")


@attrs.frozen
class Box:
    """One effect's worktree."""

    effect_id: str
    path: Path
    workspace: Path
    snapshot: str


class Isolation:
    """See the module docstring; one per dispatch."""

    def __init__(self, run: Run, state_root: Path, options: IsolateOptions) -> None:
        self.run = run
        self.root = state_root
        self.options = options
        self.repo: Repo | None = None
        self.merge_lock = gevent.lock.Semaphore()
        self._snap_lock = gevent.lock.Semaphore()
        # `git worktree add` reads every admin entry, and fails on one another add is still
        # writing ("failed to read .../commondir"): adds and removes go one at a time.
        self._admin_lock = gevent.lock.Semaphore()
        self._snapshot: str | None = None
        self.tmp = state_root / "tmp"
        self.merges = state_root / "merges"
        self.patches = state_root / "patches"

    # -- start ------------------------------------------------------------------------

    def open(self) -> None:
        """Check the repository and the links (:class:`IsolationRefused` saying why)."""
        repo = self.repo = open_repo(self.run.repo_root, self.run.path)
        ws = repo.toplevel / repo.workspace_rel if repo.workspace_rel else repo.toplevel
        for link in self.options.links:
            parts = Path(link).parts
            if not _LINK_OK.match(link) or ".." in parts or ".git" in parts:
                raise IsolationRefused(
                    f"--worktree-link {link}: expected a path inside the workspace {ws}, "
                    "relative to it — name a directory such as node_modules or .venv"
                )
            if not os.path.lexists(ws / link):
                raise IsolationRefused(
                    f"--worktree-link {link}: expected {ws / link} to exist, found nothing — "
                    "create it first (install the dependencies) or drop the option"
                )
        if self.options.links:
            res = git(ws, "check-ignore", "--", *self.options.links, ok_codes=(0, 1))
            ignored = set(res.out.decode("utf-8", "surrogateescape").split("\n"))
            for link in self.options.links:
                if link not in ignored and link.rstrip("/") not in ignored:
                    raise IsolationRefused(
                        f"--worktree-link {link}: expected an ignored path (each worktree "
                        "already has a copy of tracked and untracked files), found it is not "
                        "ignored — add it to .gitignore or drop the option"
                    )

    def prune(self, in_use: Callable[[str], bool], has_outcome: Callable[[str], bool]) -> None:
        """Remove worktrees and records a killed dispatch left (``in_use``: a live claim)."""
        common = self.repo.common_dir if self.repo is not None else None
        worktrees.prune_stale(self.root, in_use, common)
        with contextlib.suppress(OSError):
            for name in os.listdir(self.merges):
                eid = name[: -len(".json")]
                if name.endswith(".json") and not in_use(eid) and not has_outcome(eid):
                    # Killed before its outcome was saved: nothing was applied.
                    os.unlink(self.merges / name)

    def new_wave(self) -> None:
        """The next effect to start takes a fresh snapshot (earlier waves' merges included)."""
        self._snapshot = None

    def isolates(self, kind: str) -> bool:
        return self.repo is not None and self.options.isolates(kind)

    # -- one effect ----------------------------------------------------------------------

    def setup(self, effect_id: str) -> Box:
        repo = self._repo()
        with self._snap_lock:
            if self._snapshot is None:
                self._snapshot = take_snapshot(repo, self.tmp)
                faults.point("isolate:snapshot")
                common_file = worktrees.worktrees_dir(self.root) / worktrees.COMMON_FILE
                if not common_file.exists():
                    atomic_write(common_file, str(repo.common_dir))
            snapshot = self._snapshot
        path = worktrees.worktrees_dir(self.root) / effect_id
        with self._admin_lock:
            try:
                workspace = worktrees.create(repo, path, snapshot, self.options.links)
            except GitError:
                # Another process adding a worktree of this repository at the same moment.
                gevent.sleep(0.2)
                workspace = worktrees.create(repo, path, snapshot, self.options.links)
        faults.point("isolate:worktree-added")
        return Box(effect_id, path, workspace, snapshot)

    def discard(self, box: Box) -> None:
        with self._admin_lock:
            worktrees.remove(self.repo, box.path)

    def merge_back(self, box: Box, outcome: Outcome) -> tuple[Outcome, merge.MergePlan | None]:
        """The outcome to save, and the clean merge still to apply (hold :attr:`merge_lock`)."""
        repo = self._repo()
        tree = merge.effect_tree(repo, box.path, self._tmp(box.effect_id), self.options.links)
        if outcome.status != "ok":
            s_tree = git(repo.toplevel, "rev-parse", f"{box.snapshot}^{{tree}}").out
            if tree == s_tree.decode().strip():
                return outcome, None
            patch = self._keep_patch(box.effect_id, s_tree.decode().strip(), tree)
            info: dict[str, JsonValue] = {
                "mode": "worktree",
                "merged": False,
                "patch": str(patch),
                "applyCommand": self.apply_command(patch),
            }
            return _with_isolation(outcome, info), None
        plan = merge.plan_merge(repo, box.snapshot, tree, self._tmp(box.effect_id))
        faults.point("isolate:merge-planned")
        if plan.conflicts:
            return self._conflict(
                box.effect_id, box.snapshot, plan, list(plan.conflicts), outcome
            ), None
        info = {
            "mode": "worktree",
            "merged": True,
            "filesChanged": [f["path"] for f in plan.files],
            "changes": list(plan.files),
        }
        return _with_isolation(outcome, info), (plan if plan.changes else None)

    def record(self, box: Box, plan: merge.MergePlan) -> None:
        """Write down a clean merge before a file of it is touched."""
        repo = self._repo()
        data = {
            "toplevel": str(repo.toplevel),
            "snapshot": box.snapshot,
            "snapshotTree": plan.snapshot_tree,
            "effectTree": plan.effect_tree,
            "files": list(plan.files),
            "changes": [c.to_json() for c in plan.changes],
        }
        atomic_write(self.merges / f"{box.effect_id}.json", json.dumps(data))

    def apply(self, box: Box, plan: merge.MergePlan, outcome: Outcome) -> Outcome | None:
        """Write the merge; None when done, else the conflict outcome (nothing written)."""
        repo = self._repo()
        bad = merge.apply(repo, plan.changes, self._tmp(box.effect_id))
        faults.point("isolate:applied")
        self.drop_record(box.effect_id)
        if not bad:
            return None
        return self._conflict(box.effect_id, box.snapshot, plan, bad, outcome)

    def drop_record(self, effect_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.merges / f"{effect_id}.json")

    def settle(self, effect_id: str, outcome: Outcome) -> Outcome | None:
        """Finish the apply a killed dispatch left (see the module docstring).

        None: no record, or finished; else the conflict outcome (the apply undone).
        """
        path = self.merges / f"{effect_id}.json"
        try:
            data = json.loads(path.read_text())
            top = Path(data["toplevel"])
            changes = tuple(merge.Change.from_json(c) for c in data["changes"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            self.drop_record(effect_id)
            return None
        repo = self.repo if self.repo is not None else open_repo(top, self.run.path)
        self.repo = repo
        bad = merge.settle(repo, changes, self._tmp(effect_id))
        result = None
        if bad:
            plan = merge.MergePlan(data["snapshotTree"], data["effectTree"], tuple(data["files"]))
            result = self._conflict(effect_id, data["snapshot"], plan, bad, outcome)
        self.drop_record(effect_id)
        return result

    # -- conflicts ---------------------------------------------------------------------

    def apply_command(self, patch: Path) -> str:
        return f"git -C {self._repo().toplevel} apply {patch}"

    def _keep_patch(self, effect_id: str, base: str, tree: str) -> Path:
        target = self.patches / f"{effect_id}.patch"
        atomic_write(target, merge.patch_text(self._repo(), base, tree))
        return target

    def _conflict(
        self,
        effect_id: str,
        snapshot: str,
        plan: merge.MergePlan,
        conflicts: list[str],
        outcome: Outcome,
    ) -> Outcome:
        repo = self._repo()
        patch = self._keep_patch(effect_id, plan.snapshot_tree, plan.effect_tree)
        command = self.apply_command(patch)
        shown = ", ".join(conflicts[:20]) + (
            f" and {len(conflicts) - 20} more" if len(conflicts) > 20 else ""
        )
        message = (
            f"merge-back conflict in {len(conflicts)} file{'s' if len(conflicts) != 1 else ''} "
            f"changed in the working tree meanwhile: {shown} — nothing of this effect was "
            f"applied; its patch is kept in {patch}; apply it by hand with `{command}` "
            "(add --3way to merge)"
        )
        data: dict[str, JsonValue] = {
            "conflicts": list(conflicts),
            "patch": str(patch),
            "applyCommand": command,
        }
        if self.options.on_conflict == "keep-branch":
            branch = f"babysit/{self.run.metadata.run_id}/{effect_id}"
            try:
                merge.keep_branch(
                    repo,
                    branch,
                    snapshot,
                    plan.effect_tree,
                    f"babysit-plugin: effect {effect_id} (conflicted on merge-back)",
                )
                data["branch"] = branch
                message += f"; its tree is committed on branch {branch}"
            except GitError as exc:
                message += f"; branch {branch} could not be written: {exc}"
        info: dict[str, JsonValue] = {
            "mode": "worktree",
            "merged": False,
            "conflicts": list(conflicts),
            "patch": str(patch),
            "filesChanged": [f["path"] for f in plan.files],
        }
        error: dict[str, JsonValue] = {
            "name": "MergeConflictError",
            "message": message,
            "data": data,
        }
        return attrs.evolve(
            _with_isolation(outcome, info), status="error", value=None, has_value=False, error=error
        )

    def _repo(self) -> Repo:
        if self.repo is None:
            raise IsolationRefused("isolation used before the repository was opened")
        return self.repo

    def _tmp(self, effect_id: str) -> Path:
        self.tmp.mkdir(parents=True, exist_ok=True)
        return self.tmp / f"{effect_id}.{os.getpid()}.index"


def _with_isolation(outcome: Outcome, info: dict[str, JsonValue]) -> Outcome:
    meta: dict[str, JsonValue] = dict(outcome.metadata or {})
    meta["isolation"] = info
    return attrs.evolve(outcome, metadata=meta)


__all__ = ["Box", "Isolation"]
