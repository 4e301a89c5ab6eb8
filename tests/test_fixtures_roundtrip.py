"""The recorded SDK runs in tests/fixtures read and re-serialize exactly as the SDK wrote them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import kit
from kit import FIXTURE_RUNS, REPO, Project, Sdk, record
from kit import lines as sdklines

from babysit_plugin.commands.protocol import pending_json
from protocol import jsonjs, open_run, pending_actions, read_journal, verify_run

DEMO_RUN = REPO / "babysit_plugin" / "data" / "demo" / "runs" / "demo"
#: The runs recorded with SDK 6.0.3 (``record.py --sdk 6.0.3``).
RUNS_6 = record.runs_dir_for("6.0.3")
COMMITTED_6 = sorted(p for p in RUNS_6.iterdir() if (p / "run.json").is_file())
COMMITTED = [*(FIXTURE_RUNS / name for name in kit.fixture_names()), DEMO_RUN, *COMMITTED_6]
JSON_FILES = sorted(p for run in COMMITTED for p in run.rglob("*.json"))

# The keys of a run:iterate nextActions entry that `pending --json` reports too.
ACTION_KEYS = (
    "effectId",
    "invocationKey",
    "kind",
    "label",
    "labels",
    "taskId",
    "stepId",
    "taskDefRef",
    "inputsRef",
    "requestedAt",
    "schedulerHints",
)


def _id(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


@pytest.fixture(scope="session")
def sdk() -> Sdk:
    found = kit.find_sdk()
    if isinstance(found, str):
        pytest.skip(found)
    return found


@pytest.fixture(scope="session")
def big_result_run(sdk: Sdk, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The big-result recipe recorded now (it is not committed: its blob is over 1 MiB)."""
    dest = tmp_path_factory.mktemp("generated-fixtures")
    recorded: Path = record.record(record.recipe_named("big-result"), dest, sdk.babysitter)
    return recorded


def test_fixtures_are_present() -> None:
    """Every recipe of record.py except the generated one has a committed run directory."""
    recipes = {r.name for r in record.RECIPES if not r.generated}
    assert set(kit.fixture_names()) == {r for r in recipes if not record.recipe_named(r).sdk6_only}
    assert {p.name for p in COMMITTED_6} == recipes
    assert len(JSON_FILES) > 100


@pytest.mark.parametrize("path", JSON_FILES, ids=_id)
def test_json_file_round_trips_byte_for_byte(path: Path) -> None:
    """dumps(loads(text)) + newline reproduces the file the SDK wrote, byte for byte."""
    text = path.read_bytes().decode("utf-8")
    assert jsonjs.dumps(jsonjs.loads(text)) + "\n" == text


def test_generated_big_result_round_trips(big_result_run: Path) -> None:
    """The >1 MiB run's files, the spilled blob included, round-trip byte for byte."""
    blobs = list(big_result_run.glob("tasks/*/blobs/result-*.json"))
    assert len(blobs) == 1
    assert blobs[0].stat().st_size > 1024 * 1024
    for path in sorted(big_result_run.rglob("*.json")):
        text = path.read_bytes().decode("utf-8")
        assert jsonjs.dumps(jsonjs.loads(text)) + "\n" == text, path


# Warnings verify_run gives for runs the SDK replays without complaint: the iterations run
# posted --stdout-ref/--stderr-ref naming files that do not exist (task:post accepts any ref).
EXPECTED_WARNINGS = {"iterations": 2}


@pytest.mark.parametrize("run_dir", COMMITTED, ids=_id)
def test_journal_reads_and_run_verifies(run_dir: Path) -> None:
    """Every journal validates, every effect is accounted for, and verify finds no problem."""
    run = open_run(run_dir)
    journal = read_journal(run)
    files = sorted(p.name for p in (run_dir / "journal").glob("*.json"))
    assert [e.filename for e in journal.events] == files
    assert [e.seq for e in journal.events] == list(range(1, len(files) + 1))
    requested = {p.name for p in (run_dir / "tasks").iterdir()}
    assert set(journal.effects) == requested
    report = verify_run(run_dir)
    assert [p.message for p in report.problems if p.severity == "error"] == []
    warnings = [p for p in report.problems if p.severity == "warning"]
    assert len(warnings) == EXPECTED_WARNINGS.get(run_dir.name, 0)


def _sdk_view(action: dict[str, Any]) -> dict[str, Any]:
    return {k: action[k] for k in ACTION_KEYS if k in action}


def _pending_cases() -> Iterator[Any]:
    for run_dir in COMMITTED:
        if run_dir not in COMMITTED_6:
            yield pytest.param(run_dir, id=_id(run_dir))


@pytest.mark.e2e
@pytest.mark.parametrize("run_dir", list(_pending_cases()))
def test_pending_equals_sdk_next_actions(run_dir: Path, sdk: Sdk, tmp_path: Path) -> None:
    """Pending actions derived from the journal equal run:iterate's nextActions on a copy."""
    run = open_run(run_dir)
    ours = pending_json(run, pending_actions(run))["pending"]
    project = Project(sdk, tmp_path)
    if run_dir == DEMO_RUN:
        staged = record.stage_run(
            run_dir, run_dir.parent.parent / "processes" / "demo.js", tmp_path, sdk.node_modules
        )
    else:
        staged = project.stage(run_dir.name)
    result = project.iterate(staged)
    theirs = result.get("nextActions") or []
    assert ours == [_sdk_view(a) for a in theirs]
    tasks = {a.effect_id: a.task for a in pending_actions(run)}
    for action in theirs:
        task = tasks[action["effectId"]]
        assert task is not None
        assert task.raw == action["taskDef"]


def _iterate(cli: Path, run_dir: Path, root: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [str(cli), "run:iterate", str(run_dir), "--json"],
        cwd=root,
        env=record.recording_env(root / ".home"),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    # 6.x's run:iterate exits 1 for a halted run, after printing its JSON.
    assert proc.returncode in (0, 1), proc.stderr
    # jsonjs, as the reader does: 1000000000000000100 is a double in JavaScript.
    result = jsonjs.loads(proc.stdout)
    assert isinstance(result, dict)
    return result


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("run_dir", COMMITTED_6, ids=_id)
def test_pending_equals_sdk6_next_actions(run_dir: Path, tmp_path: Path) -> None:
    """On the 6.0.3 runs, pending equals 6.0.3's run:iterate nextActions (none for a halted,
    failed or completed run), task definitions included."""
    line = sdklines.find_line("6.0.3")
    if isinstance(line, str):
        pytest.skip(line)
    run = open_run(run_dir)
    journal = read_journal(run)
    ours = pending_json(run, pending_actions(run, journal))["pending"]
    process = kit.FIXTURE_PROCESSES / (process_file_of_6(run_dir).stem + ".js")
    staged = record.stage_run(run_dir, process, tmp_path, line.node_modules)
    result = _iterate(line.cli, staged, tmp_path)
    theirs = result.get("nextActions") or []
    assert ours == [_sdk_view(a) for a in theirs]
    tasks = {a.effect_id: a.task for a in pending_actions(run, journal)}
    for action in theirs:
        task = tasks[action["effectId"]]
        assert task is not None
        assert task.raw == action["taskDef"]
    if journal.terminal:
        assert result["status"] in ("halted", "failed", "completed")
        assert theirs == []


def process_file_of_6(run_dir: Path) -> Path:
    """The process file name a 6.x run imports (``<process>.cjs``)."""
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    return Path(meta["entrypoint"]["importPath"])


@pytest.mark.e2e
def test_big_result_pending_equals_sdk(big_result_run: Path, sdk: Sdk, tmp_path: Path) -> None:
    """The generated >1 MiB run's pending effect matches run:iterate, sha256 included."""
    run = open_run(big_result_run)
    ours = pending_json(run, pending_actions(run))["pending"]
    staged = record.stage_run(
        big_result_run,
        kit.FIXTURE_PROCESSES / "big-result.js",
        tmp_path,
        sdk.node_modules,
    )
    theirs = Project(sdk, tmp_path).iterate(staged).get("nextActions") or []
    assert ours == [_sdk_view(a) for a in theirs]
    assert len(theirs) == 1
    metadata = theirs[0]["taskDef"]["metadata"]
    assert metadata["rows"] == 9000
    # The process received the posted value as stored: stableClone-d (keys sorted).
    sent = jsonjs.dumps(jsonjs.stable_clone(jsonjs.loads(record.big_value())), indent=None)
    assert metadata["sha256"] == hashlib.sha256(sent.encode("utf-8")).hexdigest()
