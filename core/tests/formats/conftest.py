"""Tools of every shape the native loader produces, and validation against the provider SDKs' own types."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from enum import Enum
from typing import Any, Literal

import pydantic
import pytest
from pydantic import BaseModel, Field
from toolwire import Executor, ToolRegistry, call_invoker


class Color(Enum):
    RED = "red"
    GREEN = "green"


class Priority(int, Enum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    street: str
    city: str = Field(description="The city name")
    zip: str | None = None


class Person(BaseModel):
    name: str
    age: int = Field(ge=0, description="Age in years")
    address: Address
    tags: list[str] = []


class Node(BaseModel):
    value: int
    children: list[Node] = []


def plain(a: int, b: float = 1.5, flag: bool = False) -> float:
    """Add two numbers."""
    return a + b


def with_model(person: Person, note: str | None = None) -> str:
    """Greet a person."""
    return f"{person.name} of {person.address.city}: {note}"


def with_enum(color: Color, priority: Priority = Priority.LOW, mode: Literal["fast", "slow"] = "fast") -> str:
    """Pick a color."""
    return f"{color.value}-{priority.value}-{mode}"


def with_tree(tree: Node) -> int:
    """Sum a tree."""
    return tree.value + sum(with_tree(child) for child in tree.children)


def with_dict(meta: dict[str, int]) -> int:
    """Sum a mapping."""
    return sum(meta.values())


def no_args() -> str:
    """Say hi."""
    return "hi"


def with_datetime(when: datetime.datetime, stops: list[Address]) -> str:
    """Plan stops."""
    return f"{when.isoformat()} via {len(stops)} stops"


STRICT_OK = [plain, with_model, with_enum, with_tree, no_args, with_datetime]
ALL_TOOLS = [*STRICT_OK, with_dict]

VALID_ARGUMENTS: dict[str, dict[str, Any]] = {
    "plain": {"a": 1, "b": 2.5},
    "with_model": {"person": {"name": "Ada", "age": 36, "address": {"street": "1 Way", "city": "London"}}},
    "with_enum": {"color": "red", "priority": 2},
    "with_tree": {"tree": {"value": 1, "children": [{"value": 2}]}},
    "with_dict": {"meta": {"x": 1}},
    "no_args": {},
    "with_datetime": {"when": "2024-01-02T03:04:05Z", "stops": [{"street": "a", "city": "b"}]},
}

STRICT_ARGUMENTS: dict[str, dict[str, Any]] = {
    "plain": {"a": 1, "b": 2.5, "flag": None},
    "with_model": {
        "person": {
            "name": "Ada",
            "age": 36,
            "tags": None,
            "address": {"street": "1 Way", "city": "London", "zip": None},
        },
        "note": None,
    },
    "with_enum": {"color": "red", "priority": None, "mode": "slow"},
    "with_tree": {"tree": {"value": 1, "children": [{"value": 2, "children": None}]}},
    "no_args": {},
    "with_datetime": {"when": "2024-01-02T03:04:05Z", "stops": [{"street": "a", "city": "b", "zip": "9"}]},
}
"""What a strict-mode model sends: every property, null for those it leaves out."""


class Serial(Executor):
    """Runs each job in the calling thread: enough to close a loop without a pool."""

    name = "serial"

    def run(self, jobs):
        return [call_invoker(job) for job in jobs]


@pytest.fixture
def registry() -> Iterator[ToolRegistry]:
    with ToolRegistry(executor=Serial()) as reg:
        for function in ALL_TOOLS:
            reg.register(function)
        yield reg


def _materialise(value: Any) -> Any:
    """Validated SDK params with their lazy iterables (pydantic validates `Iterable[...]` on use) consumed."""
    if isinstance(value, dict):
        return {key: _materialise(item) for key, item in value.items()}
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, list | tuple) or type(value).__name__ == "ValidatorIterator":
        return [_materialise(item) for item in value]
    return value


@pytest.fixture
def sdk_valid():
    """`sdk_valid(SDKType, value)`: validates `value` against an SDK TypedDict, every nested item included,
    and checks nothing was dropped or coerced on the way (TypedDict validation drops unknown keys)."""

    def check(sdk_type: Any, value: Any) -> None:
        adapter = pydantic.TypeAdapter(sdk_type)  # alive while the lazy iterables are consumed
        validated = adapter.validate_python(value)
        assert _materialise(validated) == _materialise(value)
        del adapter

    return check
