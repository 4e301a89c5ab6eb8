"""The ``RUN_DIR`` argument every command takes: a run directory's path or a run id.

:func:`add_run_argument` adds it with ``--runs-dir``; :func:`run_dir_of` resolves it with
:func:`protocol.locate.locate_run` from this process's working directory, environment and
home, the way the run's SDK line resolves it (an id found in two runs directories, or in
none, is one line naming them).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from protocol.locate import locate_run

__all__ = ["add_run_argument", "run_dir_of"]

RUN_HELP = (
    "the run: its directory, or its run id (looked for under --runs-dir, "
    "$BABYSITTER_RUNS_DIR, $BABYSITTER_RUNS_SCOPE's directory, ~/.a5c/runs and .a5c/runs)"
)


def add_run_argument(parser: argparse.ArgumentParser) -> None:
    """``RUN_DIR`` and ``--runs-dir DIR``."""
    parser.add_argument("run_dir", metavar="RUN_DIR", help=RUN_HELP)
    parser.add_argument(
        "--runs-dir",
        metavar="DIR",
        help="where run ids are looked for first (as babysitter's --runs-dir)",
    )


def run_dir_of(args: argparse.Namespace) -> Path:
    """The run directory ``args.run_dir`` names."""
    return locate_run(
        str(args.run_dir),
        cwd=Path.cwd(),
        env=os.environ,
        home=Path.home(),
        runs_dir=getattr(args, "runs_dir", None),
    )
