"""The invoker: one operation's configuration, sending a call's request over a pooled `httpx.AsyncClient`.

The client is created lazily in whichever process and event loop runs the call, and reused by every
call there (one per loop and settings); a semaphore bounds the requests in flight so that a large batch
waits on it rather than on httpx's connection pool.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import os
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from toolwire import Audio, ErrorKind, Image, Resource, Text, ToolCallError, ToolOutput

from toolwire_openapi._auth import Credentials, Scheme, Secret, Token, basic
from toolwire_openapi._request import Operation, Prepared, prepare

__all__ = ["OpenAPIInvoker", "Service", "close_clients"]

_EXCERPT = 500


@dataclass(frozen=True, slots=True)
class Service:
    """What every operation of one spec shares: where it is, how to authenticate, and request limits."""

    base_url: str | None
    schemes: Mapping[str, Scheme] = field(default_factory=dict)
    credentials: Credentials = field(default_factory=Credentials)
    headers: tuple[tuple[str, Secret], ...] = ()
    timeout: float | None = 30.0
    max_in_flight: int = 4
    max_response_bytes: int = 10 * 1024 * 1024
    verify: bool = True


class OpenAPIInvoker:
    """Sends one operation's request for a call's arguments and returns the response's value."""

    __slots__ = ("operation", "service")

    def __init__(self, operation: Operation, service: Service) -> None:
        self.operation = operation
        self.service = service

    def __repr__(self) -> str:
        return f"OpenAPIInvoker({self.operation.method} {self.operation.path})"

    def __getstate__(self) -> tuple[Operation, Service]:
        return self.operation, self.service

    def __setstate__(self, state: tuple[Operation, Service]) -> None:
        self.operation, self.service = state

    async def __call__(self, **arguments: Any) -> Any:
        operation, service = self.operation, self.service
        if service.base_url is None:
            raise ToolCallError(
                "the spec names no absolute server URL; load it with base_url=", ErrorKind.TRANSPORT
            )
        prepared = prepare(operation, arguments)
        pool = _pool(service)
        secrets = await _authenticate(operation, service, prepared, pool)
        for name, secret in service.headers:
            prepared.headers.setdefault(name, secret.value)
        if prepared.cookies:
            prepared.headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in prepared.cookies)
        request = pool.client.build_request(
            operation.method, service.base_url + prepared.target(), headers=prepared.headers,
            content=prepared.content, data=prepared.data, files=prepared.files,
        )
        where = f"{operation.method} {operation.path}"
        async with pool.in_flight:
            try:
                response = await pool.client.send(request, stream=True)
                try:
                    body = await _read(response, service.max_response_bytes, where)
                finally:
                    await response.aclose()
            except httpx.TimeoutException:
                raise ToolCallError(f"{where}: no response within {service.timeout}s", ErrorKind.TIMEOUT) from None
            except httpx.HTTPError as exc:
                message = _scrub(f"{where}: {type(exc).__name__}: {exc}", secrets, service)
                raise ToolCallError(message, ErrorKind.TRANSPORT) from None
        return _value(response, body, where, secrets, service)


@dataclass(slots=True)
class _Pool:
    client: httpx.AsyncClient
    in_flight: asyncio.Semaphore
    tokens: dict[tuple[str, str, tuple[str, ...]], Token] = field(default_factory=dict)
    token_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], _Pool]] = (
    weakref.WeakKeyDictionary()
)


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Calls are independent: a shared client must not carry one call's cookies into the next."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def _pool(service: Service) -> _Pool:
    loop = asyncio.get_running_loop()
    pools = _pools.get(loop)
    if pools is None:
        pools = _pools[loop] = {}
    key = (os.getpid(), service.timeout, service.max_in_flight, service.verify)
    pool = pools.get(key)
    if pool is None:
        limits = httpx.Limits(max_connections=service.max_in_flight, max_keepalive_connections=service.max_in_flight)
        client = httpx.AsyncClient(
            timeout=service.timeout, limits=limits, verify=service.verify, follow_redirects=True,
            cookies=http.cookiejar.CookieJar(policy=_NoCookies()), trust_env=False,
        )
        pool = pools[key] = _Pool(client, asyncio.Semaphore(service.max_in_flight))
    return pool


async def close_clients() -> None:
    """Close the clients this process opened on the running event loop."""
    pools = _pools.pop(asyncio.get_running_loop(), {})
    for pool in pools.values():
        await pool.client.aclose()


async def _authenticate(operation: Operation, service: Service, prepared: Prepared, pool: _Pool) -> list[str]:
    """Apply the first security alternative whose credentials are all available; returns the secrets used."""
    for alternative in operation.security:
        schemes = [service.schemes.get(name) for name in alternative]
        if any(scheme is None for scheme in schemes):
            continue
        values = [service.credentials.get(name) for name in alternative]
        if any(value is None for value in values):
            continue
        secrets: list[str] = []
        for scheme, value in zip(schemes, values, strict=True):
            secrets.extend(await _apply(scheme, value, prepared, pool))  # type: ignore[arg-type]
        return secrets
    return []


async def _apply(scheme: Scheme, value: str, prepared: Prepared, pool: _Pool) -> list[str]:
    from urllib.parse import quote

    if scheme.kind == "apiKey":
        if scheme.location == "query":
            prepared.query.append((quote(scheme.param, safe=""), quote(value, safe="")))
        elif scheme.location == "cookie":
            prepared.cookies.append((scheme.param, quote(value, safe="")))
        else:
            prepared.headers[scheme.param] = value
        return [value, quote(value, safe="")]
    if scheme.kind == "http" and scheme.http == "basic":
        header = basic(value)
        prepared.headers["Authorization"] = header
        return [value, header]
    if scheme.kind == "oauth2":
        token = await _token(scheme, value, pool)
        prepared.headers["Authorization"] = f"Bearer {token}"
        return [value, token]
    prepared.headers["Authorization"] = f"Bearer {value}"
    return [value]


async def _token(scheme: Scheme, credential: str, pool: _Pool) -> str:
    """An OAuth2 client-credentials access token, fetched once per process and loop until it expires."""
    key = (scheme.token_url, credential, scheme.scopes)
    async with pool.token_lock:
        cached = pool.tokens.get(key)
        if cached is not None and cached.fresh():
            return cached.value
        form = {"grant_type": "client_credentials"}
        if scheme.scopes:
            form["scope"] = " ".join(scheme.scopes)
        try:
            response = await pool.client.post(
                scheme.token_url, data=form, headers={"Authorization": basic(credential)}
            )
            payload = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError) as exc:
            raise ToolCallError(
                f"the OAuth2 token request to {scheme.token_url} failed: {type(exc).__name__}", ErrorKind.TRANSPORT
            ) from None
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str):
            raise ToolCallError(
                f"the OAuth2 token request to {scheme.token_url} failed: HTTP {response.status_code}",
                ErrorKind.TOOL_ERROR,
            )
        lifetime = payload.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
        pool.tokens[key] = Token(token, time.monotonic() + seconds)
        return token


async def _read(response: httpx.Response, limit: int, where: str) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ToolCallError(f"{where}: the response ({declared} bytes) exceeds the {limit}-byte limit")
    chunks = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ToolCallError(f"{where}: the response exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _scrub(message: str, secrets: list[str], service: Service) -> str:
    for secret in [*secrets, *(value.value for _, value in service.headers)]:
        if secret and len(secret) >= 4:
            message = message.replace(secret, "***")
    return message


_TEXT_TYPES = ("application/xml", "application/javascript", "application/yaml", "application/x-yaml",
               "application/x-www-form-urlencoded", "application/graphql")


def _value(response: httpx.Response, body: bytes, where: str, secrets: list[str], service: Service) -> Any:
    status = response.status_code
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not 200 <= status < 300:
        excerpt = body[:_EXCERPT * 4].decode(response.encoding or "utf-8", errors="replace")[:_EXCERPT]
        message = f"HTTP {status} {response.reason_phrase} from {where}" + (f": {excerpt}" if excerpt else "")
        raise ToolCallError(_scrub(message, secrets, service), ErrorKind.TOOL_ERROR)
    if response.request.method == "HEAD":
        return {"status": status, "headers": dict(response.headers)}
    if not body:
        return ToolOutput(None, (Text(f"HTTP {status} {response.reason_phrase}".strip()),))
    if media == "application/json" or media.endswith("+json") or (not media and body[:1] in (b"{", b"[")):
        try:
            return json.loads(body)
        except ValueError:
            pass
    if not media or media.startswith("text/") or media in _TEXT_TYPES or media.endswith("+xml"):
        try:
            return body.decode(response.charset_encoding or "utf-8")
        except (UnicodeDecodeError, LookupError):
            if media.startswith("text/"):
                return body.decode("utf-8", errors="replace")
    if media.startswith("image/"):
        return ToolOutput(None, (Image(body, media),))
    if media.startswith("audio/"):
        return ToolOutput(None, (Audio(body, media),))
    uri = str(response.url.copy_with(query=None))
    return ToolOutput(None, (Resource(uri, media or "application/octet-stream", data=body),))
