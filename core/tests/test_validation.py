"""The core's top-level argument checks for tools that bring only a JSON Schema."""

from __future__ import annotations

import pytest
from toolwire._validation import SchemaValidator

SCHEMA = {
    "type": "object",
    "properties": {
        "count": {"type": "integer"},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean"},
        "label": {"type": ["string", "null"]},
        "note": {"type": "string", "nullable": True},
        "tags": {"type": "array"},
        "anything": {},
    },
    "required": ["count"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(("arguments", "expected"), [
    ({"count": 3}, {"count": 3}),
    ({"count": 3.0}, {"count": 3.0}),
    ({"count": "4"}, {"count": 4}),
    ({"count": 1, "ratio": 2}, {"count": 1, "ratio": 2}),
    ({"count": 1, "ratio": "0.5"}, {"count": 1, "ratio": 0.5}),
    ({"count": 1, "flag": "True"}, {"count": 1, "flag": True}),
    ({"count": 1, "label": None, "note": None}, {"count": 1, "label": None, "note": None}),
    ({"count": 1, "tags": (1, 2), "anything": {"x": 1}}, {"count": 1, "tags": (1, 2), "anything": {"x": 1}}),
])
def test_accepted_and_coerced(arguments: dict, expected: dict) -> None:
    assert SchemaValidator(SCHEMA)(arguments) == expected


@pytest.mark.parametrize(("arguments", "problem"), [
    ({"count": True}, "argument 'count' should be of type integer, got bool"),
    ({"count": 2.5}, "argument 'count' should be of type integer, got float"),
    ({"count": 1, "ratio": False}, "argument 'ratio' should be of type number, got bool"),
    ({"count": 1, "flag": 1}, "argument 'flag' should be of type boolean, got int"),
    ({"count": 1, "label": 7}, "argument 'label' should be of type string or null, got int"),
    ({"count": 1, "tags": "a,b"}, "argument 'tags' should be of type array, got str"),
    ({"count": 1, "extra": 1}, "unexpected argument 'extra'"),
    ({}, "missing required argument 'count'"),
])
def test_refused_with_the_reason(arguments: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        SchemaValidator(SCHEMA)(arguments)
