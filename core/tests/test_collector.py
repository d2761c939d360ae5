"""The collector is held off while a large batch runs, and only then: restored after, never enabled when
the user had disabled it, and running again after `HOLD_LIMIT` seconds however long the batch runs."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest
from toolwire import ToolRegistry, _collector
from toolwire._collector import BULK, collector_held


@pytest.fixture(autouse=True)
def _collector_enabled() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_held_for_a_large_batch_only_and_restored() -> None:
    with collector_held(BULK - 1):
        assert gc.isenabled()
    with collector_held(BULK):
        assert not gc.isenabled()
        with collector_held(BULK):  # another batch, or the same one's inner phase
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_the_user_disabled_stays_disabled() -> None:
    gc.disable()
    with collector_held(BULK):
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_the_hold_ends_after_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_collector, "HOLD_LIMIT", 0.05)
    with collector_held(BULK):
        assert not gc.isenabled()
        time.sleep(0.3)
        assert gc.isenabled()
    assert gc.isenabled()


def test_a_large_batch_holds_it_while_its_calls_run_and_a_small_one_does_not() -> None:
    def collecting(n: int) -> bool:
        return gc.isenabled()

    def batch(size: int) -> list[object]:
        calls = [{"id": str(i), "type": "function", "function": {"name": "collecting", "arguments": '{"n": 1}'}}
                 for i in range(size)]
        return [result.value for result in registry.execute_tool_calls(calls)]

    with ToolRegistry(executor="thread") as registry:
        registry.register(collecting)
        assert set(batch(BULK)) == {False}
        assert gc.isenabled()
        assert batch(3) == [True, True, True]
