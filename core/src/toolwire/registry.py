"""`ToolRegistry`: register tools, hand their schemas to a provider, execute the model's calls."""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextvars
import dataclasses
import difflib
import inspect
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

from toolwire._backends import Backends
from toolwire._catalog import Catalog, selected
from toolwire._collector import collector_held
from toolwire._scheduling import caller_loop
from toolwire._sources import LoadedSource, ToolChanges
from toolwire.batches import Answerer, Approval, Approver, Batch
from toolwire.config import Config, ConfigError, load_config, policy_config, tool_policy
from toolwire.executing import Executor
from toolwire.formats import Dialect, Strictness, dialect_of, parse_calls, schema_problem
from toolwire.plugins import Plugins
from toolwire.serving import Server
from toolwire.tools import Tool, ToolCall, ToolResult

__all__ = ["ToolRegistry"]

_T = TypeVar("_T")
log = logging.getLogger("toolwire")
_POLICY_KEYWORDS = ("requires_approval", "max_concurrency", "rate", "retries")
_BATCH_THREADS = 256
"""Batches awaited from async code at once (each waits in a thread of its own, not the loop's default pool,
which a framework or the executors' own async paths may fill: batches waiting there could starve them)."""
_batch_pool: concurrent.futures.ThreadPoolExecutor | None = None
_batch_pool_lock = threading.Lock()


def _size(calls: Any) -> int:
    """How many calls `calls` holds, when it is a list (a provider's response object counts as 0)."""
    return len(calls) if isinstance(calls, list | tuple) else 0


def _batch_threads() -> concurrent.futures.ThreadPoolExecutor:
    global _batch_pool
    with _batch_pool_lock:
        if _batch_pool is None:
            _batch_pool = concurrent.futures.ThreadPoolExecutor(_BATCH_THREADS, thread_name_prefix="toolwire-batch")
        return _batch_pool


def _forget_batch_threads() -> None:  # a forked child has none of its parent's threads
    global _batch_pool, _batch_pool_lock
    _batch_pool, _batch_pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_batch_threads)

class ToolRegistry:
    """A set of tools, the backend that runs them, and the policies that hold on every backend.

    ```python
    registry = ToolRegistry(executor="thread")

    @registry.register
    def add(a: int, b: int) -> int:
        return a + b

    registry.schemas(format="openai-chat")
    results = registry.execute_tool_calls(response.choices[0].message.tool_calls)
    ```

    `approve` answers, a batch at a time, the calls that need approval; `answer`, what tools ask their user
    before they can finish (`input_required`), and those calls run again with the answers; `ordering` and
    `max_result_chars` override the config's `[policy]` table (see `toolwire.config.PolicyConfig`).
    """

    def __init__(
        self,
        executor: str | Executor | None = None,
        *,
        config: Config | None = None,
        separator: str | None = None,
        plugins: Plugins | None = None,
        approve: Approver | None = None,
        answer: Answerer | None = None,
        ordering: str | None = None,
        max_result_chars: int | None = None,
    ) -> None:
        self.config = config if config is not None else load_config()
        self.separator = separator if separator is not None else self.config.separator
        overrides = {key: value for key, value in (("ordering", ordering), ("max_result_chars", max_result_chars))
                     if value is not None}
        self.policy = self.config.policy
        """The policies in force: the config's `[policy]` table, keywords, and per-tool settings added since."""
        if overrides:
            self.policy = policy_config({"ordering": self.policy.ordering, "max_result_chars":
                                         self.policy.max_result_chars, "tools": list(self.policy.tools),
                                         **overrides})
        self.approve = approve
        self.answer = answer
        self.plugins = plugins if plugins is not None else Plugins()
        self._catalog = Catalog(self.separator)
        self._backends = Backends(self.plugins, self.config, executor)
        self._dialects: dict[str, Dialect] = {}
        self._backends.create_default()

    @classmethod
    def from_config(
        cls, path: str | Path | None = None, *, on_loading: Callable[[int, Mapping[str, Any]], None] | None = None,
        **kwargs: Any,
    ) -> ToolRegistry:
        """A registry built from a config file: its backend, policies, and the tools its `[[tools]]` declare.

        Errors name the file, the key and what would be accepted. An entry with `optional = true` that cannot
        be loaded (its server does not answer, its spec cannot be fetched or read) is left out with a warning
        instead. `on_loading(index, entry)` hears of each `[[tools]]` entry as its loading starts (starting a
        server can take seconds: show progress).
        """
        config = load_config(path)
        registry = cls(config=config, **kwargs)
        try:
            for index, entry in enumerate(config.tools):
                if on_loading is not None:
                    on_loading(index, entry)
                options = dict(entry)
                loader = options.pop("loader")
                optional = options.pop("optional", False)
                where = f"{config.source}: 'tools[{index}]'"
                try:
                    registry.load(loader, options.pop("source", None), **options)
                except (LookupError, TypeError) as exc:
                    raise ConfigError(f"{where}: {exc}") from exc
                except (OSError, ValueError) as exc:  # unreachable, unreadable: `optional` may start without it
                    if optional:
                        log.warning("%s is left out (optional): %s", where, exc)
                        continue
                    if isinstance(exc, ConnectionError):
                        raise ConnectionError(f"{where}: {exc} (or set optional = true on the entry to start "
                                              "without it)") from exc
                    raise ConfigError(f"{where}: {exc}") from exc
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
        that takes its source as an option (`load("mcp", command=[...])`) gets `source=None`. The policy
        keywords `requires_approval`, `max_concurrency`, `rate` and `retries` apply to the tools loaded.
        """
        settings = {key: options.pop(key) for key in _POLICY_KEYWORDS if key in options}
        policy = tool_policy(settings, "load") if settings else None
        spec = self.plugins.get("loader", loader)
        try:
            instance = spec.factory(**options)
        except TypeError as exc:
            raise TypeError(_option_problem(loader, exc, options) or str(exc)) from exc
        listed = instance.load(source)
        tools = [t for t in listed if selected(t.name, include, exclude)]
        if listed and not tools:
            log.warning("include=%r / exclude=%r left none of the %d tools %s loaded (%s)", include, exclude,
                        len(listed), loader, ", ".join(sorted(t.name for t in listed)[:10]))
        added = self._add(tools, namespace=namespace, tags=frozenset(tags), replace=replace)
        self._catalog.track(LoadedSource(instance, namespace, include, exclude, frozenset(tags),
                                         [t.name for t in added]))
        if policy is not None and added:
            self.add_policy(dataclasses.replace(policy, names=tuple(t.name for t in added)))
        return added

    def add(
        self,
        tools: Tool | Iterable[Tool],
        *,
        namespace: str | None = None,
        tags: Iterable[str] = (),
        replace: bool = False,
    ) -> list[Tool]:
        """Add ready-made `Tool`s, namespaced; a name already taken is an error unless `replace`, and so are
        parameters that are not valid JSON Schema (a provider refuses a request holding one, with every tool)."""
        batch = [tools] if isinstance(tools, Tool) else list(tools)
        for tool in batch:  # loaders check the schemas they did not make themselves
            problem = schema_problem(tool.parameters)
            if problem is not None:
                raise ValueError(f"the parameters of the tool '{tool.name}' are not valid JSON Schema ({problem}): a "
                                 "model provider would refuse every request listing it, with every other tool; "
                                 "fix its schema")
        return self._add(batch, namespace=namespace, tags=frozenset(tags), replace=replace)

    def _add(self, tools: Iterable[Tool], *, namespace: str | None, tags: frozenset[str], replace: bool) -> list[Tool]:
        added = self._catalog.add(list(tools), namespace=namespace, tags=tags, replace=replace)
        self._catalog.announce(ToolChanges(added=tuple(sorted(t.name for t in added))))
        return added

    def add_policy(self, policy: Any = None, /, **settings: Any) -> None:
        """Add a per-tool policy, as a `[[policy.tools]]` table would: selectors (`match`, `tag`,
        `namespace`, `source`) and settings (`requires_approval`, `max_concurrency`, `rate`, `retries`,
        `timeout`)."""
        entry = policy if policy is not None else tool_policy(settings)
        self.policy = dataclasses.replace(self.policy, tools=(*self.policy.tools, entry))

    def unregister(self, name: str | None = None, *, namespace: str | None = None) -> list[str]:
        """Remove one tool by name, or every tool of a namespace; returns the names removed."""
        removed = [t.name for t in self._catalog.select(name, namespace, None)]
        self._catalog.remove(removed)
        self._catalog.announce(ToolChanges(removed=tuple(sorted(removed))))
        return removed

    def enable(
        self, name: str | None = None, *, namespace: str | None = None, tag: str | None = None
    ) -> None:
        """Enable tools by name, namespace or tag."""
        self._set_enabled(name, namespace, tag, True)

    def disable(
        self, name: str | None = None, *, namespace: str | None = None, tag: str | None = None
    ) -> None:
        """Disable tools by name, namespace or tag: they leave the schemas and their calls fail `disabled`."""
        self._set_enabled(name, namespace, tag, False)

    def _set_enabled(self, name: str | None, namespace: str | None, tag: str | None, enabled: bool) -> None:
        tools = [t for t in self._catalog.select(name, namespace, tag) if t.enabled is not enabled]
        self._catalog.set_enabled(tools, enabled)
        self._catalog.announce(ToolChanges(changed=tuple(sorted(t.name for t in tools))))

    def refresh(self) -> ToolChanges:
        """List the tools of every source that can be listed again (MCP servers...) and apply the changes.

        Returns the names added, removed and changed; callbacks given to `on_tools_changed` hear of them too.
        """
        return self._catalog.refresh()

    def on_tools_changed(self, callback: Callable[[ToolChanges], None]) -> Callable[[], None]:
        """Call `callback(changes)` whenever tools are added, removed, enabled, disabled or changed (by
        `add`/`register`/`load`, `unregister`, `enable`/`disable`, a source announcing changes, a refresh).

        A source that announces changes itself calls it from a background thread. A callback that raises is
        logged, and the others are called. Returns an unsubscribe.
        """
        return self._catalog.on_changed(callback)

    # -- reading -----------------------------------------------------------------------------------

    def get(self, name: str) -> Tool:
        """The tool named `name` (KeyError if none)."""
        return self._catalog.get(name)

    def list(self, *, enabled: bool | None = None) -> builtins.list[Tool]:
        """The tools, sorted by name; `enabled=True` keeps only enabled ones."""
        return self._catalog.listed(enabled)

    @property
    def version(self) -> int:
        """Counts changes to the tools (added, removed, enabled, disabled, changed by a source)."""
        return self._catalog.version

    def __contains__(self, name: object) -> bool:
        return name in self._catalog.tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._catalog.tools)

    def dialect(self, format: str) -> Dialect:
        """The dialect installed under `format`."""
        if format not in self._dialects:
            self._dialects[format] = self.plugins.get("format", format).factory()
        return self._dialects[format]

    def schemas(self, format: str = "openai-chat", *, strict: Strictness = False) -> builtins.list[dict[str, Any]]:
        """The enabled tools' declarations in a provider's request shape, sorted by name. `strict=True`: every
        tool in the provider's strict mode (`SchemaConversionError` names those that cannot be); `"auto"`:
        each tool strict where it can be."""
        return self.dialect(format).schemas(self.list(enabled=True), strict=strict)

    # -- executing ---------------------------------------------------------------------------------

    def execute_tool_calls(
        self, calls: Any, *, executor: str | None = None, timeout: float | None = None,
        approvals: Mapping[str, Approval] | None = None, inputs: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> builtins.list[ToolResult]:
        """Execute a batch of tool calls in any provider's shape; one `ToolResult` per call, in order.

        `timeout` is each call's deadline in seconds (default: the backend's configured timeout).
        `approvals` answers, by call id, calls that need approval (resuming a batch that returned
        `approval_pending` results); `inputs` answers, by call id, what calls asked for when they returned
        `input_required` (an MCP tool's question for the user: `inputResponses` by key and the `requestState` to
        echo). A failing call is that call's error result; this never raises for one call's sake.
        """
        with collector_held(_size(calls)):
            return self.execute_batch(self.batch(calls, executor=executor, timeout=timeout, approvals=approvals,
                                                 inputs=inputs))

    async def aexecute_tool_calls(
        self, calls: Any, *, executor: str | None = None, timeout: float | None = None,
        approvals: Mapping[str, Approval] | None = None, inputs: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> builtins.list[ToolResult]:
        """`execute_tool_calls` for async code: the backend's `arun` runs on the caller's loop.

        Cancelling the awaiting task cancels the batch's calls that have not finished.
        """
        with collector_held(_size(calls)):
            batch = self.batch(calls, executor=executor, timeout=timeout, approvals=approvals, inputs=inputs)
        return await self.aexecute_batch(batch)

    def batch(
        self, calls: Any, *, executor: str | None = None, timeout: float | None = None,
        approvals: Mapping[str, Approval] | None = None, inputs: Mapping[str, Mapping[str, Any]] | None = None,
        on_result: Callable[[int, ToolResult], None] | None = None,
    ) -> Batch:
        """A `Batch` of `calls` (any provider's shape) for `execute_batch`; `on_result(index, result)`
        hears each call's result as soon as it is final (from any thread)."""
        return Batch(self.parse_calls(calls), executor or self._backends.default, timeout, registry=self,
                     approvals=approvals or {}, inputs=inputs or {}, on_result=on_result)

    def execute_batch(self, batch: Batch) -> builtins.list[ToolResult]:
        """Run a `Batch` through the `toolwire_execute` wrappers and the stages; one result per call."""
        with collector_held(len(batch.calls)):
            return self.plugins.hook.toolwire_execute(batch=batch)

    async def aexecute_batch(self, batch: Batch) -> builtins.list[ToolResult]:
        """`execute_batch` for async code; cancelling the awaiting task cancels the batch's calls."""
        loop = asyncio.get_running_loop()
        token = caller_loop.set(loop)
        try:
            context = contextvars.copy_context()
            running = loop.run_in_executor(_batch_threads(), context.run, self.execute_batch, batch)
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                batch.cancel()
                # The batch ends in its thread; with its asyncio side cancelled, how it ends is nobody's unread
                # error, even when the loop closes before running callbacks (a batch not started never starts).
                running.cancel()
                raise
        finally:
            caller_loop.reset(token)

    def parse_calls(self, calls: Any) -> builtins.list[ToolCall]:
        """The `ToolCall`s in `calls`, in any installed provider's shape (what `execute_tool_calls` runs)."""
        return parse_calls(calls, self._all_dialects())

    def tool_messages(
        self, calls: Any = None, results: Sequence[ToolResult] | None = None, format: str | None = None,
        **options: Any,
    ) -> builtins.list[Any]:
        """What goes back to the model for `results`, in the shape of the provider the `calls` came from.

        `calls` is what `execute_tool_calls` was given (a response, a message, a list of calls); its shape
        names the dialect, and a `format` that contradicts it is refused. With `ToolCall`s (no provider's
        shape) the dialect is `format` (default `openai-chat`). The results alone also do
        (`tool_messages(results)`, or `results=`): they carry each call's id and name.
        """
        if results is None and isinstance(calls, Sequence) and calls and all(
                isinstance(item, ToolResult) for item in calls):
            calls, results = None, calls
        if results is None:
            raise TypeError("tool_messages needs the results: tool_messages(calls, results) or tool_messages(results)")
        if calls is None:
            if options.get("include_assistant"):
                raise ValueError("include_assistant=True rebuilds the assistant turn from the calls' arguments: "
                                 "pass the calls too, tool_messages(calls, results, include_assistant=True)")
            parsed = [ToolCall(result.call_id, result.name) for result in results]
            shape = None
        else:
            parsed = self.parse_calls(calls)
            shape = dialect_of(calls, self._all_dialects())
        if format is None:
            format = shape or "openai-chat"
        elif shape is not None and shape != format:
            raise ValueError(f"these calls are in the '{shape}' shape, so the model expects '{shape}' results; "
                             f"tool_messages(format='{format}') would answer in another provider's shape: pass "
                             f"format='{shape}' or leave format out")
        return self.dialect(format).tool_messages(parsed, results, **options)

    def executor(self, name: str | None = None) -> Executor:
        """The backend named `name` (default: the registry's), created on first use."""
        return self._backends.get(name)

    def serve(self, server: str | None = None, /, **options: Any) -> None:
        """Serve this registry's tools with the named server (`"mcp"`, `"http"`...) until interrupted.

        `server` and `options` default to the config's `[serve]` table; keywords given here win. The backend
        is started and the tools prepared in it (`warm`) before the server serves, so that the first client does
        not wait for them.
        """
        built = self._server(server, options)
        self.warm()
        built.run()

    async def aserve(self, server: str | None = None, /, **options: Any) -> None:
        """`serve` on the running event loop: serves until cancelled."""
        built = self._server(server, options)
        await asyncio.to_thread(self.warm)
        await built.arun()

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
        """Start the backend's workers now rather than at the first batch, and make the enabled tools ready in
        them (`Executor.prepare`: loaded, MCP sessions open), so that no first call waits for it."""
        backend = self.executor(executor)
        backend.warm()
        backend.prepare(self.list(enabled=True))

    def close(self) -> None:
        """Close every backend and loader this registry opened."""
        self._backends.close()
        self._catalog.close()

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


def _option_problem(loader: str, exc: TypeError, options: Mapping[str, Any]) -> str | None:
    """Which option the loader does not take, what it accepts, and what was probably meant.

    The loader is found where the factory called it: the callable the error names, in the factory's frame.
    """
    found = re.match(r"([\w.]+?)(?:\.__init__)?\(\) got an unexpected keyword argument '(\w+)'", str(exc))
    if found is None:
        return None
    callee, unknown = found.group(1).rpartition(".")[2], found.group(2)
    frames = []
    traceback = exc.__traceback__
    while traceback is not None:
        frames.append(traceback.tb_frame)
        traceback = traceback.tb_next
    target = next((f.f_locals.get(callee) or f.f_globals.get(callee) for f in reversed(frames)
                   if callee in f.f_locals or callee in f.f_globals), None)
    try:
        parameters = inspect.signature(target).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    accepted = [name for name, p in parameters.items()
                if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    guess = difflib.get_close_matches(unknown, accepted, n=1)
    hint = f" (did you mean '{guess[0]}'?)" if guess else ""
    return (f"the {loader} loader has no option '{unknown}'{hint}; its options: {', '.join(accepted) or 'none'}; "
            f"every loader also takes namespace, include, exclude, tags, replace, {', '.join(_POLICY_KEYWORDS)}")
