"""`babysit-plugin pending | post | verify` on copies of recorded runs."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kit import copy_fixture, snapshot, snapshot_diff

from babysit_plugin.cli import main

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``babysit-plugin`` in-process; return (exit code, stdout, stderr)."""

    def run(*argv: str | Path) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def events(run_dir: Path) -> list[dict[str, Any]]:
    """The journal's events, in file order."""
    return [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((run_dir / "journal").glob("*.json"))
    ]


def requested(run_dir: Path) -> dict[str, dict[str, Any]]:
    """EFFECT_REQUESTED data by label."""
    return {
        e["data"]["label"]: e["data"] for e in events(run_dir) if e["type"] == "EFFECT_REQUESTED"
    }


def result_json(run_dir: Path, effect_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (run_dir / "tasks" / effect_id / "result.json").read_text(encoding="utf-8")
    )
    return data


# --- pending ----------------------------------------------------------------------------


def test_pending_json_lists_the_open_group(tmp_path: Path, cli: Cli) -> None:
    """`pending --json` gives the three open leaves of nested-map-partial, one group of 3."""
    run_dir = copy_fixture("nested-map-partial", tmp_path)
    code, out, err = cli("pending", run_dir, "--json")
    assert (code, err) == (0, "")
    req = requested(run_dir)
    open_labels = ["build macos", "build windows", "test unit"]
    keys = [req[label]["invocationKey"] for label in open_labels]
    group = hashlib.sha1("".join(k + "|" for k in keys).encode()).hexdigest()[:16]
    requested_at = {
        e["data"]["label"]: e["recordedAt"]
        for e in events(run_dir)
        if e["type"] == "EFFECT_REQUESTED"
    }
    assert json.loads(out) == {
        "runDir": str(run_dir),
        "status": "waiting",
        "sdkLine": "0.0.x",
        "pending": [
            {
                "effectId": req[label]["effectId"],
                "invocationKey": req[label]["invocationKey"],
                "kind": "shell",
                "label": label,
                "taskId": req[label]["taskId"],
                "stepId": req[label]["stepId"],
                "taskDefRef": req[label]["taskDefRef"],
                "requestedAt": requested_at[label],
                "schedulerHints": {"parallelGroupId": group, "pendingCount": 3},
            }
            for label in open_labels
        ],
    }


def test_pending_table_shows_group_and_sleep(tmp_path: Path, cli: Cli) -> None:
    """The table has one row per effect; a lone sleep has no group and shows its wake time."""
    run_dir = copy_fixture("sleep", tmp_path)
    (effect,) = requested(run_dir).values()
    code, out, _ = cli("pending", run_dir)
    assert code == 0
    eid = effect["effectId"]
    assert out.splitlines() == [
        f"{run_dir}: 1 pending effect",
        f"EFFECT{' ' * (len(eid) - 4)}KIND   GROUP  LABEL{' ' * 27}WAKES",
        f"{eid}  sleep  -      sleep:2099-01-01T00:00:00.000Z  2099-01-01T00:00:00.000Z",
    ]


def test_pending_table_counts_groups(tmp_path: Path, cli: Cli) -> None:
    """The headline counts pending effects and parallel groups."""
    code, out, _ = cli("pending", copy_fixture("parallel-8", tmp_path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{tmp_path / 'parallel-8'}: 8 pending effects in 1 parallel group"
    assert len(lines) == 10
    assert [line.split()[1] for line in lines[2:]] == ["agent"] * 8


def test_pending_nothing_pending(tmp_path: Path, cli: Cli) -> None:
    """A completed run has nothing pending: one line, exit 0."""
    run_dir = copy_fixture("iterations", tmp_path)
    assert cli("pending", run_dir) == (
        0,
        f"{run_dir}: nothing pending — the run is completed\n",
        "",
    )
    assert cli("pending", run_dir, "--json") == (
        0,
        json.dumps(
            {"runDir": str(run_dir), "status": "completed", "sdkLine": "0.0.x", "pending": []},
            indent=2,
        )
        + "\n",
        "",
    )


def test_run_id_is_found_under_a5c_runs(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RUN_DIR may be a run id under ./.a5c/runs, as for the babysitter CLI."""
    runs = tmp_path / ".a5c" / "runs"
    run_dir = copy_fixture("parallel-2", runs)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BABYSITTER_RUNS_DIR", raising=False)
    code, out, _ = cli("pending", "parallel-2", "--json")
    assert code == 0
    assert json.loads(out)["runDir"] == str(run_dir)


# --- post: what gets committed ----------------------------------------------------------


def test_post_inline_value(tmp_path: Path, cli: Cli) -> None:
    """--value-inline commits the value; the receipt names the result and the journal seq."""
    run_dir = copy_fixture("parallel-2", tmp_path)
    effect = requested(run_dir)["echo alpha"]["effectId"]
    code, out, err = cli(
        "post", run_dir, effect, "--status", "ok", "--value-inline", ' {"b": 1, "a": [0.5]} '
    )
    assert (code, err) == (0, "")
    assert out == f"posted {effect} status=ok resultRef=tasks/{effect}/result.json seq=4\n"
    result = result_json(run_dir, effect)
    assert result["value"] == result["result"] == {"a": [0.5], "b": 1}
    assert result["startedAt"] == result["finishedAt"]
    assert events(run_dir)[-1]["data"] == {
        "effectId": effect,
        "status": "ok",
        "resultRef": f"tasks/{effect}/result.json",
        "startedAt": result["startedAt"],
        "finishedAt": result["finishedAt"],
    }


def test_post_json_receipt_has_task_post_shape(tmp_path: Path, cli: Cli) -> None:
    """--json prints task:post's one-line receipt."""
    run_dir = copy_fixture("parallel-2", tmp_path)
    effect = requested(run_dir)["echo beta"]["effectId"]
    out_file = tmp_path / "out.txt"
    out_file.write_text("beta\n", encoding="utf-8")
    code, out, _ = cli(
        "post",
        run_dir,
        effect,
        "--status",
        "ok",
        "--value-inline",
        '"beta"',
        "--stdout-file",
        out_file,
        "--started-at",
        "2026-01-01T00:00:00.000Z",
        "--finished-at",
        "2026-01-01T00:00:01.500Z",
        "--json",
    )
    assert code == 0
    ref = f"tasks/{effect}"
    assert out == (
        f'{{"status":"ok","committed":{{"resultRef":"{ref}/result.json",'
        f'"stdoutRef":"{ref}/stdout.log","startedAt":"2026-01-01T00:00:00.000Z",'
        f'"finishedAt":"2026-01-01T00:00:01.500Z"}},"stdoutRef":"{ref}/stdout.log",'
        f'"stderrRef":null,"resultRef":"{ref}/result.json"}}\n'
    )
    assert (run_dir / ref / "stdout.log").read_text(encoding="utf-8") == "beta\n"


def test_post_value_paths_resolve_like_task_post(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative --value is read from the run directory; one starting .a5c/ from the cwd."""
    root = tmp_path / "project"
    run_dir = copy_fixture("parallel-2", root / ".a5c" / "runs")
    req = requested(run_dir)
    alpha, beta = req["echo alpha"]["effectId"], req["echo beta"]["effectId"]
    (run_dir / "tasks" / alpha / "output.json").write_text('{"from": "run"}\n', "utf-8")
    (root / ".a5c" / "v.json").write_text('{"from": "cwd"}', "utf-8")
    (root / f"tasks-{beta}.json").write_text("0", "utf-8")
    monkeypatch.chdir(root)
    assert (
        cli("post", run_dir, alpha, "--status", "ok", "--value", f"tasks/{alpha}/output.json")[0]
        == 0
    )
    assert result_json(run_dir, alpha)["value"] == {"from": "run"}
    assert cli("post", run_dir, beta, "--status", "ok", "--value", ".a5c/v.json")[0] == 0
    assert result_json(run_dir, beta)["value"] == {"from": "cwd"}


def test_post_value_from_stdin(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """--value - reads the value from stdin; JSON null is a value."""
    run_dir = copy_fixture("sleep", tmp_path)
    (effect,) = requested(run_dir).values()
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n null \n"))
    code, _, err = cli("post", run_dir, effect["effectId"], "--status", "ok", "--value", "-")
    assert (code, err) == (0, "")
    assert result_json(run_dir, effect["effectId"])["value"] is None


def test_post_error_defaults_and_metadata(tmp_path: Path, cli: Cli) -> None:
    """--status error without --error posts the SDK's default error; non-object metadata is
    ignored, an object is kept."""
    run_dir = copy_fixture("parallel-2", tmp_path)
    req = requested(run_dir)
    alpha, beta = req["echo alpha"]["effectId"], req["echo beta"]["effectId"]
    listy = tmp_path / "list.json"
    listy.write_text("[1, 2]", "utf-8")
    meta = tmp_path / "meta.json"
    meta.write_text('{"host": "ci", "attempt": 2}', "utf-8")
    assert cli("post", run_dir, alpha, "--status", "error", "--metadata", listy)[0] == 0
    alpha_result = result_json(run_dir, alpha)
    assert alpha_result["error"] == {"message": "Task reported failure", "name": "Error"}
    assert "metadata" not in alpha_result
    assert events(run_dir)[-1]["data"]["error"] == {
        "name": "Error",
        "message": "Task reported failure",
    }
    err_file = tmp_path / "err.json"
    err_file.write_text('{"code": 7}', "utf-8")
    code, out, _ = cli(
        "post", run_dir, beta, "--status", "error", "--error", err_file, "--metadata", meta
    )
    assert code == 0
    assert out.startswith(f"posted {beta} status=error ")
    beta_result = result_json(run_dir, beta)
    assert beta_result["error"] == {"data": {"code": 7}, "message": '{"code":7}', "name": "Object"}
    assert beta_result["metadata"] == {"attempt": 2, "host": "ci"}


# --- refusals: one line, exit 1, run directory unchanged --------------------------------


@dataclass
class Case:
    """A bad invocation: how to break the copy, the argv, the expected error line."""

    fixture: str
    argv: Callable[[Path, dict[str, dict[str, Any]], Path], list[str | Path]]
    expected: Callable[[Path, dict[str, dict[str, Any]], Path], str]
    setup: Callable[[Path, Path], None] | None = None
    notice: Callable[[Path], str] | None = None


def _journal(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "journal").glob("*.json"))


def _ulid(run_dir: Path, index: int) -> str:
    return _journal(run_dir)[index].name.split(".")[1]


def _corrupt(run_dir: Path, _: Path) -> None:
    _journal(run_dir)[1].write_text('{"type": "EFFECT_REQ', "utf-8")


def _gap(run_dir: Path, _: Path) -> None:
    third = _journal(run_dir)[2]
    third.rename(third.with_name("000004" + third.name[6:]))


def _regress(run_dir: Path, _: Path) -> None:
    files = _journal(run_dir)
    first_ulid = files[0].name.split(".")[1]
    files[2].rename(files[2].with_name(f"000003.{first_ulid}.json"))


def _locked(run_dir: Path, _: Path) -> None:
    (run_dir / "run.lock").write_text(
        json.dumps(
            {"pid": os.getpid(), "owner": "test:holder", "acquiredAt": "2026-01-01T00:00:00.000Z"},
            indent=2,
        )
        + "\n",
        "utf-8",
    )


def _bad_json_file(_: Path, tmp: Path) -> None:
    (tmp / "bad.json").write_text('{"a": }', "utf-8")


def _blank_file(_: Path, tmp: Path) -> None:
    (tmp / "blank.json").write_text(" \n\t\n", "utf-8")


def _alpha(req: dict[str, dict[str, Any]]) -> str:
    return str(req["echo alpha"]["effectId"])


CASES: dict[str, Case] = {
    "no such directory": Case(
        "parallel-2",
        lambda r, q, t: ["post", t / "missing", "E1", "--status", "ok", "--value-inline", "1"],
        lambda r, q, t: (
            f"{t / 'missing'}: expected a run directory, found nothing there — "
            "pass an existing <repo>/.a5c/runs/<runId> directory"
        ),
    ),
    "not a run": Case(
        "parallel-2",
        lambda r, q, t: ["post", r / "tasks", "E1", "--status", "ok", "--value-inline", "1"],
        lambda r, q, t: (
            f"{r / 'tasks' / 'run.json'}: expected the run's metadata, found no "
            "such file — this is not a babysitter run directory; pass <repo>/.a5c/runs/<runId>"
        ),
    ),
    "corrupt journal file": Case(
        "parallel-2",
        lambda r, q, t: ["post", r, _alpha(q), "--status", "ok", "--value-inline", "1"],
        lambda r, q, t: (
            f"journal/{_journal(r)[1].name}: expected a JSON event, found unparsable text "
            "(Unterminated string starting at: line 1 column 10 (char 9)) — the file is damaged;"
            f" run `babysitter run:repair-journal {r}` (it drops unreadable events)"
        ),
        _corrupt,
    ),
    "seq gap": Case(
        "parallel-2",
        lambda r, q, t: ["post", r, _alpha(q), "--status", "ok", "--value-inline", "1"],
        lambda r, q, t: (
            f"journal/{_journal(r)[2].name}: expected seq 3 after 2, found 4 — the "
            f"journal has a gap; run `babysitter run:repair-journal {r}`"
        ),
        _gap,
    ),
    "ulid regression": Case(
        "parallel-2",
        lambda r, q, t: ["post", r, _alpha(q), "--status", "ok", "--value-inline", "1"],
        lambda r, q, t: (
            f"journal/{_journal(r)[2].name}: expected a ULID greater than "
            f"{_ulid(r, 1)} (journal/{_journal(r)[1].name}), found {_ulid(r, 2)} — events are out "
            f"of ULID order; run `babysitter run:repair-journal {r}`"
        ),
        _regress,
    ),
    "unknown effect id": Case(
        "parallel-2",
        lambda r, q, t: ["post", r, "01NOSUCHEFFECT", "--status", "ok", "--value-inline", "1"],
        lambda r, q, t: (
            f"{r}/journal: expected an EFFECT_REQUESTED for effect 01NOSUCHEFFECT, "
            "found none — check the effect id (list pending effects with `babysit-plugin pending`)"
        ),
    ),
    "effect already resolved": Case(
        "nested-map-partial",
        lambda r, q, t: [
            "post",
            r,
            q["build linux"]["effectId"],
            "--status",
            "ok",
            "--value-inline",
            "1",
        ],
        lambda r, q, t: (
            f"{_journal(r)[6]}: expected effect {q['build linux']['effectId']} to "
            "be pending, found it already resolved (ok) — nothing was written; a second "
            "EFFECT_RESOLVED would break the run, so post only pending effects"
        ),
    ),
    "invalid inline JSON": Case(
        "parallel-2",
        lambda r, q, t: ["post", r, _alpha(q), "--status", "ok", "--value-inline", '{"a": }'],
        lambda r, q, t: (
            "--value-inline: expected --value-inline to hold JSON, found invalid "
            "JSON (Expecting value: line 1 column 7 (char 6)) — pass valid JSON text"
        ),
    ),
    "invalid JSON value file": Case(
        "parallel-2",
        lambda r, q, t: ["post", r, _alpha(q), "--status", "ok", "--value", t / "bad.json"],
        lambda r, q, t: (
            f"{t / 'bad.json'}: expected --value to hold JSON, found invalid JSON "
            "(Expecting value: line 1 column 7 (char 6)) — fix the file's JSON"
        ),
        _bad_json_file,
    ),
    "blank value file": Case(
        "parallel-2",
        lambda r, q, t: ["post", r, _alpha(q), "--status", "ok", "--value", t / "blank.json"],
        lambda r, q, t: (
            f"{t / 'blank.json'}: expected a JSON value for --status ok, found "
            "only whitespace — give the value (JSON null is a value)"
        ),
        _blank_file,
    ),
    "missing value file": Case(
        "parallel-2",
        lambda r, q, t: ["post", r, _alpha(q), "--status", "ok", "--value", "out.json"],
        lambda r, q, t: (
            f"{r / 'out.json'}: expected the --value file, found nothing there "
            "(a relative path is taken from the run directory, or from the current directory "
            "when it starts with .a5c/)"
        ),
    ),
    "ok without a value": Case(
        "parallel-2",
        lambda r, q, t: ["post", r, _alpha(q), "--status", "ok"],
        lambda r, q, t: (
            f"{r}: effect {_alpha(q)}: --status ok needs a value — pass --value "
            "FILE or --value-inline JSON"
        ),
    ),
    "inline value with error status": Case(
        "parallel-2",
        lambda r, q, t: ["post", r, _alpha(q), "--status", "error", "--value-inline", "1"],
        lambda r, q, t: (
            f"{r}: effect {_alpha(q)}: --value-inline is only for --status ok — "
            "describe the failure with --error FILE"
        ),
    ),
    "value and inline value": Case(
        "parallel-2",
        lambda r, q, t: [
            "post",
            r,
            _alpha(q),
            "--status",
            "ok",
            "--value",
            "v.json",
            "--value-inline",
            "1",
        ],
        lambda r, q, t: (
            f"{r}: effect {_alpha(q)}: --value and --value-inline exclude each other — pass one"
        ),
    ),
    "stdout ref and file": Case(
        "parallel-2",
        lambda r, q, t: [
            "post",
            r,
            _alpha(q),
            "--status",
            "ok",
            "--value-inline",
            "1",
            "--stdout-ref",
            "a.log",
            "--stdout-file",
            "b.log",
        ],
        lambda r, q, t: (
            f"{r}: effect {_alpha(q)}: --stdout-ref and --stdout-file exclude each other — pass one"
        ),
    ),
    "invocation key mismatch": Case(
        "parallel-2",
        lambda r, q, t: [
            "post",
            r,
            _alpha(q),
            "--status",
            "ok",
            "--value-inline",
            "1",
            "--invocation-key",
            "other:S000009:x",
        ],
        lambda r, q, t: (
            f"result for {_alpha(q)}: expected invocationKey "
            f"{q['echo alpha']['invocationKey']}, found other:S000009:x — the result belongs to "
            "another invocation; post it for the right effect"
        ),
    ),
    "lock held past the timeout": Case(
        "parallel-2",
        lambda r, q, t: [
            "post",
            r,
            _alpha(q),
            "--status",
            "ok",
            "--value-inline",
            "1",
            "--lock-timeout",
            "0.3",
        ],
        lambda r, q, t: (
            f"{r / 'run.lock'}: expected to take the run lock within 0.3 s, found it "
            f'held by pid {os.getpid()} ("test:holder") since "2026-01-01T00:00:00.000Z" — wait '
            f"for that process to finish and retry; if pid {os.getpid()} is not a babysitter "
            f"process, delete {r / 'run.lock'}"
        ),
        _locked,
        notice=lambda r: (
            f"babysit-plugin: {r / 'run.lock'} is held by pid {os.getpid()} "
            "(test:holder); waiting up to 0.3s\n"
        ),
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_refused_and_changes_nothing(
    case: Case, tmp_path: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused post exits 1 with one error line naming the file and the fix, writing nothing.

    A post that had to wait for the lock says so first, on its own line."""
    run_dir = copy_fixture(case.fixture, tmp_path)
    req = requested(run_dir)
    if case.setup is not None:
        case.setup(run_dir, tmp_path)
    before = snapshot(tmp_path)
    code, out, err = cli(*case.argv(run_dir, req, tmp_path))
    assert (code, out) == (1, "")
    notice = case.notice(run_dir) if case.notice else ""
    assert err == f"{notice}babysit-plugin: error: {case.expected(run_dir, req, tmp_path)}\n"
    assert snapshot_diff(before, snapshot(tmp_path)) == []


# --- verify -----------------------------------------------------------------------------


def test_verify_valid_run(tmp_path: Path, cli: Cli) -> None:
    """A run as the SDK left it verifies: exit 0 and a one-line summary."""
    run_dir = copy_fixture("error-result", tmp_path)
    code, out, err = cli("verify", run_dir)
    assert (code, err) == (0, "")
    assert out == f"{run_dir}: ok (8 events, 4 effects, 1 pending)\n"


def test_verify_reports_problems(tmp_path: Path, cli: Cli) -> None:
    """A seq gap makes verify exit 1 and list the problem; --json says the same."""
    run_dir = copy_fixture("parallel-2", tmp_path)
    _gap(run_dir, tmp_path)
    code, out, _ = cli("verify", run_dir)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(f"{run_dir}: ")
    assert any("000004" in line for line in lines[1:])
    code, out, _ = cli("verify", run_dir, "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["ok"] is False
    assert doc["problems"]
