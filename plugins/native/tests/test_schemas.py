"""Schemas from type hints: each validates (with jsonschema) what the function accepts, and only that."""

from __future__ import annotations

import dataclasses
import enum
from typing import Annotated, Any, Literal, Optional, TypedDict

import jsonschema
import pydantic
import pytest
import typing_extensions


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Point(pydantic.BaseModel):
    """A point on the plane."""

    x: int
    y: int = 0


@dataclasses.dataclass
class Size:
    width: float
    height: float = 1.0


class Options(TypedDict, total=False):
    verbose: bool
    depth: int


class Person(typing_extensions.TypedDict):
    name: str
    age: typing_extensions.NotRequired[int]


class Tree(pydantic.BaseModel):
    value: int
    children: list[Tree] = []


def scalars(a: int, b: float, c: str, d: bool) -> None: ...
def model(point: Point) -> None: ...
def dataclass_(size: Size) -> None: ...
def typeddict(options: Options, person: Person) -> None: ...
def enums(color: Color, level: Level = Level.LOW) -> None: ...
def literal(mode: Literal["fast", "slow"], n: Literal[1, 2, 3] = 1) -> None: ...
def optional(a: Optional[int], b: str | None = None) -> None: ...  # noqa: UP045 - Optional on purpose
def union(value: int | list[str]) -> None: ...
def defaults(a: int = 1, b: str = "x", c: list[int] | None = None) -> None: ...
def containers(items: list[int], table: dict[str, float], pairs: list[tuple[str, int]]) -> None: ...
def nested(points: list[Point], by_name: dict[str, Size]) -> None: ...
def recursive(tree: Tree) -> None: ...
def constrained(n: Annotated[int, pydantic.Field(ge=0, le=10)]) -> None: ...
def untyped(a, b=2) -> None: ...
def var_positional(first: int, *rest: int) -> None: ...
def var_keyword(name: str, **extra: int) -> None: ...
def any_keyword(**extra: Any) -> None: ...


CASES = [
    (scalars, [{"a": 1, "b": 1.5, "c": "x", "d": True}, {"a": -3, "b": 2, "c": "", "d": False}],
     [{"a": "one", "b": 1.5, "c": "x", "d": True}, {"a": 1, "b": 1.5, "c": 3, "d": True},
      {"a": 1, "b": 1.5, "c": "x"}, {"a": 1, "b": 1.5, "c": "x", "d": True, "e": 1}]),
    (model, [{"point": {"x": 1}}, {"point": {"x": 1, "y": 2}}],
     [{"point": {"y": 1}}, {"point": {"x": "a"}}, {"point": 3}, {}]),
    (dataclass_, [{"size": {"width": 2.5}}, {"size": {"width": 1, "height": 2}}],
     [{"size": {"height": 2}}, {"size": {"width": "wide"}}, {"size": []}]),
    (typeddict,
     [{"options": {}, "person": {"name": "a"}},
      {"options": {"verbose": True}, "person": {"name": "a", "age": 3}}],
     [{"options": {"depth": "deep"}, "person": {"name": "a"}}, {"options": {}, "person": {"age": 3}},
      {"options": [], "person": {"name": "a"}}]),
    (enums, [{"color": "red"}, {"color": "green", "level": 2}],
     [{"color": "blue"}, {"color": "red", "level": 3}, {"color": 1}]),
    (literal, [{"mode": "fast"}, {"mode": "slow", "n": 3}],
     [{"mode": "medium"}, {"mode": "fast", "n": 4}, {}]),
    (optional, [{"a": None}, {"a": 1, "b": "x"}, {"a": 2, "b": None}],
     [{}, {"a": "x"}, {"a": 1, "b": 2}]),
    (union, [{"value": 1}, {"value": ["a", "b"]}],
     [{"value": "x"}, {"value": [1]}, {"value": None}]),
    (defaults, [{}, {"a": 2, "b": "y", "c": [1, 2]}, {"c": None}],
     [{"a": "x"}, {"c": ["x"]}, {"d": 1}]),
    (containers,
     [{"items": [1, 2], "table": {"a": 1.5}, "pairs": [["a", 1]]}, {"items": [], "table": {}, "pairs": []}],
     [{"items": ["x"], "table": {}, "pairs": []}, {"items": [], "table": {"a": "b"}, "pairs": []},
      {"items": [], "table": {}, "pairs": [["a", "b"]]}, {"items": 1, "table": {}, "pairs": []}]),
    (nested, [{"points": [{"x": 1}], "by_name": {"a": {"width": 1}}}],
     [{"points": [{"y": 1}], "by_name": {}}, {"points": [], "by_name": {"a": {"height": 1}}}]),
    (recursive, [{"tree": {"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]}}],
     [{"tree": {"value": 1, "children": [{"children": []}]}}, {"tree": {"value": "x"}}]),
    (constrained, [{"n": 0}, {"n": 10}], [{"n": -1}, {"n": 11}]),
    (untyped, [{"a": "anything"}, {"a": [1, {"b": 2}], "b": None}], [{}, {"b": 1}, {"a": 1, "c": 2}]),
    (var_positional, [{"first": 1}, {"first": 1, "rest": [2, 3]}],
     [{"rest": [1]}, {"first": 1, "rest": ["x"]}, {"first": 1, "rest": 2}]),
    (var_keyword, [{"name": "a"}, {"name": "a", "x": 1, "y": 2}], [{"x": 1}, {"name": "a", "x": "many"}]),
    (any_keyword, [{}, {"x": [1], "y": "z"}], [[1]]),
]


@pytest.mark.parametrize(("function", "good", "bad"), CASES, ids=[case[0].__name__ for case in CASES])
def test_the_schema_accepts_what_the_function_accepts(tool_of, function, good, bad) -> None:
    tool = tool_of(function)
    jsonschema.Draft202012Validator.check_schema(tool.parameters)
    checker = jsonschema.Draft202012Validator(tool.parameters)
    for arguments in good:
        assert list(checker.iter_errors(arguments)) == [], arguments
        tool.validator(arguments)  # raises if the function would not accept them
    for arguments in bad:
        assert not checker.is_valid(arguments), arguments
        with pytest.raises(ValueError):
            tool.validator(arguments)


def test_the_schema_is_clean_and_closed(tool_of) -> None:
    def f(title: str, point: Point, a: int = 3) -> None: ...

    schema = tool_of(f).parameters
    assert schema == {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "point": {"$ref": "#/$defs/Point"},
            "a": {"type": "integer", "default": 3},
        },
        "required": ["title", "point"],
        "additionalProperties": False,
        "$defs": {
            "Point": {
                "type": "object",
                "description": "A point on the plane.",
                "properties": {"x": {"type": "integer"}, "y": {"type": "integer", "default": 0}},
                "required": ["x"],
            }
        },
    }


def test_star_args_and_kwargs_are_an_array_and_open_properties(tool_of) -> None:
    def f(*numbers: int, **labels: str) -> None: ...

    schema = tool_of(f).parameters
    assert schema["properties"] == {"numbers": {"type": "array", "items": {"type": "integer"}, "default": []}}
    assert schema["additionalProperties"] == {"type": "string"}
    assert tool_of(any_keyword).parameters["additionalProperties"] is True


def test_parameter_names_that_clash_with_pydantic_are_kept(tool_of) -> None:
    def f(schema: str, model_config: int, _private: bool = False, copy: bool = True) -> str:
        return f"{schema}{model_config}{_private}{copy}"

    tool = tool_of(f)
    assert list(tool.parameters["properties"]) == ["schema", "model_config", "_private", "copy"]
    kwargs = tool.validator({"schema": "s", "model_config": "1", "_private": True})
    assert tool.invoker(**kwargs) == "s1TrueTrue"


def test_output_schema_comes_from_the_return_annotation(tool_of) -> None:
    def points() -> list[Point]:
        """Lists points.

        Returns:
            every point there is.
        """
        return []

    def nothing() -> None: ...

    def unannotated(): ...

    assert tool_of(points).output_schema == {
        "type": "array",
        "items": {"$ref": "#/$defs/Point"},
        "description": "every point there is.",
        "$defs": {
            "Point": {
                "type": "object",
                "description": "A point on the plane.",
                "properties": {"x": {"type": "integer"}, "y": {"type": "integer", "default": 0}},
                "required": ["x"],
            }
        },
    }
    assert tool_of(nothing).output_schema is None
    assert tool_of(unannotated).output_schema is None


class Opaque:
    pass


def test_a_required_parameter_without_a_json_schema_is_a_type_error(tool_of) -> None:
    def f(a: int, thing: Opaque) -> None: ...

    with pytest.raises(TypeError, match=r"cannot make a tool of .*f: parameter 'thing': .*Opaque"):
        tool_of(f)


def test_an_optional_parameter_without_a_json_schema_is_hidden_from_the_model(tool_of) -> None:
    default = Opaque()

    def f(a: int, /, thing: Opaque = default, *, b: int = 2) -> tuple:
        return a, thing, b

    tool = tool_of(f)
    assert list(tool.parameters["properties"]) == ["a", "b"]
    assert tool.invoker(**tool.validator({"a": "1"})) == (1, default, 2)
    with pytest.raises(ValueError, match="unexpected argument 'thing'"):
        tool.validator({"a": 1, "thing": {}})


Node = dict[str, "Node"]  # a recursive type through a plain alias: pydantic recurses until Python stops it
Branches = typing_extensions.TypeAliasType("Branches", dict[str, "Branches"])


def test_a_type_that_refers_to_itself_through_a_plain_alias_is_a_type_error_saying_what_to_declare(tool_of) -> None:
    def f(x: Node) -> Node:
        return x

    def g(x: Branches) -> Branches:
        return x

    with pytest.raises(TypeError, match=r"f: parameter 'x': its type refers to itself .*TypeAliasType\('Node'"):
        tool_of(f)
    tool = tool_of(g)
    assert tool.invoker(**tool.validator({"x": {"a": {"b": {}}}})) == {"a": {"b": {}}}
    assert tool.output_schema is not None


def test_an_unresolvable_annotation_is_a_type_error(tool_of) -> None:
    class Local:  # invisible to the string annotations of this module (`from __future__ import annotations`)
        pass

    def f(thing: Local) -> None: ...

    with pytest.raises(TypeError, match=r"cannot read the signature of .*f: name 'Local' is not defined"):
        tool_of(f)


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


_UNPRINTABLE = _Unprintable()


def test_a_default_whose_repr_raises_is_left_out_of_the_schema_and_still_applies(tool_of) -> None:
    def tag(x: int, marker: object = _UNPRINTABLE, label: str = "a") -> object:
        return marker

    tool = tool_of(tag)  # it raised the default's RuntimeError (pydantic writes the default into its warning)
    assert tool.parameters["properties"] == {"x": {"type": "integer"}, "marker": {}, "label": {"type": "string",
                                                                                              "default": "a"}}
    assert tool.invoker(**tool.validator({"x": 1})) is _UNPRINTABLE
