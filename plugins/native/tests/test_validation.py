"""The validator: lax coercion into the function's types, and one precise message per bad argument."""

from __future__ import annotations

import dataclasses
import datetime
import enum
from typing import Literal

import pydantic
import pytest


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(pydantic.BaseModel):
    x: int
    y: int = 0


@dataclasses.dataclass
class Size:
    width: float
    height: float


def add(a: int, b: int) -> int:
    return a + b


def paint(color: Color, at: Point, size: Size, when: datetime.date, flags: tuple[bool, ...] = ()) -> None: ...


def test_strings_are_coerced_to_the_declared_types(tool_of) -> None:
    tool = tool_of(add)
    kwargs = tool.validator({"a": "1", "b": "2"})
    assert kwargs == {"a": 1, "b": 2}
    assert tool.invoker(**kwargs) == 3


def test_json_values_become_models_dataclasses_enums_and_dates(tool_of) -> None:
    kwargs = tool_of(paint).validator(
        {"color": "blue", "at": {"x": "3"}, "size": {"width": 1, "height": "2.5"}, "when": "2024-05-01",
         "flags": ["true", False]}
    )
    assert kwargs == {
        "color": Color.BLUE,
        "at": Point(x=3, y=0),
        "size": Size(1.0, 2.5),
        "when": datetime.date(2024, 5, 1),
        "flags": (True, False),
    }


def test_omitted_defaults_are_left_to_the_function(tool_of) -> None:
    sentinel = object()

    def f(a: int, marker: object = sentinel) -> bool:
        return marker is sentinel

    tool = tool_of(f)
    assert tool.validator({"a": 1}) == {"a": 1}
    assert tool.invoker(**tool.validator({"a": 1})) is True


def test_null_for_an_optional_parameter_means_its_default(tool_of) -> None:
    def f(a: int, b: int = 2, c: int | None = 3, *rest: int) -> tuple:
        return a, b, c, rest

    tool = tool_of(f)
    assert tool.invoker(**tool.validator({"a": 1, "b": None, "c": None, "rest": None})) == (1, 2, None, ())
    with pytest.raises(ValueError, match=r"^argument 'a' should be a valid integer, got None$"):
        tool.validator({"a": None, "b": None})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"a": 1}, "missing required argument 'b'"),
        ({"a": "one", "b": 2},
         "argument 'a' should be a valid integer, unable to parse string as an integer, got 'one'"),
        ({"a": 1, "b": 2, "c": 3}, "unexpected argument 'c' (accepted arguments: 'a', 'b')"),
        ({"a": 1.5, "b": [2]},
         "argument 'a' should be a valid integer, got a number with a fractional part, got 1.5; "
         "argument 'b' should be a valid integer, got [2]"),
        ({}, "missing required argument 'a'; missing required argument 'b'"),
    ],
)
def test_each_bad_argument_is_named_with_what_to_fix(tool_of, arguments, message) -> None:
    with pytest.raises(ValueError) as caught:
        tool_of(add).validator(arguments)
    assert str(caught.value) == message


def test_nested_problems_name_their_path(tool_of) -> None:
    with pytest.raises(ValueError) as caught:
        tool_of(paint).validator(
            {"color": "green", "at": {"y": 1}, "size": {"width": "wide", "height": 1}, "when": "2024-05-01",
             "flags": [True, "maybe"]}
        )
    assert str(caught.value) == (
        "argument 'color' should be 'red' or 'blue', got 'green'; "
        "argument 'at' is missing its required field 'x'; "
        "argument 'size.width' should be a valid number, unable to parse string as a number, got 'wide'; "
        "argument 'flags[1]' should be a valid boolean, unable to interpret input, got 'maybe'"
    )


def test_a_union_reports_every_alternative_once(tool_of) -> None:
    def f(value: int | list[str], mode: Literal["a", "b"] = "a") -> None: ...

    with pytest.raises(ValueError) as caught:
        tool_of(f).validator({"value": {"k": 1}})
    assert str(caught.value) == (
        "argument 'value' matches none of its accepted types (got {'k': 1}): "
        "input should be a valid integer; input should be a valid list"
    )


def test_arguments_that_are_not_an_object(tool_of) -> None:
    with pytest.raises(ValueError, match=r"the arguments must be a JSON object, got \[1, 2\]"):
        tool_of(add).validator([1, 2])


def test_a_tool_without_parameters_rejects_any_argument(tool_of) -> None:
    def ping() -> str:
        return "pong"

    tool = tool_of(ping)
    assert tool.validator({}) == {}
    with pytest.raises(ValueError, match=r"unexpected argument 'x' \(accepted arguments: none\)"):
        tool.validator({"x": 1})


def test_long_values_are_shortened_in_messages(tool_of) -> None:
    with pytest.raises(ValueError) as caught:
        tool_of(add).validator({"a": "x" * 500, "b": 1})
    assert len(str(caught.value)) < 200
    assert str(caught.value).endswith("...")
