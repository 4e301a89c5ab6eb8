"""Isolation of agent effects in git worktrees (``dispatch --isolate worktree``).

Before a wave starts, one snapshot commit of the user's working tree (tracked
changes and untracked, non-ignored files) is written through a temporary index
(:mod:`.snapshot`); each isolated effect runs in its own detached worktree of
that commit under ``<run>/.babysit-plugin/worktrees/`` (:mod:`.worktrees`);
when it finishes, its changes are merged back into the working tree one effect
at a time, three-way against the snapshot (:mod:`.merge`).  The user's index,
HEAD, branches, stash and refs are never written (``--on-conflict keep-branch``
adds one branch per conflicting effect, on request).  :mod:`.session` ties it
to a dispatch.
"""

from __future__ import annotations

from typing import Literal

import attrs

IsolateMode = Literal["none", "worktree"]
OnConflict = Literal["error", "keep-branch"]


@attrs.frozen
class IsolateOptions:
    """How effects are isolated (``--isolate``, ``--isolate-shell``, ``--worktree-link``,
    ``--on-conflict``); shared by every command that dispatches.

    ``links``: paths relative to the workspace (ignored directories such as
    ``node_modules``) made available in each worktree as symlinks to the user's.
    """

    mode: IsolateMode = "none"
    shell: bool = False
    links: tuple[str, ...] = ()
    on_conflict: OnConflict = "error"

    @property
    def enabled(self) -> bool:
        return self.mode == "worktree"

    def isolates(self, kind: str) -> bool:
        """True when an effect of this kind runs in a worktree of its own."""
        if not self.enabled or kind in ("sleep", "breakpoint"):
            return False
        return kind != "shell" or self.shell


__all__ = ["IsolateMode", "IsolateOptions", "OnConflict"]
