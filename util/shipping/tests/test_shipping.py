"""Shipping tools to other processes: each test sends a tool (or a chunk of calls) to a fresh Python
interpreter, as the process and Dask backends' workers receive them."""

from __future__ import annotations

import importlib.util
import json
import pickle
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest
from toolwire import Tool, ToolCallError
from toolwire_shipping.packing import Shipper, UnshippableToolError, ship
from toolwire_shipping.records import error_record
from toolwire_shipping.unloadable import tolerant_loads
from toolwire_shipping.unpacking import ToolCache, ToolLoadError

WORKER = """
import pickle, sys, json
from toolwire_shipping.unpacking import ToolCache
fields, arguments = pickle.loads(sys.stdin.buffer.read())
cache = ToolCache()
cache.load(*fields)
invoker, is_async = cache.get(fields[0])
value = invoker(**arguments)
print(json.dumps({"value": value, "imported": sorted(m for m in ("dill", "toolwire", "pydantic") if m in sys.modules)}))
"""


def in_a_worker(tool: Tool, **arguments: Any) -> dict[str, Any]:
    """Ship `tool` to a fresh interpreter, call it there with `arguments`; its value and what it imported."""
    stdin = pickle.dumps((ship(tool).fields(), arguments))
    done = subprocess.run([sys.executable, "-c", WORKER], input=stdin, capture_output=True, timeout=60, check=True)
    return json.loads(done.stdout)


def a_tool(invoker: Any, name: str = "t") -> Tool:
    return Tool(name, "A tool.", {"type": "object"}, invoker)


def test_an_importable_function_travels_as_a_plain_pickle_and_the_worker_imports_no_more_than_it_needs() -> None:
    shipped = ship(a_tool(textwrap.shorten))
    assert not shipped.dilled and shipped.modules == ()
    answer = in_a_worker(a_tool(textwrap.shorten), text="one two three four", width=12)
    assert answer == {"value": "one [...]", "imported": []}


def test_a_closure_travels_with_dill() -> None:
    factor = 7

    def scaled(n: int) -> int:
        return n * factor

    assert ship(a_tool(scaled)).dilled
    answer = in_a_worker(a_tool(scaled), n=6)
    assert answer["value"] == 42 and "dill" in answer["imported"]


def test_a_module_loaded_from_a_file_is_named_with_its_path_and_loaded_the_same_way_in_the_worker(
        tmp_path: Path) -> None:
    path = tmp_path / "shipping_case_module.py"
    path.write_text("def greet(name):\n    return f'hello {name}'\n")
    spec = importlib.util.spec_from_file_location("shipping_case_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["shipping_case_module"] = module
    try:
        spec.loader.exec_module(module)
        tool = a_tool(module.greet)
        assert ship(tool).modules == (("shipping_case_module", str(path)),)
        assert in_a_worker(tool, name="worker")["value"] == "hello worker"
    finally:
        del sys.modules["shipping_case_module"]


def test_the_shipper_serialises_a_tool_once_and_again_when_its_function_changes() -> None:
    def double(n: int) -> int:
        return 2 * n

    shipper = Shipper()
    tool = a_tool(double)
    first = shipper.ship(tool)
    assert shipper.ship(tool) is first
    double.__code__ = (lambda n: 3 * n).__code__
    again = shipper.ship(tool)
    assert again.key != first.key
    assert in_a_worker(tool, n=5)["value"] == 15


def test_an_invoker_that_does_not_pickle_is_refused_naming_the_object_and_what_to_do() -> None:
    numbers = (n for n in range(3))  # a generator: neither pickle nor dill carries one

    def guarded(n: int) -> int:
        return n + next(numbers)

    with pytest.raises(UnshippableToolError) as refused:
        ship(a_tool(guarded, "guarded"))
    message = str(refused.value)
    assert "the tool 'guarded' cannot be sent to a worker process" in message
    assert "closure variable 'numbers'" in message and 'executor="thread"' in message


def test_a_tool_that_fails_to_load_is_that_keys_error_and_other_keys_still_load() -> None:
    cache = ToolCache()
    good = ship(a_tool(textwrap.shorten, "good"))
    cache.load("broken-key", "broken", b"not a pickle", False, (), False)
    cache.load(*good.fields())
    assert "broken-key" in cache and good.key in cache
    with pytest.raises(ToolLoadError, match="the tool 'broken' could not be loaded in the worker process"):
        cache.get("broken-key")
    with pytest.raises(ToolLoadError, match="no tool with key nowhere was sent here"):
        cache.get("nowhere")
    assert cache.get(good.key)[0](text="a b", width=10) == "a b"


def test_only_the_calls_whose_arguments_name_a_class_the_worker_lacks_fail() -> None:
    module = types.ModuleType("shipping_gone_module")
    exec("class Thing:\n    pass\n", module.__dict__)
    module.Thing.__module__ = "shipping_gone_module"
    sys.modules["shipping_gone_module"] = module
    try:
        data = pickle.dumps(("chunk", [{"a": 1}, {"b": [module.Thing()]}, {"c": "x"}]))
    finally:
        del sys.modules["shipping_gone_module"]
    with pytest.raises(ModuleNotFoundError) as refused:
        pickle.loads(data)
    fields = tolerant_loads(data, refused.value, 1)
    first, second, third = fields[1]
    assert first == {"a": 1} and third == {"c": "x"}
    assert second.startswith("the argument 'b' holds a shipping_gone_module.Thing, which the worker process cannot")


def test_error_records_without_toolwire_and_with_it() -> None:
    script = ("from toolwire_shipping.records import error_record\n"
              "print(error_record(ValueError('bad')), error_record(TimeoutError()), error_record(KeyError()))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == ("('tool_error', 'ValueError: bad') ('timeout', 'the call timed out') "
                                   "('tool_error', 'KeyError')")
    assert error_record(ToolCallError("no such city", "invalid_arguments")) == ("invalid_arguments", "no such city")
    busy = pickle.loads(pickle.dumps(ToolCallError("busy", "transport", retry_after=2.5)))  # as a worker sends it
    assert error_record(busy) == ("transport", "busy", 2.5)


def test_a_value_refused_for_an_awaitable_has_every_coroutine_in_it_closed() -> None:
    """A worker drops the value it cannot send: each coroutine in it would warn "never awaited" when collected."""
    import inspect

    from toolwire_shipping.records import unsendable

    async def later() -> int:
        return 1

    first, second, third = later(), later(), later()
    value = {"rows": [1, first], "more": (second, {"deep": third})}
    kind, message = unsendable(value, TypeError("cannot pickle 'coroutine' object"), "the worker process")
    assert kind == "tool_error" and "awaitable (builtins.coroutine) at 'rows[1]' of its value" in message
    assert [inspect.getcoroutinestate(c) for c in (first, second, third)] == [inspect.CORO_CLOSED] * 3
