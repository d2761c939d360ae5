"""Your own tools: the module examples/toolwire.toml loads as `source = "my_tools"`.

Run from this folder (`toolwire tools --config toolwire.toml`, or a script here): toolwire imports modules
from the working directory as Python does for a script.
"""

from __future__ import annotations


def add(a: float, b: float) -> float:
    """Add two numbers.

    Args:
        a: The first operand.
        b: The second operand.
    """
    return a + b


def multiply(a: float, b: float) -> float:
    """Multiply two numbers.

    Args:
        a: The first operand.
        b: The second operand.
    """
    return a * b


def divide(a: float, b: float) -> float:
    """Divide a by b.

    Args:
        a: The dividend.
        b: The divisor (not zero).
    """
    return a / b
