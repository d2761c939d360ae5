"""What the sync and async invokers share: the request a call sends and the value its response gives.

Everything here is free of I/O; the invokers only send requests (the call's, and an OAuth2 token request
when a token is not cached) and read bodies, each over its own kind of httpx client.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from toolwire import Audio, ErrorKind, Image, Resource, Text, ToolCallError, ToolOutput
from toolwire.executing import outgoing_headers

from toolwire_openapi._client.auth import Credentials, Scheme, Secret, Token, basic
from toolwire_openapi._client.origins import Origins, origin, same_origin
from toolwire_openapi._client.redaction import redact, remember
from toolwire_openapi._client.request import Operation, Prepared, prepare
from toolwire_openapi._client.transport import StdlibTransport

__all__ = ["AsyncClient", "Call", "Client", "Invoker", "Pool", "Service", "client_options", "pool_key", "token_failed",
           "token_request"]

_EXCERPT = 500
_KINDS = {408: ErrorKind.TIMEOUT, 504: ErrorKind.TIMEOUT, 502: ErrorKind.TRANSPORT, 503: ErrorKind.TRANSPORT}
"""Failing statuses that say the service did not answer in time or could not be reached (decision 0053): a retry
policy may run such a call again; any other status is the tool's error."""
_SENT_FOR = "toolwire_openapi.sent_for"
"""The request extension naming the origin a call's secret headers are for, and those headers."""


@dataclass(frozen=True, slots=True)
class Service:
    """What every operation of one spec shares: where it is, how to authenticate, and request limits."""

    base_url: str
    schemes: Mapping[str, Scheme] = field(default_factory=dict)
    credentials: Credentials = field(default_factory=Credentials)
    headers: tuple[tuple[str, Secret], ...] = ()
    timeout: float | None = 30.0
    max_in_flight: int = 16
    max_response_bytes: int = 10 * 1024 * 1024
    verify: bool = True
    trusted: bool = True
    """Whether `base_url` may receive `credentials` and `headers` (`origins`); calls go without them if not."""
    origins: Origins = field(default_factory=Origins)
    """Where the credentials may go: the base URL's origin and those the user trusts (OAuth2 token URLs)."""

    def has_secrets(self) -> bool:
        """Whether the loader was given credentials or headers for this service."""
        credentials = self.credentials
        return bool(self.headers or credentials.given or credentials.variables or credentials.default)


class Invoker:
    """What the sync and async invokers hold: one operation and its service, configuration only."""

    __slots__ = ("operation", "service")

    def __init__(self, operation: Operation, service: Service) -> None:
        self.operation = operation
        self.service = service

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.operation.method} {self.operation.path})"

    def __getstate__(self) -> tuple[Operation, Service]:
        return self.operation, self.service

    def __setstate__(self, state: tuple[Operation, Service]) -> None:
        self.operation, self.service = state

    if TYPE_CHECKING:  # each subclass calls the operation, sync or async

        def __call__(self, **arguments: Any) -> Any: ...


class _NoCookies(httpx.Cookies):
    """Calls are independent: a shared client must not carry one call's cookies into the next. This store keeps
    none and reads no `Set-Cookie` (httpx's own builds urllib request and response stand-ins for every response to
    read them into its jar, 10-20% of a call's client CPU)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


class _Cookieless:
    """An httpx client whose cookie store is `_NoCookies` (httpx copies a store it is given into one of its own)."""

    _no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        return None


class Client(_Cookieless, httpx.Client):
    """The sync invoker's pooled client: httpx's, keeping no cookies."""


class AsyncClient(_Cookieless, httpx.AsyncClient):
    """The async invoker's pooled client: httpx's, keeping no cookies."""


def client_options(service: Service, *, asynchronous: bool = False) -> dict[str, Any]:
    """Keyword arguments for the `Client` (or `AsyncClient`) that sends `service`'s calls.

    Redirects are followed, but a hop to another origin leaves the call's secret headers behind (httpx
    itself drops only `Authorization`).
    """
    size = service.max_in_flight
    options: dict[str, Any] = {
        "timeout": service.timeout, "follow_redirects": True, "trust_env": False,
        "event_hooks": {"request": [_aleave_secrets if asynchronous else _leave_secrets]},
    }
    if asynchronous:
        options.update(verify=service.verify, limits=httpx.Limits(max_connections=size, max_keepalive_connections=size))
    else:
        options["transport"] = StdlibTransport(verify=service.verify, max_idle=size)
    return options


def _leave_secrets(request: httpx.Request) -> None:
    """Drop the secret headers of a request (a redirect hop) that is not going to their origin."""
    sent_for = request.extensions.get(_SENT_FOR)
    if sent_for is not None and not same_origin(request.url, sent_for[0]):
        for name in sent_for[1]:
            request.headers.pop(name, None)


async def _aleave_secrets(request: httpx.Request) -> None:
    _leave_secrets(request)


def pool_key(service: Service) -> tuple[Any, ...]:
    """Which of a process's pooled clients sends `service`'s calls: one per set of client settings."""
    return os.getpid(), service.timeout, service.max_in_flight, service.verify


ClientT = TypeVar("ClientT", httpx.Client, httpx.AsyncClient)


@dataclass(slots=True)
class Pool(Generic[ClientT]):
    """A pooled client, the semaphore bounding its requests in flight, and the OAuth2 tokens it got.

    The sync and async invokers each keep theirs (per process; per process and event loop) and fetch a
    token under their own kind of lock: `cached_token`, and `keep_token` once one is fetched.
    """

    client: ClientT
    in_flight: Any
    token_lock: Any
    tokens: dict[TokenKey, Token] = field(default_factory=dict)

    def cached_token(self, scheme: Scheme, credential: str) -> str | None:
        """The access token fetched for these client credentials, while it is fresh."""
        cached = self.tokens.get(_token_key(scheme, credential))
        return cached.value if cached is not None and cached.fresh() else None

    def keep_token(self, scheme: Scheme, credential: str, response: httpx.Response) -> str:
        """The access token in a (read) token response, cached; a `tool_error` naming its status if none."""
        token = self.tokens[_token_key(scheme, credential)] = _token_from(scheme, response)
        return token.value


class Call:
    """One call's exchange: its request, its credentials, and its response turned into a value or an error.

    `tokens` lists the OAuth2 schemes (with their client credentials) that need an access token; the
    invoker gets each one (cached, or through `token_request`) and passes them to `request`.
    """

    __slots__ = ("chosen", "operation", "prepared", "secrets", "service", "tokens", "where")

    def __init__(self, operation: Operation, service: Service, arguments: Mapping[str, Any]) -> None:
        self.operation, self.service = operation, service
        self.where = f"{operation.method} {operation.path}"
        try:
            self.prepared = prepare(operation, arguments)
        except UnicodeEncodeError as exc:
            raise self._unsendable(exc) from None
        self.chosen = _chosen(operation, service) if service.trusted else []
        self.tokens = [(scheme, value) for scheme, value in self.chosen if scheme.kind == "oauth2"]
        for scheme, _ in self.tokens:
            if not service.origins.allows(scheme.token_url):
                raise ToolCallError(
                    f"{self.where}: the OAuth2 token URL {scheme.token_url} is on another origin than the one the "
                    f"credentials were given for; load with trusted_origins=[{scheme.token_url!r}] to send them there"
                )
        self.secrets: list[str] = []

    def request(self, client: httpx.Client | httpx.AsyncClient, tokens: Mapping[str, str]) -> httpx.Request:
        """The call's request, with credentials applied (`tokens`: OAuth2 scheme name -> access token)."""
        prepared, service = self.prepared, self.service
        secret_headers: list[str] = []
        for scheme, value in self.chosen:
            self.secrets.extend(_apply(scheme, value, tokens.get(scheme.name), prepared))
            if _header_of(scheme):
                secret_headers.append(_header_of(scheme))
        if service.trusted:
            for name, secret in service.headers:
                prepared.headers.setdefault(name, secret.value)
                secret_headers.append(name)
                self.secrets.append(secret.value)
        if prepared.cookies:
            prepared.headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in prepared.cookies)
        outgoing = outgoing_headers.get()
        if outgoing is not None:  # the call's trace context, from a tracing plugin
            for name, value in outgoing().items():
                prepared.headers.setdefault(name, value)
        if self.secrets:
            remember(self.secrets)
        extensions = None
        if secret_headers:
            extensions = {_SENT_FOR: (origin(service.base_url), tuple(secret_headers))}
        try:
            return client.build_request(
                self.operation.method, service.base_url + prepared.target(),
                headers=prepared.headers, content=prepared.content, data=prepared.data, files=prepared.files,
                extensions=extensions,
            )
        except UnicodeEncodeError as exc:
            raise self._unsendable(exc) from None

    def _unsendable(self, exc: UnicodeEncodeError) -> ToolCallError:
        """The error of arguments with text HTTP cannot carry (lone surrogates, from a model's broken escape)."""
        return ToolCallError(f"{self.where}: the arguments cannot be sent ({exc}); send valid Unicode text",
                             ErrorKind.INVALID_ARGUMENTS)

    def body(self, response: httpx.Response) -> Body:
        """A collector for `response`'s body, up to the size limit; a declared length over it is refused now."""
        limit = self.service.max_response_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ToolCallError(f"{self.where}: the response ({declared} bytes) exceeds the {limit}-byte limit")
        return Body(limit, f"{self.where}: the response exceeds the {limit}-byte limit")

    def failed(self, exc: httpx.HTTPError) -> ToolCallError:
        """The error for a request that got no response: `timeout` or `transport`, secrets scrubbed."""
        if isinstance(exc, httpx.TimeoutException):
            return ToolCallError(f"{self.where}: no response within {self.service.timeout}s", ErrorKind.TIMEOUT)
        return ToolCallError(self._scrub(f"{self.where}: {type(exc).__name__}: {exc}"), ErrorKind.TRANSPORT)

    def value(self, response: httpx.Response, body: bytes) -> Any:
        """The call's value: JSON, text or a content block; a non-2xx status is an error (`_KINDS`)."""
        status = response.status_code
        media = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not 200 <= status < 300:
            excerpt = _excerpt(body[:_EXCERPT * 4], response.encoding)[:_EXCERPT]
            message = f"HTTP {status} {response.reason_phrase} from {self.where}" + (f": {excerpt}" if excerpt else "")
            if status in (401, 403) and not self.service.trusted and self.service.has_secrets():
                message += (f" (the auth and headers given to the loader were not sent: {self.service.base_url} is "
                            "on another origin than the spec; load with base_url= or trusted_origins= to send them)")
            wait = _retry_after(response.headers.get("retry-after"))
            if wait is not None:
                message += f" (the service asks to wait {wait:g} s before trying again)"
            raise ToolCallError(self._scrub(message), _KINDS.get(status, ErrorKind.TOOL_ERROR), retry_after=wait)
        if response.request.method == "HEAD":
            return {"status": status, "headers": dict(response.headers)}
        if not body:
            return ToolOutput(None, (Text(f"HTTP {status} {response.reason_phrase}".strip()),))
        return _decoded(response, body, media)

    def _scrub(self, message: str) -> str:
        return redact(message, [*self.secrets, *(value.value for _, value in self.service.headers)])


def _header_of(scheme: Scheme) -> str:
    """The header a scheme's credential travels in (`Cookie` for an API key in a cookie; "" in the query)."""
    if scheme.kind == "apiKey":
        return {"query": "", "cookie": "Cookie"}.get(scheme.location, scheme.param)
    return "Authorization"


def _chosen(operation: Operation, service: Service) -> list[tuple[Scheme, str]]:
    """The first security alternative whose schemes are known and credentials all available, with them."""
    for alternative in operation.security:
        schemes = [service.schemes.get(name) for name in alternative]
        values = [service.credentials.get(name) for name in alternative]
        if all(scheme is not None for scheme in schemes) and all(value is not None for value in values):
            return list(zip(schemes, values, strict=True))  # type: ignore[arg-type]
    return []


def _apply(scheme: Scheme, value: str, token: str | None, prepared: Prepared) -> list[str]:
    """Put one scheme's credential on the request; returns the secrets it exposed there."""
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
        prepared.headers["Authorization"] = f"Bearer {token}"
        return [value, token or ""]
    prepared.headers["Authorization"] = f"Bearer {value}"
    return [value]


TokenKey = tuple[str, str, tuple[str, ...]]


def _token_key(scheme: Scheme, credential: str) -> TokenKey:
    """Where a pool caches the access token for these client credentials."""
    return scheme.token_url, credential, scheme.scopes


def token_request(client: httpx.Client | httpx.AsyncClient, scheme: Scheme, credential: str) -> httpx.Request:
    """The OAuth2 client-credentials token request."""
    form = {"grant_type": "client_credentials"}
    if scheme.scopes:
        form["scope"] = " ".join(scheme.scopes)
    return client.build_request("POST", scheme.token_url, data=form, headers={"Authorization": basic(credential)})


def token_failed(scheme: Scheme, exc: Exception) -> ToolCallError:
    """The error for a token request that got no usable response (no secret in it)."""
    return ToolCallError(f"the OAuth2 token request to {scheme.token_url} failed: {type(exc).__name__}",
                         ErrorKind.TRANSPORT)


def _token_from(scheme: Scheme, response: httpx.Response) -> Token:
    """The access token in a (read) token response, or a `tool_error` naming its status."""
    try:
        payload = response.json() if response.status_code == 200 else {}
    except ValueError as exc:
        raise token_failed(scheme, exc) from None
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not isinstance(token, str):
        raise ToolCallError(f"the OAuth2 token request to {scheme.token_url} failed: HTTP {response.status_code}",
                            ErrorKind.TOOL_ERROR)
    lifetime = payload.get("expires_in")
    seconds = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
    return Token(token, time.monotonic() + seconds)


_TEXT_TYPES = ("application/xml", "application/javascript", "application/yaml", "application/x-yaml",
               "application/x-www-form-urlencoded", "application/graphql")


def _retry_after(value: str | None) -> float | None:
    """The seconds a `Retry-After` header asks to wait (a number of seconds, or an HTTP date); None without one or
    for one that is neither. Written here: httpx does not read it, and the rule is two lines of the RFC."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, round((when - datetime.datetime.now(datetime.UTC)).total_seconds(), 3))


def _excerpt(body: bytes, encoding: str | None) -> str:
    """The start of an error response as text, in its charset when Python has that as a text encoding."""
    try:
        return body.decode(encoding or "utf-8", errors="replace")
    except LookupError:  # a codec that is not a text encoding ("rot13", "hex")
        return body.decode("utf-8", errors="replace")


def _decoded(response: httpx.Response, body: bytes, media: str) -> Any:
    if media == "application/json" or media.endswith("+json") or (not media and body[:1] in (b"{", b"[")):
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python reads: passed on as it is
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


class Body:
    """A response body read in chunks, refused once it passes `limit` bytes (by the sync and async invokers)."""

    __slots__ = ("_chunks", "_limit", "_message", "_size")

    def __init__(self, limit: int, message: str) -> None:
        self._chunks: list[bytes] = []
        self._limit, self._message, self._size = limit, message, 0

    def add(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            raise ToolCallError(self._message)
        self._chunks.append(chunk)

    def content(self) -> bytes:
        return b"".join(self._chunks)
