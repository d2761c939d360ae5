"""toolwire's side of one measured run: `python -m toolwire_bench._toolwire_side SPEC.json`.

A fresh `ToolRegistry` on the spec's backend gets the scenario's tools (not timed); then the first batch
(cold: workers, connections and sessions start inside it) and the warm batches are timed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from toolwire import Config, ExecutorConfig, ToolRegistry

from toolwire_bench import arith
from toolwire_bench._measure import BatchRunner, Outcome, Workload, openai_calls, run_spec, tool_names

CALL_TIMEOUT_S = 600.0
"""Each call's deadline: long enough for a 10,000-call batch on a slow backend to finish honestly."""


@contextmanager
def build(spec: dict[str, Any], workload: Workload) -> Iterator[BatchRunner]:
    """Register the scenario's tools with a fresh toolwire `ToolRegistry`; yield its batch runner."""
    executor = ExecutorConfig(spec["backend"], workers=spec.get("workers"), timeout=CALL_TIMEOUT_S)
    registry = ToolRegistry(config=Config(executor=executor))
    try:
        register(registry, spec["scenario"], spec["endpoints"])
        calls = openai_calls(workload, tool_names([tool.name for tool in registry.list()]))

        def run_batch() -> list[Outcome]:
            return [
                (False, str(r.error)) if r.is_error else (True, r.value)
                for r in registry.execute_tool_calls(calls)
            ]

        yield run_batch
    finally:
        registry.close()


def register(registry: ToolRegistry, scenario: str, endpoints: dict[str, Any]) -> None:
    """Give `registry` the scenario's four tools, through toolwire's loaders."""
    if scenario == "native-function":
        for function in (arith.add, arith.subtract, arith.multiply, arith.divide):
            registry.register(function)
    elif scenario == "native-class":
        registry.register(arith.Calculator(), namespace="calc")
    elif scenario == "openapi":
        registry.load("openapi", f"{endpoints['openapi']}/openapi.json", namespace="calc")
    elif scenario == "mcp-stdio":
        registry.load("mcp", list(endpoints["mcp-stdio"]), transport="stdio", namespace="calc")
    elif scenario in ("mcp-sse", "mcp-http"):
        transport = "sse" if scenario == "mcp-sse" else "streamable-http"
        registry.load("mcp", endpoints[scenario], transport=transport, namespace="calc")
    else:
        raise ValueError(f"unknown scenario {scenario!r}")


if __name__ == "__main__":
    run_spec(build)
