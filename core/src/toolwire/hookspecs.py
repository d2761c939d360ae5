"""toolwire's hook specifications and the records plugins return from them.

A plugin is a module (or object) named by an entry point in the `toolwire` group; it implements any of
these hooks with `@toolwire.hookimpl`. Built-in behaviour goes through the same hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

import pluggy

from toolwire.batches import Batch, Dispatch

if TYPE_CHECKING:
    from toolwire.executing import Executor, ExecutorConfig, Outcome
    from toolwire.formats import Dialect
    from toolwire.serving import Server
    from toolwire.tools import ToolResult

__all__ = [
    "Batch", "Dispatch", "ExecutorSpec", "FormatSpec", "LoaderSpec", "ServerSpec", "ToolwireSpec", "hookimpl",
    "hookspec",
]

PROJECT = "toolwire"
hookspec = pluggy.HookspecMarker(PROJECT)
"""Marks the hook specifications below (for toolwire itself)."""
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a plugin's hook implementations: `@hookimpl`, or `@hookimpl(wrapper=True)` for a wrapper."""


class LoaderSpec(NamedTuple):
    """A tool source: `factory(**options)` builds a loader whose `load(source)` returns tools."""

    name: str
    factory: Callable[..., Any]
    summary: str = ""


class ExecutorSpec(NamedTuple):
    """An execution backend: `factory(config)` builds an `Executor`."""

    name: str
    factory: Callable[[ExecutorConfig], Executor]
    summary: str = ""


class FormatSpec(NamedTuple):
    """A provider dialect: `factory()` builds a `Dialect` (schemas out, calls in, results back)."""

    name: str
    factory: Callable[[], Dialect]
    summary: str = ""


class ServerSpec(NamedTuple):
    """A front end: `factory(registry, **options)` builds a `Server` that serves the registry's tools."""

    name: str
    factory: Callable[..., Server]
    summary: str = ""


class ToolwireSpec:
    """The hooks. Each docstring holds a complete plugin using it."""

    @hookspec
    def toolwire_loaders(self) -> Iterable[LoaderSpec]:
        """Offer tool loaders, each under a name users pass to `registry.load(name, source)`.

        Keep the plugin module light: import heavy dependencies inside the factory.

        Example plugin (entry point ``[project.entry-points.toolwire] csvtools = "csvtools.plugin"``)::

            from toolwire import LoaderSpec, Tool, ToolSource, hookimpl

            class EnvLoader:
                def __init__(self, prefix: str = "") -> None:
                    self.prefix = prefix

                def load(self, source: dict) -> list[Tool]:
                    return [
                        Tool(
                            name=f"get_{key}",
                            description=f"Returns the value of {key}.",
                            parameters={"type": "object", "properties": {}},
                            invoker=lambda value=value: value,
                            source=ToolSource("env", key),
                        )
                        for key, value in source.items()
                    ]

            @hookimpl
            def toolwire_loaders():
                return [LoaderSpec("env", EnvLoader, "constants as tools")]
        """

    @hookspec
    def toolwire_executors(self) -> Iterable[ExecutorSpec]:
        """Offer execution backends, each selected by name (`ToolRegistry(executor=name)`, config, env).

        Example plugin::

            from toolwire import Executor, ExecutorSpec, Outcome, call_invoker, hookimpl

            class SerialExecutor(Executor):
                name = "serial"

                def __init__(self, config):
                    self.config = config

                def run(self, jobs):
                    return [call_invoker(job) for job in jobs]

            @hookimpl
            def toolwire_executors():
                return [ExecutorSpec("serial", SerialExecutor, "one call after another")]
        """

    @hookspec(firstresult=True)
    def toolwire_detect_loader(self, source: Any) -> str | None:
        """Name the loader for `source` when `registry.register(source)` is called without one.

        The first non-None answer wins; return None for sources that are not yours.

        Example plugin::

            from toolwire import hookimpl

            @hookimpl
            def toolwire_detect_loader(source):
                if isinstance(source, str) and source.endswith(".csv"):
                    return "csv"
                return None
        """

    @hookspec
    def toolwire_formats(self) -> Iterable[FormatSpec]:
        """Offer provider dialects, each selected by name in `registry.schemas(format=name)`.

        Example plugin (a dialect whose schemas are bare names)::

            from toolwire import FormatSpec, hookimpl
            from toolwire.formats import Dialect

            class NamesOnly(Dialect):
                name = "names-only"

                def tool_schema(self, tool, *, strict=False):
                    return {"name": tool.name}

            @hookimpl
            def toolwire_formats():
                return [FormatSpec("names-only", NamesOnly, "just the names")]
        """

    @hookspec
    def toolwire_servers(self) -> Iterable[ServerSpec]:
        """Offer front ends that serve a registry to clients, each selected by name
        (`registry.serve(name)`, `toolwire serve NAME`, `[serve] server = NAME`).

        The factory gets the registry and the options (`transport`, `host`, `port`... from the call, the
        command line or the `[serve]` table) and returns a `toolwire.serving.Server`; refuse an option it
        does not know with a `ValueError`. Every call a server receives goes through the registry
        (`await registry.aexecute_tool_calls(...)`), so validation, the backend and policies apply.

        Example plugin (serves each tool as a line-oriented JSON command on stdin/stdout)::

            import asyncio
            import json
            import sys

            from toolwire import ServerSpec, ToolCall, hookimpl
            from toolwire.serving import Server

            class JsonLines(Server):
                def __init__(self, registry, **options):
                    if options:
                        raise ValueError(f"unknown option(s): {', '.join(options)}")
                    self.registry = registry

                async def arun(self):
                    for line in sys.stdin:
                        request = json.loads(line)
                        [result] = await self.registry.aexecute_tool_calls(
                            [ToolCall("1", request["tool"], request["arguments"])])
                        print(json.dumps({"result": result.text, "error": result.is_error}), flush=True)

            @hookimpl
            def toolwire_servers():
                return [ServerSpec("jsonl", JsonLines, "tools as JSON lines on stdin/stdout")]
        """

    @hookspec(firstresult=True)
    def toolwire_execute(self, batch: Batch) -> list[ToolResult] | None:
        """Run around every batch: tracing, policy, logging, metrics. Implement it as a wrapper.

        The innermost implementation (toolwire's own) executes the batch; a wrapper sees the batch
        before it runs and its results after.

        Example plugin (logs each batch's size and failures)::

            import logging
            from toolwire import hookimpl

            log = logging.getLogger("audit")

            @hookimpl(wrapper=True)
            def toolwire_execute(batch):
                log.info("running %d calls on %s", len(batch.calls), batch.executor)
                results = yield
                log.info("%d failed", sum(r.is_error for r in results))
                return results
        """

    @hookspec(firstresult=True)
    def toolwire_dispatch(self, dispatch: Dispatch) -> list[Outcome] | None:
        """Run around the dispatch of a batch's valid jobs: the place for policies. Implement it as a wrapper.

        A wrapper sees the resolved, validated jobs before they run (`dispatch.jobs`, with the calls they
        came from) and shapes how they run: it settles jobs that must not run, orders them, gates them,
        allows retries or edits arguments (see `toolwire.batches.Dispatch`); after `yield` it sees one
        `Outcome` per job. toolwire's own policies (approval, ordering, limits, retries) are wrappers of
        this hook too, and so hold on every backend. The innermost implementation (toolwire's own) runs
        the jobs on the executor.

        Example plugin (at most three calls to billing tools per batch; the others are refused)::

            from toolwire import ErrorKind, hookimpl

            @hookimpl(wrapper=True)
            def toolwire_dispatch(dispatch):
                billing = [i for i, job in enumerate(dispatch.jobs) if "billing" in job.tool.tags]
                for index in billing[3:]:
                    dispatch.refuse(index, ErrorKind.DENIED,
                                    "at most 3 billing calls per turn: make the most important ones first")
                outcomes = yield
                return outcomes
        """
