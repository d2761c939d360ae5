"""Shared pieces for the core's tests: a serial executor and tools built by hand (no loader needed)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from toolwire import Executor, Job, Outcome, Tool, ToolSource, call_invoker


class SerialExecutor(Executor):
    """Runs sync jobs one after another in the calling thread."""

    name = "serial"

    def __init__(self) -> None:
        self.closed = False
        self.batches: list[list[str]] = []

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        self.batches.append([job.call_id for job in jobs])
        return [call_invoker(job) for job in jobs]

    def close(self) -> None:
        self.closed = True


def _add(a: int, b: int) -> int:
    return a + b


def _echo(**kwargs: object) -> dict:
    return dict(kwargs)


def _make_tool(name: str = "add", *, tags: frozenset[str] = frozenset()) -> Tool:
    if name == "echo":
        return Tool("echo", "Echoes its arguments.", {"type": "object", "properties": {}}, _echo,
                    source=ToolSource("test"), tags=tags)
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    }
    return Tool(name, "Adds two integers.", schema, _add, source=ToolSource("test"), tags=tags)


@pytest.fixture
def serial() -> SerialExecutor:
    return SerialExecutor()


@pytest.fixture
def make_tool():
    """Builds an `add` tool (or `echo`) under any name."""
    return _make_tool
