"""The collector is held off while a large batch runs, and only then: restored after, never enabled when
the user had disabled it, and running again after `HOLD_LIMIT` seconds however long the batch runs."""

from __future__ import annotations

import gc
import os
import threading
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


def test_one_watchdog_times_every_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_collector, "HOLD_LIMIT", 0.05)
    for _ in range(3):  # each hold after the first is timed by the same thread, and still ends at its limit
        with collector_held(BULK):
            assert not gc.isenabled()
            time.sleep(0.3)
            assert gc.isenabled()
    for _ in range(50):
        with collector_held(BULK):
            pass
    watchdogs = [thread for thread in threading.enumerate() if thread.name == "toolwire-collector-hold"]
    assert len(watchdogs) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_hold_in_a_forked_child_still_ends_at_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_collector, "HOLD_LIMIT", 0.05)
    with collector_held(BULK):  # the parent's watchdog runs, and is not copied into the child
        pass
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if its own hold ended on time
        ended = False
        try:
            with collector_held(BULK):
                time.sleep(0.3)
                ended = gc.isenabled()
        finally:
            os._exit(0 if ended else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
