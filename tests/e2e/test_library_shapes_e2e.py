"""A run of library-shaped task definitions driven to completion with the real SDK.

The stand-in agent's answers reach the process exactly; a prose answer to a
task with an outputSchema reaches it as an error naming the problem; the
library's shell.timeout (ms) kills a shell effect and says so.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from kit import Project

from protocol.verify import verify_run

pytestmark = pytest.mark.e2e

STANDIN = Path(__file__).resolve().parent / "standin_library.py"
ANSWERS = {
    "lib.configure-ttls": json.dumps(
        {"configs": [{"type": "session", "ttl": 900}], "artifacts": []}
    ),
    "lib.fuzz": 'Fuzzed it.\n```json\n{"crashes": 2}\n```',
    "lib.score": "I read the README; it is quite clear, I would say eight out of ten.",
    "lib.verify": json.dumps({"verified": True, "task": 3}),
}


def _drive(project: Project, run_dir: Path, *args: str) -> list[int]:
    codes = []
    for _ in range(6):
        if project.iterate(run_dir)["status"] == "completed":
            return codes
        proc = project.plugin("dispatch", str(run_dir), "--json", *args, check=False)
        codes.append(proc.returncode)
        assert proc.returncode in (0, 5), proc.stderr
    raise AssertionError("the run did not complete")


@pytest.mark.slow
def test_library_shaped_run_completes_with_what_the_agent_answered(project: Project) -> None:
    """Skill object prompt, agent block beside a skill, outputSchema, node, shell.timeout."""
    answers = project.root / "standin" / "answers.json"
    answers.parent.mkdir()
    answers.write_text(json.dumps(ANSWERS))
    run_dir = project.create("library", "library-1")
    command = f"{sys.executable} {STANDIN} {answers} {{task_file}}"
    codes = _drive(project, run_dir, "--harness-command", command, "--kinds", "node")
    assert codes == [0]
    out: dict[str, Any] = project.output(run_dir)
    assert out["ttl"] == {"value": json.loads(ANSWERS["lib.configure-ttls"])}
    assert out["fuzzed"] == {"value": {"crashes": 2}}
    assert out["verified"] == {"value": {"verified": True, "task": 3}}
    assert out["fast"] == {"value": "passed"}
    assert out["scored"]["error"]["message"] == (
        f"harness command `{sys.executable}` answer: the answer is not JSON: "
        "'I read the README; it is quite clear, I would say eight out of ten.'"
    )
    timed_out = "Shell command timed out after 0.3 s (the limit of shell.timeout;"
    if project.sdk.is6:  # 6.x hands a failed shell command to the process as a value
        assert out["slow"]["value"]["success"] is False
        assert out["slow"]["value"]["error"].startswith(timed_out)
    else:
        assert out["slow"]["error"]["message"].startswith(timed_out)
    prompts = {p.stem: p.read_text() for p in answers.parent.glob("*.prompt")}
    assert "Skill: use the skill `distributed-caching`" in prompts["lib.configure-ttls"]
    assert '"projectName": "shop"' in prompts["lib.configure-ttls"]
    assert "Role: Security tester" in prompts["lib.fuzz"]
    assert '"crashes"' in prompts["lib.fuzz"]
    assert "node .a5c/orchestrator_scripts/verify-task.js --task 3" in prompts["lib.verify"]
    assert verify_run(run_dir).ok
