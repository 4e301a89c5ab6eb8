"""SDK 0.0.162-0.0.174 task.json without the shell block: performed only from a handed-over
definition (``--actions``, the hook payload, one kept from either), never on a guess."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attrs import evolve
from kit import RunDir, make_run, shell

from babysit_plugin.dropin.hook import HookOptions, run_hook
from babysit_plugin.runloop.dispatch import DispatchOptions, dispatch_run
from protocol import unstructure
from protocol.clock import iso_from_ms, system_ms
from protocol.journal import open_run
from protocol.jsonjs import dumps, loads, to_file_text
from protocol.models import PendingAction, TaskDef
from protocol.pending import pending_actions


def _stripped_run(tmp_path: Path, *commands: str) -> tuple[RunDir, list[dict[str, Any]]]:
    """A run whose task.json files are as 0.0.174 writes them; returns the full definitions."""
    full = [shell(c) for c in commands]
    run = make_run(tmp_path, full)
    for effect_id in run.effect_ids:
        path = run.path / "tasks" / effect_id / "task.json"
        task = loads(path.read_text())
        assert isinstance(task, dict)
        keys = ("schemaVersion", "effectId", "taskId", "invocationKey", "stepId", "kind", "title")
        path.write_text(to_file_text({k: task[k] for k in keys}))
    return run, full


def _handed_over(run: RunDir, full: list[dict[str, Any]]) -> list[PendingAction]:
    """The pending actions as the iteration that requested them printed them."""
    actions = pending_actions(open_run(run.path))
    return [evolve(a, task=TaskDef(raw=d)) for a, d in zip(actions, full, strict=True)]


def test_plain_dispatch_skips_and_actions_perform(tmp_path: Path) -> None:
    """Without the block nothing is run or posted; with --actions both are posted."""
    run, full = _stripped_run(tmp_path, "printf a", "printf b")
    report = dispatch_run(run.path, DispatchOptions(handle_signals=False))
    assert [e.status for e in report.effects] == ["skipped", "skipped"]
    assert report.effects[0].reason is not None
    assert report.effects[0].reason.startswith(
        "its shell block is not on disk: its task.json holds the definition as SDK "
        "0.0.162-0.0.174 write it"
    )
    assert report.problems == []
    assert run.resolved_count() == 0

    actions = tuple(_handed_over(run, full))
    report = dispatch_run(run.path, DispatchOptions(actions=actions, handle_signals=False))
    assert [e.status for e in report.effects] == ["ok", "ok"]
    assert [run.result(e)["value"] for e in run.effect_ids] == ["a", "b"]


def test_hook_keeps_definitions_of_what_it_leaves(tmp_path: Path) -> None:
    """A lone shell effect the hook leaves to the skill: its definition is kept, and a later
    plain dispatch performs it from there; once resolved the kept copy is dropped."""
    run, full = _stripped_run(tmp_path, "printf solo")
    payload = {
        "runId": run.path.name,
        "iteration": 1,
        "status": "waiting",
        "pending": unstructure(_handed_over(run, full)),
        "timestamp": iso_from_ms(system_ms()),
        "hookType": "on-iteration-start",
    }
    outcome = run_hook(dumps(payload, indent=None), "<stdin>", HookOptions(repo=run.repo))
    assert run.resolved_count() == 0
    assert outcome.report is None
    kept = run.path / ".babysit-plugin" / "definitions" / f"{run.effect_ids[0]}.json"
    assert loads(kept.read_text()) == full[0]

    report = dispatch_run(run.path, DispatchOptions(handle_signals=False))
    assert [e.status for e in report.effects] == ["ok"]
    assert run.result(run.effect_ids[0])["value"] == "solo"
    assert not kept.exists()
