"""A stdio server that misbehaves: garbage on its stdout, or exiting mid-call, costs only the call concerned; its
stderr reaches the `toolwire.mcp` logger (or this process's stderr, when asked), not the terminal."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import toolwire_mcp
from toolwire import ErrorKind, ToolCall, ToolRegistry
from toolwire.testing import no_leaks

GARBAGE_SERVER = [sys.executable, str(Path(__file__).with_name("garbage_server.py"))]


@pytest.fixture
def leak_check() -> Iterator[None]:
    with no_leaks():
        yield
        toolwire_mcp.close_sessions()


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_garbage_on_stdout_costs_only_the_call_it_answered(backend: str, leak_check: None) -> None:
    with ToolRegistry(executor=backend) as registry:
        registry.load("mcp", GARBAGE_SERVER)
        registry.executor().warm()  # the deadline is for the calls, not for starting the workers
        calls = [ToolCall("g", "garble", {}), *(ToolCall(f"e{i}", "echo", {"text": str(i)}) for i in range(3))]
        garbled, *echoed = registry.execute_tool_calls(calls, timeout=4)
        assert garbled.error is not None and garbled.error.kind is ErrorKind.TIMEOUT, garbled
        assert [result.value for result in echoed] == ["0", "1", "2"]
        [again] = registry.execute_tool_calls([ToolCall("a", "echo", {"text": "again"})], timeout=30)
        assert again.value == "again"


def test_a_listing_whose_cursor_comes_back_ends_there(leak_check: None, caplog: pytest.LogCaptureFixture) -> None:
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="toolwire.mcp"), ToolRegistry(executor="thread") as registry:
        registry.load("mcp", [*GARBAGE_SERVER, "--looping-cursor"])  # listed until the load's deadline before
        assert time.monotonic() - started < 15
        assert sorted(tool.name for tool in registry.list()) == ["answer", "echo", "garble", "measure"]
        [echoed] = registry.execute_tool_calls([ToolCall("e", "echo", {"text": "hi"})], timeout=30)
    assert echoed.value == "hi"
    assert "listed its tools in a loop (cursor 'again' came back)" in caplog.text


def test_an_answer_that_does_not_fit_the_servers_own_output_schema_is_its_calls_error(leak_check: None) -> None:
    with ToolRegistry(executor="thread") as registry:
        registry.load("mcp", GARBAGE_SERVER)
        wrong, right = registry.execute_tool_calls([ToolCall("w", "measure", {"value": None}),
                                                    ToolCall("r", "measure", {"value": 2.5})], timeout=30)
    assert wrong.error is not None and wrong.error.kind is ErrorKind.TOOL_ERROR
    assert wrong.error.message == (  # it was the SDK's RuntimeError, its jsonschema report over six lines
        f"'measure' on MCP server {' '.join(GARBAGE_SERVER)}: its answer does not fit the output schema the "
        "server declared (value['result']: None is not of type 'number')")
    assert right.value == {"result": 2.5}


def test_the_servers_stderr_goes_to_the_logger(stdio_command: list[str], caplog: pytest.LogCaptureFixture,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    with caplog.at_level(logging.INFO, logger="toolwire.mcp"), ToolRegistry(executor="thread") as registry:
        registry.load("mcp", stdio_command, namespace="logged")
        [result] = registry.execute_tool_calls([ToolCall("s", "logged_scribble", {"text": "INFO Tool 'x' failed"})])
        assert result.value == {"result": "logged"}
        deadline = time.monotonic() + 5
        while "INFO Tool 'x' failed" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    [record] = [r for r in caplog.records if "INFO Tool 'x' failed" in r.getMessage()]
    assert record.name == "toolwire.mcp" and "arith_server.py" in record.getMessage()
    assert "INFO Tool 'x' failed" not in capfd.readouterr().err


def test_stderr_inherit_leaves_it_on_this_process_stderr(stdio_command: list[str],
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    with ToolRegistry(executor="thread") as registry:
        registry.load("mcp", stdio_command, namespace="loud", stderr="inherit")
        registry.execute_tool_calls([ToolCall("s", "loud_scribble", {"text": "straight to stderr"})])
    toolwire_mcp.close_sessions()  # the server has exited: all it wrote is written
    assert "straight to stderr" in capfd.readouterr().err
    with pytest.raises(ValueError, match="stderr is 'log'"):
        registry.load("mcp", stdio_command, stderr="devnull")


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_a_server_that_exits_mid_call_costs_only_that_call(backend: str, stdio_command: list[str],
                                                           leak_check: None) -> None:
    with ToolRegistry(executor=backend, ordering="parallel") as registry:
        registry.load("mcp", stdio_command)
        adds = [ToolCall(f"a{i}", "add", {"a": i, "b": 1}) for i in range(3)]
        calls = [ToolCall("die", "die", {"delay": 0.3}), *adds]
        died, *added = registry.execute_tool_calls(calls, timeout=30)
        assert died.error is not None and died.error.kind is ErrorKind.TRANSPORT, died
        assert "connection to MCP server" in died.error.message and "arith_server.py" in died.error.message
        assert [result.value for result in added] == [{"total": 1}, {"total": 2}, {"total": 3}]
        again = registry.execute_tool_calls([ToolCall(f"b{i}", "add", {"a": i, "b": i}) for i in range(3)], timeout=30)
        assert [result.value for result in again] == [{"total": 0}, {"total": 2}, {"total": 4}]


# -- answers the server gets wrong ------------------------------------------------------------------------

ANSWERS = {  # what `answer` sends back -> the start of its call's error
    "result null": ({"result": None}, "the MCP server's answer cannot be read: its result is not an object: null"),
    "result list": ({"result": [1]}, "the MCP server's answer cannot be read: its result is not an object: [1]"),
    "error null": ({"error": None}, "the MCP server's answer cannot be read: its error is not an object with an "
                                    "integer code and a message: null"),
    "no content": ({"result": {}}, "the answer is not an MCP tool result (content: Field required"),
    "structured list": ({"result": {"content": [], "structuredContent": [1]}},
                        "the answer is not an MCP tool result (structuredContent: Input should be a valid dictionary"),
    "bad base64": ({"result": {"content": [{"type": "image", "data": "abc", "mimeType": "image/png"}]}},
                   "the MCP server sent a content block (image) whose data is not base64"),
    "server's -32000": ({"error": {"code": -32000, "message": "quota used up"}}, "MCPError: quota used up"),
}


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_an_answer_the_client_cannot_take_fails_its_call_at_once_and_alone(backend: str, leak_check: None) -> None:
    with ToolRegistry(executor=backend, ordering="parallel") as registry:
        registry.load("mcp", GARBAGE_SERVER)
        calls = [ToolCall(case, "answer", sent) for case, (sent, _) in ANSWERS.items()]
        calls += [ToolCall("surrogate", "answer", {"result": "\udcff"}), ToolCall("e", "echo", {"text": "ok"})]
        started = time.monotonic()
        *answered, surrogate, echoed = registry.execute_tool_calls(calls, timeout=30)
        assert time.monotonic() - started < 20  # none waited for its deadline
        for result, (_, expected) in zip(answered, ANSWERS.values(), strict=True):
            assert result.error is not None and result.error.kind is ErrorKind.TOOL_ERROR, result
            assert expected in result.error.message, result.error.message
        assert surrogate.error is not None and surrogate.error.kind is ErrorKind.INVALID_ARGUMENTS
        assert "the arguments for 'answer' cannot be sent to MCP server" in surrogate.error.message
        assert echoed.value == "ok"
