"""``drive`` against the iterate + dispatch loop, on each installed SDK line.

For three process shapes (a chain of 4 steps, a fan-out of 4 and a join, a parallel.map of
4 branches of 3 steps) it counts the orchestrator's calls (each ``run:iterate`` and each
``dispatch`` of the loop is a turn of the agent; ``drive`` is one) and the wall time of
both.  The branch run has uneven steps (one 1.5 s step per branch, at a different place in
each, the others 0.2 s): its critical path is 1.9 s of effects.  Every ratio is taken
between runs made in this process, minutes apart.

    python bench/drive.py            # both lines when installed; about 2 minutes
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
for _path in (str(BENCH.parent / "tests"), str(BENCH.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import kit  # noqa: E402

SHAPES: dict[str, dict[str, Any]] = {
    "chain": {"shape": "chain", "steps": 4, "sleep": 0.2},
    "fanout": {"shape": "fanout", "width": 4, "sleep": 0.2},
    "branches": {
        "shape": "branches",
        "sleeps": [[1.5, 0.2, 0.2], [0.2, 1.5, 0.2], [0.2, 0.2, 1.5], [0.2, 0.2, 0.2]],
    },
}
CRITICAL_PATH = {"chain": 0.8, "fanout": 0.4, "branches": 1.9}


def loop(project: kit.Project, run_dir: Path) -> tuple[int, float, int]:
    """The skill's loop: iterate, dispatch, until completed. (calls, seconds, iterations)"""
    calls = iterations = 0
    t0 = time.monotonic()
    while True:
        status = project.iterate(run_dir)["status"]
        calls += 1
        iterations += 1
        if status == "completed":
            return calls, time.monotonic() - t0, iterations
        project.plugin("dispatch", str(run_dir), "--json")
        calls += 1


def drive(project: kit.Project, run_dir: Path) -> tuple[int, float, int]:
    t0 = time.monotonic()
    proc = project.plugin("drive", str(run_dir), "--json", check=False)
    seconds = time.monotonic() - t0
    report = json.loads(proc.stdout)
    assert report["status"] == "completed", proc.stdout + proc.stderr
    return 1, seconds, int(report["iterations"])


def bench_line(version: str) -> list[dict[str, Any]]:
    sdk = kit.find_sdk(version)
    if isinstance(sdk, str):
        print(f"SDK {version}: skipped ({sdk})")
        return []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        project = kit.Project(sdk, Path(tmp) / "p", [BENCH / "processes" / "shapes.js"])
        t0 = time.monotonic()
        project.babysitter("version")
        node_start = time.monotonic() - t0
        for name, inputs in SHAPES.items():
            a = project.create("shapes", f"{name}-loop", inputs)
            b = project.create("shapes", f"{name}-drive", inputs)
            lc, ls, li = loop(project, a)
            dc, ds, di = drive(project, b)
            assert project.output(a) == project.output(b) or version.startswith("0.")
            rows.append(
                {
                    "sdk": version,
                    "shape": name,
                    "loopCalls": lc,
                    "driveCalls": dc,
                    "loopSeconds": round(ls, 2),
                    "driveSeconds": round(ds, 2),
                    "speedup": round(ls / ds, 2),
                    "loopIterations": li,
                    "driveIterations": di,
                    "criticalPath": CRITICAL_PATH[name],
                    "nodeStart": round(node_start, 2),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> int:
    rows = []
    for version in kit.MAIN_LINES:
        rows += bench_line(version)
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
