"""The job scope that carries a call's span to wherever the call runs."""

from __future__ import annotations

from typing import Any

from opentelemetry import context, propagate

__all__ = ["TraceScope"]


class TraceScope:
    """Makes a call's span the current span around its invoker, so that spans a tool starts are its
    children. In this process (the thread backend) it attaches the span's context as it is; pickled for
    a worker (process, Dask) it travels as W3C trace context, injected when it is pickled."""

    __slots__ = ("_carrier", "_context", "_tokens")

    def __init__(self, span_context: context.Context | None = None, carrier: dict[str, str] | None = None) -> None:
        self._context = span_context
        self._carrier = carrier
        self._tokens: list[Any] = []

    def __reduce__(self) -> tuple[Any, ...]:
        carrier = self._carrier
        if carrier is None:
            carrier = {}
            propagate.inject(carrier, context=self._context)
        return (TraceScope, (None, carrier))

    def __enter__(self) -> None:
        current = self._context if self._context is not None else propagate.extract(self._carrier or {})
        self._tokens.append(context.attach(current))

    def __exit__(self, *exc_info: object) -> None:
        context.detach(self._tokens.pop())
