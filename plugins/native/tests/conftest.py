"""Shared pieces: a serial executor (sync and async tools) and a loader helper."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from toolwire import Executor, Job, Outcome, Tool, call_invoker, call_invoker_async
from toolwire_native import NativeLoader


class SerialExecutor(Executor):
    """Runs jobs one after another in the calling thread; async tools each on a fresh event loop."""

    name = "serial"

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        return [
            asyncio.run(call_invoker_async(job)) if job.tool.is_async else call_invoker(job) for job in jobs
        ]


@pytest.fixture
def serial() -> SerialExecutor:
    return SerialExecutor()


@pytest.fixture
def tool_of() -> Callable[..., Tool]:
    """The single tool the native loader makes of a function."""

    def make(function: Callable[..., Any], **options: Any) -> Tool:
        [tool] = NativeLoader(**options).load(function)
        return tool

    return make
