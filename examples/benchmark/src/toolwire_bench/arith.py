"""The benchmark's tools: add, subtract, multiply and divide, as functions and as methods of a class.

Standard library only, so that toolregistry's side (in its own environment) registers the very same code.
"""

from __future__ import annotations

__all__ = ["OPS", "Calculator", "add", "divide", "multiply", "subtract"]

OPS = ("add", "subtract", "multiply", "divide")


def add(a: float, b: float) -> float:
    """Add two numbers.

    Args:
        a: The first operand.
        b: The second operand.
    """
    return a + b


def subtract(a: float, b: float) -> float:
    """Subtract b from a.

    Args:
        a: The first operand.
        b: The second operand.
    """
    return a - b


def multiply(a: float, b: float) -> float:
    """Multiply two numbers.

    Args:
        a: The first operand.
        b: The second operand.
    """
    return a * b


def divide(a: float, b: float) -> float:
    """Divide a by b; dividing by zero is an error.

    Args:
        a: The numerator.
        b: The denominator.
    """
    if b == 0:
        raise ZeroDivisionError("division by zero")
    return a / b


class Calculator:
    """The same four operations as methods of an instance."""

    def add(self, a: float, b: float) -> float:
        """Add two numbers.

        Args:
            a: The first operand.
            b: The second operand.
        """
        return a + b

    def subtract(self, a: float, b: float) -> float:
        """Subtract b from a.

        Args:
            a: The first operand.
            b: The second operand.
        """
        return a - b

    def multiply(self, a: float, b: float) -> float:
        """Multiply two numbers.

        Args:
            a: The first operand.
            b: The second operand.
        """
        return a * b

    def divide(self, a: float, b: float) -> float:
        """Divide a by b; dividing by zero is an error.

        Args:
            a: The numerator.
            b: The denominator.
        """
        if b == 0:
            raise ZeroDivisionError("division by zero")
        return a / b
