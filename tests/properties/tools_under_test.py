"""Tools whose signatures cover the native loader's types (imported by worker processes too)."""

from __future__ import annotations

import asyncio
import base64
import datetime
import enum
import pickle
import time
from typing import Any, Literal

from pydantic import BaseModel


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Point(BaseModel):
    x: int
    y: float = 0.0
    label: str | None = None


def numbers(a: int, b: float = 1.0, flag: bool = False) -> float:
    return a + b


def text(value: str, count: int = 1) -> str:
    return value * max(0, min(count, 3))


def collections(items: list[int], mapping: dict[str, int] | None = None, pair: tuple[int, str] = (0, "")) -> int:
    return len(items) + len(mapping or {})


def choices(color: Color, mode: Literal["fast", "slow"] = "fast", when: datetime.date | None = None) -> str:
    return f"{color.value}-{mode}-{when}"


def model(point: Point, extra: dict[str, Any] | None = None) -> float:
    return point.x + point.y


def anything(data: Any = None, more: dict[str, Any] | None = None) -> str:
    return "ok"


def variadic(*values: int, **options: str) -> int:
    return sum(values) + len(options)


TOOLS = [numbers, text, collections, choices, model, anything, variadic]


class Unprintable:
    """An object whose `repr` raises (JSON writers fall back to `repr` for objects they do not know)."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class Unawaited:
    """Unpickled where the tool runs, a coroutine nobody awaited (a tool that forgot an `await`)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (unawaited, ())


def unawaited() -> Any:
    """The coroutine an `Unawaited` becomes."""
    return _later()


async def _later() -> str:
    return "awaited"


def nap(tag: str, ms: int) -> str:
    """Sleep `ms` milliseconds, then return `tag`."""
    time.sleep(ms / 1000)
    return tag


async def nap_async(tag: str, ms: int) -> str:
    """`nap`, awaiting."""
    await asyncio.sleep(ms / 1000)
    return tag


def returned(pickled: str) -> Any:
    """Return the value pickled (and base64-encoded) in `pickled`: any value a test wants a tool to return."""
    return pickle.loads(base64.b64decode(pickled))


def raised(pickled: str) -> None:
    """Raise the exception described by `pickled` (see `exception`)."""
    raise exception(pickle.loads(base64.b64decode(pickled)))


async def raised_async(pickled: str) -> None:
    """`raised`, from a coroutine."""
    raise exception(pickle.loads(base64.b64decode(pickled)))


def exception(spec: tuple[str, Any, bool, str]) -> BaseException:
    """An exception of the class named `base` (a subclass whose `__str__` raises when `unreadable`) with
    `message` as its argument; a `ToolCallError` of `kind` when `base` names it."""
    import asyncio
    import builtins

    from toolwire import ToolCallError

    base, message, unreadable, kind = spec
    if base == "ToolCallError":
        return ToolCallError(message, kind)
    cls: type[BaseException] = asyncio.CancelledError if base == "CancelledError" else vars(builtins)[base]
    if unreadable:
        cls = type(f"Unreadable{base}", (cls,), {"__str__": _no_str})
    return cls(message)


def _no_str(self: BaseException) -> str:
    raise RuntimeError("no str")
