"""`ToolRegistry`: register tools, hand their schemas to a provider, execute the model's calls."""

from __future__ import annotations

import asyncio
import builtins
import contextvars
import fnmatch
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar, overload

import pydantic_core

from toolwire._sources import LoadedSource, ToolChanges, differs
from toolwire._validation import SchemaValidator
from toolwire.config import Config, ConfigError, load_config, with_backend
from toolwire.executing import Executor, Job, Outcome
from toolwire.formats import Dialect, omit_strict_nulls, parse_calls
from toolwire.formats import _builtin as builtin_formats
from toolwire.hookspecs import Batch, hookimpl
from toolwire.names import safe_name
from toolwire.plugins import Plugins, UnknownPluginError
from toolwire.serving import Server
from toolwire.tools import ErrorKind, Tool, ToolCall, ToolError, ToolOutput, ToolResult

__all__ = ["ToolRegistry"]

_T = TypeVar("_T")
log = logging.getLogger("toolwire")
_caller_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "toolwire_caller_loop", default=None
)


class ToolRegistry:
    """A set of tools and the backend that runs them.

    ```python
    registry = ToolRegistry(executor="thread")

    @registry.register
    def add(a: int, b: int) -> int:
        return a + b

    registry.schemas(format="openai-chat")
    results = registry.execute_tool_calls(response.choices[0].message.tool_calls)
    ```
    """

    def __init__(
        self,
        executor: str | Executor | None = None,
        *,
        config: Config | None = None,
        separator: str | None = None,
        plugins: Plugins | None = None,
    ) -> None:
        self.config = config if config is not None else load_config()
        self.separator = separator if separator is not None else self.config.separator
        self.plugins = plugins if plugins is not None else Plugins()
        self.plugins.register(builtin_formats, name="toolwire.formats", distribution="toolwire-core")
        self.plugins.register(_BatchRunner(self), name="toolwire.execute", distribution="toolwire-core")
        self._given_executor = executor if isinstance(executor, Executor) else None
        if self._given_executor is not None:
            self._default_executor = self._given_executor.name
        else:
            self._default_executor = executor or self.config.executor.backend  # type: ignore[assignment]
        self._executors: dict[str, Executor] = {}
        self._tools: dict[str, Tool] = {}
        self._sources: list[LoadedSource] = []
        self._change_callbacks: list[Callable[[ToolChanges], None]] = []
        self._lock = threading.Lock()
        self._dialects: dict[str, Dialect] = {}

    @classmethod
    def from_config(cls, path: str | Path | None = None, **kwargs: Any) -> ToolRegistry:
        """A registry built from a config file: its backend, and the tools its `[[tools]]` declare.

        Errors name the file, the key and what would be accepted.
        """
        config = load_config(path)
        registry = cls(config=config, **kwargs)
        try:
            if registry._given_executor is None:
                try:
                    registry.executor()  # created now, so that its options are checked against the file
                except UnknownPluginError as exc:
                    raise ConfigError(f"{config.source}: 'executor.backend': {exc}") from None
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"{config.source}: 'executor': {exc}") from None
            for index, entry in enumerate(config.tools):
                options = dict(entry)
                loader = options.pop("loader")
                try:
                    registry.load(loader, options.pop("source", None), **options)
                except (LookupError, TypeError, ValueError) as exc:
                    raise ConfigError(f"{config.source}: 'tools[{index}]': {exc}") from exc
        except BaseException:
            registry.close()
            raise
        return registry

    # -- registering -------------------------------------------------------------------------------

    @overload
    def register(self, obj: _T, /, **options: Any) -> _T: ...
    @overload
    def register(self, obj: None = None, /, **options: Any) -> Callable[[_T], _T]: ...

    def register(self, obj: Any = None, /, *, loader: str | None = None, **options: Any) -> Any:
        """Register a function, async function, class, instance or module (plain call or decorator).

        The loader is detected from `obj` unless named; other keywords are `load`'s.
        """
        if obj is None:
            return lambda target: self.register(target, loader=loader, **options)
        name = loader or self.plugins.hook.toolwire_detect_loader(source=obj)
        if name is None:
            raise TypeError(f"no installed loader recognises {obj!r}; name one with loader=")
        self.load(name, obj, **options)
        return obj

    def load(
        self,
        loader: str,
        source: Any = None,
        /,
        *,
        namespace: str | None = None,
        include: str | Iterable[str] | None = None,
        exclude: str | Iterable[str] | None = None,
        tags: Iterable[str] = (),
        replace: bool = False,
        **options: Any,
    ) -> list[Tool]:
        """Load tools from `source` with the named loader; `options` go to the loader's factory.

        `include`/`exclude` are glob patterns on tool names; `tags` are added to every tool. A loader
        that takes its source as an option (`load("mcp", command=[...])`) gets `source=None`.
        """
        instance = self.plugins.get("loader", loader).factory(**options)
        tools = [t for t in instance.load(source) if _selected(t.name, include, exclude)]
        added = self.add(tools, namespace=namespace, tags=tags, replace=replace)
        loaded = LoadedSource(instance, namespace, include, exclude, frozenset(tags), [t.name for t in added])
        self._sources.append(loaded)
        subscribe = getattr(instance, "subscribe", None)
        if subscribe is not None:  # the source announces changes (MCP's tools/list_changed)
            loaded.unsubscribe = subscribe(lambda listed: self._replace_tools(loaded, listed, announced=True))
        return added

    def add(
        self,
        tools: Tool | Iterable[Tool],
        *,
        namespace: str | None = None,
        tags: Iterable[str] = (),
        replace: bool = False,
    ) -> list[Tool]:
        """Add ready-made `Tool`s, namespaced; a name already taken is an error unless `replace`."""
        batch = [tools] if isinstance(tools, Tool) else list(tools)
        added = [self._namespaced(tool, namespace, frozenset(tags)) for tool in batch]
        names = [tool.name for tool in added]
        duplicates = {n for n in names if names.count(n) > 1}
        taken = [] if replace else [n for n in names if n in self._tools]
        if duplicates or taken:
            clash = sorted(duplicates or taken)[0]
            raise ValueError(f"a tool named '{clash}' is already registered; pass replace=True to replace it")
        for tool in added:
            self._tools[tool.name] = tool
        return added

    def _namespaced(self, tool: Tool, namespace: str | None, tags: frozenset[str]) -> Tool:
        name = f"{namespace}{self.separator}{tool.name}" if namespace else tool.name
        validator = tool.validator or SchemaValidator(tool.parameters)
        return replace(tool, name=safe_name(name), namespace=namespace or tool.namespace,
                       tags=tool.tags | tags, validator=validator)

    def unregister(self, name: str | None = None, *, namespace: str | None = None) -> list[str]:
        """Remove one tool by name, or every tool of a namespace; returns the names removed."""
        removed = [t.name for t in self._select(name, namespace, None)]
        for key in removed:
            del self._tools[key]
        return removed

    def enable(
        self, name: str | None = None, *, namespace: str | None = None, tag: str | None = None
    ) -> None:
        """Enable tools by name, namespace or tag."""
        for tool in self._select(name, namespace, tag):
            tool.enabled = True

    def disable(
        self, name: str | None = None, *, namespace: str | None = None, tag: str | None = None
    ) -> None:
        """Disable tools by name, namespace or tag: they leave the schemas and their calls fail `disabled`."""
        for tool in self._select(name, namespace, tag):
            tool.enabled = False

    def refresh(self) -> ToolChanges:
        """List the tools of every source that can be listed again (MCP servers...) and apply the changes.

        Returns the names added, removed and changed; callbacks given to `on_tools_changed` hear of them too.
        """
        changes = ToolChanges()
        for loaded in list(self._sources):
            refresh = getattr(loaded.loader, "refresh", None)
            if refresh is not None:
                changes += self._replace_tools(loaded, refresh(), announced=False)
        self._announce(changes)
        return changes

    def on_tools_changed(self, callback: Callable[[ToolChanges], None]) -> Callable[[], None]:
        """Call `callback(changes)` whenever tools are added, removed or changed by a source or a refresh.

        A source that announces changes itself calls it from a background thread. Returns an unsubscribe.
        """
        self._change_callbacks.append(callback)
        return lambda: self._change_callbacks.remove(callback)

    def _replace_tools(self, loaded: LoadedSource, listed: Iterable[Tool], *, announced: bool) -> ToolChanges:
        with self._lock:
            fresh = {
                tool.name: tool
                for tool in (self._namespaced(t, loaded.namespace, loaded.tags) for t in listed
                             if _selected(t.name, loaded.include, loaded.exclude))
            }
            previous = {name for name in loaded.names if name in self._tools}  # minus any unregistered since
            taken = {name for name in fresh if name not in previous and name in self._tools}
            if taken:
                log.warning("tools %s from %s not added: the names are taken", sorted(taken), loaded.loader)
            changes = ToolChanges(
                added=tuple(sorted(name for name in fresh if name not in previous and name not in taken)),
                removed=tuple(sorted(previous - set(fresh))),
                changed=tuple(sorted(n for n in fresh if n in previous and differs(self._tools[n], fresh[n]))),
            )
            for name in changes.removed:
                self._tools.pop(name, None)
            for name in (*changes.added, *changes.changed):
                if name in previous:
                    fresh[name].enabled = self._tools[name].enabled
                self._tools[name] = fresh[name]
            loaded.names = [name for name in fresh if name not in taken]
        if announced:
            self._announce(changes)
        return changes

    def _announce(self, changes: ToolChanges) -> None:
        if changes:
            log.info("tools changed: %s", changes)
            for callback in list(self._change_callbacks):
                callback(changes)

    def _select(self, name: str | None, namespace: str | None, tag: str | None) -> list[Tool]:
        if name is None and namespace is None and tag is None:
            raise TypeError("name, namespace or tag is required")
        if name is not None and name not in self._tools:
            raise KeyError(f"no tool named '{name}'")
        return [
            tool for tool in self._tools.values()
            if (name is None or tool.name == name)
            and (namespace is None or tool.namespace == namespace)
            and (tag is None or tag in tool.tags)
        ]

    # -- reading -----------------------------------------------------------------------------------

    def get(self, name: str) -> Tool:
        """The tool named `name` (KeyError if none)."""
        try:
            return self._tools[name]
        except KeyError:
            raise KeyError(f"no tool named '{name}'") from None

    def list(self, *, enabled: bool | None = None) -> list[Tool]:
        """The tools, sorted by name; `enabled=True` keeps only enabled ones."""
        return [t for _, t in sorted(self._tools.items()) if enabled is None or t.enabled is enabled]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._tools)

    def dialect(self, format: str) -> Dialect:
        """The dialect installed under `format`."""
        if format not in self._dialects:
            self._dialects[format] = self.plugins.get("format", format).factory()
        return self._dialects[format]

    def schemas(self, format: str = "openai-chat", *, strict: bool = False) -> builtins.list[dict[str, Any]]:
        """The enabled tools' declarations in a provider's request shape, sorted by name."""
        return self.dialect(format).schemas(self.list(enabled=True), strict=strict)

    # -- executing ---------------------------------------------------------------------------------

    def execute_tool_calls(
        self, calls: Any, *, executor: str | None = None, timeout: float | None = None
    ) -> builtins.list[ToolResult]:
        """Execute a batch of tool calls in any provider's shape; one `ToolResult` per call, in order.

        `timeout` is each call's deadline in seconds (default: the backend's configured timeout).
        A failing call is that call's error result; this never raises for one call's sake.
        """
        batch = Batch(parse_calls(calls, self._all_dialects()), executor or self._default_executor, timeout)
        return self.plugins.hook.toolwire_execute(batch=batch)

    async def aexecute_tool_calls(
        self, calls: Any, *, executor: str | None = None, timeout: float | None = None
    ) -> builtins.list[ToolResult]:
        """`execute_tool_calls` for async code: the backend's `arun` runs on the caller's loop."""
        token = _caller_loop.set(asyncio.get_running_loop())
        try:
            return await asyncio.to_thread(self.execute_tool_calls, calls, executor=executor, timeout=timeout)
        finally:
            _caller_loop.reset(token)

    def parse_calls(self, calls: Any) -> builtins.list[ToolCall]:
        """The `ToolCall`s in `calls`, in any installed provider's shape (what `execute_tool_calls` runs)."""
        return parse_calls(calls, self._all_dialects())

    def tool_messages(
        self, calls: Any, results: Sequence[ToolResult], format: str = "openai-chat", **options: Any
    ) -> builtins.list[Any]:
        """What goes back to the model for `results`, in the provider's shape."""
        parsed = parse_calls(calls, self._all_dialects())
        return self.dialect(format).tool_messages(parsed, results, **options)

    def executor(self, name: str | None = None) -> Executor:
        """The backend named `name` (default: the registry's), created on first use."""
        name = name or self._default_executor
        if self._given_executor is not None and name == self._given_executor.name:
            return self._given_executor
        if name not in self._executors:
            spec = self.plugins.get("executor", name)
            self._executors[name] = spec.factory(with_backend(self.config, name))
        return self._executors[name]

    def serve(self, server: str | None = None, /, **options: Any) -> None:
        """Serve this registry's tools with the named server (`"mcp"`, `"http"`...) until interrupted.

        `server` and `options` default to the config's `[serve]` table; keywords given here win.
        """
        self._server(server, options).run()

    async def aserve(self, server: str | None = None, /, **options: Any) -> None:
        """`serve` on the running event loop: serves until cancelled."""
        await self._server(server, options).arun()

    def _server(self, name: str | None, options: dict[str, Any]) -> Server:
        configured = self.config.serve
        name = name or configured.server
        if name is None:
            servers = ", ".join(sorted(self.plugins.servers())) or "none"
            raise TypeError(f"name a server (installed: {servers}), or set [serve] server = ... in toolwire.toml")
        if name == configured.server or configured.server is None:
            options = {**configured.options, **options}
        return self.plugins.get("server", name).factory(self, **options)

    def warm(self, executor: str | None = None) -> None:
        """Start the backend's workers now rather than at the first batch."""
        self.executor(executor).warm()

    def close(self) -> None:
        """Close every backend and loader this registry opened."""
        executors, self._executors = list(self._executors.values()), {}
        if self._given_executor is not None:
            executors.append(self._given_executor)
        for instance in executors:
            instance.close()
        sources, self._sources = self._sources, []
        for loaded in sources:
            if loaded.unsubscribe is not None:
                loaded.unsubscribe()
            close = getattr(loaded.loader, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> ToolRegistry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> ToolRegistry:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.close)

    def _all_dialects(self) -> builtins.list[Dialect]:
        return [self.dialect(name) for name in self.plugins.formats()]

    # -- one batch ---------------------------------------------------------------------------------

    def _prepare(self, calls: Sequence[ToolCall], timeout: float | None, default_timeout: float | None
                 ) -> tuple[builtins.list[ToolResult | None], builtins.list[tuple[int, Job]]]:
        results: builtins.list[ToolResult | None] = [None] * len(calls)
        jobs: builtins.list[tuple[int, Job]] = []
        seconds = timeout if timeout is not None else default_timeout
        deadline = None if seconds is None else time.monotonic() + seconds
        for index, call in enumerate(calls):
            job_or_error = self._job(call, deadline)
            if isinstance(job_or_error, Job):
                jobs.append((index, job_or_error))
            else:
                results[index] = _error_result(call, job_or_error)
        return results, jobs

    def _job(self, call: ToolCall, deadline: float | None) -> Job | ToolError:
        if not call.name:
            return ToolError(ErrorKind.INVALID_ARGUMENTS, f"the call has no tool name: {call.arguments!s}")
        tool = self._tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self._tools)[:20]) or "none"
            return ToolError(ErrorKind.UNKNOWN_TOOL, f"no tool named '{call.name}'; available: {known}")
        if not tool.enabled:
            return ToolError(ErrorKind.DISABLED, f"the tool '{call.name}' is disabled")
        if isinstance(call.arguments, str):
            return ToolError(
                ErrorKind.INVALID_ARGUMENTS,
                f"the arguments for '{call.name}' must be a JSON object, got: {call.arguments[:200]}",
            )
        arguments = call.arguments
        if _contains_null(arguments):  # strict-mode models send null for the optional values they omit
            arguments = omit_strict_nulls(tool.parameters, arguments)
        try:
            arguments = tool.validator(arguments) if tool.validator else dict(arguments)
        except ValueError as exc:
            return ToolError(ErrorKind.INVALID_ARGUMENTS, f"invalid arguments for '{call.name}': {exc}")
        return Job(call.id, tool, arguments, deadline)


class _BatchRunner:
    """toolwire's own `toolwire_execute`: the innermost implementation, which runs the batch."""

    def __init__(self, registry: ToolRegistry) -> None:
        self.registry = registry

    @hookimpl(trylast=True)
    def toolwire_execute(self, batch: Batch) -> list[ToolResult]:
        registry = self.registry
        executor = registry.executor(batch.executor)
        results, jobs = registry._prepare(batch.calls, batch.timeout, registry.config.executor.timeout)
        if jobs:
            outcomes = _run(executor, [job for _, job in jobs])
            for (index, job), outcome in zip(jobs, outcomes, strict=True):
                results[index] = _result(batch.calls[index], job, outcome)
        batch.results = results  # type: ignore[assignment]
        return batch.results


def _run(executor: Executor, jobs: list[Job]) -> list[Outcome]:
    loop = _caller_loop.get()
    if loop is None:
        return executor.run(jobs)
    return asyncio.run_coroutine_threadsafe(executor.arun(jobs), loop).result()


def _result(call: ToolCall, job: Job, outcome: Outcome) -> ToolResult:
    error = outcome.error
    if error is not None:
        return ToolResult(call.id, call.name, None, error.message, True, error, outcome.duration_s)
    value = outcome.value
    if isinstance(value, ToolOutput):
        content = value.content or _text(value.value)
        return ToolResult(call.id, call.name, value.value, content, False, None, outcome.duration_s)
    return ToolResult(call.id, call.name, value, _text(value), False, None, outcome.duration_s)


def _error_result(call: ToolCall, error: ToolError) -> ToolResult:
    return ToolResult(call.id, call.name, None, error.message, True, error, 0.0)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return pydantic_core.to_json(value, fallback=repr).decode()


def _contains_null(arguments: dict[str, Any] | list[Any]) -> bool:
    """Whether a null appears anywhere in the arguments (a plain loop: this runs for every call)."""
    for value in arguments.values() if isinstance(arguments, dict) else arguments:
        if value is None or (isinstance(value, (dict, list)) and _contains_null(value)):
            return True
    return False


def _selected(name: str, include: str | Iterable[str] | None, exclude: str | Iterable[str] | None) -> bool:
    def matches(patterns: str | Iterable[str]) -> bool:
        patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)

    return (include is None or matches(include)) and (exclude is None or not matches(exclude))
