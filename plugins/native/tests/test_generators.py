"""Generator functions as tools: what they yield is collected as a list where the tool runs."""

from __future__ import annotations

import functools
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Generator, Iterator

import pytest
from toolwire import ErrorKind, ToolRegistry


def call(call_id: str, name: str, **arguments: object) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def countdown(start: int) -> Iterator[int]:
    """Count down to 1."""
    yield from range(start, 0, -1)


async def letters(word: str, /) -> AsyncIterator[str]:
    """The word's letters (positional-only, async)."""
    for letter in word:
        yield letter


def halting(n: int) -> Generator[int, None, None]:
    """Yield once, then fail."""
    yield n
    raise ValueError("the second one is missing")


class Listing:
    def pages(self, size: int) -> Iterator[dict[str, int]]:
        """Pages of a listing."""
        for page in range(2):
            yield {"page": page, "size": size}


def endless() -> Iterator[int]:
    """Never ends (a plain function returning an iterator)."""
    return itertools.count()


@pytest.fixture
def registry(serial):
    with ToolRegistry(executor=serial) as registry:
        for tool in (countdown, letters, halting, endless, Listing()):
            registry.register(tool)
        registry.register(functools.partial(countdown, 2), name="from_two")
        yield registry


def test_what_a_generator_function_yields_is_its_value_as_a_list(registry) -> None:
    results = registry.execute_tool_calls([
        call("1", "countdown", start=3), call("2", "letters", word="ab"), call("3", "pages", size=10),
        call("4", "from_two"),
    ])
    assert [r.value for r in results] == [[3, 2, 1], ["a", "b"], [{"page": 0, "size": 10}, {"page": 1, "size": 10}],
                                          [2, 1]]
    assert results[0].content == "[3,2,1]"


def test_a_generator_that_raises_part_way_is_that_calls_error(registry) -> None:
    failed, ok = registry.execute_tool_calls([call("1", "halting", n=1), call("2", "countdown", start=1)])
    assert failed.error.kind is ErrorKind.TOOL_ERROR
    assert failed.error.message == "ValueError: the second one is missing"
    assert ok.value == [1]


def test_an_iterator_returned_by_a_plain_function_is_refused_unread(registry) -> None:
    refused, ok = registry.execute_tool_calls([call("1", "endless"), call("2", "countdown", start=1)])
    assert refused.error.kind is ErrorKind.TOOL_ERROR
    assert refused.error.message.startswith("'endless' returned an iterator (itertools.count), which is not read")
    assert ok.value == [1]


def test_the_output_schema_is_a_list_of_what_is_yielded(registry) -> None:
    assert registry.get("countdown").output_schema == {"type": "array", "items": {"type": "integer"}}
    assert registry.get("letters").output_schema == {"type": "array", "items": {"type": "string"}}
    assert registry.get("halting").output_schema == {"type": "array", "items": {"type": "integer"}}
    assert registry.get("pages").output_schema["items"]["additionalProperties"] == {"type": "integer"}
    assert registry.get("letters").is_async and not registry.get("countdown").is_async


def test_an_endless_generator_function_stops_once_its_thread_is_abandoned_at_its_deadline() -> None:
    """The thread backend cannot kill a sync call past its deadline: reading what the generator yields stops at
    the next item instead, so it does not go on filling memory in the background."""
    stopped = threading.Event()

    def forever() -> Iterator[int]:
        try:
            while True:
                yield 0
                time.sleep(0.001)
        finally:
            stopped.set()

    with ToolRegistry(executor="thread") as registry:
        registry.register(forever)
        registry.register(countdown)
        late, ok = registry.execute_tool_calls([call("1", "forever"), call("2", "countdown", start=2)], timeout=0.5)
        assert late.error is not None and late.error.kind is ErrorKind.TIMEOUT
        assert ok.value == [2, 1]
        assert stopped.wait(10)
