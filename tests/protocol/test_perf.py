"""Pending actions from a long journal: the right 51 out of 10,000 events.

How fast this is gets measured by ``bench/run.py`` (scale of reading), not asserted here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kit import RunBuilder, ulid_at

from protocol import open_run, pending_actions, read_journal

pytestmark = pytest.mark.slow

REQUESTED = """{{
  "type": "EFFECT_REQUESTED",
  "recordedAt": "2026-01-01T00:00:00.000Z",
  "data": {{
    "effectId": "{eid}",
    "invocationKey": "proc:S{i:06d}:t",
    "invocationHash": "0123456789abcdef",
    "stepId": "S{i:06d}",
    "taskId": "t",
    "kind": "shell",
    "label": "step {i}",
    "taskDefRef": "tasks/{eid}/task.json"
  }},
  "checksum": "0000000000000000000000000000000000000000000000000000000000000000"
}}
"""
RESOLVED = """{{
  "type": "EFFECT_RESOLVED",
  "recordedAt": "2026-01-01T00:00:01.000Z",
  "data": {{
    "effectId": "{eid}",
    "status": "ok",
    "resultRef": "tasks/{eid}/result.json",
    "startedAt": "2026-01-01T00:00:00.500Z",
    "finishedAt": "2026-01-01T00:00:01.000Z"
  }},
  "checksum": "0000000000000000000000000000000000000000000000000000000000000000"
}}
"""


def _long_run(root: Path, requests: int, pending: int) -> Path:
    rb = RunBuilder(root)
    journal = rb.path / "journal"
    seq = 1
    for i in range(requests):
        seq += 1
        eid = f"E{i:06d}"
        text = REQUESTED.format(eid=eid, i=i)
        (journal / f"{seq:06d}.{ulid_at(seq)}.json").write_text(text)
        if i >= requests - pending:
            (rb.path / "tasks" / eid).mkdir()
            (rb.path / "tasks" / eid / "task.json").write_text('{"kind": "shell"}\n')
    for i in range(requests - pending):
        seq += 1
        text = RESOLVED.format(eid=f"E{i:06d}")
        (journal / f"{seq:06d}.{ulid_at(seq)}.json").write_text(text)
    return rb.path


def test_pending_from_ten_thousand_events(tmp_path: Path) -> None:
    """10,000 events (5,025 requests, 4,974 results) give the 51 still pending, in order."""
    run_dir = _long_run(tmp_path, 5025, 51)
    actions = pending_actions(open_run(run_dir))
    assert len(actions) == 51
    assert actions[0].effect_id == "E004974"
    assert actions[0].scheduler_hints is not None
    assert actions[0].scheduler_hints.pending_count == 51
    assert [a.effect_id for a in actions] == [f"E{i:06d}" for i in range(4974, 5025)]
    journal = read_journal(open_run(run_dir))
    assert journal.head == (10_000, ulid_at(10_000))
    assert len(journal.events) == 10_000
