"""Property: whatever policies are in force and whatever the batch holds, every call gets exactly one
result, in the calls' order, with its own id; nothing raises; a call that runs gives its own value."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toolwire import Annotations, ErrorKind, ToolCall, ToolCallError, ToolRegistry


def echo(n: int) -> int:
    return n


def fails_on_threes(n: int) -> int:
    if n % 3 == 0:
        raise ToolCallError("the upstream dropped the connection", kind=ErrorKind.TRANSPORT)
    return n


def asks_on_evens(n: int) -> int:
    """Ask the user first when `n` is even (an `input_required` result), then give `n`."""
    from toolwire.executing import call_inputs

    if n % 2 == 0 and call_inputs() is None:
        question = {"method": "elicitation/create", "params": {"message": f"{n}?"}}
        raise ToolCallError("asks first", ErrorKind.INPUT_REQUIRED, input_required={"inputRequests": {"q": question}})
    return n


TOOLS = {
    "asks": (asks_on_evens, Annotations()),
    "read": (echo, Annotations(read_only=True)),
    "write": (echo, Annotations(read_only=False)),
    "plain": (echo, Annotations()),
    "flaky": (fails_on_threes, Annotations(idempotent=True)),
}
ANSWERS = st.sampled_from([True, False, "not today", None, {"n": 7}, {"n": "x"}, 42])

calls = st.lists(
    st.tuples(
        st.sampled_from([*TOOLS, "missing"]),
        st.one_of(st.integers(-5, 50), st.text(max_size=3)),
        st.sampled_from(["a", "b", "c", "d", "e", ""]),  # ids repeat on purpose
    ),
    max_size=12,
)
policies = st.fixed_dictionaries({
    "ordering": st.sampled_from(["annotated", "parallel", "sequential"]),
    "max_result_chars": st.sampled_from([None, 1, 5, 100_000]),
    "approval": st.sets(st.sampled_from(list(TOOLS))),
    "answers": st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e", ""]), ANSWERS, max_size=6),
    "callback": st.booleans(),
    "answer": st.sampled_from([None, "all", "some", "raises"]),  # `ToolRegistry(answer=...)` for questions
    "max_concurrency": st.sampled_from([None, 1, 2, 3]),
    "rate": st.sampled_from([None, "1000/s"]),
    "retries": st.integers(0, 2),
    "timeout": st.sampled_from([None, 2.0, float("inf")]),  # a tool's own allowance in place of the batch's
})


def registry_for(policy: dict[str, Any]) -> ToolRegistry:
    answers = policy["answers"]

    def approve(pending: list[ToolCall]) -> dict[str, Any]:
        return {call.id: answers[call.id] for call in pending if call.id in answers}

    def answer(asked: list[Any]) -> dict[str, Any]:
        if policy["answer"] == "raises":
            raise RuntimeError("the dialog closed")
        return {result.call_id: {"inputResponses": {"q": {"action": "accept"}}} for result in asked
                if policy["answer"] == "all" or result.call_id in ("a", "b")}

    registry = ToolRegistry(executor="thread", ordering=policy["ordering"],
                            max_result_chars=policy["max_result_chars"],
                            approve=approve if policy["callback"] else None,
                            answer=answer if policy["answer"] else None)
    for name, (function, hints) in TOOLS.items():
        registry.load("native", function, name=name, annotations=hints)
    for name in policy["approval"]:
        registry.add_policy(match=name, requires_approval=True)
    if policy["max_concurrency"] or policy["rate"] or policy["retries"] or policy["timeout"]:
        registry.add_policy(match="*", max_concurrency=policy["max_concurrency"], rate=policy["rate"],
                            retries=policy["retries"], timeout=policy["timeout"])
    return registry


@pytest.fixture(scope="module")
def timeout() -> float:
    return 5.0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=calls, policy=policies)
def test_one_result_per_call_in_order_whatever_the_policies(batch: list[tuple], policy: dict, timeout: float) -> None:
    registry = registry_for(policy)
    try:
        wire = [ToolCall(call_id, name, {"n": n}) for name, n, call_id in batch]
        results = registry.execute_tool_calls(wire, timeout=timeout,
                                              approvals=policy["answers"] if not policy["callback"] else None)
    finally:
        registry.close()
    assert [(r.call_id, r.name) for r in results] == [(c.id, c.name) for c in wire]
    for call, result in zip(wire, results, strict=True):
        assert result.is_error == (result.error is not None)
        if result.error is None:
            n = call.arguments["n"]
            own = int(Decimal(n)) if isinstance(n, str) else n  # "3" (and "0.0") was coerced by pydantic
            assert result.value in (own, 7)  # its own value (7: arguments edited on approval)
            assert result.attempts >= 1
        else:
            assert result.error.message
        if call.name == "missing":
            assert result.error is not None and result.error.kind == ErrorKind.UNKNOWN_TOOL
        if policy["answer"] == "all":  # every question was answered in the batch
            assert result.error is None or result.error.kind != ErrorKind.INPUT_REQUIRED
