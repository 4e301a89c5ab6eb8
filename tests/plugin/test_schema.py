"""Values are checked against outputSchema and the first violation is named."""

from __future__ import annotations

from typing import Any

import pytest

from babysit_plugin.schema import InvalidSchema, first_violation

SCORE = {"type": "object", "required": ["score"], "properties": {"score": {"type": "number"}}}


@pytest.mark.parametrize(
    ("value", "schema", "expected"),
    [
        ({"score": 1.5}, SCORE, None),
        ({"score": "high"}, SCORE, "$.score: 'high' is not of type 'number'"),
        ({}, SCORE, "$: 'score' is a required property"),
        ("All done.", SCORE, "$: 'All done.' is not of type 'object'"),
        (
            {"a": [1, "x"]},
            {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "properties": {"a": {"items": {"type": "integer"}}},
            },
            "$.a[1]: 'x' is not of type 'integer'",
        ),
        (
            [1, "two"],
            {"prefixItems": [{"type": "integer"}, {"type": "integer"}]},
            "$[1]: 'two' is not of type 'integer'",
        ),
        ({"x": 1}, True, None),
    ],
)
def test_first_violation(value: Any, schema: Any, expected: str | None) -> None:
    """Draft 2020-12 by default, draft 7 when $schema says so; path then message."""
    assert first_violation(value, schema) == expected


def test_shallowest_violation_first() -> None:
    """A missing required field is named before a wrong type deeper in."""
    schema = {
        "type": "object",
        "required": ["a", "b"],
        "properties": {"a": {"type": "object", "properties": {"n": {"type": "number"}}}},
    }
    assert first_violation({"a": {"n": "x"}}, schema) == "$: 'b' is a required property"


def test_invalid_schema_is_refused() -> None:
    """A schema the validator cannot use raises InvalidSchema naming the problem."""
    with pytest.raises(InvalidSchema, match=r"^outputSchema \$\.type: 12 is not valid"):
        first_violation({}, {"type": 12})
    with pytest.raises(InvalidSchema, match="expected an object"):
        first_violation({}, ["type"])
