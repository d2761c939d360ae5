"""Descriptions: summary and body dedented, parameter texts from Google, NumPy and Sphinx docstrings."""

from __future__ import annotations

from typing import Annotated

import pydantic


def google(city: str, days: int = 1, *units: str) -> list[float]:
    """Forecast the weather.

    Looks the city up first,
    then asks the model.

    Args:
        city: The city's name,
            in English.
        days: How many days ahead.
        *units: Units to report in.

    Returns:
        One temperature per day.

    Raises:
        KeyError: unknown city.
    """
    return []


def numpy(city: str, days: int = 1) -> list[float]:
    """
    Forecast the weather.

    Looks the city up first.

    Parameters
    ----------
    city : str
        The city's name.
    days : int, optional
        How many days ahead.

    Returns
    -------
    list of float
        One temperature per day.
    """
    return []


def sphinx(city: str, days: int = 1) -> list[float]:
    """Forecast the weather.

    Looks the city up first.

    :param city: The city's name.
    :param days: How many days ahead.
    :returns: One temperature per day.
    """
    return []


def test_google_style(tool_of) -> None:
    tool = tool_of(google)
    assert tool.description == "Forecast the weather.\n\nLooks the city up first,\nthen asks the model."
    properties = tool.parameters["properties"]
    assert properties["city"]["description"] == "The city's name,\nin English."
    assert properties["days"]["description"] == "How many days ahead."
    assert properties["units"]["description"] == "Units to report in."
    assert tool.output_schema["description"] == "One temperature per day."


def test_numpy_style(tool_of) -> None:
    tool = tool_of(numpy)
    assert tool.description == "Forecast the weather.\n\nLooks the city up first."
    assert tool.parameters["properties"]["city"]["description"] == "The city's name."
    assert tool.parameters["properties"]["days"]["description"] == "How many days ahead."
    assert tool.output_schema["description"] == "One temperature per day."


def test_sphinx_style(tool_of) -> None:
    tool = tool_of(sphinx)
    assert tool.description == "Forecast the weather.\n\nLooks the city up first."
    assert tool.parameters["properties"]["city"]["description"] == "The city's name."
    assert tool.parameters["properties"]["days"]["description"] == "How many days ahead."
    assert tool.output_schema["description"] == "One temperature per day."


def test_a_plain_docstring_is_the_whole_description(tool_of) -> None:
    def f() -> None:
        """Do it.

        Call it like so::

            f()

        and it is done.
        """

    assert tool_of(f).description == "Do it.\n\nCall it like so::\n\n    f()\n\nand it is done."


def test_no_docstring_no_description(tool_of) -> None:
    def f(a: int) -> None: ...

    tool = tool_of(f)
    assert tool.description == ""
    assert "description" not in tool.parameters["properties"]["a"]


def test_a_field_description_wins_over_the_docstring(tool_of) -> None:
    def f(a: Annotated[int, pydantic.Field(description="From the field.")], b: int) -> None:
        """Sum.

        Args:
            a: From the docstring.
            b: Second.
        """

    properties = tool_of(f).parameters["properties"]
    assert properties["a"]["description"] == "From the field."
    assert properties["b"]["description"] == "Second."


def test_name_and_description_options(tool_of) -> None:
    tool = tool_of(sphinx, name="weather", description="Weather, briefly.")
    assert (tool.name, tool.description) == ("weather", "Weather, briefly.")
