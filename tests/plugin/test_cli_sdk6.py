"""pending, post and verify on runs the SDK 6.0.3 recorded: states, refusals, 6.x rules."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kit import snapshot

from babysit_plugin.cli import main
from protocol import open_run, read_journal, verify_run

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``babysit-plugin`` in-process; return (exit code, stdout, stderr)."""

    def run(*argv: str | Path) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


RUNS_6 = Path(__file__).resolve().parents[1] / "fixtures" / "runs-6.0.3"


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / "runs" / name
    shutil.copytree(RUNS_6 / name, target)
    return target


def test_pending_of_a_halted_run_says_halted(tmp_path: Path, cli: Cli) -> None:
    """`pending` on a halted run prints its state and lists nothing; --json says halted."""
    run_dir = _copy("halted", tmp_path)
    code, out, err = cli("pending", run_dir)
    assert (code, err) == (0, "")
    assert out == f"{run_dir}: nothing pending — the run is halted\n"
    code, out, _ = cli("pending", run_dir, "--json")
    doc = json.loads(out)
    assert (doc["status"], doc["sdkLine"], doc["pending"]) == ("halted", "6.0.x", [])


def test_pending_lists_cancelled_effects_apart(tmp_path: Path, cli: Cli) -> None:
    """A cancelled effect is not pending; --json names it under cancelled."""
    run_dir = _copy("cancelled", tmp_path)
    (cancelled,) = read_journal(open_run(run_dir)).cancelled
    code, out, _ = cli("pending", run_dir, "--json")
    doc = json.loads(out)
    assert code == 0
    assert doc["status"] == "waiting"
    assert [a["label"] for a in doc["pending"]] == ["step also"]
    assert doc["cancelled"] == [cancelled]


def test_post_to_cancelled_effect_is_one_line_and_changes_nothing(tmp_path: Path, cli: Cli) -> None:
    """post refuses a cancelled effect in one line, exit 1, the run as it was."""
    run_dir = _copy("cancelled", tmp_path)
    (cancelled,) = read_journal(open_run(run_dir)).cancelled
    before = snapshot(run_dir)
    code, out, err = cli("post", run_dir, cancelled, "--status", "ok", "--value-inline", "1")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert "cancelled with task:cancel at" in err
    assert snapshot(run_dir) == before


def test_post_to_unknown_sdk_version_is_one_line(tmp_path: Path, cli: Cli) -> None:
    """A run of SDK 7.1.0 is refused by post and pending in one line; nothing written."""
    run_dir = _copy("parallel-2", tmp_path)
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    meta["sdkVersion"] = "7.1.0"
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    before = snapshot(run_dir)
    for argv in (
        ["pending", run_dir],
        ["post", run_dir, "x", "--status", "ok", "--value-inline", "1"],
    ):
        code, out, err = cli(*argv)
        assert (code, out) == (1, "")
        assert err.count("\n") == 1
        assert "SDK 7.1.0" in err
        assert "supported: 0.0.162-0.0.187, 6.0.0-6.0.3" in err
    assert snapshot(run_dir) == before


def test_post_shell_error_is_an_ok_value_and_verifies(tmp_path: Path, cli: Cli) -> None:
    """On 6.x, `post --status error` of a shell effect commits ok {success: false, ...} (as
    6.0.3's task:post), a non-JSON --error file is its message; the run verifies clean."""
    run_dir = _copy("parallel-2", tmp_path)
    effect = read_journal(open_run(run_dir)).pending[0].effect_id
    (tmp_path / "err.txt").write_text("Error: disk full\n", encoding="utf-8")
    code, out, err = cli(
        "post", run_dir, effect, "--status", "error", "--error", tmp_path / "err.txt", "--json"
    )
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert (doc["status"], doc["normalizedShellFailure"]) == ("ok", True)
    result = json.loads((run_dir / "tasks" / effect / "result.json").read_text("utf-8"))
    assert result["value"] == {
        "error": "disk full",
        "exitCode": 1,
        "stderr": "",
        "stdout": "",
        "success": False,
    }
    assert list(result)[-1] == "sdkVersion"
    state = json.loads((run_dir / "state" / "state.json").read_text("utf-8"))
    assert state["rebuildReason"] == "post_effect_resolution"
    assert state["pendingEffectsByKind"] == {"shell": 1}
    assert verify_run(run_dir).problems == ()
