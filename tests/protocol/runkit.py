"""Building run directories by hand for the protocol tests, in the SDK's byte format."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from protocol.clock import iso_from_ms
from protocol.jsonjs import to_file_text
from protocol.ulid import encode_ulid

RUN_ID = "01RUNRUNRUNRUNRUNRUNRUNRUN"
T0 = 1_700_000_000_000


def ulid_at(index: int) -> str:
    """A canonical ULID that sorts by ``index``."""
    return encode_ulid(T0 + index, index)


def iso_at(index: int) -> str:
    """An ISO timestamp that grows with ``index``."""
    return iso_from_ms(T0 + index)


class RunBuilder:
    """A run directory under construction: run.json, journal events, task files."""

    def __init__(self, root: Path, *, harness: str | None = None, name: str = RUN_ID) -> None:
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
        (self.path / "run.json").write_text(to_file_text(meta), encoding="utf-8")
        self.seq = 0
        self.harness = harness
        self.event(
            "RUN_CREATED",
            {"runId": name, "processId": "proc", "entrypoint": meta["entrypoint"]},
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
            data = {"harness": self.harness, **data}
        if body is None:
            payload = {"type": event_type, "recordedAt": iso_at(self.seq), "data": data}
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
        step = f"S{self.seq + 1:06d}"
        key = key or f"proc:{step}:t-{effect_id}"
        task_def = task or {"kind": kind, "title": f"do {effect_id}"}
        task_dir = self.path / "tasks" / effect_id
        task_dir.mkdir(parents=True, exist_ok=True)
        (task_dir / "task.json").write_text(
            to_file_text(
                {
                    **task_def,
                    "schemaVersion": "2026.01.tasks-v1",
                    "effectId": effect_id,
                    "taskId": f"t-{effect_id}",
                    "invocationKey": key,
                    "stepId": step,
                }
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


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (``None`` for directories)."""
    out: dict[str, bytes | None] = {}
    for path in _walk(root):
        rel = path.relative_to(root).as_posix()
        out[rel] = None if path.is_dir() and not path.is_symlink() else path.read_bytes()
    return out


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            yield Path(dirpath) / name
