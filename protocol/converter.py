"""The one cattrs converter between :mod:`protocol.models` and JSON values.

Rules kept here:

- Keys are camelCase (``effect_id`` <-> ``effectId``; ``PendingAction.task`` <-> ``taskDef``).
- Unstructuring writes keys in model field order (the SDK's key order), omits ``None`` for
  optional fields and :data:`~protocol.models.NO_VALUE` for JSON fields (``None`` there is
  JSON ``null`` and is kept), then appends ``extra`` keys in the order they were read.
- Structuring keeps keys without a field in ``extra``. For the lenient models (``run.json``
  and journal event data, where the SDK checks only some fields) a value of the wrong type
  for a field the SDK does not check is moved to ``extra`` instead of failing; the reader
  checks the fields the SDK checks, with the SDK's rules, before structuring.
- JSON-valued fields pass through untouched (no copy, no re-ordering); primitives are checked
  strictly (a number is no string, ``True`` is no int).
- cattrs errors are turned into one-line :class:`~protocol.errors.ProtocolError`\\ s at this
  boundary with ``transform_error`` (``... @ $.data.effectId``).
- Never the global converter: :func:`make_converter` builds one and
  :func:`configure_converter` registers every hook; :data:`CONVERTER` is the instance the
  package uses.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, ForwardRef, TypeVar

import attrs
import cattrs
from cattrs.errors import ClassValidationError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.v import format_exception, transform_error

from protocol import models as m
from protocol.errors import ProtocolError
from protocol.jsonjs import JsonValue
from protocol.lines import LINES, SdkLine

__all__ = [
    "CONVERTER",
    "EVENT_DATA_TYPES",
    "configure_converter",
    "make_converter",
    "structure_as",
    "structure_event",
    "unstructure",
    "unstructure_event",
]

T = TypeVar("T")

_EXTRA = "\x00extra"

#: Event type -> the model of its ``data``; other types keep data as ``UnknownEventData``.
EVENT_DATA_TYPES: dict[str, type[Any]] = {
    "RUN_CREATED": m.RunCreated,
    "EFFECT_REQUESTED": m.EffectRequested,
    "EFFECT_RESOLVED": m.EffectResolved,
    "RUN_COMPLETED": m.RunCompleted,
    "RUN_FAILED": m.RunFailed,
}

_LENIENT: tuple[type[Any], ...] = (
    m.Entrypoint,
    m.RunMetadata,
    m.EffectError,
    m.RunCreated,
    m.EffectRequested,
    m.EffectResolved,
    m.RunCompleted,
    m.RunFailed,
)
_STRICT: tuple[type[Any], ...] = (
    m.TaskResult,
    m.SchedulerHints,
    m.PendingAction,
    m.EffectRecord,
    m.AppendedEvent,
    m.PostReceipt,
    m.ShellSpec,
    m.SleepSpec,
    m.Problem,
    m.VerifyReport,
    m.Run,
)
_RENAMES = {(m.PendingAction, "task"): "taskDef"}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _key(cls: type[Any], name: str) -> str:
    return _RENAMES.get((cls, name), _camel(name))


def _contains_forward_ref(tp: object) -> bool:
    if isinstance(tp, ForwardRef):
        return True
    return any(_contains_forward_ref(arg) for arg in typing.get_args(tp))


@cache
def _json_kind(tp: object) -> str | None:
    """``"object"``, ``"object?"`` or ``"value"`` for JSON-valued field types, else ``None``."""
    if not _contains_forward_ref(tp):
        return None
    if typing.get_origin(tp) is dict:
        return "object"
    args = typing.get_args(tp)
    if type(None) in args and any(typing.get_origin(a) is dict for a in args) and len(args) == 2:
        return "object?"
    return "value"


def _identity(value: Any) -> Any:
    return value


def _json_struct_hook(kind: str) -> Callable[[Any, Any], Any]:
    def object_hook(value: Any, _: Any) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"expected a JSON object, found {type(value).__name__}")
        return value

    def optional_object_hook(value: Any, _: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise TypeError(f"expected a JSON object, found {type(value).__name__}")
        return value

    def value_hook(value: Any, _: Any) -> Any:
        return value

    return {"object": object_hook, "object?": optional_object_hook}.get(kind, value_hook)


def _strict_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, found {type(value).__name__}")
    return value


def _strict_int(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected an integer, found {type(value).__name__}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"expected an integer, found {value!r}")
        return int(value)
    return value


def _strict_float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, found {type(value).__name__}")
    return value


def _strict_bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, found {type(value).__name__}")
    return value


def _str_tuple(value: Any, _: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected an array of strings")
    return tuple(value)


def _field_names_in_error(exc: ClassValidationError) -> set[str]:
    names: set[str] = set()
    for sub in exc.exceptions:
        for note in getattr(sub, "__notes__", []):
            name = getattr(note, "name", None)
            if isinstance(name, str):
                names.add(name)
    return names


@attrs.frozen
class _Hooks:
    """The generated functions of one model, and what they need to know."""

    base_s: Callable[[Any, Any], Any]
    base_u: Callable[[Any], dict[str, Any]]
    keys: dict[str, str]
    key_set: frozenset[str]
    json_keys: frozenset[str]
    required: frozenset[str]
    has_extra: bool


def _generate(c: cattrs.Converter, cls: type[Any]) -> _Hooks:
    hints = typing.get_type_hints(cls)
    fields = attrs.fields(cls)
    has_extra = any(f.name == "extra" for f in fields)
    keys = {f.name: _key(cls, f.name) for f in fields if f.name != "extra"}
    json_keys: set[str] = set()
    s_over: dict[str, Any] = {}
    u_over: dict[str, Any] = {}
    for f in fields:
        if f.name == "extra":
            s_over["extra"] = override(rename=_EXTRA, struct_hook=_json_struct_hook("object"))
            u_over["extra"] = override(rename=_EXTRA, unstruct_hook=_identity)
            continue
        kind = _json_kind(hints[f.name])
        if kind is not None:
            if kind == "value":
                json_keys.add(keys[f.name])
            s_over[f.name] = override(rename=keys[f.name], struct_hook=_json_struct_hook(kind))
            u_over[f.name] = override(rename=keys[f.name], unstruct_hook=_identity)
        else:
            s_over[f.name] = override(rename=keys[f.name])
            u_over[f.name] = override(rename=keys[f.name])
    return _Hooks(
        base_s=make_dict_structure_fn(cls, c, **s_over),
        base_u=make_dict_unstructure_fn(cls, c, **u_over),
        keys=keys,
        key_set=frozenset(keys.values()),
        json_keys=frozenset(json_keys),
        required=frozenset(f.name for f in fields if f.default is attrs.NOTHING),
        has_extra=has_extra,
    )


def _register_attrs(c: cattrs.Converter, cls: type[Any], *, lenient: bool) -> None:
    # The functions are generated on first use: a process that posts one result touches a
    # handful of models, and generating all of them would add to every command's start-up.
    generated: list[_Hooks] = []

    def hooks() -> _Hooks:
        if not generated:
            generated.append(_generate(c, cls))
        return generated[0]

    def unstructure_hook(obj: Any) -> dict[str, Any]:
        h = hooks()
        raw = h.base_u(obj)
        extra = raw.pop(_EXTRA, None)
        out = {
            k: v
            for k, v in raw.items()
            if v is not m.NO_VALUE and (v is not None or k in h.json_keys)
        }
        if extra:
            out.update(extra)
        return out

    def structure_hook(obj: Any, _: Any) -> Any:
        if not isinstance(obj, dict):
            raise TypeError(f"expected a JSON object, found {type(obj).__name__}")
        h = hooks()
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for k, v in obj.items():
            if k in h.key_set:
                known[k] = v
            else:
                extra[k] = v
        if h.has_extra:
            known[_EXTRA] = extra
        try:
            return h.base_s(known, cls)
        except ClassValidationError as exc:
            bad = _field_names_in_error(exc)
            if not lenient or not bad or bad & h.required or "extra" in bad:
                raise
        moved = {h.keys[name] for name in bad}
        known = {k: v for k, v in obj.items() if k in h.key_set and k not in moved}
        known[_EXTRA] = {k: v for k, v in obj.items() if k not in h.key_set or k in moved}
        return h.base_s(known, cls)

    c.register_structure_hook(cls, structure_hook)
    c.register_unstructure_hook(cls, unstructure_hook)


def _structure_task_def(value: Any, _: Any) -> m.TaskDef:
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, found {type(value).__name__}")
    kind = value.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ValueError("expected kind to be a non-empty string")
    return m.TaskDef(raw=value)


def _structure_unknown(value: Any, _: Any) -> m.UnknownEventData:
    return m.UnknownEventData(raw=value)


def _refuse_event(value: Any, _: Any) -> m.JournalEvent:
    raise TypeError("journal events need their file name: use structure_event()")


def _is_tuple(tp: Any) -> bool:
    return bool(tp is tuple or typing.get_origin(tp) is tuple)


def _structure_path(value: Any, _: Any) -> Path:
    return Path(_strict_str(value, str))


def _structure_line(value: Any, _: Any) -> SdkLine:
    for line in LINES:
        if value == line.name:
            return line
    raise ValueError(f"expected an SDK line ({', '.join(x.name for x in LINES)}), found {value!r}")


def configure_converter(c: cattrs.Converter) -> None:
    """Register every hook the protocol models need on ``c``."""
    # An SDK line is named by its table's name ("6.0"); the table itself is never data.
    c.register_structure_hook(SdkLine, _structure_line)
    c.register_unstructure_hook(SdkLine, lambda line: line.name)
    c.register_structure_hook(str, _strict_str)
    c.register_structure_hook(int, _strict_int)
    c.register_structure_hook(float, _strict_float)
    c.register_structure_hook(bool, _strict_bool)
    c.register_structure_hook(Path, _structure_path)
    c.register_unstructure_hook(Path, str)
    c.register_structure_hook_func(lambda t: t == tuple[str, ...], _str_tuple)
    c.register_unstructure_hook_func(_is_tuple, lambda value: [c.unstructure(v) for v in value])
    c.register_unstructure_hook(m.NoValue, _identity)
    c.register_structure_hook(m.TaskDef, _structure_task_def)
    c.register_unstructure_hook(m.TaskDef, lambda td: td.raw)
    c.register_structure_hook(m.UnknownEventData, _structure_unknown)
    c.register_unstructure_hook(m.UnknownEventData, lambda d: d.raw)
    c.register_structure_hook(m.JournalEvent, _refuse_event)
    c.register_unstructure_hook(m.JournalEvent, lambda ev: unstructure_event(ev, c))
    for cls in _LENIENT:
        _register_attrs(c, cls, lenient=True)
    for cls in _STRICT:
        _register_attrs(c, cls, lenient=False)


def make_converter() -> cattrs.Converter:
    """A new converter with detailed validation and every protocol hook registered."""
    c = cattrs.Converter(detailed_validation=True)
    configure_converter(c)
    return c


#: The converter every ``protocol`` module uses.
CONVERTER = make_converter()


def unstructure(obj: object, c: cattrs.Converter | None = None) -> JsonValue:
    """The JSON value of a model, keys in the SDK's order."""
    result: JsonValue = (c or CONVERTER).unstructure(obj)
    return result


_PATH_SEGMENT = re.compile(r"\.([a-z][A-Za-z0-9_]*)")


def _camel_path(message: str) -> str:
    head, sep, where = message.rpartition(" @ ")
    if not sep:
        return message
    where = _PATH_SEGMENT.sub(
        lambda mt: "." + ("taskDef" if mt.group(1) == "task" else _camel(mt.group(1))), where
    )
    return f"{head} @ {where}"


def _describe(exc: BaseException, tp: Any) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    text = str(exc)
    if text:
        return text
    return format_exception(exc, tp)


def error_lines(exc: BaseException, root: str = "$") -> list[str]:
    """``transform_error`` messages with camelCase keys (``... @ $.data.effectId``)."""
    return [_camel_path(line) for line in transform_error(exc, root, _describe)]


def structure_as(
    data: object,
    cls: type[T],
    *,
    where: str,
    error: type[ProtocolError],
    path: str | None,
    fix: str,
    root: str = "$",
    c: cattrs.Converter | None = None,
) -> T:
    """``converter.structure(data, cls)``; failures raise ``error`` with one line:
    ``<where>: <cattrs message> @ <json path> — <fix>``."""
    try:
        result: T = (c or CONVERTER).structure(data, cls)
    except (ClassValidationError, IterableValidationError, TypeError, ValueError, KeyError) as exc:
        lines = error_lines(exc, root)
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        raise error(f"{where}: {lines[0]}{more} — {fix}", path) from None
    return result


def structure_event(
    body: dict[str, JsonValue],
    *,
    seq: int,
    ulid: str,
    filename: str,
    c: cattrs.Converter | None = None,
) -> m.JournalEvent:
    """A :class:`~protocol.models.JournalEvent` from a journal file's JSON object.

    ``type`` falls back to ``"UNKNOWN"`` and ``data`` to ``{}`` as the SDK's ``loadJournal``
    does; a non-string ``type``/``recordedAt``/``checksum`` is kept in ``extra``. Raises the
    converter's errors when known-type data does not fit its model.
    """
    conv = c or CONVERTER
    extra: dict[str, JsonValue] = {}
    raw_type = body.get("type")
    event_type = raw_type if isinstance(raw_type, str) else "UNKNOWN"
    if raw_type is not None and not isinstance(raw_type, str):
        extra["type"] = raw_type
    recorded_at = body.get("recordedAt")
    if recorded_at is not None and not isinstance(recorded_at, str):
        extra["recordedAt"] = recorded_at
        recorded_at = None
    checksum = body.get("checksum")
    if checksum is not None and not isinstance(checksum, str):
        extra["checksum"] = checksum
        checksum = None
    sdk_version = body.get("sdkVersion")
    if sdk_version is not None and not isinstance(sdk_version, str):
        extra["sdkVersion"] = sdk_version
        sdk_version = None
    for k, v in body.items():
        if k not in ("type", "recordedAt", "data", "sdkVersion", "checksum"):
            extra[k] = v
    raw_data = body.get("data")
    if raw_data is None:
        raw_data = {}
    data_cls = EVENT_DATA_TYPES.get(event_type)
    data: m.EventData
    if data_cls is not None and isinstance(raw_data, dict):
        data = conv.structure(raw_data, data_cls)
    else:
        data = m.UnknownEventData(raw=raw_data)
    return m.JournalEvent(
        seq=seq,
        ulid=ulid,
        filename=filename,
        type=event_type,
        recorded_at=recorded_at,
        data=data,
        sdk_version=sdk_version,
        checksum=checksum,
        extra=extra,
    )


def unstructure_event(
    event: m.JournalEvent, c: cattrs.Converter | None = None
) -> dict[str, JsonValue]:
    """The JSON object of a journal file: ``{type, recordedAt, data, sdkVersion, checksum,
    ...extra}``.

    An event with ``sdkVersion`` is a 6.x event, whose ``appendEvent`` adds ``harness`` and
    then ``sessionId`` after the event's own fields: they are written last in ``data``.
    """
    conv = c or CONVERTER
    out: dict[str, JsonValue] = {"type": event.type}
    if event.recorded_at is not None:
        out["recordedAt"] = event.recorded_at
    data = conv.unstructure(event.data)
    if event.sdk_version is not None and isinstance(data, dict):
        appended = {k: data.pop(k) for k in ("harness", "sessionId") if k in data}
        data.update(appended)
    out["data"] = data
    if event.sdk_version is not None:
        out["sdkVersion"] = event.sdk_version
    if event.checksum is not None:
        out["checksum"] = event.checksum
    out.update(event.extra)
    return out
