"""``state/state.json``, the derived cache 6.x's ``task:post`` rebuilds after every post.

Rules kept here (6.0.3 ``runtime/replay/stateCache.js`` ``rebuildStateCache``, called by
``commitEffectResult`` with reason ``post_effect_resolution`` once the event is appended):

- Keys, in order: ``schemaVersion`` (``"2026.01.state-cache"``), ``savedAt`` (the time of
  the rebuild), ``sdkVersion`` (the writing SDK's), ``journalHead`` (``{seq, ulid}`` of the
  last event: the effect index keeps no checksum), ``stateVersion`` (the head's seq),
  ``effectsByInvocation``, ``pendingEffectsByKind``, ``rebuildReason``; written as
  ``JSON.stringify(snapshot, null, 2) + "\\n"`` with an atomic write.
- ``effectsByInvocation`` maps each effect's invocation key, in request order, to
  ``{effectId, invocationKey, status, kind?, label?, taskId?, stepId?, requestedAt?,
  resolvedAt?}`` (optional keys only when truthy); ``status`` is ``requested``,
  ``resolved_ok``, ``resolved_error`` or ``cancelled``.
- ``pendingEffectsByKind`` counts the still-requested effects by ``kind`` (``"unknown"``
  when it has none), whatever the run's state (``listPendingEffects``).
- 0.0.x's ``task:post`` does not touch the cache (:attr:`SdkLine.rebuilds_state_cache`).

One commit of the plugin may post several results under one lock hold; the cache is then
written once, as the last of those posts would leave it. Its ``savedAt`` is the plugin's
clock at that moment, as the SDK's is its own.
"""

from __future__ import annotations

from protocol.clock import Clock, iso_from_ms, system_ms
from protocol.fsutil import atomic_write
from protocol.jsonjs import JsonValue, to_file_text
from protocol.models import EffectRecord, Journal, Run

__all__ = ["STATE_CACHE_SCHEMA_VERSION", "state_cache", "write_state_cache"]

STATE_CACHE_SCHEMA_VERSION = "2026.01.state-cache"

_STATUS = {
    "requested": "requested",
    "ok": "resolved_ok",
    "error": "resolved_error",
    "cancelled": "cancelled",
}


def _summary(record: EffectRecord) -> dict[str, JsonValue]:
    summary: dict[str, JsonValue] = {
        "effectId": record.effect_id,
        "invocationKey": record.invocation_key,
        "status": _STATUS[record.status],
    }
    optional: tuple[tuple[str, str | None], ...] = (
        ("kind", record.kind),
        ("label", record.label),
        ("taskId", record.task_id),
        ("stepId", record.step_id),
        ("requestedAt", record.requested_at),
        ("resolvedAt", record.resolved_at),
    )
    for key, value in optional:
        if value:
            summary[key] = value
    return summary


def state_cache(
    journal: Journal, sdk_version: str | None, saved_at: str, reason: str
) -> dict[str, JsonValue]:
    """The snapshot ``rebuildStateCache`` writes for ``journal``."""
    head: JsonValue = (
        {"seq": journal.head[0], "ulid": journal.head[1]} if journal.head is not None else None
    )
    effects: dict[str, JsonValue] = {}
    pending: dict[str, JsonValue] = {}
    for record in journal.effects.values():
        effects[record.invocation_key] = _summary(record)
        if record.status == "requested":
            kind = record.kind if record.kind is not None else "unknown"
            count = pending.get(kind, 0)
            assert isinstance(count, int)
            pending[kind] = count + 1
    return {
        "schemaVersion": STATE_CACHE_SCHEMA_VERSION,
        "savedAt": saved_at,
        "sdkVersion": sdk_version,
        "journalHead": head,
        "stateVersion": journal.head[0] if journal.head is not None else 0,
        "effectsByInvocation": effects,
        "pendingEffectsByKind": pending,
        "rebuildReason": reason,
    }


def write_state_cache(
    run: Run,
    journal: Journal,
    sdk_version: str | None,
    *,
    reason: str = "post_effect_resolution",
    clock: Clock = system_ms,
) -> None:
    """Write ``state/state.json`` for ``journal`` as ``task:post`` of 6.x does (lock held)."""
    snapshot = state_cache(journal, sdk_version, iso_from_ms(clock()), reason)
    directory = run.path / "state"
    directory.mkdir(exist_ok=True)
    atomic_write(directory / "state.json", to_file_text(snapshot))
