"""``babysit-plugin dispatch`` as a process: output, exit codes, and signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kit import Fakes, RunDir, agent, make_run, shell

from babysit_plugin.runloop.proc import group_alive
from babysit_plugin.runloop.store import PluginStore
from protocol.verify import verify_run

REPO = Path(__file__).resolve().parents[2]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra or {})
    return env


def plugin(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "babysit_plugin", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(env),
        timeout=120,
        check=False,
    )


def test_json_summary(tmp_path: Path) -> None:
    """--json prints runDir, waves, per-effect status/timing and counts."""
    run = make_run(tmp_path, [shell("echo a"), shell("exit 4"), {"kind": "breakpoint"}])
    proc = plugin("dispatch", str(run.path), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["runDir"] == str(run.path)
    assert out["waves"] == [
        {
            "index": 0,
            "parallelGroupId": out["waves"][0]["parallelGroupId"],
            "sequential": False,
            "maxConcurrency": None,
            "effectIds": run.effect_ids,
        }
    ]
    assert [e["status"] for e in out["effects"]] == ["ok", "error", "skipped"]
    first = out["effects"][0]
    assert set(first) >= {"effectId", "kind", "status", "startedAt", "finishedAt", "durationMs"}
    assert isinstance(first["durationMs"], int)
    assert out["effects"][1]["reason"] == "Shell command exited with code 4"
    assert out["counts"] == {"ok": 1, "error": 1, "skipped": 1, "posted": 2, "total": 3}


def test_lines_when_not_a_terminal(tmp_path: Path) -> None:
    """Without --json and off a terminal: one line per finished effect, then a summary."""
    run = make_run(tmp_path, [shell("echo a"), shell("echo b")])
    proc = plugin("dispatch", str(run.path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3
    assert sorted(line.split()[2] for line in lines[:2]) == sorted(run.effect_ids)
    assert all(line.startswith("ok ") for line in lines[:2])
    assert lines[2].startswith("dispatched 2 effects: 2 ok, 0 error, 0 skipped; 2 posted in ")


def test_dry_run_prints_waves_and_commands(tmp_path: Path) -> None:
    """--dry-run shows each wave and the exact command; nothing is posted."""
    run = make_run(tmp_path, [shell("echo a"), {"kind": "breakpoint", "title": "ok?"}])
    proc = plugin("dispatch", str(run.path), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("wave 0: group ")
    assert lines[0].endswith("(2 effects, up to 2 at once)")
    assert lines[1:] == [
        f"  {run.effect_ids[0]}  shell  echo a",
        f"    /bin/sh -c 'echo a' (in {run.repo})",
        f"  {run.effect_ids[1]}  breakpoint  ok?",
        "    skipped: waiting for a human (breakpoint)",
    ]
    assert run.resolved_count() == 0


def test_actions_from_stdin(tmp_path: Path) -> None:
    """--actions - reads a run:iterate output from stdin."""
    run = make_run(tmp_path, [shell("echo a"), shell("echo b")])
    payload = {"nextActions": [{"effectId": run.effect_ids[1], "kind": "shell"}]}
    proc = plugin("dispatch", str(run.path), "--actions", "-", "--json", stdin=json.dumps(payload))
    assert proc.returncode == 0, proc.stderr
    assert [e["effectId"] for e in json.loads(proc.stdout)["effects"]] == [run.effect_ids[1]]
    assert run.status(run.effect_ids[0]) == "requested"


def test_bad_actions_file_is_one_line(tmp_path: Path) -> None:
    """Invalid JSON in --actions is exit 1 with one line naming the file."""
    run = make_run(tmp_path, [shell("echo a")])
    bad = tmp_path / "actions.json"
    bad.write_text("{nope")
    proc = plugin("dispatch", str(run.path), "--actions", str(bad))
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"babysit-plugin: error: {bad}: expected JSON")
    assert proc.stderr.count("\n") == 1


def test_missing_run_is_one_line(tmp_path: Path) -> None:
    """A run directory that does not exist is exit 1 with one clear line."""
    proc = plugin("dispatch", str(tmp_path / "nope"))
    assert proc.returncode == 1
    assert proc.stderr == (
        f"babysit-plugin: error: {tmp_path / 'nope'}: expected a run directory, found nothing "
        "there — pass an existing <repo>/.a5c/runs/<runId> directory\n"
    )


def test_unknown_harness_flag_is_refused(tmp_path: Path) -> None:
    """--harness with an unknown name is a usage error."""
    proc = plugin("dispatch", str(tmp_path), "--harness", "vim")
    assert proc.returncode == 2
    assert "unknown harness 'vim'" in proc.stderr


def _wait_started(fakes: Fakes, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Block until ``count`` fake harness processes have recorded their start."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = fakes.records()
        if len(records) >= count:
            return records
        time.sleep(0.01)
    raise AssertionError(f"only {len(fakes.records())} of {count} harness processes started")


def _no_trace(run: RunDir) -> None:
    store = PluginStore(run.path)
    assert list(store.claims_dir.glob("*.json")) == []
    assert store.saved_outcome_ids() == []
    assert not (run.path / "run.lock").exists()
    assert verify_run(run.path).ok


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_kills_children_and_leaves_effects_pending(
    tmp_path: Path, fakes: Fakes, signum: int, code: int
) -> None:
    """SIGTERM/SIGINT: children's groups die, nothing is posted half, effects stay pending."""
    run = make_run(tmp_path, [agent("@sleep 60"), agent("@forever"), shell("echo quick")])
    proc = subprocess.Popen(
        [sys.executable, "-m", "babysit_plugin", "dispatch", str(run.path), "--harness", "pi"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(fakes.env),
    )
    records = _wait_started(fakes, 2)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code, stderr
    assert stderr.endswith("babysit-plugin: interrupted; unfinished effects left pending\n")
    for record in records:
        assert not group_alive(record["pgid"])
    statuses = [run.status(e) for e in run.effect_ids]
    assert statuses[:2] == ["requested", "requested"]
    assert stdout.splitlines()[-1].endswith("; interrupted, unfinished effects left pending")
    _no_trace(run)
    rerun = plugin("dispatch", str(run.path), "--dry-run", "--json")
    planned = [e["effectId"] for e in json.loads(rerun.stdout)["effects"]]
    assert run.effect_ids[0] in planned
    assert run.effect_ids[1] in planned
