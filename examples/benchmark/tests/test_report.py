"""The issues' targets as the report reads them: MCP on the thread and process backends, OpenAPI, failures."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from toolwire_bench._report import compare, print_section, run_phase


def _entry(side: str, backend: str, warm: float, scenario: str = "mcp-stdio") -> dict[str, Any]:
    return {"side": side, "backend": backend, "scenario": scenario, "size": 100, "warm_cps": warm,
            "cold_cps": warm / 10}


def _targets(rows: list[dict[str, Any]], backend: str) -> dict[str, bool | None]:
    [row] = [r for r in rows if r["backend"] == backend]
    return {t["target"]: t["met"] for t in row["targets"]}


def test_mcp_targets_apply_to_thread_and_process_and_stdio_process_must_beat_the_floor() -> None:
    results = [_entry("toolwire", "thread", 950), _entry("toolwire", "process", 990),
               _entry("toolwire", "dask", 500), _entry("toolregistry", "thread", 400),
               _entry("toolregistry", "async", 960), _entry("floor", "mcp-session", 1000)]
    rows = compare(results)
    assert _targets(rows, "thread") == {"warm ≥ 90% of floor": True, "warm > tr best": False}
    assert _targets(rows, "process") == {"warm ≥ 90% of floor": True, "warm > tr best": True,
                                         "warm > floor": False}
    assert _targets(rows, "dask") == {}


def test_over_http_the_process_backend_is_not_asked_to_beat_the_floor() -> None:
    results = [_entry("toolwire", "process", 1200, "mcp-http"), _entry("toolregistry", "async", 900, "mcp-http"),
               _entry("floor", "mcp-session", 1000, "mcp-http")]
    assert _targets(compare(results), "process") == {"warm ≥ 90% of floor": True, "warm > tr best": True}


def test_a_table_that_fails_is_reported_in_its_place_with_every_error_of_a_group() -> None:
    def measure() -> dict[str, Any]:
        try:
            raise ConnectionResetError("peer closed")
        except ConnectionResetError as reset:
            raise ExceptionGroup("unhandled errors in a TaskGroup", [reset, TimeoutError()]) from None

    section = run_phase(measure)
    console = Console(record=True, width=200)
    print_section("serving", section, console)

    assert section["failed"] == "ConnectionResetError: peer closed; TimeoutError"
    assert "Traceback" in section["traceback"] and "peer closed" in section["traceback"]
    assert console.export_text().strip() == "serving table failed: ConnectionResetError: peer closed; TimeoutError"
    assert run_phase(lambda: {"rows": []}) == {"rows": []}


def test_openapi_shows_the_services_capacity_against_toolregistrys_best_mode() -> None:
    results = [_entry("toolwire", "thread", 1900, "openapi"), _entry("toolregistry", "thread", 2000, "openapi"),
               _entry("toolregistry", "async", 1800, "openapi"), _entry("floor", "http.client", 1600, "openapi"),
               _entry("floor", "http-capacity", 2400, "openapi")]
    [row] = compare(results)
    assert row["capacity_vs_best"] == 1.2 and row["floor"] == "http.client"
    assert {t["target"]: t["met"] for t in row["targets"]} == {"warm ≥ 1.5× tr best": False,
                                                               "warm ≥ 70% of floor": True}
