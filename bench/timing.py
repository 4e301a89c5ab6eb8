"""Timing a child process (wall time and peak RSS) and summarising samples."""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Timed:
    """One finished child process."""

    argv: tuple[str, ...]
    returncode: int
    wall: float
    started_epoch: float
    finished_epoch: float
    max_rss_kib: int
    stdout: str
    stderr: str

    def check(self) -> Timed:
        """Itself, or an error naming the command, its exit status and its output."""
        if self.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.argv)} exited {self.returncode}\n"
                f"{self.stdout[-2000:]}\n{self.stderr[-2000:]}"
            )
        return self


def run_timed(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdin: str | None = None,
) -> Timed:
    """Run ``argv`` to completion; wall time from spawn to reaping, and its peak RSS.

    The child is reaped with ``os.wait4``, whose resource usage covers the child and the
    descendants it waited for, so ``max_rss_kib`` is the largest of them (the dispatcher
    itself: its ``sh``/``sleep`` children are a few MiB). Output goes to temporary files,
    not pipes, so a chatty child never blocks on a full pipe.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryFile() as inp,
    ):
        if stdin is not None:
            inp.write(stdin.encode("utf-8"))
            inp.seek(0)
        started_epoch = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdin=inp, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        finished_epoch = time.time()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Timed(
            argv=tuple(argv),
            returncode=proc.returncode,
            wall=wall,
            started_epoch=started_epoch,
            finished_epoch=finished_epoch,
            max_rss_kib=int(usage.ru_maxrss),
            stdout=out.read().decode("utf-8", errors="replace"),
            stderr=err.read().decode("utf-8", errors="replace"),
        )


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summary(samples: Sequence[float]) -> dict[str, float | int]:
    """n, median, p95, mean, min and max of samples in seconds."""
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "median": statistics.median(samples),
        "p95": percentile(samples, 95),
        "mean": statistics.fmean(samples),
        "min": min(samples),
        "max": max(samples),
    }
