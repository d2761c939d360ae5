"""Invokers: plain values that pickle by reference to their function and compare by their fields."""

from __future__ import annotations

import pickle

from toolwire.testing import add
from toolwire_native._invoker import AsyncFunctionInvoker, FunctionInvoker


def pair(*values: int) -> tuple[int, ...]:
    return values


def test_invokers_pickle_compare_and_hash_by_their_fields() -> None:
    invoker = FunctionInvoker(add, ("a",))
    copy = pickle.loads(pickle.dumps(invoker))
    assert copy == invoker and hash(copy) == hash(invoker)
    assert type(copy) is FunctionInvoker
    assert invoker != FunctionInvoker(add) and invoker != AsyncFunctionInvoker(add, ("a",))
    assert repr(invoker) == f"FunctionInvoker({add!r}, ('a',), None)"


def test_positional_names_and_var_positional_are_passed_positionally() -> None:
    assert FunctionInvoker(pair, (), "values")(values=[1, 2, 3]) == (1, 2, 3)
    assert FunctionInvoker(add, ("a", "b"))(a=2, b=3) == 5
