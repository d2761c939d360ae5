"""The async invoker: the same exchange over a pooled `httpx.AsyncClient` per process and event loop."""

from __future__ import annotations

import asyncio
import os
import weakref
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

__all__ = ["AsyncOpenAPIInvoker", "aclose_clients"]


class AsyncOpenAPIInvoker(Invoker):
    """`OpenAPIInvoker` as a coroutine: its calls share one `httpx.AsyncClient` per process and event loop."""

    __slots__ = ()

    async def __call__(self, **arguments: Any) -> Any:
        call = Call(self.operation, self.service, arguments)
        pool = _pool(self.service)
        tokens = {scheme.name: await pool.token(scheme, value) for scheme, value in call.tokens}
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


@dataclass(slots=True)
class _Pool:
    client: httpx.AsyncClient
    in_flight: asyncio.Semaphore
    tokens: dict[TokenKey, Token] = field(default_factory=dict)
    token_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def token(self, scheme: Scheme, credential: str) -> str:
        """An OAuth2 client-credentials access token, fetched once per process and loop until it expires."""
        key = token_key(scheme, credential)
        async with self.token_lock:
            cached = self.tokens.get(key)
            if cached is None or not cached.fresh():
                try:
                    response = await self.client.send(token_request(self.client, scheme, credential))
                except httpx.HTTPError as exc:
                    raise token_failed(scheme, exc) from None
                cached = self.tokens[key] = token_from(scheme, response)
            return cached.value


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], _Pool]] = (
    weakref.WeakKeyDictionary()
)


def _pool(service: Service) -> _Pool:
    pools = _pools.setdefault(asyncio.get_running_loop(), {})
    key = (os.getpid(), service.timeout, service.max_in_flight, service.verify)
    pool = pools.get(key)
    if pool is None:
        client = httpx.AsyncClient(**client_options(service))
        pool = pools[key] = _Pool(client, asyncio.Semaphore(service.max_in_flight))
    return pool


async def aclose_clients() -> None:
    """Close the async clients this process opened on the running event loop."""
    for pool in _pools.pop(asyncio.get_running_loop(), {}).values():
        await pool.client.aclose()
