"""A saved outcome: a finished effect's result as it will be posted.

Written to ``<runDir>/.babysit-plugin/outcomes/<effectId>.json`` by
:meth:`babysit_plugin.runloop.store.PluginStore.save_outcome` the moment a child
returns, before anything is posted, and deleted once the post has landed.
"""

from __future__ import annotations

from typing import Literal

import attrs

from protocol.jsonjs import JsonValue

#: Value of a saved outcome that carries no value (an error, or ok without one).
NO_VALUE_KEY = "hasValue"


@attrs.frozen
class SavedOutcome:
    """A finished effect's result, exactly what will be posted for it.

    ``stdout_file``/``stderr_file`` are paths relative to the state directory.
    ``error`` is ``{name, message, stack?, data?}``.
    """

    effect_id: str
    status: Literal["ok", "error"]
    value: JsonValue = None
    has_value: bool = False
    error: dict[str, JsonValue] | None = None
    stdout_file: str | None = None
    stderr_file: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    metadata: dict[str, JsonValue] | None = None
    invocation_key: str | None = None
    token: str | None = None
    saved_at: str | None = None

    def to_json(self) -> dict[str, JsonValue]:
        data: dict[str, JsonValue] = {
            "effectId": self.effect_id,
            "status": self.status,
            "hasValue": self.has_value,
        }
        if self.has_value:
            data["value"] = self.value
        optional: dict[str, JsonValue] = {
            "error": self.error,
            "stdoutFile": self.stdout_file,
            "stderrFile": self.stderr_file,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "metadata": self.metadata,
            "invocationKey": self.invocation_key,
            "token": self.token,
            "savedAt": self.saved_at,
        }
        data.update({k: v for k, v in optional.items() if v is not None})
        return data

    @classmethod
    def from_json(cls, data: JsonValue) -> SavedOutcome | None:
        if not isinstance(data, dict):
            return None
        eid, status = data.get("effectId"), data.get("status")
        if not isinstance(eid, str) or status not in ("ok", "error"):
            return None

        def text(key: str) -> str | None:
            v = data.get(key)
            return v if isinstance(v, str) else None

        def obj(key: str) -> dict[str, JsonValue] | None:
            v = data.get(key)
            return v if isinstance(v, dict) else None

        has_value = data.get("hasValue") is True and "value" in data
        return cls(
            effect_id=eid,
            status="ok" if status == "ok" else "error",
            value=data.get("value") if has_value else None,
            has_value=has_value,
            error=obj("error"),
            stdout_file=text("stdoutFile"),
            stderr_file=text("stderrFile"),
            started_at=text("startedAt"),
            finished_at=text("finishedAt"),
            metadata=obj("metadata"),
            invocation_key=text("invocationKey"),
            token=text("token"),
            saved_at=text("savedAt"),
        )
