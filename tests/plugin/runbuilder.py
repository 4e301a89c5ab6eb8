"""Plugin test support: run directories with pending effects, and fake harness CLIs.

Imported by the plugin tests (``tests/plugin`` is on ``sys.path`` through their conftest);
the ``fakes`` fixture itself lives in ``conftest.py``.

``make_run`` writes a run the way the SDK lays it out (run.json, RUN_CREATED,
one ``EFFECT_REQUESTED`` + ``tasks/<id>/task.json`` per effect) with the
protocol's own journal appender.  ``fakes`` puts executables named like every
harness CLI on a temporary PATH; each records what it was given (see
``fakes/fake_harness.py``).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from protocol.clock import system_ms
from protocol.fsutil import atomic_write
from protocol.journal import append_event, open_run, read_journal
from protocol.jsonjs import JsonValue, to_file_text
from protocol.ulid import next_ulid

FAKES = Path(__file__).resolve().parent / "fakes"
TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
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
class RunDir:
    """A run directory made for a test, with its effect ids in request order."""

    path: Path
    repo: Path
    effect_ids: list[str]

    def result(self, effect_id: str) -> dict[str, Any]:
        """The result.json posted for an effect."""
        data: dict[str, Any] = json.loads(
            (self.path / "tasks" / effect_id / "result.json").read_text(encoding="utf-8")
        )
        return data

    def status(self, effect_id: str) -> str:
        """requested / ok / error, as the journal says."""
        return read_journal(open_run(self.path)).effects[effect_id].status

    def resolved_count(self) -> int:
        events = read_journal(open_run(self.path)).events
        return sum(1 for e in events if e.type == "EFFECT_RESOLVED")


def make_run(
    root: Path,
    tasks: Sequence[dict[str, JsonValue]],
    *,
    run_id: str = "run-1",
    harness: str | None = None,
    resolved: Sequence[int] = (),
) -> RunDir:
    """A run under ``root/repo/.a5c/runs/<run_id>`` with one pending effect per task."""
    repo = root / "repo"
    path = repo / ".a5c" / "runs" / run_id
    (path / "journal").mkdir(parents=True)
    meta: dict[str, JsonValue] = {
        "runId": run_id,
        "processId": "tests/plugin",
        "entrypoint": {"importPath": "../../processes/p.js", "exportName": "process"},
        "layoutVersion": "2026.01-storage-preview",
        "createdAt": "2026-01-01T00:00:00.000Z",
    }
    if harness is not None:
        meta["harness"] = harness
    atomic_write(path / "run.json", to_file_text(meta))
    run = open_run(path)
    append_event(
        run,
        read_journal(run),
        "RUN_CREATED",
        {"runId": run_id, "processId": "tests/plugin", "entrypoint": meta["entrypoint"]},
    )
    ids: list[str] = []
    last: str | None = None
    for n, task in enumerate(tasks, start=1):
        effect_id = next_ulid(system_ms(), last)
        last = effect_id
        task_id = f"tests.task{n}"
        step = f"S{n:06d}"
        key = f"tests/plugin:{step}:{task_id}"
        body = dict(task)
        body.update(
            {
                "schemaVersion": "2026.01.tasks-v1",
                "effectId": effect_id,
                "taskId": task_id,
                "invocationKey": key,
                "stepId": step,
            }
        )
        atomic_write(path / "tasks" / effect_id / "task.json", to_file_text(body))
        data: dict[str, JsonValue] = {
            "effectId": effect_id,
            "invocationKey": key,
            "stepId": step,
            "taskId": task_id,
            "kind": task.get("kind"),
            "label": f"effect {n}",
            "taskDefRef": f"tasks/{effect_id}/task.json",
        }
        append_event(run, read_journal(run), "EFFECT_REQUESTED", data)
        ids.append(effect_id)
    for index in resolved:
        effect_id = ids[index]
        append_event(
            run,
            read_journal(run),
            "EFFECT_RESOLVED",
            {
                "effectId": effect_id,
                "status": "ok",
                "resultRef": f"tasks/{effect_id}/result.json",
            },
        )
    return RunDir(path=path, repo=repo, effect_ids=ids)


def shell(command: str, **extra: JsonValue) -> dict[str, JsonValue]:
    """A shell task definition."""
    spec: dict[str, JsonValue] = {"command": command}
    spec.update(extra)
    return {"kind": "shell", "title": command[:40], "shell": spec}


def agent(prompt: str, **extra: JsonValue) -> dict[str, JsonValue]:
    """An agent task whose prompt (a string) carries fake-harness directives."""
    task: dict[str, JsonValue] = {
        "kind": "agent",
        "title": "agent task",
        "agent": {"name": "general-purpose", "prompt": prompt},
    }
    task.update(extra)
    return task


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
