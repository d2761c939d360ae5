"""A registry's execution backends: which one is the default, creating each on first use, closing them.

The default is the backend named by `ToolRegistry(executor=...)`, `TOOLWIRE_EXECUTOR` or the config file.
When none is named anywhere, it is `process` if installed, else the best installed one (said once in the
log). The default is created with the registry, so that a missing backend or an option it refuses is an
error then, naming where the setting came from, rather than at the first batch.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from toolwire.config import Config, ConfigError
from toolwire.executing import Executor, ExecutorConfig
from toolwire.plugins import Plugins, UnknownPluginError

__all__ = ["Backends"]

log = logging.getLogger("toolwire")

PREFERRED = ("process", "thread", "dask")
"""The default backend when none is named: the first of these installed (isolation first)."""
_told = False
_told_lock = threading.Lock()


class Backends:
    """The executors one registry has created, by name."""

    def __init__(self, plugins: Plugins, config: Config, executor: str | Executor | None) -> None:
        self.plugins = plugins
        self.config = config
        self.given = executor if isinstance(executor, Executor) else None
        self.created: dict[str, Executor] = {}
        self.closed = False
        self.by_argument = executor is not None
        if self.given is not None:
            self.default = self.given.name
        elif isinstance(executor, str):
            self.default = executor
        elif config.backend_named:
            self.default = config.executor.backend
        else:
            self.default = self._best_installed()

    def _best_installed(self) -> str:
        installed = self.plugins.executors()
        choice = next((name for name in PREFERRED if name in installed), None) or next(iter(sorted(installed)), None)
        if choice is None or choice == PREFERRED[0]:
            return PREFERRED[0]  # not installed at all: the first batch says what to install
        global _told
        with _told_lock:
            if not _told:
                _told = True
                log.warning("no backend named; using '%s' (the default, '%s', is not installed: pip install "
                            "toolwire-%s, or name a backend to silence this)", choice, PREFERRED[0], PREFERRED[0])
        return choice

    def create_default(self) -> None:
        """Create the default backend now; its errors name where its settings came from."""
        if self.given is not None:
            return
        named = self.by_argument or self.config.backend_named
        if self.default not in self.plugins.executors() and not named:
            return  # nothing installed and nothing asked for: the first batch says what to install
        try:
            self.get(self.default)
        except UnknownPluginError as exc:
            if self.by_argument:
                raise
            raise ConfigError(f"{self._where()}: 'executor.backend': {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self._where()}: 'executor': {exc}") from None

    def _where(self) -> str:
        return self.config.source if self.config.source != "defaults" else "environment"

    def get(self, name: str | None = None) -> Executor:
        if self.closed:
            raise RuntimeError("this ToolRegistry is closed: its backends were stopped; create a new one (or "
                               "close it after its last batch, as `with ToolRegistry(...) as registry:` does)")
        name = name or self.default
        if self.given is not None and name == self.given.name:
            return self.given
        executor = self.created.get(name)
        if executor is None:
            spec = self.plugins.get("executor", name)
            executor = self.created[name] = spec.factory(_settings(self.config, name))
        return executor

    def close(self) -> None:
        self.closed = True
        executors, self.created = list(self.created.values()), {}
        if self.given is not None:
            executors.append(self.given)
        for instance in executors:
            instance.close()


def _settings(config: Config, backend: str) -> ExecutorConfig:
    """The executor settings for `backend`: configured options apply only to the configured backend."""
    if backend == config.executor.backend:
        return config.executor
    return replace(config.executor, backend=backend, options={})
