"""What becomes a tool: functions, async functions, methods, classes, instances, modules; invokers pickle."""

from __future__ import annotations

import abc
import asyncio
import functools
import math
import types

import dill
import pytest
from toolwire import is_async_callable
from toolwire_native import NativeLoader


class Calculator:
    """Arithmetic with a memory."""

    def __init__(self, start: int = 0) -> None:
        self.memory = start

    def add(self, a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    def remember(self, value: int) -> int:
        self.memory += value
        return self.memory

    async def slow_double(self, x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    @staticmethod
    def negate(x: int) -> int:
        return -x

    @classmethod
    def kind(cls) -> str:
        return cls.__name__

    @property
    def doubled_memory(self) -> int:
        return 2 * self.memory

    def _hidden(self) -> None: ...


class ScientificCalculator(Calculator):
    def power(self, base: float, exponent: float) -> float:
        return base**exponent


class NeedsConfig:
    def __init__(self, url: str) -> None:
        self.url = url

    def fetch(self) -> str:
        return self.url

    @staticmethod
    def version() -> str:
        return "1"

    @classmethod
    def create(cls, url: str) -> str:
        return cls(url).fetch()


class Base(abc.ABC):
    @abc.abstractmethod
    def run(self) -> None: ...

    @staticmethod
    def helper(n: int) -> int:
        return n


async def fetch(url: str, retries: int = 1) -> str:
    """Fetch a URL."""
    await asyncio.sleep(0)
    return f"{url}#{retries}"


def split(text: str, /, sep: str = " ", *rest: str, upper: bool = False, **extra: int) -> dict:
    return {"text": text, "sep": sep, "rest": rest, "upper": upper, "extra": extra}


def names(tools) -> list[str]:
    return sorted(tool.name for tool in tools)


def run(tool, arguments):
    kwargs = tool.validator(arguments)
    result = tool.invoker(**kwargs)
    return asyncio.run(result) if tool.is_async else result


def test_a_function_is_one_tool(tool_of) -> None:
    tool = tool_of(split)
    assert tool.name == "split"
    assert tool.source.loader == "native"
    assert tool.source.detail.endswith("test_objects.split")
    assert not tool.is_async


def test_positional_only_var_positional_and_var_keyword_are_passed_correctly(tool_of) -> None:
    tool = tool_of(split)
    assert run(tool, {"text": "a b"}) == {"text": "a b", "sep": " ", "rest": (), "upper": False, "extra": {}}
    assert run(tool, {"text": "a", "rest": ["x", "y"], "upper": "true", "n": "2"}) == {
        "text": "a", "sep": " ", "rest": ("x", "y"), "upper": True, "extra": {"n": 2}
    }
    assert run(tool, {"sep": ",", "text": "a"})["sep"] == ","


def test_async_functions_stay_async(tool_of) -> None:
    tool = tool_of(fetch)
    assert tool.is_async
    assert is_async_callable(tool.invoker)
    assert run(tool, {"url": "u", "retries": "2"}) == "u#2"


def test_an_instance_gives_its_public_methods_bound_to_it() -> None:
    calc = Calculator(start=10)
    tools = {tool.name: tool for tool in NativeLoader().load(calc)}
    assert sorted(tools) == ["add", "kind", "negate", "remember", "slow_double"]
    assert run(tools["remember"], {"value": 5}) == 15
    assert calc.memory == 15
    assert run(tools["kind"], {}) == "Calculator"
    assert tools["slow_double"].is_async
    assert run(tools["slow_double"], {"x": "4"}) == 8
    assert tools["add"].description == "Add two integers."
    assert tools["add"].source.detail.endswith("test_objects.Calculator.add")


def test_a_class_instantiable_without_arguments_gives_every_public_method() -> None:
    tools = {tool.name: tool for tool in NativeLoader().load(ScientificCalculator)}
    assert sorted(tools) == ["add", "kind", "negate", "power", "remember", "slow_double"]
    assert run(tools["power"], {"base": 2, "exponent": 3}) == 8
    assert run(tools["kind"], {}) == "ScientificCalculator"
    assert run(tools["negate"], {"x": "3"}) == -3


def test_a_class_needing_arguments_gives_its_static_and_class_methods_only() -> None:
    tools = {tool.name: tool for tool in NativeLoader().load(NeedsConfig)}
    assert sorted(tools) == ["create", "version"]
    assert run(tools["create"], {"url": "x"}) == "x"
    assert names(NativeLoader().load(Base)) == ["helper"]


def test_a_module_gives_its_public_functions() -> None:
    module = types.ModuleType("geometry")
    exec(
        "import math\n"
        "from math import floor\n"
        "def area(r: float) -> float:\n    '''Circle area.'''\n    return math.pi * r * r\n"
        "async def later(x: int) -> int:\n    return x\n"
        "def _private() -> None: ...\n"
        "class Shape: ...\n",
        module.__dict__,
    )
    tools = {tool.name: tool for tool in NativeLoader().load(module)}
    assert sorted(tools) == ["area", "later"]
    assert run(tools["area"], {"r": "1"}) == pytest.approx(math.pi)
    assert tools["later"].is_async
    module.__all__ = ["floor", "later"]
    assert names(NativeLoader().load(module)) == ["floor", "later"]


def test_builtins_and_partials(tool_of) -> None:
    gcd = tool_of(math.gcd)
    assert gcd.parameters["properties"]["integers"]["type"] == "array"
    assert run(gcd, {"integers": [12, 18]}) == 6
    double = tool_of(functools.partial(Calculator().add, 2))
    assert double.name == "add"
    assert list(double.parameters["properties"]) == ["b"]
    assert run(double, {"b": "5"}) == 7


def test_members_that_cannot_be_tools_are_skipped_with_a_warning() -> None:
    class Odd:
        def fine(self) -> int:
            return 1

        def bad(self, thing: Odd) -> None: ...  # a local name, unresolvable from a string annotation

    skipped = r"toolwire-native skipped a member: cannot read the signature of .*Odd.bad: name 'Odd'"
    with pytest.warns(UserWarning, match=skipped):
        tools = NativeLoader().load(Odd())
    assert names(tools) == ["fine"]


def test_a_source_with_no_tool_at_all_is_an_error_saying_what_to_give() -> None:
    class Odd:
        def bad(self, thing: Odd) -> None: ...

    empty = types.ModuleType("empty")
    for source, why in [(None, "NoneType None: give a function, a module, a class or an object with public methods"),
                        (5, "int 5: give a function"), (empty, "module empty: give a function")]:
        with pytest.raises(ValueError, match=f"found no tools in {why}"):
            NativeLoader().load(source)
    skipped = r"found no tools in Odd .*: each of its public callables was skipped"
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=skipped):
        NativeLoader().load(Odd())


def test_name_and_description_apply_to_single_functions_only() -> None:
    with pytest.raises(TypeError, match="apply to a single function"):
        NativeLoader(name="x").load(Calculator())


def make_multiplier(factor: int):
    def multiply(x: int) -> int:
        return x * factor

    return multiply


@pytest.mark.parametrize(
    ("source", "arguments", "expected"),
    [
        (split, {"text": "a", "rest": ["b"]},
         {"text": "a", "sep": " ", "rest": ("b",), "upper": False, "extra": {}}),
        (fetch, {"url": "u"}, "u#1"),
        (make_multiplier(3), {"x": 2}, 6),
        (lambda a, b=1: a - b, {"a": 5}, 4),
        (Calculator(5).remember, {"value": 1}, 6),
        (Calculator.negate, {"x": 1}, -1),
        (Calculator.kind, {}, "Calculator"),
        (functools.partial(split, "z"), {"upper": True},
         {"text": "z", "sep": " ", "rest": (), "upper": True, "extra": {}}),
    ],
    ids=["function", "async", "closure", "lambda", "bound-method", "staticmethod", "classmethod", "partial"],
)
def test_invokers_survive_a_dill_round_trip(tool_of, source, arguments, expected) -> None:
    tool = tool_of(source)
    copy = dill.loads(dill.dumps(tool.invoker))
    assert type(copy) is type(tool.invoker)
    result = copy(**tool.validator(arguments))
    assert (asyncio.run(result) if tool.is_async else result) == expected


def test_a_string_source_is_imported() -> None:
    assert "loads" in names(NativeLoader().load("json"))
    [tool] = NativeLoader(annotations={"read_only": True}).load("textwrap:dedent")
    assert tool.name == "dedent"
    assert tool.annotations.read_only is True
    assert run(tool, {"text": "  a\n  b"}) == "a\nb"
    with pytest.raises(ValueError, match="cannot import 'no_such_module_xyz'"):
        NativeLoader().load("no_such_module_xyz")
    with pytest.raises(ValueError, match="cannot import 'json:nope'"):
        NativeLoader().load("json:nope")
