"""Your own tools: the module examples/toolwire.toml loads as `source = "my_tools"`.

Run from this folder (`toolwire tools --config toolwire.toml`, or a script here): toolwire imports modules
from the working directory as Python does for a script.
"""

from __future__ import annotations


def add(a: float, b: float) -> float:
    """The sum of a and b.

    For more than two numbers, call it once per pair."""
    return a + b


def multiply(a: float, b: float) -> float:
    """The product of a and b.

    Exact for integers up to 2**53."""
    return a * b


def divide(a: float, b: float) -> float:
    """a divided by b.

    b must not be zero: the call fails with the error the model reads."""
    return a / b
