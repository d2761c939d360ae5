"""Security schemes and the credentials that satisfy them.

Credentials come from the loader's `auth=` option (a value, or `{"env": "NAME"}` to read a variable when
the call runs) or, for a scheme not named there, from the variable `TOOLWIRE_OPENAPI_<SCHEME>` (the
scheme's name upper-cased, non-alphanumerics as `_`). They are read in the process that sends the
request, kept out of schemas and `repr`s, and scrubbed from error messages.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Credentials", "Scheme", "Secret", "schemes_from"]

DEFAULT_ENV_PREFIX = "TOOLWIRE_OPENAPI_"


class Secret:
    """A credential value that never shows itself in a `repr` or a log line."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __getstate__(self) -> str:
        return self.value

    def __setstate__(self, state: str) -> None:
        self.value = state


@dataclass(frozen=True, slots=True)
class Scheme:
    """One entry of `securitySchemes` (or Swagger 2.0 `securityDefinitions`), as far as requests need."""

    name: str
    kind: str  # apiKey, http, oauth2
    location: str = "header"  # apiKey: header, query or cookie
    param: str = ""  # apiKey: the header, query or cookie name
    http: str = ""  # http: bearer or basic
    token_url: str = ""  # oauth2 client credentials
    scopes: tuple[str, ...] = ()


def schemes_from(document: Mapping[str, Any], base_uri: str) -> dict[str, Scheme]:
    """The schemes a spec declares that toolwire can apply (others are left out)."""
    from urllib.parse import urljoin

    declared = document.get("securityDefinitions") or (document.get("components") or {}).get("securitySchemes")
    schemes: dict[str, Scheme] = {}
    for name, spec in (declared or {}).items():
        if not isinstance(spec, Mapping):
            continue
        kind = spec.get("type")
        if kind == "apiKey":
            schemes[name] = Scheme(name, "apiKey", spec.get("in", "header"), spec.get("name", ""))
        elif kind == "http":
            schemes[name] = Scheme(name, "http", http=str(spec.get("scheme", "")).lower())
        elif kind == "basic":  # Swagger 2.0
            schemes[name] = Scheme(name, "http", http="basic")
        elif kind == "oauth2":
            flows = spec.get("flows") or {}
            flow = flows.get("clientCredentials")
            if flow is None and spec.get("flow") == "application":  # Swagger 2.0
                flow = spec
            if isinstance(flow, Mapping) and flow.get("tokenUrl"):
                scopes = tuple(flow.get("scopes") or ())
                schemes[name] = Scheme(name, "oauth2", token_url=urljoin(base_uri, flow["tokenUrl"]),
                                       scopes=scopes)
    return schemes


@dataclass(frozen=True, slots=True)
class Credentials:
    """Where each scheme's credential comes from: given values, named variables, or the default variable."""

    given: Mapping[str, Secret] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)
    default: Secret | None = None
    env_prefix: str = DEFAULT_ENV_PREFIX

    @classmethod
    def from_option(cls, auth: Any, env_prefix: str = DEFAULT_ENV_PREFIX) -> Credentials:
        """From `auth=`: one credential for every scheme, or a mapping of scheme name to credential."""
        if auth is None:
            return cls(env_prefix=env_prefix)
        if not isinstance(auth, Mapping) or set(auth) == {"env"}:
            secret, variable = _one(auth)
            return cls(default=secret, variables={"*": variable} if variable else {}, env_prefix=env_prefix)
        given: dict[str, Secret] = {}
        variables: dict[str, str] = {}
        for scheme, value in auth.items():
            secret, variable = _one(value)
            if secret is not None:
                given[scheme] = secret
            if variable:
                variables[scheme] = variable
        return cls(given, variables, env_prefix=env_prefix)

    def get(self, scheme: str) -> str | None:
        """The credential for `scheme` in this process, or None when there is none."""
        if scheme in self.given:
            return self.given[scheme].value
        variable = self.variables.get(scheme) or self.variables.get("*")
        if variable:
            return os.environ.get(variable)
        if self.default is not None:
            return self.default.value
        return os.environ.get(self.env_prefix + re.sub(r"[^A-Za-z0-9]", "_", scheme).upper())


def _one(value: Any) -> tuple[Secret | None, str | None]:
    if isinstance(value, Mapping):
        if set(value) != {"env"} or not isinstance(value["env"], str):
            raise ValueError("a credential is a string, a (user, password) pair or {'env': 'VARIABLE'}")
        return None, value["env"]
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ValueError("a credential pair is (user, password) or (client_id, client_secret)")
        return Secret(f"{value[0]}:{value[1]}"), None
    if isinstance(value, Secret):
        return value, None
    return Secret(str(value)), None


def basic(credential: str) -> str:
    """The `Authorization` value for a `user:password` credential."""
    return "Basic " + base64.b64encode(credential.encode()).decode()


@dataclass(slots=True)
class Token:
    """An OAuth2 access token cached in one process until shortly before it expires."""

    value: str
    expires_at: float

    def fresh(self) -> bool:
        return time.monotonic() < self.expires_at - 30
