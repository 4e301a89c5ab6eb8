"""``babysit-plugin status`` on a 10,000-event journal, against ``babysitter task:list --pending``.

The run is made as ``bench/run.py``'s reading-scale runs are: ``run:create`` and
``run:iterate`` of ``bench/processes/fanout.js`` request E/2 + 2 shell effects, and all but
five are resolved with the protocol's own serializer and appender
(:func:`sdkruns.resolve_in_bulk`), so the journal holds E events.  Two cases are timed in
the same run:

- *plain*: the five pending effects, no plugin state (what ``status`` shows: 5 effects);
- *touched*: the same run after every resolved effect was noted in
  ``.babysit-plugin/posted.jsonl`` as a dispatch notes it, so ``status`` lists all
  E/2 + 2 effects and reads each one's ``task.json`` (its worst case).

For each case: ``babysit-plugin status RUN --json`` as a whole process (median of
``--repeat``), ``inspect_run`` in process, and ``babysitter task:list RUN --pending --json``
(median of ``--repeat``); the ratio is task:list over status, both processes.  The run
directory is checked to be byte for byte unchanged by the status calls.

    python bench/status.py [--events 10000] [--repeat 5] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent
for _path in (str(BENCH), str(BENCH.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from sdkruns import BenchProject, find_sdk, kit, resolve_in_bulk  # noqa: E402

from babysit_plugin.runloop.inspect import inspect_run  # noqa: E402
from babysit_plugin.runloop.store import PluginStore, SavedOutcome  # noqa: E402
from protocol.journal import open_run, read_journal  # noqa: E402


def _median_wall(bp: BenchProject, argv: list[str], repeat: int) -> tuple[float, str]:
    walls, out = [], ""
    for _ in range(repeat):
        timed = bp.timed(argv).check()
        walls.append(timed.wall)
        out = timed.stdout
    return statistics.median(walls), out


def measure(bp: BenchProject, run_dir: Path, repeat: int) -> dict[str, float | int]:
    before = kit.snapshot(run_dir)
    status_s, out = _median_wall(bp, bp.plugin_argv("status", str(run_dir), "--json"), repeat)
    shown = len(json.loads(out)["effects"])
    t0 = time.perf_counter()
    inspect_run(run_dir)
    in_process = time.perf_counter() - t0
    task_list_s, listed = _median_wall(
        bp, bp.babysitter_argv("task:list", str(run_dir), "--pending", "--json"), repeat
    )
    data = json.loads(listed)
    tasks = data.get("tasks", data) if isinstance(data, dict) else data
    if kit.snapshot_diff(before, kit.snapshot(run_dir)):
        raise RuntimeError(f"{run_dir}: status changed the run directory")
    return {
        "effectsShown": shown,
        "statusProcessS": round(status_s, 4),
        "statusInProcessS": round(in_process, 4),
        "taskListPendingS": round(task_list_s, 4),
        "taskListPendingCount": len(tasks) if isinstance(tasks, list) else -1,
        "ratioTaskListOverStatus": round(task_list_s / status_s, 2),
    }


def note_all_posted(run_dir: Path) -> None:
    run = open_run(run_dir)
    store = PluginStore(run_dir)
    store.ensure()
    for record in read_journal(run).effects.values():
        if record.status in ("ok", "error"):
            saved = SavedOutcome(
                record.effect_id,
                "ok",
                started_at=record.started_at,
                finished_at=record.finished_at,
            )
            store.note_posted(saved, None, kind="shell", title=record.label)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    sdk = find_sdk()
    root = Path(tempfile.mkdtemp(prefix="bench-status-"))
    try:
        bp = BenchProject(sdk, root)
        k = args.events // 2 + 2
        t0 = time.perf_counter()
        run_dir, actions = bp.fanout(k, "true", "status")
        ids = [a["effectId"] for a in actions]
        resolve_in_bulk(run_dir, ids[: k - 5])
        events = len(list((run_dir / "journal").glob("*.json")))
        print(f"built a run of {events} events in {time.perf_counter() - t0:.1f} s", flush=True)
        results = {"events": events, "sdk": sdk.version}
        results["plain"] = measure(bp, run_dir, args.repeat)
        note_all_posted(run_dir)
        results["touched"] = measure(bp, run_dir, args.repeat)
        print(json.dumps(results, indent=2))
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
