"""Cost of the journal watch a dispatch runs while effects run (``runloop/cancel.py``).

Every 0.5 s the watch re-reads the journal with a ``JournalReader`` of its own; this prints,
for journals of 30, 1,000 and 10,000 events, the first (full) read and the median re-read
when nothing changed and when one event was appended. Run from the repository root:
``python bench/watch_cost.py``. Set-up writes skip fsync (not measured).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sdkruns import without_fsync

from protocol.journal import JournalReader, append_event, open_run, read_journal

SOURCE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "runs" / "parallel-3"


def main() -> None:
    for n in (30, 1000, 10000):
        d = Path(tempfile.mkdtemp()) / "r"
        shutil.copytree(SOURCE, d)
        run = open_run(d)
        j = read_journal(run)
        with without_fsync():
            for i in range(n - len(j.entries)):
                a = append_event(run, j, "RUN_ITERATION_NOTE", {"i": i})
                j = attrs.evolve(j, head=(a.seq, a.ulid))
        reader = JournalReader(run)
        t = time.perf_counter()
        reader.read()
        first = time.perf_counter() - t
        steady = []
        for _ in range(50):
            t = time.perf_counter()
            reader.read()
            steady.append(time.perf_counter() - t)
        grow = []
        for i in range(20):
            with without_fsync():
                a = append_event(run, j, "RUN_ITERATION_NOTE", {"x": i})
            j = attrs.evolve(j, head=(a.seq, a.ulid))
            t = time.perf_counter()
            reader.read()
            grow.append(time.perf_counter() - t)
        print(
            f"{n} events: full read {first * 1000:.1f} ms; re-read unchanged median "
            f"{statistics.median(steady) * 1000:.2f} ms; re-read after one new event median "
            f"{statistics.median(grow) * 1000:.2f} ms"
        )
        shutil.rmtree(d.parent)


if __name__ == "__main__":
    main()
