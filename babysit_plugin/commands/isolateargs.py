"""The isolation flags (``--isolate``, ``--isolate-shell``, ``--worktree-link``,
``--on-conflict``), registered and read here for every command that dispatches."""

from __future__ import annotations

import argparse

from babysit_plugin.cli import UsageError
from babysit_plugin.isolate import IsolateOptions


def add_isolate_arguments(parser: argparse.ArgumentParser) -> None:
    """``--isolate``, ``--isolate-shell``, ``--worktree-link``, ``--on-conflict``."""
    parser.add_argument(
        "--isolate",
        choices=("none", "worktree"),
        default="none",
        help="worktree: run each agent/skill effect in a git worktree of its own, checked out "
        "at a snapshot of the working tree, and merge its changes back one effect at a time "
        "(default none)",
    )
    parser.add_argument(
        "--isolate-shell",
        action="store_true",
        help="with --isolate worktree, isolate shell effects too",
    )
    parser.add_argument(
        "--worktree-link",
        action="append",
        default=[],
        metavar="PATH",
        help="an ignored directory (node_modules, .venv) made available in each worktree as a "
        "symlink to yours; relative to the workspace; repeatable",
    )
    parser.add_argument(
        "--on-conflict",
        choices=("error", "keep-branch"),
        default="error",
        help="a merge-back conflict posts an error result and keeps the patch; keep-branch "
        "also commits the effect's tree to branch babysit/<runId>/<effectId>",
    )


def isolate_options(args: argparse.Namespace) -> IsolateOptions:
    """The isolation a parsed command line asks for (flags that need --isolate refused without)."""
    if args.isolate != "worktree" and (
        args.isolate_shell or args.worktree_link or args.on_conflict != "error"
    ):
        raise UsageError(
            "--isolate-shell, --worktree-link and --on-conflict need --isolate worktree — "
            "add it or drop them"
        )
    return IsolateOptions(
        mode=args.isolate,
        shell=args.isolate_shell,
        links=tuple(dict.fromkeys(p.rstrip("/") for p in args.worktree_link)),
        on_conflict=args.on_conflict,
    )
