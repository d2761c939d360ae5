"""`lazy_within` finds an iterator or an awaitable inside a value before anything writes (and so reads or drops)
it, and where it is, whatever else the value holds: what orjson writes, and what it refuses (big integers, lone
surrogates, odd keys, cycles, nesting past its limit), which is walked in Python."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import pytest
from pydantic import BaseModel, ConfigDict, RootModel
from toolwire._json_ready import lazy_within


class Pair(NamedTuple):
    first: Any
    second: Any


class Counts(dict[str, Any]):
    pass


@dataclass
class Row:
    cells: Any


def nested(levels: int, inner: Any) -> Any:
    for _ in range(levels):
        inner = {"k": [inner]}
    return inner


def cycle_with(inner: Any) -> Any:
    looped: list[Any] = [1]
    looped.append(looped)
    return {"loop": looped, "later": inner}


ENDLESS = itertools.count()

FOUND = [
    ({"rows": ENDLESS}, "rows"),
    ([1, "a", [2, {"deep": ENDLESS}]], "[2][1].deep"),
    ({"big": 2**70, "then": [ENDLESS]}, "then[0]"),
    ({"text": "\ud800", "then": ENDLESS}, "then"),
    ({(1, 2): ENDLESS}, "(1, 2)"),
    ({3: {"x": ENDLESS}}, "3.x"),
    ({"set": frozenset({1}), "then": ENDLESS}, "then"),
    (nested(300, ENDLESS), ".".join(["k[0]"] * 300)),
    (cycle_with({"it": ENDLESS}), "later.it"),
    ((0, (1, ENDLESS)), "[1][1]"),
    ({"queue": deque([1, ENDLESS])}, "queue[1]"),
    ([Pair(1, ENDLESS)], "[0][1]"),
    (Counts(a=ENDLESS), "a"),
]


@pytest.mark.parametrize(("value", "where"), FOUND)
def test_an_iterator_is_found_where_it_is(value: Any, where: str) -> None:
    found = lazy_within(value)
    assert found is not None and found == (where, ENDLESS)


def test_a_value_that_is_an_iterator_is_found_at_the_top() -> None:
    assert lazy_within(ENDLESS) == ("", ENDLESS)


def test_the_first_in_order_is_named() -> None:
    first, second = iter([]), iter([])
    assert lazy_within({"a": [0, first], "b": second}) == ("a[1]", first)


@pytest.mark.parametrize("value", [
    {"a": [1, 2.5, None, True, "x", b"\xff"]}, [], {}, nested(300, 1), cycle_with(2), {(1, 2): 3, "big": 2**70},
    {"text": "\udcff"}, [{1, 2}, frozenset()], Row([1]),
])
def test_values_without_iterators_have_none(value: Any) -> None:
    assert lazy_within(value) is None


@pytest.mark.parametrize(("value", "where"), [([Row(ENDLESS)], "[0].cells"), (Row(ENDLESS), "cells"),
                                              (Row([2**70, ENDLESS]), "cells[1]")])
def test_an_iterator_in_a_dataclass_is_found_too(value: Any, where: str) -> None:
    assert lazy_within(value) == (where, ENDLESS)


def test_an_async_iterator_is_an_iterator_too() -> None:
    async def agen() -> Any:
        yield 1

    gen = agen()
    assert lazy_within({"a": gen}) == ("a", gen)


def test_an_awaitable_is_lazy_too() -> None:
    async def later() -> int:
        return 1

    coroutine = later()
    try:
        assert lazy_within({"a": [1, coroutine]}) == ("a[1]", coroutine)
        assert lazy_within(coroutine) == ("", coroutine)
    finally:
        coroutine.close()


class Rows(BaseModel):
    model_config = ConfigDict(extra="allow")
    rows: Iterable[int]
    label: str = "x"


class Wrapped(BaseModel):
    inner: list[Rows]


@pytest.mark.parametrize(("make", "where"), [
    (lambda: Rows(rows=[1, 2]), "rows"),
    (lambda: Wrapped(inner=[Rows(rows=[1])]), "inner[0].rows"),
    (lambda: {"big": 2**70, "model": Rows(rows=[1])}, "model.rows"),
    (lambda: RootModel[Iterable[int]]([1]), "root"),
])
def test_the_lazy_iterator_of_a_models_iterable_field_is_found(make: Callable[[], Any], where: str) -> None:
    found = lazy_within(make())
    assert found is not None and found[0] == where and type(found[1]).__name__ == "ValidatorIterator"


def test_a_models_extra_fields_are_looked_in_and_plain_models_have_none() -> None:
    model = Rows.model_construct(rows=[1, 2], spare={"then": ENDLESS})
    assert lazy_within(model) == ("spare.then", ENDLESS)
    assert lazy_within(Wrapped.model_construct(inner=[Rows.model_construct(rows=[1])])) is None
