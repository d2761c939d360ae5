"""The workload and the correctness check every contender's results go through."""

from __future__ import annotations

import pytest
from toolwire_bench._measure import make_workload, number, openai_calls, summarise, tool_names


def test_workload_is_seeded_and_uses_every_operation() -> None:
    workload = make_workload(100, seed=7)
    assert workload == make_workload(100, seed=7)
    assert workload != make_workload(100, seed=8)
    assert {op for op, _, _ in workload} == {"add", "subtract", "multiply", "divide"}
    assert all(1 <= a <= 100 and 1 <= b <= 100 for _, a, b in workload)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3.0), (2.5, 2.5), ({"result": 4.0}, 4.0), ('{"result": 5}', 5.0), ("6.0", 6.0), ([7], 7.0),
     ("Error: division by zero", None), (True, None), ({"a": 1, "b": 2}, None)],
)
def test_number_reads_every_shape_a_tool_answers_in(value: object, expected: float | None) -> None:
    assert number(value) == expected


def test_summary_counts_failures_and_wrong_values_apart() -> None:
    workload = [("add", 1, 2), ("divide", 1, 4), ("multiply", 3, 3), ("subtract", 5, 1)]
    outcomes = [(True, 3), (True, {"result": 0.25}), (True, 10), (False, "ZeroDivisionError: boom")]

    summary = summarise(workload, outcomes, seconds=0.5)

    assert (summary["n"], summary["returned"], summary["ok"], summary["correct"]) == (4, 4, 3, 2)
    assert summary["errors"] == ["wrong value for multiply(3, 3): 10", "ZeroDivisionError: boom"]


def test_calls_name_one_tool_per_operation() -> None:
    names = tool_names(["calc_add", "calc_subtract", "calc_multiply", "calc_divide", "other"])
    calls = openai_calls([("divide", 6, 3)], names)
    assert calls == [{"id": "call_0", "type": "function",
                      "function": {"name": "calc_divide", "arguments": '{"a": 6, "b": 3}'}}]
    with pytest.raises(LookupError, match="add"):
        tool_names(["calc_subtract", "calc_multiply", "calc_divide"])
