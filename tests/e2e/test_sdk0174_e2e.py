"""SDK 0.0.174 (task.json without the shell/agent block): dispatch from run:iterate's output.

Uses the SDK installed at ``<repo>/.sdks/0.0.174/node_modules``; skipped with the reason when
it or Node is missing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from kit import Project, Sdk, find_sdk, snapshot

from protocol.verify import verify_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FANOUT = Path(__file__).resolve().parent / "processes" / "fanout.js"

# A stand-in agent CLI: the prompt on stdin, its `@reply` line's text as the answer.
AGENT = """\
import sys
lines = [l for l in sys.stdin.read().splitlines() if l.startswith("@reply ")]
print(lines[-1][len("@reply "):] if lines else "no reply line")
"""


@pytest.fixture
def sdk174() -> Sdk:
    found = find_sdk("0.0.174")
    if isinstance(found, str):
        pytest.skip(found)
    return found


@pytest.fixture
def project(sdk174: Sdk, tmp_path: Path) -> Project:
    return Project(sdk174, tmp_path / "project", [FANOUT])


def _iterate_text(project: Project, run_dir: Path) -> str:
    return project.babysitter("run:iterate", str(run_dir), "--json").stdout


def test_plain_dispatch_skips_effects_whose_definition_is_not_on_disk(project: Project) -> None:
    """Shell effects without a shell block in task.json are skipped, named, never posted."""
    run_dir = project.create("fanout", "r1", inputs={"items": ["a"]})
    first = json.loads(_iterate_text(project, run_dir))
    assert [a["taskDef"]["shell"]["command"][:16] for a in first["nextActions"]] == [
        "printf 'shell %s"
    ] * 3
    before = snapshot(run_dir / "journal")
    proc = project.plugin("dispatch", str(run_dir), "--json", check=False)
    assert proc.returncode == 5  # nothing could be performed
    report = json.loads(proc.stdout)
    assert report["counts"]["posted"] == 0
    reasons = {e["status"]: e["reason"] for e in report["effects"]}
    assert set(reasons) == {"skipped"}
    assert reasons["skipped"].startswith("its shell block is not on disk: its task.json holds")
    assert (
        f"babysitter run:iterate {run_dir} --json | babysit-plugin dispatch" in (reasons["skipped"])
    )
    assert snapshot(run_dir / "journal") == before

    # pending equals the next run:iterate (which prints task.json), and notes the source.
    again = json.loads(_iterate_text(project, run_dir))
    pending = json.loads(project.plugin("pending", str(run_dir), "--json").stdout)
    assert pending["pending"] == [
        {k: v for k, v in a.items() if k != "taskDef"} for a in again["nextActions"]
    ]
    assert "shell" not in again["nextActions"][0]["taskDef"]
    assert len(pending["notes"]) == 3
    assert "comes from the output of the `run:iterate` that requested it" in pending["notes"][0]

    # Handing over that later output (task.json copies) performs nothing either.
    proc = project.plugin(
        "dispatch", str(run_dir), "--actions", "-", stdin=json.dumps(again), check=False
    )
    assert proc.returncode == 5
    assert "the actions given carry the definition" in proc.stdout
    assert snapshot(run_dir / "journal") == before


def test_run_completes_alternating_iterate_and_dispatch_actions(project: Project) -> None:
    """parallel.all of shells, parallel.map of agents: every value exact, run verifies clean."""
    agent = project.write(AGENT, "agent.py")
    harness = f"{sys.executable} {agent}"
    run_dir = project.create("fanout", "r2", inputs={"items": ["a", "b", "c"]})
    posted = []
    for _ in range(6):
        text = _iterate_text(project, run_dir)
        if json.loads(text)["status"] == "completed":
            break
        proc = project.plugin(
            "dispatch",
            str(run_dir),
            "--actions",
            "-",
            "--json",
            "--harness-command",
            harness,
            stdin=text,
        )
        report = json.loads(proc.stdout)
        assert {e["status"] for e in report["effects"]} == {"ok"}, report
        posted.append(report["counts"]["posted"])
    assert posted == [3, 3, 1]
    assert project.output(run_dir) == {
        "shells": ["shell 1\n", "shell 2\n", "shell 3\n"],
        "reviews": [
            {"item": "a", "score": 0},
            {"item": "b", "score": 10},
            {"item": "c", "score": 20},
        ],
        "total": "3 reviews",
    }
    assert verify_run(run_dir).ok
    # Kept definitions are gone once their effects are posted.
    assert not list((run_dir / ".babysit-plugin" / "definitions").glob("*.json"))
