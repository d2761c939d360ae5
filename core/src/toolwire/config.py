"""Configuration: a file given explicitly (or `TOOLWIRE_CONFIG`), else `./toolwire.toml`, else
`[tool.toolwire]` in `./pyproject.toml`; then `TOOLWIRE_*` environment variables override single keys.

```toml
separator = "_"              # between a namespace and a tool name

[executor]
backend = "process"          # any installed executor
workers = 4
timeout = 30                 # default seconds per call (inf: no deadline)
max_calls_per_worker = 1000  # any other key is an option for that backend

[policy]
ordering = "annotated"       # read-only calls in parallel, the others in order; or "parallel", "sequential"
max_result_chars = 100000    # content for the model is cut with a note; the value stays whole

[[policy.tools]]             # every matching table applies: match (a glob on names), tag, namespace, source
match = "fs_*"
requires_approval = true
max_concurrency = 1          # calls of the matched tools running at once, over every batch
rate = "5/s"                 # calls started per second (or /min, /h), a token bucket
retries = 2                  # for read-only or idempotent tools: transport, timeout and crashed failures
timeout = 120                # seconds each call of the matched tools may take, instead of the batch's

[serve]
server = "mcp"               # `toolwire serve` without a name serves with this one
transport = "streamable-http"
host = "127.0.0.1"
port = 8765
token_env = "TOOLWIRE_SERVE_TOKEN"   # required when host is not a loopback address

[[tools]]
loader = "openapi"           # any installed loader
source = "http://127.0.0.1:8000/openapi.json"
namespace = "svc"
headers = { Authorization = { env = "SVC_TOKEN" } }   # secrets: by environment variable name
optional = true              # if it cannot be loaded at start, go on without it (a warning says why)
```

Variables: `TOOLWIRE_EXECUTOR` (the backend), `TOOLWIRE_WORKERS`, `TOOLWIRE_TIMEOUT`,
`TOOLWIRE_SEPARATOR`, and `TOOLWIRE_EXECUTOR_<OPTION>` for any backend option (a TOML value or a string).
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolwire.executing import ExecutorConfig
from toolwire.tools import NAME_PATTERN, Tool

__all__ = [
    "Config", "ConfigError", "PolicyConfig", "ServeConfig", "ToolPolicy", "load_config", "policy_config",
    "rate_per_second", "tool_policy",
]

DEFAULT_BACKEND = "process"
DEFAULT_TIMEOUT = 60.0
_TOP_KEYS = ("executor", "policy", "separator", "serve", "tools")
_POLICY_KEYS = ("max_result_chars", "ordering", "tools")
_SELECTORS = ("match", "tag", "namespace", "source", "read_only", "destructive", "idempotent", "open_world")
_SETTINGS = ("requires_approval", "max_concurrency", "rate", "retries", "timeout")
ORDERINGS = ("annotated", "parallel", "sequential")
DEFAULT_MAX_RESULT_CHARS = 100_000
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_PER_SECONDS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0,
                "hour": 3600.0}
_OPTION_PREFIX = "TOOLWIRE_EXECUTOR_"


class ConfigError(ValueError):
    """A configuration file or variable that cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class ToolPolicy:
    """Settings for the tools a `[[policy.tools]]` table (or `register(..., requires_approval=True)`) matches.

    A tool matches when it passes every selector given: `match` (a glob on its name), `tag`, `namespace`,
    `source` (a glob on where it was loaded from), an annotation (`destructive = true`, `read_only`,
    `idempotent`, `open_world`), `names` (exact names). `max_concurrency` and `rate` are shared by every
    tool the table matches. `timeout` is each call's allowance in seconds (`inf`: none) in place of the
    batch's; with several, the shortest holds.
    """

    match: str | None = None
    tag: str | None = None
    namespace: str | None = None
    source: str | None = None
    read_only: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    open_world: bool | None = None
    names: tuple[str, ...] = ()
    requires_approval: bool | None = None
    max_concurrency: int | None = None
    rate: str | None = None
    retries: int | None = None
    timeout: float | None = None

    def matches(self, tool: Tool) -> bool:
        """Whether this table applies to `tool`."""
        return (
            (self.match is None or fnmatch.fnmatchcase(tool.name, self.match))
            and (self.tag is None or self.tag in tool.tags)
            and (self.namespace is None or tool.namespace == self.namespace)
            and (self.source is None or fnmatch.fnmatchcase(tool.source.detail, self.source))
            and (not self.names or tool.name in self.names)
            and all(wanted is None or getattr(tool.annotations, key) is wanted
                    for key, wanted in (("read_only", self.read_only), ("destructive", self.destructive),
                                        ("idempotent", self.idempotent), ("open_world", self.open_world)))
        )


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """The `[policy]` table: how a batch's calls are ordered, how much of a result the model gets, and the
    per-tool tables."""

    ordering: str = "annotated"
    max_result_chars: int | None = DEFAULT_MAX_RESULT_CHARS
    tools: tuple[ToolPolicy, ...] = ()

    def needs_approval(self, tool: Tool) -> bool:
        """Whether the built-in approval policy holds `tool`'s calls for approval (a table matching it says so):
        for a framework that asks before it calls a tool."""
        return any(table.requires_approval and table.matches(tool) for table in self.tools)


def rate_per_second(rate: str) -> tuple[float, float]:
    """`"5/s"` -> `(5.0, 1.0)`: how many calls, per how many seconds. Raises `ValueError` if malformed."""
    found = _RATE.match(rate)
    if found is None or float(found.group(1)) <= 0:
        raise ValueError(f"rate {rate!r} is not of the form '5/s', '30/min' or '100/h' (a positive count)")
    return float(found.group(1)), _PER_SECONDS[found.group(2)]


def tool_policy(settings: Mapping[str, Any], where: str = "policy") -> ToolPolicy:
    """A `ToolPolicy` from a table or keywords, checked: errors name the key and what it accepts."""
    accepted = (*_SELECTORS, *_SETTINGS)
    for key in settings:
        if key not in accepted and key != "names":
            raise ValueError(f"unknown key '{where}.{key}'; accepted: {', '.join(accepted)}")
    checks: dict[str, tuple[type, Any]] = {
        "match": (str, None), "tag": (str, None), "namespace": (str, None), "source": (str, None),
        "read_only": (bool, None), "destructive": (bool, None), "idempotent": (bool, None),
        "open_world": (bool, None),
        "requires_approval": (bool, None), "max_concurrency": (int, 1), "rate": (str, None), "retries": (int, 0),
    }
    for key, (kind, minimum) in checks.items():
        value = settings.get(key)
        if value is None:
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"'{where}.{key}' must be {kind.__name__}, got {type(value).__name__} {value!r}")
        if minimum is not None and value < minimum:
            raise ValueError(f"'{where}.{key}' must be at least {minimum}, got {value}")
    names = settings.get("names")
    if names is not None and (not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names)):
        raise ValueError(f"'{where}.names' must be a list of tool names, got {names!r}")
    if settings.get("rate") is not None:
        try:
            rate_per_second(settings["rate"])
        except ValueError as exc:
            raise ValueError(f"'{where}.rate': {exc}") from None
    timeout = settings.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0):
        raise ValueError(f"'{where}.timeout' must be a number of seconds above 0 (or inf for no limit), got "
                         f"{type(timeout).__name__} {timeout!r}")
    checked: dict[str, Any] = {key: (tuple(v) if key == "names" else v) for key, v in settings.items()}
    return ToolPolicy(**checked)


def policy_config(table: Mapping[str, Any], where: str = "policy") -> PolicyConfig:
    """A `PolicyConfig` from a `[policy]` table (or the same keys as keywords), checked."""
    for key in table:
        if key not in _POLICY_KEYS:
            raise ValueError(f"unknown key '{where}.{key}'; accepted: {', '.join(_POLICY_KEYS)}")
    ordering = table.get("ordering", "annotated")
    if ordering not in ORDERINGS:
        raise ValueError(f"'{where}.ordering' must be one of {', '.join(ORDERINGS)}, got {ordering!r}")
    cap = table.get("max_result_chars", DEFAULT_MAX_RESULT_CHARS)
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise ValueError(f"'{where}.max_result_chars' must be a positive integer, got {cap!r}")
    tools = table.get("tools", [])
    if not isinstance(tools, list | tuple):
        raise ValueError(f"'{where}.tools' must be an array of tables, not {type(tools).__name__}")
    policies = []
    for index, entry in enumerate(tools):
        if isinstance(entry, ToolPolicy):
            policies.append(entry)
            continue
        if not isinstance(entry, Mapping):
            raise ValueError(f"'{where}.tools[{index}]' must be a table, got {type(entry).__name__}")
        policies.append(tool_policy(entry, f"{where}.tools[{index}]"))
    return PolicyConfig(ordering, cap, tuple(policies))


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """The `[serve]` table: the server to use by default and the options it gets."""

    server: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Config:
    """Everything a `ToolRegistry` reads from configuration."""

    executor: ExecutorConfig = field(default_factory=lambda: ExecutorConfig(DEFAULT_BACKEND))
    separator: str = "_"
    tools: tuple[Mapping[str, Any], ...] = ()
    source: str = "defaults"
    """Where the settings came from: a file path, or "defaults"."""
    serve: ServeConfig = field(default_factory=ServeConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    backend_named: bool = True
    """Whether `executor.backend` was chosen (in code, a file or the environment) rather than defaulted:
    `load_config` says False when nothing named it, and the best installed backend is used instead."""


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the configuration file and the environment into a `Config`."""
    environ = os.environ if environ is None else environ
    if path is None and environ.get("TOOLWIRE_CONFIG"):
        path = environ["TOOLWIRE_CONFIG"]
    table, where = _read(Path(path) if path is not None else None)
    _known(where, "", table, _TOP_KEYS)
    executor = dict(_table(where, "executor", table.get("executor", {})))
    for name, raw in environ.items():
        if name.startswith(_OPTION_PREFIX) and raw:
            executor[name[len(_OPTION_PREFIX):].lower()] = _scalar(raw)
    backend_named = bool(environ.get("TOOLWIRE_EXECUTOR")) or "backend" in executor
    backend = environ.get("TOOLWIRE_EXECUTOR") or executor.pop("backend", DEFAULT_BACKEND)
    executor.pop("backend", None)
    workers = _env(environ, "TOOLWIRE_WORKERS", int, executor.pop("workers", None))
    timeout = _env(environ, "TOOLWIRE_TIMEOUT", float, executor.pop("timeout", DEFAULT_TIMEOUT))
    try:
        config = ExecutorConfig(
            backend=_typed(where, "executor.backend", backend, str),
            workers=_typed(where, "executor.workers", workers, int),
            timeout=_typed(where, "executor.timeout", timeout, float),
            options=executor,
        )
    except ValueError as exc:  # a timeout of 0 or less, or nan
        raise ConfigError(f"{where}: 'executor.timeout': {exc}") from None
    separator = environ.get("TOOLWIRE_SEPARATOR") or table.get("separator", "_")
    separator = _typed(where, "separator", separator, str)
    if not NAME_PATTERN.match(f"a{separator}b"):
        raise ConfigError(f"{where}: 'separator' {separator!r} would make tool names invalid; use '_' or '-'")
    tools = table.get("tools", [])
    if not isinstance(tools, list):
        raise ConfigError(f"{where}: 'tools' must be an array of tables, not {type(tools).__name__}")
    entries = tuple(_tool_entry(where, index, entry, environ) for index, entry in enumerate(tools))
    serve = dict(_table(where, "serve", table.get("serve", {})))
    server = _typed(where, "serve.server", serve.pop("server", None), str)
    try:
        policy = policy_config(_table(where, "policy", table.get("policy", {})))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return Config(config, separator, entries, str(where), ServeConfig(server, serve), policy, backend_named)


def _tool_entry(where: Path | str, index: int, entry: Any, environ: Mapping[str, str]) -> dict[str, Any]:
    key = f"tools[{index}]"
    entry = _table(where, key, entry)
    if "loader" not in entry:
        raise ConfigError(f"{where}: '{key}' needs a 'loader', the name of an installed loader: \"native\" for "
                          "Python functions, \"openapi\", \"mcp\"... (`toolwire plugins` lists them)")
    _typed(where, f"{key}.loader", entry["loader"], str)
    if not isinstance(entry.get("optional", False), bool):
        raise ConfigError(f"{where}: '{key}.optional' must be true or false, got {entry['optional']!r}")
    return {name: _resolve_env(where, f"{key}.{name}", value, environ) for name, value in entry.items()}


def _resolve_env(where: Path | str, key: str, value: Any, environ: Mapping[str, str]) -> Any:
    """Replace `{ env = "NAME" }` tables by the variable's value, so secrets never sit in the file."""
    if isinstance(value, dict):
        if set(value) == {"env"}:
            name = value["env"]
            if name not in environ:
                raise ConfigError(f"{where}: '{key}' refers to environment variable {name}, which is not set")
            return environ[name]
        return {k: _resolve_env(where, f"{key}.{k}", v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(where, f"{key}[{i}]", v, environ) for i, v in enumerate(value)]
    return value


def _read(path: Path | None) -> tuple[dict[str, Any], Path | str]:
    if path is not None:
        return _parse(path, tool_table=path.name == "pyproject.toml"), path
    for candidate, tool_table in ((Path("toolwire.toml"), False), (Path("pyproject.toml"), True)):
        if candidate.is_file():
            table = _parse(candidate, tool_table)
            if table or not tool_table:
                return table, candidate
    return {}, "defaults"


def _parse(path: Path, tool_table: bool) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return data.get("tool", {}).get("toolwire", {}) if tool_table else data


def _known(where: Path | str, prefix: str, table: Mapping[str, Any], accepted: tuple[str, ...]) -> None:
    for key in table:
        if key not in accepted:
            raise ConfigError(f"{where}: unknown key '{prefix}{key}'; accepted: {', '.join(accepted)}")


def _table(where: Path | str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: '{key}' must be a table, got {type(value).__name__} {value!r}")
    return value


def _scalar(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env(environ: Mapping[str, str], name: str, kind: type, default: Any) -> Any:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"environment: {name}={raw!r} is not a valid {kind.__name__}") from None


def _typed(where: Path | str, key: str, value: Any, kind: type) -> Any:
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"{where}: '{key}' must be {kind.__name__}, got {type(value).__name__} {value!r}")
    return value
