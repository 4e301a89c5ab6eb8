"""protocol is pure: importing it pulls in neither gevent nor subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_protocol_leaves_gevent_out() -> None:
    """A fresh interpreter that imports protocol has no gevent or subprocess module loaded."""
    code = (
        "import sys; import protocol; "
        "print(sorted(m for m in ('gevent', 'subprocess') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"
