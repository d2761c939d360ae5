"""Configuration: `./toolwire.toml`, or `[tool.toolwire]` in `./pyproject.toml`, then `TOOLWIRE_*`.

```toml
separator = "_"              # between a namespace and a tool name

[executor]
backend = "process"          # any installed executor
workers = 4
timeout = 30                 # default seconds per call
max_calls_per_worker = 1000  # any other key is an option for the backend

[[tools]]
loader = "openapi"
source = "http://127.0.0.1:8000/openapi.json"
namespace = "svc"
```

Environment variables override single keys: `TOOLWIRE_EXECUTOR` (the backend), `TOOLWIRE_WORKERS`,
`TOOLWIRE_TIMEOUT`, `TOOLWIRE_SEPARATOR`.
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

__all__ = ["Config", "ConfigError", "load_config"]

DEFAULT_BACKEND = "process"
_TOP_KEYS = {"separator", "executor", "tools"}


class ConfigError(ValueError):
    """A configuration file or variable that cannot be used; the message names the file and key."""


@dataclass(frozen=True, slots=True)
class Config:
    """Everything a `ToolRegistry` reads from configuration."""

    executor: ExecutorConfig = field(default_factory=lambda: ExecutorConfig(DEFAULT_BACKEND))
    separator: str = "_"
    tools: tuple[Mapping[str, Any], ...] = ()
    path: Path | None = None


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the config file (`path`, else `./toolwire.toml`, else `./pyproject.toml`) and the environment."""
    environ = os.environ if environ is None else environ
    table, where = _read(Path(path) if path is not None else None)
    unknown = set(table) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key '{sorted(unknown)[0]}'; accepted: {', '.join(sorted(_TOP_KEYS))}")
    executor = dict(table.get("executor") or {})
    backend = environ.get("TOOLWIRE_EXECUTOR") or executor.pop("backend", DEFAULT_BACKEND)
    executor.pop("backend", None)
    config = ExecutorConfig(
        backend=_typed(where, "executor.backend", backend, str),
        workers=_typed(where, "executor.workers", _env_or(environ, "TOOLWIRE_WORKERS", int, executor.pop("workers", None)), int),
        timeout=_typed(where, "executor.timeout", _env_or(environ, "TOOLWIRE_TIMEOUT", float, executor.pop("timeout", 60.0)), float),
        options=executor,
    )
    separator = _typed(where, "separator", environ.get("TOOLWIRE_SEPARATOR") or table.get("separator", "_"), str)
    if not NAME_PATTERN.match(f"a{separator}b"):
        raise ConfigError(f"{where}: separator {separator!r} would make tool names invalid for providers; use '_' or '-'")
    tools = table.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(entry, dict) for entry in tools):
        raise ConfigError(f"{where}: 'tools' must be an array of tables ([[tools]])")
    return Config(config, separator, tuple(tools), where if isinstance(where, Path) else None)


def with_backend(config: Config, backend: str) -> ExecutorConfig:
    """The executor settings for `backend`: the configured options apply only to the configured backend."""
    if backend == config.executor.backend:
        return config.executor
    return replace(config.executor, backend=backend, options={})


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


def _env_or(environ: Mapping[str, str], name: str, kind: type, default: Any) -> Any:
    raw = environ.get(name)
    if raw is None or raw == "":
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
