"""Start-up is part of every command's cost: a subcommand imports only what it needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kit import make_run, shell

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import sys
from babysit_plugin.cli import main
try:
    rc = main(sys.argv[1:])
except SystemExit as exc:
    rc = exc.code
heavy = (
    "gevent",
    "subprocess",
    "babysit_plugin.runloop.dispatch",
    "babysit_plugin.runloop.execute",
    "protocol",
)
print(rc, sorted(m for m in heavy if m in sys.modules))
"""


def _probe(*argv: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.splitlines()[-1]


def test_post_pending_and_verify_leave_gevent_and_the_dispatcher_out(tmp_path: Path) -> None:
    """post, pending and verify run without importing gevent, subprocess or the dispatcher."""
    rd = make_run(tmp_path, [shell("true")])
    run = str(rd.path)
    effect = rd.effect_ids[0]
    assert _probe("pending", run) == "0 ['protocol']"
    assert _probe("post", run, effect, "--status", "ok", "--value-inline", "1") == "0 ['protocol']"
    assert _probe("verify", run) == "0 ['protocol']"


def test_version_imports_nothing_but_the_command_line_frame() -> None:
    """--version answers without importing protocol, gevent or any subcommand module."""
    assert _probe("--version") == "0 []"
