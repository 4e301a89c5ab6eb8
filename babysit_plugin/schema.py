"""Checking a value against a task's ``outputSchema`` (JSON Schema).

A maintained validator (``jsonschema``) does the checking: the schema's own
``$schema`` picks the draft, and a schema without one is read as draft
2020-12 (whose keywords are a superset of draft 7's for everything the
process library writes).  :func:`first_violation` names the first problem as
``$.path: message``, so an error result says exactly what to fix.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema.validators

from protocol.jsonjs import js_string, js_truthy


class InvalidSchema(ValueError):
    """The declared ``outputSchema`` is not a JSON Schema the validator can use."""


def _validator(schema: Any) -> Any:
    if isinstance(schema, bool):
        return jsonschema.Draft202012Validator(schema)
    if not isinstance(schema, dict):
        raise InvalidSchema(
            f"outputSchema: expected an object (a JSON Schema), found {type(schema).__name__}"
        )
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        raise InvalidSchema(f"outputSchema {exc.json_path}: {exc.message}") from None
    return cls(schema)


def first_violation(value: Any, schema: Any) -> str | None:
    """``None`` when ``value`` validates against ``schema``, else its first violation.

    The violation reads ``$.score: 'high' is not of type 'number'``: the JSON
    path of the offending value, then the validator's message.  The shallowest
    violation is named first (a missing required field before a wrong type
    deeper inside), ties broken by path, so the same value always names the
    same violation.  Raises :class:`InvalidSchema` for a schema that is not one.
    """
    validator = _validator(schema)
    errors = list(validator.iter_errors(value))
    if not errors:
        return None
    best = min(errors, key=lambda e: (len(e.absolute_path), [str(p) for p in e.absolute_path]))
    return f"{best.json_path}: {best.message}"


# -- the subset 6.x's task:post checks shell results with ---------------------------------

#: Names ``key in obj`` finds on any plain JavaScript object (``Object.prototype``).
_JS_OBJECT_PROTO = frozenset(
    {
        "constructor",
        "hasOwnProperty",
        "isPrototypeOf",
        "propertyIsEnumerable",
        "toLocaleString",
        "toString",
        "valueOf",
        "__proto__",
        "__defineGetter__",
        "__defineSetter__",
        "__lookupGetter__",
        "__lookupSetter__",
    }
)


class SchemaCheckFailed(ValueError):
    """6.x's checker itself threw (a ``required`` that is not iterable)."""


def _js_typeof(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"  # null, arrays and objects alike


def _check_type(value: Any, expected: Any, path: str) -> str | None:
    label = path or "root"
    got = _js_typeof(value)
    if expected in ("string", "number", "boolean"):
        return None if got == expected else f"Expected {label} to be {expected}, got {got}"
    if expected == "integer":
        if got == "number" and float(value).is_integer():
            return None
        return f"Expected {label} to be integer, got {'float' if got == 'number' else got}"
    if expected == "array":
        return None if isinstance(value, list) else f"Expected {label} to be array, got {got}"
    if expected == "object":
        if isinstance(value, dict):
            return None
        return f"Expected {label} to be object, got {'array' if isinstance(value, list) else got}"
    return f'Unknown schema type "{js_string(expected)}" at {label}'


def _entries(value: Any) -> list[tuple[str, Any]]:
    """``Object.entries(value)`` for a JSON value."""
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, (list, str)):
        return [(str(i), v) for i, v in enumerate(value)]
    return []


def _iterate(value: Any) -> list[Any]:
    """``for (const x of value)`` for a JSON value (``?? []`` applied by the caller)."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return list(value)
    raise SchemaCheckFailed(f"TypeError: schema.required ({js_string(value)}) is not iterable")


def sdk_shell_errors(value: Any, schema: Any, path: str = "") -> list[str]:
    """The errors 6.x's ``validateAgainstSchema`` (``runtime/schemaValidator.js``) reports.

    6.0.3's ``task:post`` checks an ``ok`` shell result against the task's
    ``outputSchema`` with this subset of JSON Schema (``type``, ``items``,
    ``required``, ``properties``; every other keyword is ignored, an unknown or
    list ``type`` is itself an error), not with a full validator: it is
    reproduced here so that a result the SDK accepts is accepted and one it
    refuses is refused, with the SDK's own messages
    (``Expected score to be number, got string``, ``Missing required field: id``).
    """
    if not js_truthy(schema):
        return []
    if not isinstance(schema, dict):
        return []
    errors: list[str] = []
    schema_type = schema.get("type")
    if js_truthy(schema_type):
        problem = _check_type(value, schema_type, path)
        if problem is not None:
            return [problem]
    items = schema.get("items")
    if schema_type == "array" and isinstance(value, list) and js_truthy(items):
        for i, item in enumerate(value):
            errors += sdk_shell_errors(item, items, f"{path}[{i}]" if path else f"[{i}]")
    if schema_type == "object" and isinstance(value, dict):
        required = schema.get("required")
        properties = schema.get("properties")

        def has(key: Any) -> bool:
            name = js_string(key)
            return name in value or name in _JS_OBJECT_PROTO

        for field in _iterate([] if required is None else required):
            if not has(field):
                name = js_string(field)
                errors.append(f"Missing required field: {f'{path}.{name}' if path else name}")
        for key, prop_schema in _entries({} if properties is None else properties):
            if has(key):
                errors += sdk_shell_errors(
                    value.get(key), prop_schema, f"{path}.{key}" if path else key
                )
    return errors
