"""An MCP server's tool that samples the host's model, called by a pydantic-ai agent through a toolwire registry:
the server (the mcp SDK's `MCPServer`, over stdio on the 2026 protocol) asks with the call's result, the toolset's
`sampling_model` (pydantic-ai's `FunctionModel`) replies, and the call finishes in the agent's turn."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from toolwire import ToolRegistry
from toolwire_pydantic_ai import registry_toolset

SERVER = Path(__file__).parents[1] / "plugins" / "mcp" / "tests" / "arith_server.py"


def test_an_mcp_tool_that_samples_finishes_in_the_agents_turn(tmp_path: Path) -> None:
    prompts: list[str] = []

    def host_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompts.extend(str(part.content) for message in messages for part in message.parts
                       if isinstance(part, UserPromptPart))
        return ModelResponse(parts=[TextPart("hi")])

    def turn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("up_word", {}, tool_call_id="w")])
        [part] = [p for p in messages[-1].parts if getattr(p, "tool_call_id", None) == "w"]
        return ModelResponse(parts=[TextPart(str(part.content))])

    with ToolRegistry(executor="thread") as registry:
        registry.load("mcp", [sys.executable, str(SERVER), str(tmp_path / "events")], namespace="up",
                      protocol="auto")
        toolset = registry_toolset(registry, sampling_model=FunctionModel(host_model))
        output = Agent(FunctionModel(turn), toolsets=[toolset]).run_sync("go").output
    assert output == "hi" and prompts == ["['One word for hello?']"]
