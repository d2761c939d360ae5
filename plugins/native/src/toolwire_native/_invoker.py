"""Invokers: the small picklable callables that run a native tool wherever an executor puts it.

Process workers import this module to unpickle native tools, so it imports nothing but `sys` (no
`dataclasses`, `typing`, `inspect` or toolwire): a worker is ready a few milliseconds sooner.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class FunctionInvoker:
    """Calls `function` with validated keyword arguments.

    The names in `positional` (positional-only parameters, and every parameter before `*args`) and the
    list under `var_positional` are passed positionally; the rest as keywords.
    """

    __slots__ = ("function", "keywords_only", "positional", "var_positional")

    def __init__(self, function: Callable[..., Any], positional: tuple[str, ...] = (),
                 var_positional: str | None = None) -> None:
        self.function = function
        self.positional = positional
        self.var_positional = var_positional
        self.keywords_only = not positional and var_positional is None

    def __call__(self, **kwargs: Any) -> Any:
        return self._start(kwargs)

    def _start(self, kwargs: dict[str, Any]) -> Any:
        if self.keywords_only:
            return self.function(**kwargs)
        args = self._split(kwargs)
        return self.function(*args, **kwargs)

    def _split(self, kwargs: dict[str, Any]) -> list[Any]:
        args = [kwargs.pop(name) for name in self.positional if name in kwargs]
        if self.var_positional is not None:
            args.extend(kwargs.pop(self.var_positional, ()))
        return args

    def _fields(self) -> tuple[Any, ...]:
        return self.function, self.positional, self.var_positional

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), self._fields()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.function!r}, {self.positional!r}, {self.var_positional!r})"


class AsyncFunctionInvoker(FunctionInvoker):
    """`FunctionInvoker` for async functions: calling it returns the function's coroutine."""

    __slots__ = ()

    async def __call__(self, **kwargs: Any) -> Any:
        return await self._start(kwargs)


class GeneratorInvoker(FunctionInvoker):
    """`FunctionInvoker` for generator functions: returns the list of what the generator yields, read where
    the tool runs, so that the call's deadline covers it and any worker can send it back.

    Where a backend leaves a call past its deadline running in a thread (`toolwire.call_abandoned()`), reading
    stops at the next item: an endless generator does not go on filling memory in the background.
    """

    __slots__ = ()

    def __call__(self, **kwargs: Any) -> list[Any]:
        items = self._start(kwargs)
        executing = sys.modules.get("toolwire.executing")
        if executing is None:  # a process worker, which imports no toolwire: its worker is killed at the deadline
            return list(items)
        abandoned = executing.call_abandoned
        collected: list[Any] = []
        append = collected.append
        for item in items:
            append(item)
            if abandoned():
                items.close()
                raise TimeoutError("the call was given up on (past its deadline, or cancelled); what it yields "
                                   "is no longer read")
        return collected


class AsyncGeneratorInvoker(FunctionInvoker):
    """`GeneratorInvoker` for async generator functions: calling it returns a coroutine of the list."""

    __slots__ = ()

    async def __call__(self, **kwargs: Any) -> list[Any]:
        return [item async for item in self._start(kwargs)]
