"""A model turn of 20 parallel tool calls run by each agent framework's own tool execution and by the
same framework through its toolwire adapter (issue 19).

Workloads: `io` (each call sleeps 50 ms: a slow HTTP request) with toolwire on the thread backend, and
`cpu` (each call does ~20 ms of pure-Python arithmetic) with toolwire on the process backend. The model is
the framework's own offline test model answering the turn's calls, then a final text; the time is one
whole agent run. Each (framework, side, workload) runs in a fresh interpreter, interleaved, `repeats`
times; a run's time is the median of its agent runs after a warm-up run, a row's the median of its runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

__all__ = ["CALLS", "FRAMEWORKS", "TARGETS", "measure"]

FRAMEWORKS = ("pydantic-ai", "openai-agents", "langchain")
WORKLOADS = {"io": "thread", "cpu": "process"}
"""Workload -> the toolwire backend it runs on."""
TARGETS = {"io": 1.0, "cpu": 1.6}
"""The framework's own time over toolwire's must be at least this (issue 19)."""
CALLS = 20
SLEEP_S = 0.05
CPU_LOOPS = 350_000


def io_work(index: int) -> int:
    """Wait 50 ms, as a slow request would."""
    time.sleep(SLEEP_S)
    return index


def cpu_work(index: int) -> int:
    """About 20 ms of pure-Python arithmetic (holds the GIL throughout)."""
    total = 0
    for i in range(CPU_LOOPS):
        total += i * i % 7
    return index + total % 1


def measure(repeats: int, runs: int) -> dict[str, Any]:
    """Every row's median agent-run time in ms and the framework's own time over toolwire's; a framework
    that cannot run (not installed) is reported with the reason."""
    times: dict[tuple[str, str, str], list[float]] = {}
    skipped: dict[str, str] = {}
    for _ in range(repeats):
        for framework in FRAMEWORKS:
            for workload in WORKLOADS:
                for side in ("own", "toolwire"):
                    if framework in skipped:
                        continue
                    done = subprocess.run(
                        [sys.executable, "-m", "toolwire_bench._frameworks", framework, side, workload, str(runs)],
                        capture_output=True, text=True, timeout=600,
                        env={**os.environ, "TOOLWIRE_PLUGINS": "native,thread,process"})
                    if done.returncode != 0:
                        skipped[framework] = (done.stderr.strip().splitlines() or ["failed"])[-1]
                        continue
                    times.setdefault((framework, workload, side), []).append(json.loads(done.stdout)["median_ms"])
    rows = []
    for framework in FRAMEWORKS:
        for workload, backend in WORKLOADS.items():
            own, ours = times.get((framework, workload, "own")), times.get((framework, workload, "toolwire"))
            own_ms = statistics.median(own) if own else None
            our_ms = statistics.median(ours) if ours else None
            speedup = own_ms / our_ms if own_ms and our_ms else None
            rows.append({"framework": framework, "workload": workload, "backend": backend, "own_ms": own_ms,
                         "toolwire_ms": our_ms, "speedup": speedup, "target": TARGETS[workload],
                         "met": None if speedup is None else speedup >= TARGETS[workload],
                         "skipped": skipped.get(framework)})
    return {"calls": CALLS, "repeats": repeats, "runs": runs, "rows": rows}


# -- one series, in its own interpreter -------------------------------------------------------------------


def _registry(workload: str) -> Any:
    from toolwire import ToolRegistry

    registry = ToolRegistry(executor=WORKLOADS[workload])
    registry.register(io_work if workload == "io" else cpu_work)
    return registry


def _pydantic_ai(side: str, work: Any, registry: Any) -> Any:
    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import FunctionModel

    def turn(messages: list[Any], info: Any) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart(work.__name__, {"index": i}, tool_call_id=f"c{i}")
                                        for i in range(CALLS)])
        return ModelResponse(parts=[TextPart(",".join(str(part.content) for part in messages[-1].parts))])

    if side == "own":
        agent = Agent(FunctionModel(turn), tools=[work])
    else:
        from toolwire_pydantic_ai import registry_toolset

        agent = Agent(FunctionModel(turn), toolsets=[registry_toolset(registry)])
    return lambda: agent.run_sync("go").output.split(",")


def _openai_agents(side: str, work: Any, registry: Any) -> Any:
    from agents import Agent, Model, ModelResponse, RunConfig, Runner, Tool, Usage, function_tool
    from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

    class Turn(Model):
        async def get_response(self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any) -> Any:
            outputs = [item["output"] for item in input
                       if isinstance(item, dict) and item.get("type") == "function_call_output"]
            if not outputs:
                output: list[Any] = [ResponseFunctionToolCall(type="function_call", call_id=f"c{i}",
                                                              name=work.__name__, arguments=f'{{"index": {i}}}')
                                     for i in range(CALLS)]
            else:
                text = ResponseOutputText(type="output_text", text=",".join(outputs), annotations=[])
                output = [ResponseOutputMessage(id="m", type="message", role="assistant", status="completed",
                                                content=[text])]
            return ModelResponse(output=output, usage=Usage(), response_id=None)

        def stream_response(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

    tools: list[Tool]
    if side == "own":
        tools = [function_tool(work)]
    else:
        from toolwire_openai_agents import function_tools

        tools = function_tools(registry)
    agent = Agent(name="bench", model=Turn(), tools=tools)
    config = RunConfig(tracing_disabled=True)
    return lambda: asyncio.run(Runner.run(agent, "go", run_config=config)).final_output.split(",")


def _langchain(side: str, work: Any, registry: Any) -> Any:
    from langchain.agents import create_agent
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langchain_core.tools import tool

    class Turn(FakeMessagesListChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Turn:
            return self

    calls = [{"id": f"c{i}", "name": work.__name__, "args": {"index": i}, "type": "tool_call"} for i in range(CALLS)]
    model = Turn(responses=[AIMessage("", tool_calls=calls), AIMessage("done")])
    if side == "own":
        tools = [tool(work)]
    else:
        from toolwire_langchain import langchain_tools

        tools = langchain_tools(registry)
    agent = create_agent(model, tools=tools)
    def run() -> list[Any]:
        state = asyncio.run(agent.ainvoke({"messages": [HumanMessage("go")]}))
        return [message.content for message in state["messages"] if isinstance(message, ToolMessage)]

    return run


def _run(framework: str, side: str, workload: str, runs: int) -> dict[str, Any]:
    work = io_work if workload == "io" else cpu_work
    registry = _registry(workload) if side == "toolwire" else None
    build = {"pydantic-ai": _pydantic_ai, "openai-agents": _openai_agents, "langchain": _langchain}[framework]
    run_agent = build(side, work, registry)
    times = []
    for index in range(1 + runs):
        started = time.perf_counter()
        outputs = run_agent()
        if sorted(outputs) != sorted(str(i) for i in range(CALLS)):
            raise SystemExit(f"{framework} {side} {workload}: wrong tool outputs: {outputs[:3]}")
        if index:
            times.append((time.perf_counter() - started) * 1e3)
    if registry is not None:
        registry.close()
    return {"median_ms": statistics.median(times)}


if __name__ == "__main__":
    print(json.dumps(_run(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))))
