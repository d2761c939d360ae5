"""The invoker: one operation's configuration, sending a call's request over the process's `httpx.Client`.

One pooled client per process and settings, created lazily by the first call that needs it and shared by
every thread there (httpx's sync client is thread-safe); a semaphore bounds the requests in flight, and
the client's pool is sized to match, so a large batch waits on the semaphore rather than on the pool.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx

from toolwire_openapi._client.auth import Scheme
from toolwire_openapi._client.exchange import (
    Call,
    Client,
    Invoker,
    Pool,
    Service,
    client_options,
    pool_key,
    token_failed,
    token_request,
)

__all__ = ["OpenAPIInvoker", "close_clients"]


class OpenAPIInvoker(Invoker):
    """Sends one operation's request for a call's arguments and returns the response's value."""

    __slots__ = ()

    def __call__(self, **arguments: Any) -> Any:
        call = Call(self.operation, self.service, arguments)
        pool = _pool(self.service)
        request = call.request(pool.client, {scheme.name: _token(pool, scheme, value) for scheme, value in call.tokens})
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


def _token(pool: Pool[httpx.Client], scheme: Scheme, credential: str) -> str:
    """An OAuth2 client-credentials access token, fetched once per process until it expires."""
    with pool.token_lock:
        token = pool.cached_token(scheme, credential)
        if token is None:
            try:
                response = pool.client.send(token_request(pool.client, scheme, credential))
            except httpx.HTTPError as exc:
                raise token_failed(scheme, exc) from None
            token = pool.keep_token(scheme, credential, response)
        return token


_pools: dict[tuple[Any, ...], Pool[httpx.Client]] = {}
_pools_lock = threading.Lock()


def _pool(service: Service) -> Pool[httpx.Client]:
    key = pool_key(service)
    pool = _pools.get(key)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                client = Client(**client_options(service))
                pool = _pools[key] = Pool(client, threading.BoundedSemaphore(service.max_in_flight), threading.Lock())
    return pool


def close_clients() -> None:
    """Close the clients this process opened (the next call opens a new one)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.client.close()
