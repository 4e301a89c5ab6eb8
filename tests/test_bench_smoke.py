"""The benchmark's smoke run: ``bench/run.py --quick`` end to end against the real SDK."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
BENCH = REPO / "bench"
for _path in (str(TESTS), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import kit  # noqa: E402
from timing import percentile, summary  # noqa: E402


def test_percentile_interpolates_between_closest_ranks() -> None:
    """p50 of an even count is the mean of the middle two; p95 interpolates; p0/p100 are ends."""
    samples = [4.0, 1.0, 3.0, 2.0]
    assert percentile(samples, 50) == 2.5
    assert percentile(samples, 95) == pytest.approx(3.85)
    assert percentile(samples, 0) == 1.0
    assert percentile(samples, 100) == 4.0
    assert summary([]) == {"n": 0}
    assert summary([2.0, 1.0, 3.0])["median"] == 2.0


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    found = kit.find_sdk()
    if isinstance(found, str):
        pytest.skip(found)
    out = tmp_path_factory.mktemp("bench-out")
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick", "--no-plot", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "### Group wall time" in proc.stdout
    return json.loads((out / "results.json").read_text(encoding="utf-8")), out


@pytest.mark.e2e
@pytest.mark.slow
def test_quick_run_writes_every_section(quick: tuple[dict[str, Any], Path]) -> None:
    """The JSON has the machine, the three measured sections, memory and targets."""
    results, out = quick
    assert set(results) >= {
        "schema",
        "machine",
        "config",
        "group",
        "memory",
        "post",
        "scale",
        "targets",
        "elapsedS",
    }
    assert set(results["machine"]) >= {"date", "nproc", "memoryGiB", "cpu", "python", "node"}
    assert results["config"]["quick"] is True
    assert [r["n"] for r in results["group"]] == [1, 8]
    assert [r["events"] for r in results["scale"]] == [100]
    assert results["memory"]["n"] == 8
    assert results["memory"]["maxRssMB"] > 0
    assert (out / "results.md").read_text(encoding="utf-8").startswith("Date: ")
    assert not (out / "results.png").exists()
    for target in results["targets"]:
        assert set(target) == {"target", "met", "measured", "note"}


@pytest.mark.e2e
@pytest.mark.slow
def test_quick_group_dispatch_beats_sequential_and_leaves_valid_runs(
    quick: tuple[dict[str, Any], Path],
) -> None:
    """At N=8 dispatch is faster than the sequential task:post loop; every run verifies."""
    results, _ = quick
    for row in results["group"]:
        dispatch, seq = row["dispatch"], row["sequential"]
        assert seq["extrapolated"] is False
        assert seq["measuredEffects"] == row["n"]
        assert dispatch["verifyProblems"] == 0
        assert dispatch["iterateStatus"] == "completed"
        assert seq["iterateStatus"] == "completed"
        # No dispatch can beat its slowest member, which sleeps the whole effect duration.
        assert row["idealS"] >= row["effectS"]
        assert dispatch["wallS"] >= row["idealS"]
        assert dispatch["slowestMemberS"] >= row["effectS"]
    n8 = results["group"][1]
    assert n8["dispatch"]["wallS"] < n8["sequential"]["wallS"]
    assert n8["speedup"] == pytest.approx(n8["sequential"]["wallS"] / n8["dispatch"]["wallS"])


@pytest.mark.e2e
@pytest.mark.slow
def test_quick_post_and_scale_compare_paths_on_the_same_run(
    quick: tuple[dict[str, Any], Path],
) -> None:
    """In-process posting beats a task:post process; pending actions equal run:iterate's."""
    results, _ = quick
    post = results["post"]
    assert post["iterateStatus"] == "completed"
    assert post["taskPost"]["n"] == 3
    assert post["pluginPostCli"]["n"] == 3
    assert post["postResult"]["n"] == 9
    assert post["postResult"]["median"] < post["taskPost"]["median"]
    assert post["postResult"]["p95"] >= post["postResult"]["median"]
    scale = results["scale"][0]
    assert scale["sameActionsAsRunIterate"] is True
    assert scale["pending"] == 5
    assert scale["effects"] == 52
    assert scale["verifyProblems"] == 0
    assert scale["iterateStatus"] == "completed"
