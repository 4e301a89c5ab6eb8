"""`babysit-plugin post` and the SDK's run.lock: it waits for a live holder, breaks a dead one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from kit import Entry, Project, snapshot, snapshot_diff

pytestmark = pytest.mark.e2e

HOLD_LOCK = Path(__file__).resolve().parent / "node" / "hold_lock.js"


def _hold(project: Project, run_dir: Path) -> tuple[subprocess.Popen[str], int]:
    """Start a Node process holding run.lock via the SDK's acquireRunLock; return it and pid."""
    holder = subprocess.Popen(
        [
            project.sdk.node,
            str(HOLD_LOCK),
            str(project.sdk.dist / "storage" / "lock.js"),
            str(run_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=project.env,
    )
    assert holder.stdout is not None
    line = holder.stdout.readline()
    assert line == f"held {holder.pid}\n", holder.stderr.read() if holder.stderr else line
    return holder, holder.pid


def _visible(snap: dict[str, Entry]) -> dict[str, Entry]:
    """A snapshot without the temp files a writer prepares (``.name.*.tmp``)."""
    return {
        path: entry
        for path, entry in snap.items()
        if not (path.rsplit("/", 1)[-1].startswith(".") and path.endswith(".tmp"))
    }


def _one_pending(project: Project) -> tuple[Path, str]:
    run_dir = project.create("steps", "locked", inputs={"count": 1})
    (action,) = project.iterate(run_dir)["nextActions"]
    return run_dir, action["effectId"]


def test_post_waits_while_another_process_holds_the_lock(project: Project) -> None:
    """The plugin waits for a live SDK lock holder, writes nothing meanwhile, then commits."""
    run_dir, effect = _one_pending(project)
    holder, holder_pid = _hold(project, run_dir)
    try:
        before = snapshot(run_dir)
        lock = json.loads((run_dir / "run.lock").read_text(encoding="utf-8"))
        assert lock["pid"] == holder_pid
        post = subprocess.Popen(
            project.plugin_argv(
                "post",
                str(run_dir),
                effect,
                "--status",
                "ok",
                "--value-inline",
                '{"waited": true}',
                "--lock-timeout",
                "60",
            ),
            cwd=project.root,
            env=project.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert post.stderr is not None
        notice = post.stderr.readline()
        assert notice == (
            f"babysit-plugin: {run_dir / 'run.lock'} is held by pid {holder_pid} "
            "(e2e:hold-lock); waiting up to 60s\n"
        )
        # The plugin is now waiting: no file the SDK reads may have changed. (It may have
        # prepared its writes as dot-named .tmp files, which replay never reads.)
        assert snapshot_diff(before, _visible(snapshot(run_dir))) == []
        assert post.poll() is None
        holder.send_signal(signal.SIGUSR1)
        assert holder.stdout is not None
        assert holder.stdout.readline() == "released\n"
        assert holder.wait(timeout=30) == 0
        out, err = post.communicate(timeout=60)
        assert post.returncode == 0, err
        assert out.startswith(f"posted {effect} status=ok ")
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert not (run_dir / "run.lock").exists()
    assert [p for p in snapshot(run_dir) if p.endswith(".tmp")] == []
    assert project.iterate(run_dir)["status"] == "completed"
    assert project.output(run_dir) == {"values": [{"waited": True}]}


def test_lock_left_by_a_killed_process_is_broken(project: Project) -> None:
    """A run.lock whose pid is dead is removed and the post goes through, as the SDK does."""
    run_dir, effect = _one_pending(project)
    holder, holder_pid = _hold(project, run_dir)
    holder.kill()
    holder.wait(timeout=30)
    lock = json.loads((run_dir / "run.lock").read_text(encoding="utf-8"))
    assert lock["pid"] == holder_pid
    with pytest.raises(ProcessLookupError):
        os.kill(holder_pid, 0)
    done = project.plugin(
        "post",
        str(run_dir),
        effect,
        "--status",
        "ok",
        "--value-inline",
        "7",
        "--lock-timeout",
        "5",
    )
    assert done.stdout.startswith(f"posted {effect} status=ok ")
    assert not (run_dir / "run.lock").exists()
    assert project.iterate(run_dir)["status"] == "completed"
    assert project.output(run_dir) == {"values": [7]}
