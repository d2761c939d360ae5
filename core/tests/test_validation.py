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


PET = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "status": {"type": "string", "enum": ["available", "pending", "sold"]},
        "category": {"type": "object", "properties": {"id": {"type": "integer", "minimum": 1},
                                                       "name": {"type": "string", "nullable": True}}},
        "tags": {"type": "array", "maxItems": 3, "items": {"type": "object", "properties": {"id": {"type": "integer"}},
                                                           "required": ["id"]}},
        "price": {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"const": "free"}]},
        "weight": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
        "born": {"type": "string", "format": "date"},
    },
    "required": ["name"],
}


@pytest.mark.parametrize(("arguments", "expected"), [
    ({"name": "Rex", "category": {"id": "3", "name": None}}, {"name": "Rex", "category": {"id": 3, "name": None}}),
    ({"name": "Rex", "tags": [{"id": "1"}, {"id": 2}]}, {"name": "Rex", "tags": [{"id": 1}, {"id": 2}]}),
    ({"name": "Rex", "price": "free", "weight": 0.5}, {"name": "Rex", "price": "free", "weight": 0.5}),
    ({"name": "Rex", "price": 9.5, "born": "2020-02-29"}, {"name": "Rex", "price": 9.5, "born": "2020-02-29"}),
])
def test_the_whole_schema_accepts_and_coerces_at_any_depth(arguments: dict, expected: dict) -> None:
    assert SchemaValidator(PET)(arguments) == expected


@pytest.mark.parametrize(("arguments", "problems"), [
    ({"name": "Rex", "status": "weird", "category": {"id": "abc"}},
     ["argument 'status': \"weird\" is not one of", "argument 'category.id': \"abc\" is not of type \"integer\""]),
    ({"name": ""}, ["argument 'name': \"\" is shorter than 1 character"]),
    ({"name": "Rex", "category": {"id": 0}}, ["argument 'category.id': 0 is less than the minimum of 1"]),
    ({"name": "Rex", "tags": [{"id": 1}, {}]}, ["argument 'tags[1]': \"id\" is a required property"]),
    ({"name": "Rex", "tags": [{"id": 1}] * 4}, ["argument 'tags': ", "has more than 3 items"]),
    ({"name": "Rex", "price": -1}, ["argument 'price': -1 is not valid under any of the schemas"]),
    ({"name": "Rex", "weight": 0}, ["argument 'weight': 0 is less than or equal to the minimum of 0"]),
    ({"name": "Rex", "born": "yesterday"}, ["argument 'born': \"yesterday\" is not a \"date\""]),
])
def test_the_whole_schema_refuses_with_the_path_of_each_problem(arguments: dict, problems: list[str]) -> None:
    with pytest.raises(ValueError) as refused:
        SchemaValidator(PET)(arguments)
    for problem in problems:
        assert problem in str(refused.value)


def test_the_whole_schema_check_survives_pickling_and_a_schema_it_cannot_compile() -> None:
    import pickle

    again = pickle.loads(pickle.dumps(SchemaValidator(PET)))
    assert again({"name": "Rex", "category": {"id": "2"}}) == {"name": "Rex", "category": {"id": 2}}
    dangling = {"type": "object", "properties": {"pet": {"$ref": "#/components/schemas/Pet"}}}
    assert SchemaValidator(dangling)({"pet": {"any": "thing"}}) == {"pet": {"any": "thing"}}  # its server decides


def test_a_reference_it_cannot_resolve_leaves_every_other_argument_checked() -> None:
    """jsonschema-rs refuses a whole schema for one reference it cannot resolve: that reference alone stands
    for any value, and one it cannot read as written (a name with a space) is read as the pointer it is."""
    schema = {"type": "object", "properties": {
        "name": {"$ref": "#/properties/a~1b"}, "a/b": {"type": "string"}, "size": {"$ref": "#/$defs/with space"},
        "pet": {"$ref": "#/components/schemas/Pet"}, "owner": {"$ref": "people.json#/Owner"}},
        "$defs": {"with space": {"type": "integer", "minimum": 1}}}
    check = SchemaValidator(schema)
    assert check({"name": "Rex", "size": "2", "pet": {"any": "thing"}, "owner": 7}) == {
        "name": "Rex", "size": 2, "pet": {"any": "thing"}, "owner": 7}
    with pytest.raises(ValueError) as refused:
        check({"name": 5, "size": 0})
    assert "argument 'name': 5 is not of type \"string\"" in str(refused.value)
    assert "argument 'size': 0 is less than the minimum of 1" in str(refused.value)


def test_keywords_are_read_as_keywords_only_where_they_are_keywords() -> None:
    schema = {"type": "object", "properties": {
        "pattern": {"type": "string", "pattern": "/[a-z]/i"},  # a property named pattern; a Perl-style regex
        "mode": {"enum": [{"nullable": True}], "default": {"pattern": "x"}},
        "limit": {"type": "integer", "nullable": True, "maximum": 9},
    }}
    check = SchemaValidator(schema)
    assert check({"pattern": "abc", "mode": {"nullable": True}, "limit": None}) == {
        "pattern": "abc", "mode": {"nullable": True}, "limit": None}
    with pytest.raises(ValueError, match="argument 'pattern' should be of type string"):
        check({"pattern": 5})
    with pytest.raises(ValueError, match="argument 'mode'"):
        check({"mode": {"nullable": False}})


def test_boolean_subschemas_are_schemas() -> None:
    check = SchemaValidator({"type": "object", "properties": {"any": True, "none": False, "n": {"type": "integer"}}})
    assert check({"any": [1, {"x": None}], "n": "3"}) == {"any": [1, {"x": None}], "n": 3}  # it raised AttributeError
    with pytest.raises(ValueError, match="argument 'none': False schema does not allow 1"):
        check({"none": 1})


def test_a_schema_for_the_other_arguments_holds_for_them() -> None:
    check = SchemaValidator({"type": "object", "properties": {"name": {"type": "string"}},
                             "additionalProperties": {"type": "integer"}})
    assert check({"name": "x", "count": "3"}) == {"name": "x", "count": 3}
    with pytest.raises(ValueError, match='argument \'count\': "many" is not of type "integer"'):
        check({"name": "x", "count": "many"})  # it was let through: only the declared ones were checked


def test_schema_problem_says_what_is_wrong_and_never_raises() -> None:
    from toolwire.formats import schema_problem

    assert schema_problem({"type": "object", "properties": {"a": True, "\ud800": {"type": "string"}}}) is None
    assert schema_problem({"type": "object", "properties": {"\ud800": {"type": 3}}}) is not None  # it raised
    for not_json in ({"type": "object", "properties": {1: {}}}, {"type": "object", "enum": {1}}):
        assert schema_problem(not_json).startswith("it is not JSON data (")  # type: ignore[union-attr]
