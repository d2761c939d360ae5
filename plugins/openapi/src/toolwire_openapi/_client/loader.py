"""`OpenAPILoader`: a spec (URL, file, dict or service base URL) in, one tool per operation out."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import httpx
from toolwire import Tool
from toolwire.executing import check_timeout

from toolwire_openapi._client.auth import DEFAULT_ENV_PREFIX, Credentials, Secret
from toolwire_openapi._client.document import read
from toolwire_openapi._client.operations import build_tools
from toolwire_openapi._client.origins import Origins, parse_origin
from toolwire_openapi._client.selection import METHODS, Selection

if TYPE_CHECKING:
    from toolwire_openapi._client.exchange import Invoker

__all__ = ["OpenAPILoader"]


class OpenAPILoader:
    """Loads every operation of an OpenAPI 3.0/3.1 or Swagger 2.0 spec as a tool.

    ```python
    registry.load("openapi", "https://api.example.com/openapi.json", namespace="shop",
                  auth={"bearerAuth": {"env": "SHOP_TOKEN"}}, only_tags=["orders"])
    ```

    `base_url` replaces the spec's server URL (needed when a spec read from a file or a dict names a
    relative one). `auth` is one credential for every scheme, or a mapping of security-scheme name to
    credential (a string, a `(user, password)` or `(client_id, client_secret)` pair, or
    `{"env": "VARIABLE"}`); a scheme without one reads `TOOLWIRE_OPENAPI_<SCHEME>`. `headers` go with
    every request (a value may be `{"env": "VARIABLE"}`, read when the loader is made). `auth` and
    `headers` go only to the origin they were given for: for a spec loaded from
    a URL, that URL's origin and `base_url`'s; `trusted_origins` names more (a spec's servers or OAuth2
    token URL on another host). A spec read from a file or a dict is trusted with them wherever its
    servers are. `operations`, `only_tags`, `paths` and `methods` keep only the matching operations (globs
    on operationId and path), `exclude_*` drop them; filters that leave none are an error. Larger
    responses than `max_response_bytes` are refused.

    `client="sync"` (the default) sends each call from the thread that runs it over one `httpx.Client` per
    process: the least client CPU per call, with as many requests in flight as the backend runs sync calls
    at once (the thread backend's `workers`; one per worker process). `client="async"` makes the tools
    async, over one `httpx.AsyncClient` per process and event loop, so a whole batch can be in flight:
    the pick for many calls at once to a high-latency API, above all on the process backend.
    `max_in_flight` (default 16) bounds the requests one client sends at once and sizes its pool.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        auth: Any = None,
        headers: Mapping[str, str | Mapping[str, str]] | None = None,
        timeout: float | None = 30.0,
        operations: str | Iterable[str] | None = None,
        exclude_operations: str | Iterable[str] = (),
        only_tags: str | Iterable[str] | None = None,
        exclude_tags: str | Iterable[str] = (),
        paths: str | Iterable[str] | None = None,
        exclude_paths: str | Iterable[str] = (),
        methods: str | Iterable[str] | None = None,
        server_variables: Mapping[str, str] | None = None,
        max_in_flight: int = 16,
        client: str = "sync",
        max_response_bytes: int = 10 * 1024 * 1024,
        verify: bool = True,
        env_prefix: str = DEFAULT_ENV_PREFIX,
        trusted_origins: str | Iterable[str] = (),
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if client not in ("sync", "async"):
            raise ValueError(f"client is 'sync' or 'async', not {client!r}")
        unknown = [m for m in _strings(methods) or () if m.lower() not in METHODS]
        if unknown:
            raise ValueError(f"unknown HTTP method(s): {', '.join(unknown)}")
        self.base_url = base_url
        self.trusted_origins = _strings(trusted_origins) or ()
        for text in (*self.trusted_origins, *([base_url] if base_url else [])):
            parse_origin(text)
        self.headers = _header_values(headers)
        self.timeout = timeout = check_timeout(timeout)
        self.verify = verify
        self.client = client
        self.server_variables = dict(server_variables or {})
        self.selection = Selection(
            operations=_strings(operations), exclude_operations=_strings(exclude_operations) or (),
            tags=_strings(only_tags), exclude_tags=_strings(exclude_tags) or (),
            paths=_strings(paths), exclude_paths=_strings(exclude_paths) or (),
            methods=tuple(m.lower() for m in _strings(methods) or ()) if methods is not None else None,
        )
        self._service = {
            "credentials": Credentials.from_option(auth, env_prefix),
            "headers": tuple((name, Secret(str(value))) for name, value in self.headers.items()),
            "timeout": timeout,
            "max_in_flight": max_in_flight,
            "max_response_bytes": max_response_bytes,
            "verify": verify,
        }

    def __repr__(self) -> str:
        return f"OpenAPILoader(base_url={self.base_url!r})"

    def load(self, source: Any) -> list[Tool]:
        """The tools of the spec at `source`: a URL, a file path, a dict or a service's base URL."""
        from_url = isinstance(source, str) and source.startswith(("http://", "https://"))
        given_for = Origins.of([source if from_url else None, self.base_url, *self.trusted_origins])

        def leave_headers(request: httpx.Request) -> None:  # on redirects and $refs to other origins
            if not given_for.allows(request.url):
                for name in self.headers:
                    request.headers.pop(name, None)

        invoker: type[Invoker]
        if self.client == "async":
            from toolwire_openapi._client.async_invoker import AsyncOpenAPIInvoker as invoker
        else:
            from toolwire_openapi._client.invoker import OpenAPIInvoker as invoker
        with httpx.Client(headers=self.headers, timeout=self.timeout, verify=self.verify, follow_redirects=True,
                          event_hooks={"request": [leave_headers]}) as client:  # open while $refs are followed
            document = read(source, client=client)
            return build_tools(document, selection=self.selection, base_url=self.base_url,
                               server_variables=self.server_variables, service=self._service, invoker=invoker,
                               origins=given_for if from_url else Origins())


def _strings(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


def _header_values(headers: Mapping[str, Any] | None) -> dict[str, str]:
    """The headers to send: strings as given, `{"env": "VARIABLE"}` read from the environment now."""
    values = {}
    for name, value in (headers or {}).items():
        if isinstance(value, Mapping) and set(value) == {"env"} and isinstance(value["env"], str):
            if value["env"] not in os.environ:
                raise LookupError(f"the environment variable {value['env']} (for the {name!r} header) is not set")
            value = os.environ[value["env"]]
        elif not isinstance(value, str):
            raise TypeError(f"the header {name!r} must be a string or {{'env': 'VARIABLE'}}, "
                            f"not {type(value).__name__}")
        values[name] = value
    return values
