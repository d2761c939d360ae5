"""toolregistry 0.19.0's side of one measured run, in its own isolated environment.

Run by the harness as `uv run --isolated --no-project --with "toolregistry[mcp]==0.19.0" python
_toolregistry_side.py SPEC.json`. It imports toolregistry and this package's standard-library modules
(`arith`, `_measure`) only, never toolwire; it checks that before exiting.

Modes are toolregistry's own: `thread` and `process` (`execute_tool_calls(calls, execution_mode=...)`;
toolregistry itself runs OpenAPI and MCP tools on threads even when asked for processes) and `async`
(`aexecute_tool_calls` on one event loop kept for the whole run).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolwire_bench import arith
from toolwire_bench._measure import BatchRunner, Outcome, Workload, openai_calls, run_spec, tool_names


@contextmanager
def build(spec: dict[str, Any], workload: Workload) -> Iterator[BatchRunner]:
    """Register the scenario's tools with a fresh toolregistry `ToolRegistry`; yield its batch runner."""
    from toolregistry import ErrorResult, ToolRegistry

    registry = ToolRegistry()
    _register(registry, spec["scenario"], spec["endpoints"])
    calls = openai_calls(workload, tool_names(registry.list_tools()))
    mode = spec["backend"]
    loop = asyncio.new_event_loop() if mode == "async" else None

    def run_batch() -> list[Outcome]:
        if loop is not None:
            results = loop.run_until_complete(registry.aexecute_tool_calls(calls))
        else:
            results = registry.execute_tool_calls(calls, execution_mode=mode)
        return [
            (False, r.message) if isinstance(r, ErrorResult) else (True, r.result) for r in results
        ]

    try:
        yield run_batch
    finally:
        if loop is not None:
            loop.run_until_complete(registry.close_async())
            loop.close()
        else:
            registry.close()


def _register(registry: Any, scenario: str, endpoints: dict[str, Any]) -> None:
    if scenario == "native-function":
        for function in (arith.add, arith.subtract, arith.multiply, arith.divide):
            registry.register(function)
    elif scenario == "native-class":
        registry.register(arith.Calculator(), namespace="calc")
    elif scenario == "openapi":
        from toolregistry.integrations.openapi import HttpClientConfig, load_openapi_spec

        base_url = endpoints["openapi"]
        spec = load_openapi_spec(f"{base_url}/openapi.json")
        registry.register(HttpClientConfig(base_url=base_url), source="openapi", openapi_spec=spec,
                          namespace="calc")
    elif scenario == "mcp-stdio":
        command = endpoints["mcp-stdio"]
        registry.register({"command": command[0], "args": command[1:]}, source="mcp", namespace="calc")
    elif scenario in ("mcp-sse", "mcp-http"):
        registry.register(endpoints[scenario], source="mcp", namespace="calc")
    else:
        raise ValueError(f"unknown scenario {scenario!r}")


if __name__ == "__main__":
    run_spec(build)
    if "toolwire" in sys.modules:
        raise SystemExit("toolregistry's side imported toolwire")
