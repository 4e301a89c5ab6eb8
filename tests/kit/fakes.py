"""Fake harness CLIs: executables named like every agent CLI, each recording what it was given.

``install_fakes`` puts them first on a temporary PATH; each invocation writes a JSON record
(argv, stdin, environment, start and end times) into ``FAKE_HARNESS_LOG`` and answers as the
directives in its prompt say (see ``tests/plugin/fakes/fake_harness.py``).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

FAKES = Path(__file__).resolve().parents[1] / "plugin" / "fakes"
FAKE_NAMES = (
    "claude",
    "codex",
    "pi",
    "gemini",
    "opencode",
    "cursor-agent",
    "agent",
    "copilot",
    "babysitter",
)


@dataclass
class Fakes:
    """Fake harness executables on PATH and what they recorded."""

    bin: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        """Every finished or running fake invocation, sorted by start time."""
        out = []
        for path in sorted(self.log.glob("*.json")):
            try:
                out.append(json.loads(path.read_text()))
            except ValueError:
                continue
        return sorted(out, key=lambda r: r["start"])

    def remove(self, name: str) -> None:
        (self.bin / name).unlink()


def _wrapper(bin_dir: Path, name: str) -> None:
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKES / "fake_harness.py"} {name} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def install_fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    """Fake harness CLIs first on PATH; FAKE_HARNESS_LOG collects their records."""
    bin_dir = tmp_path / "fakebin"
    log = tmp_path / "fakelog"
    bin_dir.mkdir()
    log.mkdir()
    for name in FAKE_NAMES:
        _wrapper(bin_dir, name)
    path = f"{bin_dir}{os.pathsep}/usr/local/bin:/usr/bin:/bin"
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("FAKE_HARNESS_LOG", str(log))
    monkeypatch.delenv("BABYSITTER_HARNESS", raising=False)
    # claude refuses to run as root without it (tests often run as root in containers).
    monkeypatch.setenv("IS_SANDBOX", "1")
    env = {"PATH": path, "FAKE_HARNESS_LOG": str(log), "IS_SANDBOX": "1"}
    return Fakes(bin=bin_dir, log=log, env=env)
