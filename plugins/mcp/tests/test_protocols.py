"""The protocol a session speaks: the handshake by default over stdio and SSE, the 2026 protocol on request."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from toolwire import ErrorKind, ToolRegistry
from toolwire_mcp import MCPLoader


def call(registry: ToolRegistry, name: str) -> Any:
    [result] = registry.execute_tool_calls([{"id": "1", "type": "function",
                                             "function": {"name": name, "arguments": "{}"}}])
    return result


@pytest.fixture
def registry(stdio_command: list[str], arith: ModuleType) -> Any:
    registry = ToolRegistry(executor="thread")
    registry.load("mcp", stdio_command, namespace="legacy")
    registry.load("mcp", stdio_command, namespace="modern", protocol="auto")
    registry.register(arith.build_server([]), namespace="local")
    yield registry
    registry.close()


def test_the_handshake_by_default_and_2026_on_request(registry: ToolRegistry) -> None:
    assert call(registry, "legacy_protocol").value["result"] not in MODERN_PROTOCOL_VERSIONS
    assert call(registry, "modern_protocol").value["result"] in MODERN_PROTOCOL_VERSIONS
    assert call(registry, "local_protocol").value["result"] in MODERN_PROTOCOL_VERSIONS


@pytest.mark.parametrize("namespace", ["modern", "local"])
def test_a_multi_round_call_resumes_from_the_servers_state(registry: ToolRegistry, namespace: str) -> None:
    result = call(registry, f"{namespace}_two_rounds")
    assert result.value == {"result": "done in round 2"}


@pytest.mark.parametrize("namespace", ["legacy", "modern", "local"])
def test_a_tool_asking_the_user_for_input_is_an_error(registry: ToolRegistry, namespace: str) -> None:
    result = call(registry, f"{namespace}_ask")
    assert result.is_error and result.error.kind is ErrorKind.TOOL_ERROR
    assert "elicitation" in result.content.lower()


def test_an_unknown_protocol_is_refused_with_the_choices(stdio_command: list[str]) -> None:
    with pytest.raises(ValueError, match=r"unknown MCP protocol '2099-01-01'.*'legacy', 'auto'"):
        MCPLoader(protocol="2099-01-01").load(stdio_command)


@pytest.mark.parametrize("namespace", ["modern", "local"])
def test_a_question_a_tool_asks_is_its_calls_result_and_the_answer_resumes_it(registry: ToolRegistry,
                                                                               namespace: str) -> None:
    """On the 2026 protocol a server asks with the call's result: the caller gets the question (`input_required`)
    and answers it with `inputs=`; before, the call failed ('did not declare the form elicitation capability')."""
    call = {"id": "1", "type": "function", "function": {"name": f"{namespace}_greet", "arguments": "{}"}}
    [asked] = registry.execute_tool_calls([call])
    assert asked.error is not None and asked.error.kind is ErrorKind.INPUT_REQUIRED
    assert asked.content == ("'greet' needs input before it can finish (a question for the user: 'Your name?') and "
                             "has not finished yet; it goes on once that is answered")
    question = asked.error.input_required
    assert question is not None and set(question) <= {"inputRequests", "requestState"}  # nothing of the server's own
    [(key, request)] = question["inputRequests"].items()
    assert (request["method"], request["params"]["message"]) == ("elicitation/create", "Your name?")
    answer = {"inputResponses": {key: {"action": "accept", "content": {"name": "carol"}}}}
    if "requestState" in question:
        answer["requestState"] = question["requestState"]
    [answered] = registry.execute_tool_calls([call], inputs={"1": answer})
    assert answered.value == {"result": "hello carol"}


@pytest.mark.parametrize("namespace", ["modern", "local"])
@pytest.mark.parametrize(("tool", "method", "told", "reply", "value"), [
    ("word", "sampling/createMessage", "a reply from the host's model",
     {"role": "assistant", "content": {"type": "text", "text": "hi"}, "model": "m"}, {"result": "hi"}),
    ("roots", "roots/list", "the client's roots", {"roots": [{"uri": "file:///work"}]}, {"result": ["file:///work"]}),
])
def test_a_tool_asking_for_the_hosts_model_or_roots_is_answered_like_a_question(
        registry: ToolRegistry, namespace: str, tool: str, method: str, told: str, reply: Any, value: Any) -> None:
    """Sampling and roots requests come back with the call (2026 protocol) as questions do, and the caller's answer
    resumes it; before, the server refused the call ('did not declare the sampling capability')."""
    call = {"id": "1", "type": "function", "function": {"name": f"{namespace}_{tool}", "arguments": "{}"}}
    [asked] = registry.execute_tool_calls([call])
    assert asked.error is not None and asked.error.kind is ErrorKind.INPUT_REQUIRED, asked.content
    assert f"needs input before it can finish ({told})" in asked.content
    question = asked.error.input_required
    assert question is not None
    [(key, request)] = question["inputRequests"].items()
    assert request["method"] == method
    answer = {"inputResponses": {key: reply}, **{k: v for k, v in question.items() if k == "requestState"}}
    [answered] = registry.execute_tool_calls([call], inputs={"1": answer})
    assert answered.value == value, answered.content


def test_a_question_asked_mid_call_on_the_handshake_is_refused_in_words(registry: ToolRegistry) -> None:
    """A server of the handshake era asks in the middle of the call, where no caller can answer."""
    result = call(registry, "legacy_greet")
    assert result.is_error and "elicitation" in result.content.lower()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
_ANSWERS = _JSON | st.fixed_dictionaries({}, optional={
    "inputResponses": _JSON | st.dictionaries(st.text(max_size=30), _JSON | st.fixed_dictionaries(
        {"action": st.sampled_from(["accept", "decline", "cancel", "maybe"])}, optional={"content": _JSON}),
        max_size=2),
    "requestState": _JSON})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers=_ANSWERS)
def test_any_answers_give_the_call_a_result_and_leave_the_others_alone(registry: ToolRegistry, answers: Any) -> None:
    """Whatever a caller sends as `inputs=`, the call answered gets a result of its own (a value, its error, or the
    question again) and the call beside it is untouched."""
    calls = [{"id": "q", "type": "function", "function": {"name": "modern_greet", "arguments": "{}"}},
             {"id": "a", "type": "function", "function": {"name": "modern_add", "arguments": '{"a": 1, "b": 2}'}}]
    asked, added = registry.execute_tool_calls(calls, inputs={"q": answers})
    assert added.value == {"total": 3}
    assert asked.call_id == "q" and (asked.error is None) == (asked.value is not None)
    if asked.error is not None:
        assert asked.error.kind in (ErrorKind.INVALID_ARGUMENTS, ErrorKind.INPUT_REQUIRED, ErrorKind.TOOL_ERROR)
        assert asked.content.strip()


@pytest.mark.parametrize("answers", ["yes", {"inputResponses": {"key": "yes"}}, {"requestState": 7}])
def test_answers_that_are_not_input_responses_are_the_calls_invalid_arguments(registry: ToolRegistry,
                                                                              answers: Any) -> None:
    call = {"id": "1", "type": "function", "function": {"name": "modern_greet", "arguments": "{}"}}
    [result] = registry.execute_tool_calls([call], inputs={"1": answers})
    assert result.error is not None and result.error.kind is ErrorKind.INVALID_ARGUMENTS
    assert result.content.startswith("the answers given to what 'greet' asked (inputs=) are not MCP input responses")
