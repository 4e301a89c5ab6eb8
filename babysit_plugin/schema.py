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
