"""What policies and tracing add to a warm 100-call native batch on the thread backend (issue 17).

Each variant runs in a fresh interpreter, the variants interleaved, `repeats` times; a run's time is the
median of its warm batches, a variant's the median of its runs. Variants: `plain` (the registry's
defaults, no other plugin loaded), `policies` (every policy on, with settings that admit every call:
approval by a callback that approves all, annotated ordering, a concurrency limit and a rate no batch
reaches, retries, a result cap), `tracing` (toolwire-otel with the OpenTelemetry SDK exporting to memory),
and tracing's floor, `sdk spans`: the plain batch inside the spans toolwire-otel makes (one for the batch, one
per call with the same attributes), made directly with the same SDK, without toolwire-otel.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

__all__ = ["TARGETS", "VARIANTS", "measure"]

VARIANTS = ("plain", "policies", "tracing", "sdk spans")
TARGETS = {"policies": 1.10, "tracing": 1.25}
"""At most this many times the plain batch's time (issue 17)."""
BATCH = 100


def measure(repeats: int, warm_batches: int) -> dict[str, Any]:
    """Every variant's median batch time in ms and its ratio to `plain`; a variant that cannot run (its
    packages missing) is reported with the reason."""
    runs: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    skipped: dict[str, str] = {}
    for _ in range(repeats):
        for variant in VARIANTS:
            if variant in skipped:
                continue
            done = subprocess.run([sys.executable, "-m", "toolwire_bench._overhead", variant, str(warm_batches)],
                                  capture_output=True, text=True, env=_environ(variant), timeout=600)
            if done.returncode != 0:
                skipped[variant] = (done.stderr.strip().splitlines() or ["failed"])[-1]
                continue
            runs[variant].append(json.loads(done.stdout)["median_ms"])
    plain = statistics.median(runs["plain"]) if runs["plain"] else None
    rows = []
    for variant in VARIANTS:
        ms = statistics.median(runs[variant]) if runs[variant] else None
        ratio = ms / plain if ms is not None and plain else None
        target = TARGETS.get(variant)
        rows.append({"variant": variant, "median_ms": ms, "runs": len(runs[variant]), "ratio": ratio,
                     "target": target, "met": None if target is None or ratio is None else ratio <= target,
                     "skipped": skipped.get(variant)})
    return {"batch": BATCH, "backend": "thread", "repeats": repeats, "warm_batches": warm_batches, "rows": rows}


def _environ(variant: str) -> dict[str, str]:
    plugins = "native,thread,otel" if variant == "tracing" else "native,thread"
    return {**os.environ, "TOOLWIRE_PLUGINS": plugins, "TOOLWIRE_EXECUTOR": "thread"}


def _registry(variant: str) -> Any:
    from toolwire import Annotations, ToolRegistry

    from toolwire_bench import arith

    if variant == "policies":
        def approve(calls: list[Any]) -> dict[str, bool]:
            return {call.id: True for call in calls}

        registry = ToolRegistry(executor="thread", approve=approve, ordering="annotated", max_result_chars=50_000)
        registry.add_policy(match="*", requires_approval=True, max_concurrency=1_000, rate="1000000/s", retries=2)
    else:
        registry = ToolRegistry(executor="thread")
    for op in arith.OPS:
        registry.register(getattr(arith, op), annotations=Annotations(read_only=True))
    return registry


def _sdk() -> Any:
    """The OpenTelemetry SDK as the global tracer provider, exporting each span to memory as it ends."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


def _tracing() -> Any:
    import toolwire_otel  # noqa: F401  (the variant needs the plugin itself, not only the SDK)

    return _sdk()


def _in_sdk_spans(registry: Any) -> Any:
    """`registry.execute_tool_calls` inside the spans toolwire-otel would make for the batch and each call,
    started and ended around it with the SDK directly: what any span per call costs."""
    from opentelemetry import trace

    tracer = trace.get_tracer("toolwire_bench")
    tools = {tool.name: tool for tool in registry.list()}
    execute = registry.execute_tool_calls

    def traced(calls: list[dict[str, Any]]) -> Any:
        with tracer.start_as_current_span("execute_tools", attributes={
                "toolwire.executor": "thread", "toolwire.batch.size": len(calls)}):
            spans = []
            for call in calls:
                tool = tools[call["function"]["name"]]
                spans.append(tracer.start_span(f"execute_tool {tool.name}", attributes={
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool.name,
                    "gen_ai.tool.call.id": call["id"], "gen_ai.tool.type": "function", "toolwire.executor": "thread",
                    "toolwire.tool.source": tool.source.loader,
                    **({"gen_ai.tool.description": tool.description} if tool.description else {})}))
            results = execute(calls)
            for span in spans:
                span.end()
        return results

    return traced


def _run(variant: str, warm_batches: int) -> dict[str, Any]:
    exporter = _tracing() if variant == "tracing" else _sdk() if variant == "sdk spans" else None
    registry = _registry(variant)
    execute = _in_sdk_spans(registry) if variant == "sdk spans" else registry.execute_tool_calls
    calls = [{"id": f"c{i}", "type": "function", "function": {
        "name": ("add", "subtract")[i % 2], "arguments": json.dumps({"a": i, "b": 3})}} for i in range(BATCH)]
    expected = [i + 3 if i % 2 == 0 else i - 3 for i in range(BATCH)]
    times = []
    for index in range(20 + warm_batches):
        started = time.perf_counter()
        results = execute(calls)
        elapsed = time.perf_counter() - started
        if [r.value for r in results] != expected:
            raise SystemExit(f"{variant}: wrong results: {[r.error for r in results if r.error][:1]}")
        if exporter is not None:
            if index == 0 and not exporter.get_finished_spans():
                raise SystemExit(f"{variant}: no spans were recorded (is toolwire-otel installed?)")
            exporter.clear()
        if index >= 20:
            times.append(elapsed * 1e3)
    registry.close()
    return {"median_ms": statistics.median(times)}


if __name__ == "__main__":
    print(json.dumps(_run(sys.argv[1], int(sys.argv[2]))))
