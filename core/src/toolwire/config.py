"""Configuration: a file given explicitly (or `TOOLWIRE_CONFIG`), else `./toolwire.toml`, else
`[tool.toolwire]` in `./pyproject.toml`; then `TOOLWIRE_*` environment variables override single keys.

```toml
separator = "_"              # between a namespace and a tool name

[executor]
backend = "process"          # any installed executor
workers = 4
timeout = 30                 # default seconds per call
max_calls_per_worker = 1000  # any other key is an option for that backend

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
```

Variables: `TOOLWIRE_EXECUTOR` (the backend), `TOOLWIRE_WORKERS`, `TOOLWIRE_TIMEOUT`,
`TOOLWIRE_SEPARATOR`, and `TOOLWIRE_EXECUTOR_<OPTION>` for any backend option (a TOML value or a string).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from toolwire.executing import ExecutorConfig
from toolwire.tools import NAME_PATTERN

__all__ = ["Config", "ConfigError", "ServeConfig", "load_config"]

DEFAULT_BACKEND = "process"
DEFAULT_TIMEOUT = 60.0
_TOP_KEYS = ("executor", "separator", "serve", "tools")
_OPTION_PREFIX = "TOOLWIRE_EXECUTOR_"


class ConfigError(ValueError):
    """A configuration file or variable that cannot be used; the message names the file and the key."""


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
    backend = environ.get("TOOLWIRE_EXECUTOR") or executor.pop("backend", DEFAULT_BACKEND)
    executor.pop("backend", None)
    workers = _env(environ, "TOOLWIRE_WORKERS", int, executor.pop("workers", None))
    timeout = _env(environ, "TOOLWIRE_TIMEOUT", float, executor.pop("timeout", DEFAULT_TIMEOUT))
    config = ExecutorConfig(
        backend=_typed(where, "executor.backend", backend, str),
        workers=_typed(where, "executor.workers", workers, int),
        timeout=_typed(where, "executor.timeout", timeout, float),
        options=executor,
    )
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
    return Config(config, separator, entries, str(where), ServeConfig(server, serve))


def with_backend(config: Config, backend: str) -> ExecutorConfig:
    """The executor settings for `backend`: configured options apply only to the configured backend."""
    if backend == config.executor.backend:
        return config.executor
    return replace(config.executor, backend=backend, options={})


def _tool_entry(where: Path | str, index: int, entry: Any, environ: Mapping[str, str]) -> dict[str, Any]:
    key = f"tools[{index}]"
    entry = _table(where, key, entry)
    if "loader" not in entry:
        raise ConfigError(f"{where}: '{key}' needs a 'loader' (the name of an installed loader)")
    _typed(where, f"{key}.loader", entry["loader"], str)
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
