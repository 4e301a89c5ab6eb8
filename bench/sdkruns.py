"""Run directories for the benchmark, made by the real babysitter SDK CLI.

A :class:`BenchProject` is a throw-away project root (``tests/kit``'s
:class:`~kit.Project`: ``.a5c/processes``, ``.a5c/runs``, a ``node_modules`` link to the
pinned SDK, and an environment without this machine's babysitter configuration). Every run
comes from ``bench/processes/fanout.js``: ``run:create`` then ``run:iterate`` leave ``n``
shell effects pending in one parallel group.

:func:`resolve_in_bulk` resolves many of them quickly to grow a journal (one ``result.json``
and one ``EFFECT_RESOLVED`` per effect, written with the protocol's own serializer and
journal appender, reading the journal once instead of once per result). The runs it leaves
are checked afterwards by ``verify_run`` and by ``run:iterate``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import attrs

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PROCESSES = BENCH / "processes"
FANOUT = PROCESSES / "fanout.js"

for _path in (str(REPO / "tests"), str(REPO)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import kit  # noqa: E402  (tests/kit: the SDK lines and project roots)
from timing import Timed, run_timed  # noqa: E402

from protocol import (  # noqa: E402
    EffectResolved,
    JsonValue,
    TaskResult,
    append_event,
    atomic_write,
    now_iso,
    open_run,
    read_journal,
    stable_clone,
    to_file_text,
    unstructure,
)
from protocol.results import RESULT_SCHEMA_VERSION  # noqa: E402


def find_sdk() -> kit.Sdk:
    """The pinned SDK (installed with ``npm ci`` when missing), or an error saying why not."""
    found = kit.find_sdk()
    if isinstance(found, str):
        raise SystemExit(f"bench: {found}")
    return found


class BenchProject:
    """A project root holding the benchmark's runs."""

    def __init__(self, sdk: kit.Sdk, root: Path) -> None:
        self.project = kit.Project(sdk, root, [FANOUT])
        self.sdk = sdk
        self.root = root
        self.env = self.project.env
        self._runs = 0

    def babysitter_argv(self, *args: str) -> list[str]:
        return [str(self.sdk.babysitter), *args]

    def plugin_argv(self, *args: str) -> list[str]:
        return self.project.plugin_argv(*args)

    def timed(self, argv: list[str], stdin: str | None = None) -> Timed:
        """A command run in the project root with the project's environment."""
        return run_timed(argv, cwd=self.root, env=self.env, stdin=stdin)

    def iterate(self, run_dir: Path) -> tuple[dict[str, Any], Timed]:
        """``run:iterate --json`` (which must exit 0) and its timing."""
        timed = self.timed(self.babysitter_argv("run:iterate", str(run_dir), "--json")).check()
        return cast(dict[str, Any], json.loads(timed.stdout)), timed

    def fanout(self, n: int, command: str, tag: str) -> tuple[Path, list[dict[str, Any]]]:
        """A run with ``n`` pending shell effects running ``command``, and its nextActions."""
        self._runs += 1
        run_id = f"{tag}-{self._runs:03d}"
        run_dir = self.project.create("fanout", run_id, inputs={"n": n, "command": command})
        out, _ = self.iterate(run_dir)
        actions = list(out.get("nextActions") or [])
        if out.get("status") != "waiting" or len(actions) != n:
            raise RuntimeError(
                f"{run_dir}: expected run:iterate to leave {n} effects pending, found status "
                f"{out.get('status')!r} with {len(actions)} actions"
            )
        return run_dir, actions


@contextlib.contextmanager
def without_fsync() -> Iterator[list[int]]:
    """``os.fsync`` as a no-op for the block, counting the calls it skipped.

    For set-up writes that are not measured (building a 10,000-event journal file by file
    with two fsyncs per file would take minutes on a disk where one fsync costs
    milliseconds), and for the posting diagnostic "what would this cost without fsync".
    """
    real = os.fsync
    skipped = [0]

    def skip(fd: Any) -> None:
        skipped[0] += 1

    os.fsync = skip
    try:
        yield skipped
    finally:
        os.fsync = real


def resolve_in_bulk(run_dir: Path, effect_ids: list[str]) -> None:
    """Resolve ``effect_ids`` (all pending) with ``{"i": index}`` values, fast.

    Writes what ``protocol.post_result`` writes for an ``ok`` result without logs, but reads
    the journal once, appends after the last event written and skips fsync (set-up, not
    measured), so a journal of 10,000 events is built in seconds. The caller is the only
    writer of the run.
    """
    with without_fsync():
        _resolve_in_bulk(run_dir, effect_ids)


def _resolve_in_bulk(run_dir: Path, effect_ids: list[str]) -> None:
    run = open_run(run_dir)
    journal = read_journal(run)
    for index, effect_id in enumerate(effect_ids):
        record = journal.effects[effect_id]
        if record.status != "requested":
            raise RuntimeError(f"{run_dir}: {effect_id} is not pending")
        value = stable_clone({"i": index})
        now = now_iso()
        result = TaskResult(
            schema_version=RESULT_SCHEMA_VERSION,
            effect_id=effect_id,
            task_id=record.task_id,
            invocation_key=record.invocation_key,
            status="ok",
            result=value,
            started_at=now,
            finished_at=now,
            value=value,
        )
        result_ref = f"tasks/{effect_id}/result.json"
        atomic_write(run.path / result_ref, to_file_text(unstructure(result)))
        event = EffectResolved(
            effect_id=effect_id,
            status="ok",
            result_ref=result_ref,
            started_at=now,
            finished_at=now,
        )
        appended = append_event(
            run, journal, "EFFECT_RESOLVED", cast(dict[str, JsonValue], unstructure(event))
        )
        journal = attrs.evolve(journal, head=(appended.seq, appended.ulid))


def fsync_cost(directory: Path, repeats: int = 20) -> dict[str, float]:
    """Median milliseconds of one ``atomic_write`` of a small new file here, with and
    without its two fsyncs (file, then directory): what durability costs on this disk."""
    synced: list[float] = []
    unsynced: list[float] = []
    probe = directory / "fsync-probe"
    for i in range(repeats):
        t0 = time.perf_counter()
        atomic_write(probe / f"synced-{i}.json", f'{{"i": {i}}}\n')
        synced.append(time.perf_counter() - t0)
        with without_fsync():
            t0 = time.perf_counter()
            atomic_write(probe / f"unsynced-{i}.json", f'{{"i": {i}}}\n')
            unsynced.append(time.perf_counter() - t0)
    shutil.rmtree(probe)
    return {
        "atomicWriteMs": round(statistics.median(synced) * 1000, 2),
        "atomicWriteNoFsyncMs": round(statistics.median(unsynced) * 1000, 2),
    }
