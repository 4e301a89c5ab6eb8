"""Every result the SDK posted in the recorded runs, posted again by post_result, gives the
same bytes: the EFFECT_RESOLVED file (checksum, sdkVersion, harness and breakpointId
placement included) and result.json, on 0.0.187 and 6.0.3 runs alike.

For each EFFECT_RESOLVED of a fixture, a copy of the run is cut back to just before it
(later journal files and that effect's result files removed) and the same result is posted
with the clock at the event's recordedAt; the new event's content and result.json must equal
the recorded ones byte for byte (only the ULID in the file name is new).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from protocol import (
    NO_VALUE,
    EffectError,
    ResultInput,
    open_run,
    post_result,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SESSION_VARIABLES = ("AGENT_SESSION_ID", "CLAUDE_ENV_FILE", "POLICY_CONFIG_ROOT_FP")


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _cases() -> Iterator[Any]:
    for runs in (FIXTURES / "runs", FIXTURES / "runs-6.0.3"):
        for run_dir in sorted(p for p in runs.iterdir() if (p / "run.json").is_file()):
            for path in sorted((run_dir / "journal").glob("*.json")):
                body = json.loads(path.read_text(encoding="utf-8"))
                if body["type"] == "EFFECT_RESOLVED":
                    yield pytest.param(
                        run_dir, path.name, id=f"{runs.name}/{run_dir.name}/{path.name[:6]}"
                    )


def _result_input(run_dir: Path, effect_id: str, result: dict[str, Any]) -> ResultInput:
    task = f"tasks/{effect_id}"

    def log(stream: str) -> tuple[str | None, str | None]:
        ref = result.get(f"{stream}Ref")
        if ref is None:
            return None, None
        if ref == f"{task}/{stream}.log":
            return (run_dir / ref).read_text(encoding="utf-8"), None
        return None, ref

    stdout, stdout_ref = log("stdout")
    stderr, stderr_ref = log("stderr")
    value: Any = NO_VALUE
    if result["status"] == "ok":
        ref = result.get("resultRef")
        value = (
            json.loads((run_dir / ref).read_text(encoding="utf-8"))
            if ref is not None
            else result["value"]
        )
    error = None
    if result["status"] == "error":
        raw = result["error"]
        error = EffectError(
            name=raw["name"],
            message=raw["message"],
            stack=raw.get("stack"),
            data=raw.get("data", NO_VALUE),
        )
    return ResultInput(
        status=result["status"],
        value=value,
        error=error,
        stdout=stdout,
        stderr=stderr,
        stdout_ref=stdout_ref,
        stderr_ref=stderr_ref,
        started_at=result.get("startedAt"),
        finished_at=result.get("finishedAt"),
        metadata=result.get("metadata"),
    )


@pytest.mark.parametrize(("source", "event_name"), list(_cases()))
def test_recorded_post_is_reproduced_byte_for_byte(
    source: Path, event_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """post_result, given what the SDK's task:post was given, writes the SDK's bytes."""
    for key in SESSION_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    run_dir = tmp_path / "runs" / source.name
    shutil.copytree(source, run_dir)
    original = (source / "journal" / event_name).read_bytes()
    body = json.loads(original)
    effect_id = body["data"]["effectId"]
    seq = int(event_name.split(".", maxsplit=1)[0])
    for path in (run_dir / "journal").glob("*.json"):
        if int(path.name.split(".")[0]) >= seq:
            path.unlink()
    result_path = run_dir / "tasks" / effect_id / "result.json"
    recorded_result = result_path.read_bytes()
    result = json.loads(recorded_result)
    post = _result_input(source, effect_id, result)
    for name in ("result.json", "stdout.log", "stderr.log"):
        (run_dir / "tasks" / effect_id / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / "tasks" / effect_id / "blobs", ignore_errors=True)
    recorded_ms = _ms(body["recordedAt"])
    receipt = post_result(open_run(run_dir), effect_id, post, clock=lambda: recorded_ms)
    assert receipt.seq == seq
    written = (run_dir / "journal" / f"{seq:06d}.{receipt.ulid}.json").read_bytes()
    assert written.decode("utf-8") == original.decode("utf-8")
    assert result_path.read_bytes().decode("utf-8") == recorded_result.decode("utf-8")
    for ref in ("stdoutRef", "stderrRef"):
        if result.get(ref, "").startswith(f"tasks/{effect_id}/"):
            assert (run_dir / result[ref]).read_bytes() == (source / result[ref]).read_bytes()
