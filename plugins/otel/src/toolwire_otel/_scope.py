"""The job scope that carries a call's span to wherever the call runs."""

from __future__ import annotations

from typing import Any

from opentelemetry import context, propagate
from toolwire.executing import outgoing_headers

__all__ = ["TraceScope"]


class TraceScope:
    """Makes a call's span the current span around its invoker, so that spans a tool starts are its
    children, and its W3C trace context the headers of the requests the call makes (`outgoing_headers`), so
    that the services it calls continue its trace. In this process (the thread backend) it attaches the span's
    context as it is; pickled for a worker (process, Dask) it travels as W3C trace context, injected when it is
    pickled."""

    __slots__ = ("_carrier", "_context", "_tokens")

    def __init__(self, span_context: context.Context | None = None, carrier: dict[str, str] | None = None) -> None:
        self._context = span_context
        self._carrier = carrier
        self._tokens: list[Any] = []

    def __reduce__(self) -> tuple[Any, ...]:
        return (TraceScope, (None, self.headers()))

    def headers(self) -> dict[str, str]:
        """The span's W3C trace context (`traceparent`, `tracestate`), as request headers."""
        if self._carrier is None:
            carrier: dict[str, str] = {}
            propagate.inject(carrier, context=self._context)
            self._carrier = carrier
        return self._carrier

    def __enter__(self) -> None:
        current = self._context if self._context is not None else propagate.extract(self._carrier or {})
        self._tokens.append((context.attach(current), outgoing_headers.set(self.headers)))

    def __exit__(self, *exc_info: object) -> None:
        attached, headers = self._tokens.pop()
        outgoing_headers.reset(headers)
        context.detach(attached)
