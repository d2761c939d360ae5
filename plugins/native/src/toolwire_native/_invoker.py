"""Invokers: the small picklable callables that run a native tool wherever an executor puts it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FunctionInvoker:
    """Calls `function` with validated keyword arguments.

    The names in `positional` (positional-only parameters, and every parameter before `*args`) and the
    list under `var_positional` are passed positionally; the rest as keywords.
    """

    function: Callable[..., Any]
    positional: tuple[str, ...] = ()
    var_positional: str | None = None

    def __call__(self, **kwargs: Any) -> Any:
        args = self._split(kwargs)
        return self.function(*args, **kwargs)

    def _split(self, kwargs: dict[str, Any]) -> list[Any]:
        args = [kwargs.pop(name) for name in self.positional if name in kwargs]
        if self.var_positional is not None:
            args.extend(kwargs.pop(self.var_positional, ()))
        return args


@dataclass(frozen=True, slots=True)
class AsyncFunctionInvoker(FunctionInvoker):
    """`FunctionInvoker` for async functions: calling it returns the function's coroutine."""

    async def __call__(self, **kwargs: Any) -> Any:
        args = self._split(kwargs)
        return await self.function(*args, **kwargs)
