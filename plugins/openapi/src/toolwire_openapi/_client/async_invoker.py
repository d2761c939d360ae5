"""The async invoker: the same exchange over a pooled `httpx.AsyncClient` per process and event loop."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import httpx

from toolwire_openapi._client.auth import Scheme
from toolwire_openapi._client.exchange import (
    AsyncClient,
    Call,
    Invoker,
    Pool,
    Service,
    client_options,
    pool_key,
    token_failed,
    token_request,
)

__all__ = ["AsyncOpenAPIInvoker", "aclose_clients"]


class AsyncOpenAPIInvoker(Invoker):
    """`OpenAPIInvoker` as a coroutine: its calls share one `httpx.AsyncClient` per process and event loop."""

    __slots__ = ()

    async def __call__(self, **arguments: Any) -> Any:
        call = Call(self.operation, self.service, arguments)
        pool = _pool(self.service)
        tokens = {scheme.name: await _token(pool, scheme, value) for scheme, value in call.tokens}
        request = call.request(pool.client, tokens)
        async with pool.in_flight:
            try:
                response = await pool.client.send(request, stream=True)
                try:
                    body = call.body(response)
                    async for chunk in response.aiter_bytes():
                        body.add(chunk)
                finally:
                    await response.aclose()
            except httpx.HTTPError as exc:
                raise call.failed(exc) from None
        return call.value(response, body.content())


async def _token(pool: Pool[httpx.AsyncClient], scheme: Scheme, credential: str) -> str:
    """An OAuth2 client-credentials access token, fetched once per process and loop until it expires."""
    async with pool.token_lock:
        token = pool.cached_token(scheme, credential)
        if token is None:
            try:
                response = await pool.client.send(token_request(pool.client, scheme, credential))
            except httpx.HTTPError as exc:
                raise token_failed(scheme, exc) from None
            token = pool.keep_token(scheme, credential, response)
        return token


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], Pool[httpx.AsyncClient]]] = (
    weakref.WeakKeyDictionary()
)


def _pool(service: Service) -> Pool[httpx.AsyncClient]:
    pools = _pools.setdefault(asyncio.get_running_loop(), {})
    key = pool_key(service)
    pool = pools.get(key)
    if pool is None:
        client = AsyncClient(**client_options(service, asynchronous=True))
        pool = pools[key] = Pool(client, asyncio.Semaphore(service.max_in_flight), asyncio.Lock())
    return pool


async def aclose_clients() -> None:
    """Close the async clients this process opened on the running event loop."""
    for pool in _pools.pop(asyncio.get_running_loop(), {}).values():
        await pool.client.aclose()
