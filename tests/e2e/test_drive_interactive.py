"""``drive --interactive`` under a pseudo-terminal: the question shown, the answer posted."""

from __future__ import annotations

import os
import pty
import select
import subprocess
from pathlib import Path

import pytest
from kit import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _read_until(fd: int, needle: bytes, seen: bytearray) -> None:
    """Read the terminal until ``needle`` appears (or the child closes it)."""
    while needle not in seen:
        ready, _, _ = select.select([fd], [], [], 120)
        assert ready, f"no {needle!r} on the terminal; saw:\n{seen.decode(errors='replace')}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        assert chunk, f"terminal closed before {needle!r}; saw:\n{seen.decode(errors='replace')}"
        seen += chunk


def test_breakpoint_asked_in_the_terminal_and_the_answer_reaches_the_process(
    project: Project, tmp_path: Path
) -> None:
    """The title, question and options are shown; the typed option and the y reach the
    process as {"approved": true, "response": "No"}, and the drive goes on to the end."""
    log = tmp_path / "steps.log"
    run_dir = project.create("drive", "tty-run", {"log": str(log), "branches": []})
    main, child = pty.openpty()
    proc = subprocess.Popen(
        project.plugin_argv("drive", str(run_dir)),
        cwd=project.root,
        env=project.env,
        stdin=child,
        stdout=child,
        stderr=child,
        close_fds=True,
    )
    os.close(child)
    seen = bytearray()
    try:
        _read_until(main, b"answer (", seen)
        text = seen.decode(errors="replace")
        for shown in ("go-on", "Go on?", "1) Yes", "2) No"):
            assert shown in text, text
        os.write(main, b"2\n")
        _read_until(main, b"approve? [y/n]", seen)
        os.write(main, b"y\n")
        _read_until(main, b"completed after", seen)
        assert proc.wait(timeout=120) == 0, seen.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
    assert project.output(run_dir)["answer"] == {"approved": True, "response": "No"}
