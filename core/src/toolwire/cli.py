"""The `toolwire` command: plugins, tools, call, run, serve, demo."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import click

from toolwire.executing import input_answers
from toolwire.registry import ToolRegistry
from toolwire.tools import Tool, ToolCall, ToolResult

__all__ = ["main"]

_config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    help="Config file (default: ./toolwire.toml, or [tool.toolwire] in ./pyproject.toml).",
)
_executor_option = click.option("--executor", default=None, help="Backend to run on (default: the configured one).")
_timeout_option = click.option("--timeout", type=float, default=None, help="Seconds allowed per call.")
_yes_option = click.option("--yes", "-y", is_flag=True,
                           help="Approve every call that needs approval (else: asked on a terminal, or denied).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """toolwire: tools for function-calling LLMs, executed a batch at a time on the backend you name."""
    ctx.obj = {"debug": debug}


_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@cli.command()
@_json_option
def plugins(as_json: bool) -> None:
    """Every installed plugin, what it provides, and any that failed to load."""
    registry = ToolRegistry()
    if as_json:
        records = []
        for info in registry.plugins.info():
            offered = {} if info.error else registry.plugins.offered_by(info.name)
            records.append({"plugin": info.name, "distribution": info.distribution, "version": info.version,
                            **offered, "error": info.error})
        click.echo(json.dumps(records, indent=2))
        return
    table = _table("plugin", "distribution", "version", "loaders", "executors", "formats", "servers", "status")
    for info in registry.plugins.info():
        if info.error:
            table.add_row(info.name, info.distribution or "", info.version or "", "", "", "", "",
                          f"[red]failed: {info.error}[/red]")
            continue
        offered = registry.plugins.offered_by(info.name)
        if not any(offered.values()):
            continue
        table.add_row(info.name, info.distribution or "", info.version or "",
                      ", ".join(offered["loaders"]), ", ".join(offered["executors"]),
                      ", ".join(offered["formats"]), ", ".join(offered["servers"]), "ok")
    _console().print(table)


@cli.command()
@_config_option
@click.option("--format", "dialect", default=None, help="Print schemas in this dialect (e.g. openai-chat).")
@click.option("--strict", is_flag=False, flag_value="all", default=None, type=click.Choice(["all", "auto"]),
              help="Strict schemas: every tool (or an error), or with 'auto' each tool that can be.")
@_json_option
def tools(config_path: str | None, dialect: str | None, strict: str | None, as_json: bool) -> None:
    """The tools the config yields, as a table or as a provider's schemas."""
    with _registry(config_path) as registry:
        if dialect:
            strictness: bool | Literal["auto"] = "auto" if strict == "auto" else strict == "all"
            click.echo(json.dumps(registry.schemas(format=dialect, strict=strictness), indent=2))
            return
        if as_json:
            click.echo(json.dumps([_tool_record(tool) for tool in registry.list()], indent=2))
            return
        table = _table("name", "loader", "enabled", "description")
        for tool in registry.list():
            summary = tool.description.strip().splitlines()[0] if tool.description.strip() else ""
            table.add_row(tool.name, tool.source.loader, "yes" if tool.enabled else "no", summary)
        _console().print(table)


@cli.command()
@click.argument("name")
@click.argument("given", metavar="[ARGS]", required=False)
@click.option("--args", "arguments", default=None, help="The call's arguments as a JSON object (or give them as ARGS).")
@_config_option
@_executor_option
@_timeout_option
@_yes_option
def call(name: str, given: str | None, arguments: str | None, config_path: str | None, executor: str | None,
         timeout: float | None, yes: bool) -> None:
    """Execute one call (`toolwire call add '{"a": 1, "b": 2}'`) and print its result as a JSON line; exit 1 if
    it failed."""
    if given is not None and arguments is not None:
        raise click.UsageError("give the arguments once: as ARGS or with --args")
    text = given if given is not None else arguments if arguments is not None else "{}"
    batch = [{"id": "call_1", "type": "function", "function": {"name": name, "arguments": text}}]
    _execute(config_path, batch, executor, timeout, yes)


@cli.command()
@click.argument("source", type=click.File("r"), default="-")
@_config_option
@_executor_option
@_timeout_option
@_yes_option
def run(source: Any, config_path: str | None, executor: str | None, timeout: float | None, yes: bool) -> None:
    """Execute a batch of tool calls in any provider's shape, read from a JSON file or stdin (-).

    Prints one JSON line per result; exit status 1 if any call failed.
    """
    try:
        calls = json.load(source)
    except ValueError as exc:
        raise click.ClickException(f"{source.name}: not valid JSON: {exc}") from None
    _execute(config_path, calls, executor, timeout, yes)


@cli.command()
@click.argument("name", required=False)
@click.option("--transport", default=None, help="The server's transport (mcp: stdio, streamable-http, sse).")
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on.")
@_config_option
@_executor_option
def serve(name: str | None, transport: str | None, host: str | None, port: int | None, config_path: str | None,
          executor: str | None) -> None:
    """Serve the config's tools with server NAME (mcp, http; default: [serve] server) until interrupted."""
    options = {key: value for key, value in (("transport", transport), ("host", host), ("port", port))
               if value is not None}
    with _registry(config_path, executor) as registry:
        registry.serve(name, **options)


@cli.command()
@_executor_option
def demo(executor: str | None) -> None:
    """Register native, OpenAPI and MCP tools, print their schemas, execute a batch, show the results."""
    from toolwire._demo import run_demo

    run_demo(_console(), executor)


def _console() -> Any:
    """A rich console; piped output is not squeezed to 80 columns."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=200)


def _table(*headers: str) -> Any:
    """A rich table whose cells fold instead of being cut, so piped output keeps every word."""
    from rich.table import Table

    table = Table()
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def _tool_record(tool: Tool) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "parameters": tool.parameters,
            "output_schema": tool.output_schema, "loader": tool.source.loader, "source": tool.source.detail,
            "namespace": tool.namespace, "tags": sorted(tool.tags), "enabled": tool.enabled,
            "annotations": {k: v for k, v in dataclasses.asdict(tool.annotations).items() if v is not None}}


@contextmanager
def _registry(config_path: str | None, executor: str | None = None, approve: Any = None,
              answer: Any = None) -> Iterator[ToolRegistry]:
    with _loading_status() as on_loading:
        registry = ToolRegistry.from_config(config_path, executor=executor, approve=approve, answer=answer,
                                                on_loading=on_loading)
    try:
        yield registry
    finally:
        registry.close()


def _execute(config_path: str | None, calls: Any, executor: str | None, timeout: float | None, yes: bool) -> None:
    with _stdout_for_results() as out:
        answer = _terminal_answers if sys.stdin.isatty() else None  # a tool's questions, asked on the terminal
        with _registry(config_path, approve=_approver(yes), answer=answer) as registry:
            results = registry.execute_tool_calls(calls, executor=executor, timeout=timeout)
        for result in results:
            out.write(_json_line(result.as_dict()) + "\n")
    if any(result.is_error for result in results):
        sys.exit(1)


@contextmanager
def _stdout_for_results() -> Iterator[Any]:
    """Standard output for the result lines alone: while the command runs, whatever else writes to it (a tool's
    `print`, on any backend, in this process or in the workers it starts) goes to standard error instead."""
    sys.stdout.flush()
    kept = os.dup(1)
    os.dup2(2, 1)
    try:
        with open(os.dup(kept), "w", encoding="utf-8") as out:
            yield out
    finally:
        sys.stdout.flush()
        os.dup2(kept, 1)
        os.close(kept)


def _json_line(record: dict[str, Any]) -> str:
    """`record` as a line of JSON as RFC 8259 has it: infinities and NaNs in its value are written as null, as
    the servers write them (Python's `json` writes `Infinity`, which `jq` and JavaScript refuse)."""
    try:
        return json.dumps(record, allow_nan=False)
    except ValueError:
        import pydantic_core

        value = json.loads(pydantic_core.to_json(record["value"], inf_nan_mode="null"))
        return json.dumps({**record, "value": value})


@contextmanager
def _loading_status() -> Iterator[Callable[[int, Any], None] | None]:
    """On a terminal, a line on stderr saying which `[[tools]]` entry is loading (servers take seconds)."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    with console.status("loading tools") as status:
        def on_loading(index: int, entry: Any) -> None:
            source = entry.get("source", entry.get("command", entry.get("url", "")))
            status.update(f"loading tools: [{index + 1}] {entry.get('loader')} {str(source)[:60]}")

        yield on_loading


def _terminal_answers(asked: list[ToolResult]) -> dict[str, Any]:
    """`answer` for the command line on a terminal: each tool's questions, asked field by field."""
    return {result.call_id: answers for result in asked if result.error is not None
            and (answers := _answers(result.error.input_required)) is not None}


def _answers(question: Any) -> dict[str, Any] | None:
    """The user's answers to what a tool asks (`ToolError.input_required`), asked on the terminal field by field
    (its roots: the working directory, if the user shares it); None when it asks for anything else (a reply from
    the host's model)."""
    responses: dict[str, Any] = {}
    for key, request in (question.get("inputRequests") or {}).items():
        if isinstance(request, dict) and request.get("method") == "roots/list":
            responses[key] = {"roots": _shared_roots()}
            continue
        if not isinstance(request, dict) or request.get("method") != "elicitation/create":
            return None
        params: dict[str, Any] = request["params"] if isinstance(request.get("params"), dict) else {}
        if params.get("mode", "form") != "form":
            return None
        if not click.confirm(f"{params.get('message', 'The tool asks for input.')} Answer?", default=True, err=True):
            responses[key] = {"action": "decline"}
            continue
        content = {}
        for name, field in ((params.get("requestedSchema") or {}).get("properties") or {}).items():
            field = field if isinstance(field, dict) else {}
            choices: Any = field.get("enum")
            kind: Any = click.Choice([str(choice) for choice in choices]) if isinstance(choices, list) and choices \
                else {"integer": int, "number": float, "boolean": bool}.get(str(field.get("type")), str)
            content[name] = click.prompt(field.get("title", name), type=kind, default=field.get("default"), err=True)
        responses[key] = {"action": "accept", "content": content}
    return input_answers(responses, question.get("requestState"))


def _shared_roots() -> list[dict[str, str]]:
    """The working directory as the tool's one root (MCP's `roots/list` answer), if the user shares it; else none."""
    here = Path.cwd()
    if not click.confirm(f"The tool asks which folders it may work in. Share {here}?", default=True, err=True):
        return []
    return [{"uri": here.as_uri(), "name": here.name or str(here)}]


def _approver(yes: bool) -> Callable[[list[ToolCall]], dict[str, bool | str]]:
    """Approval for the command line: `--yes` approves all; a terminal asks per call; else denied."""
    def approve(calls: list[ToolCall]) -> dict[str, bool | str]:
        if yes:
            return {call.id: True for call in calls}
        if not sys.stdin.isatty():
            return {call.id: "not approved: no terminal to ask on (pass --yes to approve)" for call in calls}
        return {call.id: click.confirm(f"Run {call.name} {json.dumps(call.arguments, default=str)}?", err=True)
                for call in calls}

    return approve


def main(argv: list[str] | None = None) -> None:
    """Run the command; errors are one line unless `--debug` is given.

    Modules in the working directory can be imported, as for `python script.py` (config files name them).
    """
    args = sys.argv[1:] if argv is None else argv
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    _guarded(lambda: cli.main(args=args, prog_name="toolwire", standalone_mode=False), "--debug" in args)


def _guarded(run_cli: Callable[[], Any], debug: bool) -> None:
    try:
        run_cli()
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        if debug:
            raise
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
