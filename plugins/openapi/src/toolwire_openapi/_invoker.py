"""The invoker: one operation's configuration, sending a call's request over the process's `httpx.Client`.

One pooled client per process and settings, created lazily by the first call that needs it and shared by
every thread there (httpx's sync client is thread-safe); a semaphore bounds the requests in flight, and
the client's pool is sized to match, so a large batch waits on the semaphore rather than on the pool.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from toolwire_openapi._auth import Scheme, Token
from toolwire_openapi._exchange import (
    Call,
    Invoker,
    Service,
    TokenKey,
    client_options,
    token_failed,
    token_from,
    token_key,
    token_request,
)

__all__ = ["OpenAPIInvoker", "close_clients"]


class OpenAPIInvoker(Invoker):
    """Sends one operation's request for a call's arguments and returns the response's value."""

    __slots__ = ()

    def __call__(self, **arguments: Any) -> Any:
        call = Call(self.operation, self.service, arguments)
        pool = _pool(self.service)
        request = call.request(pool.client, {scheme.name: pool.token(scheme, value) for scheme, value in call.tokens})
        with pool.in_flight:
            try:
                response = pool.client.send(request, stream=True)
                try:
                    body = call.body(response)
                    for chunk in response.iter_bytes():
                        body.add(chunk)
                finally:
                    response.close()
            except httpx.HTTPError as exc:
                raise call.failed(exc) from None
        return call.value(response, body.content())


@dataclass(slots=True)
class _Pool:
    client: httpx.Client
    in_flight: threading.BoundedSemaphore
    tokens: dict[TokenKey, Token] = field(default_factory=dict)
    token_lock: threading.Lock = field(default_factory=threading.Lock)

    def token(self, scheme: Scheme, credential: str) -> str:
        """An OAuth2 client-credentials access token, fetched once per process until it expires."""
        key = token_key(scheme, credential)
        with self.token_lock:
            cached = self.tokens.get(key)
            if cached is None or not cached.fresh():
                try:
                    response = self.client.send(token_request(self.client, scheme, credential))
                except httpx.HTTPError as exc:
                    raise token_failed(scheme, exc) from None
                cached = self.tokens[key] = token_from(scheme, response)
            return cached.value


_pools: dict[tuple[Any, ...], _Pool] = {}
_pools_lock = threading.Lock()


def _pool(service: Service) -> _Pool:
    key = (os.getpid(), service.timeout, service.max_in_flight, service.verify)
    pool = _pools.get(key)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                client = httpx.Client(**client_options(service))
                pool = _pools[key] = _Pool(client, threading.BoundedSemaphore(service.max_in_flight))
    return pool


def close_clients() -> None:
    """Close the clients this process opened (the next call opens a new one)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.client.close()
