"""Run directories built by hand, in the byte format of a chosen SDK line.

Two builders, for two kinds of test:

- :class:`RunBuilder` (the protocol tests): every byte under the test's control: fixed
  ULIDs and times (:func:`ulid_at`, :func:`iso_at`), events written as the SDK writes them,
  malformed ones on request (``seq=``, ``ulid=``, ``name=``, ``body=``).
- :func:`make_run` (the plugin tests): a run with one pending effect per task definition,
  appended with the protocol's own journal appender (real ULIDs and times).

Both take ``sdk_version``: ``None`` or a 0.0.x release writes 0.0.187's shapes; a 6.x release
writes 6.x's: ``sdkVersion`` last in ``run.json`` (which also gains ``cwd`` and
``processCodeHash``) and ``task.json``, and between ``data`` and ``checksum`` in every event
(the checksum covers it), and ``data.harness`` after the event's own fields.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocol.clock import iso_from_ms, system_ms
from protocol.fsutil import atomic_write
from protocol.journal import append_event, open_run, read_journal
from protocol.jsonjs import JsonValue, to_file_text
from protocol.ulid import encode_ulid, next_ulid

RUN_ID = "01RUNRUNRUNRUNRUNRUNRUNRUN"

#: The line a builder writes when it is given none: ``None`` (0.0.187's shapes) unless a test
#: module runs on every line through the ``each_line`` fixture of ``tests/conftest.py``.
DEFAULT_VERSION: list[str | None] = [None]
T0 = 1_700_000_000_000


def is6(sdk_version: str | None) -> bool:
    """Whether ``sdk_version`` writes 6.x shapes."""
    return sdk_version is not None and int(sdk_version.split(".")[0]) >= 6


def step_id(sdk_version: str | None, n: int, task_id: str) -> str:
    """The step id of the ``n``-th request, ``S00000n``.

    6.x derives step ids from the task (``<task>.<label>.<hash>.<n>``); nothing the plugin
    reads depends on their form, so hand-built runs of every line keep the counter's, and
    expected bytes in tests stay the same on each line.
    """
    del sdk_version, task_id
    return f"S{n:06d}"


def _run_meta(meta: dict[str, Any], sdk_version: str | None) -> dict[str, Any]:
    if is6(sdk_version):
        meta = {**meta, "cwd": "/project", "processCodeHash": "0" * 64, "sdkVersion": sdk_version}
    return meta


def _created(data: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """RUN_CREATED's data: 6.x adds the process code hash of run.json."""
    if "processCodeHash" in meta:
        return {**data, "processCodeHash": meta["processCodeHash"]}
    return data


def _task_body(body: dict[str, Any], sdk_version: str | None) -> dict[str, Any]:
    return {**body, "sdkVersion": sdk_version} if is6(sdk_version) else body


def ulid_at(index: int) -> str:
    """A canonical ULID that sorts by ``index``."""
    return encode_ulid(T0 + index, index)


def iso_at(index: int) -> str:
    """An ISO timestamp that grows with ``index``."""
    return iso_from_ms(T0 + index)


class RunBuilder:
    """A run directory under construction: run.json, journal events, task files."""

    def __init__(
        self,
        root: Path,
        *,
        harness: str | None = None,
        name: str = RUN_ID,
        sdk_version: str | None = None,
    ) -> None:
        sdk_version = sdk_version or DEFAULT_VERSION[0]
        self.sdk_version = sdk_version
        self.path = root / ".a5c" / "runs" / name
        (self.path / "journal").mkdir(parents=True)
        (self.path / "tasks").mkdir()
        meta: dict[str, Any] = {
            "runId": name,
            "request": "x",
            "processId": "proc",
            "entrypoint": {"importPath": "../../../proc.js", "exportName": "process"},
            "processPath": "../../../proc.js",
            "layoutVersion": "2026.01-storage-preview",
            "createdAt": iso_at(0),
        }
        if harness is not None:
            meta["harness"] = harness
        meta = _run_meta(meta, sdk_version)
        (self.path / "run.json").write_text(to_file_text(meta), encoding="utf-8")
        self.seq = 0
        self.harness = harness
        self.event(
            "RUN_CREATED",
            _created({"runId": name, "processId": "proc", "entrypoint": meta["entrypoint"]}, meta),
        )

    def event(
        self,
        event_type: Any,
        data: Any,
        *,
        seq: int | None = None,
        ulid: str | None = None,
        name: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> Path:
        """Write one journal event as the SDK does (harness first, checksum last)."""
        self.seq += 1
        seq = self.seq if seq is None else seq
        ulid = ulid_at(self.seq) if ulid is None else ulid
        if self.harness is not None and isinstance(data, dict) and "harness" not in data:
            if is6(self.sdk_version):
                data = {**data, "harness": self.harness}
            else:
                data = {"harness": self.harness, **data}
        if body is None:
            payload = {"type": event_type, "recordedAt": iso_at(self.seq), "data": data}
            if is6(self.sdk_version):
                payload["sdkVersion"] = self.sdk_version
            checksum = hashlib.sha256(to_file_text(payload).encode("utf-8")).hexdigest()
            body = {**payload, "checksum": checksum}
        path = self.path / "journal" / (name or f"{seq:06d}.{ulid}.json")
        path.write_text(to_file_text(body), encoding="utf-8")
        return path

    def request(
        self,
        effect_id: str,
        *,
        kind: str = "shell",
        task: dict[str, Any] | None = None,
        key: str | None = None,
        **extra: Any,
    ) -> Path:
        """An EFFECT_REQUESTED plus its tasks/<id>/task.json."""
        step = step_id(self.sdk_version, self.seq + 1, f"t-{effect_id}")
        key = key or f"proc:{step}:t-{effect_id}"
        task_def = task or {"kind": kind, "title": f"do {effect_id}"}
        task_dir = self.path / "tasks" / effect_id
        task_dir.mkdir(parents=True, exist_ok=True)
        (task_dir / "task.json").write_text(
            to_file_text(
                _task_body(
                    {
                        **task_def,
                        "schemaVersion": "2026.01.tasks-v1",
                        "effectId": effect_id,
                        "taskId": f"t-{effect_id}",
                        "invocationKey": key,
                        "stepId": step,
                    },
                    self.sdk_version,
                )
            ),
            encoding="utf-8",
        )
        data = {
            "effectId": effect_id,
            "invocationKey": key,
            "invocationHash": hashlib.sha256(key.encode()).hexdigest(),
            "stepId": step,
            "taskId": f"t-{effect_id}",
            "kind": task_def.get("kind", kind),
            "label": f"do {effect_id}",
            "taskDefRef": f"tasks/{effect_id}/task.json",
            **extra,
        }
        return self.event("EFFECT_REQUESTED", data)

    def resolve(self, effect_id: str, status: str = "ok", value: Any = 1) -> Path:
        """A result.json and an EFFECT_RESOLVED for ``effect_id``."""
        task_dir = self.path / "tasks" / effect_id
        result: dict[str, Any] = {
            "schemaVersion": "2026.01.results-v1",
            "effectId": effect_id,
            "taskId": f"t-{effect_id}",
            "invocationKey": self._key_of(effect_id),
            "status": status,
        }
        if status == "ok":
            result["result"] = value
        else:
            result["error"] = {"message": "boom", "name": "Error"}
        result["startedAt"] = iso_at(1)
        result["finishedAt"] = iso_at(2)
        if status == "ok":
            result["value"] = value
        result = _task_body(result, self.sdk_version)
        (task_dir / "result.json").write_text(to_file_text(result), encoding="utf-8")
        data: dict[str, Any] = {
            "effectId": effect_id,
            "status": status,
            "resultRef": f"tasks/{effect_id}/result.json",
        }
        if status == "error":
            data["error"] = {"name": "Error", "message": "boom"}
        data["startedAt"] = iso_at(1)
        data["finishedAt"] = iso_at(2)
        return self.event("EFFECT_RESOLVED", data)

    def _key_of(self, effect_id: str) -> str:
        task = json.loads((self.path / "tasks" / effect_id / "task.json").read_text())
        return str(task["invocationKey"])


@dataclass
class RunDir:
    """A run directory made for a test, with its effect ids in request order."""

    path: Path
    repo: Path
    effect_ids: list[str]

    def result(self, effect_id: str) -> dict[str, Any]:
        """The result.json posted for an effect."""
        data: dict[str, Any] = json.loads(
            (self.path / "tasks" / effect_id / "result.json").read_text(encoding="utf-8")
        )
        return data

    def failure(self, effect_id: str) -> dict[str, Any]:
        """The failure posted for an effect, as the run's line records it.

        0.0.x posts an ``error`` result: its ``error`` object is returned. 6.x posts a failed
        *shell* effect as an ``ok`` value ``{success: false, exitCode, stdout, stderr, error}``
        (``coerceShellFailureResult``): returned as ``{"message": error, "exitCode": ...,
        "stdout": ..., "stderr": ...}``. Anything else fails the test.
        """
        result = self.result(effect_id)
        value = result.get("value")
        if "resultRef" in result and result["status"] == "ok":  # spilled to a blob
            value = json.loads((self.path / result["resultRef"]).read_text(encoding="utf-8"))
        if result["status"] == "ok" and isinstance(value, dict) and value.get("success") is False:
            assert result.get("sdkVersion", "").startswith("6."), result
            return {
                "message": value["error"],
                "exitCode": value["exitCode"],
                "stdout": value["stdout"],
                "stderr": value["stderr"],
            }
        assert result["status"] == "error", result
        error: dict[str, Any] = result["error"]
        return error

    @property
    def is6(self) -> bool:
        """Whether this run was built in 6.x bytes."""
        return "sdkVersion" in json.loads((self.path / "run.json").read_text(encoding="utf-8"))

    def status(self, effect_id: str) -> str:
        """requested / ok / error, as the journal says."""
        return read_journal(open_run(self.path)).effects[effect_id].status

    def resolved_count(self) -> int:
        events = read_journal(open_run(self.path)).events
        return sum(1 for e in events if e.type == "EFFECT_RESOLVED")


def make_run(
    root: Path,
    tasks: Sequence[dict[str, JsonValue]],
    *,
    run_id: str = "run-1",
    harness: str | None = None,
    resolved: Sequence[int] = (),
    sdk_version: str | None = None,
) -> RunDir:
    """A run under ``root/repo/.a5c/runs/<run_id>`` with one pending effect per task."""
    sdk_version = sdk_version or DEFAULT_VERSION[0]
    repo = root / "repo"
    path = repo / ".a5c" / "runs" / run_id
    (path / "journal").mkdir(parents=True)
    meta: dict[str, JsonValue] = {
        "runId": run_id,
        "processId": "tests/plugin",
        "entrypoint": {"importPath": "../../processes/p.js", "exportName": "process"},
        "layoutVersion": "2026.01-storage-preview",
        "createdAt": "2026-01-01T00:00:00.000Z",
    }
    if harness is not None:
        meta["harness"] = harness
    atomic_write(path / "run.json", to_file_text(_run_meta(meta, sdk_version)))
    run = open_run(path)
    append_event(
        run,
        read_journal(run),
        "RUN_CREATED",
        _created(
            {"runId": run_id, "processId": "tests/plugin", "entrypoint": meta["entrypoint"]},
            _run_meta(meta, sdk_version),
        ),
    )
    ids: list[str] = []
    last: str | None = None
    for n, task in enumerate(tasks, start=1):
        effect_id = next_ulid(system_ms(), last)
        last = effect_id
        task_id = f"tests.task{n}"
        step = step_id(sdk_version, n, task_id)
        key = f"tests/plugin:{step}:{task_id}"
        body = dict(task)
        body.update(
            {
                "schemaVersion": "2026.01.tasks-v1",
                "effectId": effect_id,
                "taskId": task_id,
                "invocationKey": key,
                "stepId": step,
            }
        )
        atomic_write(
            path / "tasks" / effect_id / "task.json", to_file_text(_task_body(body, sdk_version))
        )
        data: dict[str, JsonValue] = {
            "effectId": effect_id,
            "invocationKey": key,
            "stepId": step,
            "taskId": task_id,
            "kind": task.get("kind"),
            "label": f"effect {n}",
            "taskDefRef": f"tasks/{effect_id}/task.json",
        }
        append_event(run, read_journal(run), "EFFECT_REQUESTED", data)
        ids.append(effect_id)
    for index in resolved:
        effect_id = ids[index]
        append_event(
            run,
            read_journal(run),
            "EFFECT_RESOLVED",
            {
                "effectId": effect_id,
                "status": "ok",
                "resultRef": f"tasks/{effect_id}/result.json",
            },
        )
    return RunDir(path=path, repo=repo, effect_ids=ids)


def shell(command: str, **extra: JsonValue) -> dict[str, JsonValue]:
    """A shell task definition."""
    spec: dict[str, JsonValue] = {"command": command}
    spec.update(extra)
    return {"kind": "shell", "title": command[:40], "shell": spec}


def agent(prompt: str, **extra: JsonValue) -> dict[str, JsonValue]:
    """An agent task whose prompt (a string) carries fake-harness directives."""
    task: dict[str, JsonValue] = {
        "kind": "agent",
        "title": "agent task",
        "agent": {"name": "general-purpose", "prompt": prompt},
    }
    task.update(extra)
    return task
