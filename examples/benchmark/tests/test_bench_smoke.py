"""The harness end to end in --quick mode: native functions on the thread and dask backends, no toolregistry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from toolwire_bench import _frameworks, _report, _serving, main


def test_quick_run_reports_complete_correct_results(tmp_path: Path) -> None:
    code = main(["--quick", "--no-baseline", "--no-frameworks", "--no-serving", "--scenarios",
                 "native-function", "--backends", "thread", "--out", str(tmp_path)])

    report = json.loads((tmp_path / "results.json").read_text())
    ours = [r for r in report["results"] if r["side"] == "toolwire"]
    assert code == 0
    assert [(r["scenario"], r["backend"], r["size"], r["status"]) for r in ours] == [
        ("native-function", "thread", 100, "ok")
    ]
    entry = ours[0]
    assert entry["calls"] == 300  # one cold and two warm batches of 100, every call counted
    assert entry["success_rate"] == 1.0
    assert entry["correct_rate"] == 1.0
    assert entry["errors"] == []
    assert entry["cold_cps"] > 0 and entry["warm_cps"] > 0
    floors = {r["backend"]: r["correct_rate"] for r in report["results"] if r["side"] == "floor"}
    assert floors == {"multiprocessing": 1.0, "bare-loop": 1.0}
    assert report["comparisons"][0]["floor_share_warm"] > 0
    assert report["comparisons"][0]["cost_vs_bare_loop"] > 0
    assert report["parse_100_calls_us"] > 0
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
    overhead = {row["variant"]: row for row in report["overhead"]["rows"]}
    assert list(overhead) == ["plain", "policies", "tracing", "sdk spans"]
    assert overhead["plain"]["ratio"] == 1.0
    assert all(row["median_ms"] > 0 and row["skipped"] is None for row in overhead.values()), overhead


def test_quick_dask_run_measures_chunking_against_one_task_per_call(tmp_path: Path) -> None:
    pytest.importorskip("toolwire_dask")
    code = main(["--quick", "--no-baseline", "--no-overhead", "--no-frameworks", "--no-serving",
                 "--scenarios", "native-function", "--backends", "dask", "--out", str(tmp_path)])

    report = json.loads((tmp_path / "results.json").read_text())
    rows = {(r["side"], r["backend"]): r for r in report["results"]}
    assert code == 0
    assert set(rows) == {("toolwire", "dask"), ("floor", "multiprocessing"), ("floor", "dask-task-per-call"),
                         ("floor", "bare-loop")}
    for row in rows.values():
        assert (row["status"], row["calls"], row["correct_rate"]) == ("ok", 300, 1.0)
    comparison = report["comparisons"][0]
    assert comparison["backend"] == "dask"
    assert comparison["floor"] == "multiprocessing"
    assert comparison["ratio_warm_dask_per_call"] > 0


@pytest.mark.parametrize("framework", _frameworks.FRAMEWORKS)
def test_each_framework_runs_a_turn_its_own_way_and_through_toolwire(framework: str) -> None:
    for side in ("own", "toolwire"):
        assert _frameworks._run(framework, side, "io", runs=1)["median_ms"] > 0  # exits if any output is wrong


def test_the_serving_table_drives_served_registries_the_floor_gateways_and_a_long_run() -> None:
    serving = _serving.measure(1, 200, ("toolwire thread", "floor", "gateway", "fastmcp gateway, shared session"))
    assert [(row["protocol"], row["contender"]) for row in serving["rows"]] == [
        ("mcp", "toolwire thread"), ("mcp", "floor"), ("mcp", "gateway"), ("mcp", "fastmcp gateway, shared session"),
        ("http", "toolwire thread")]
    assert all(row["calls_per_s"] > 0 and row["errors"] == 0 and row["server_cpu_us"] >= 0
               for row in serving["rows"]), serving
    assert all(row["sdk"]["calls_per_s"] > 0 and row["sdk"]["errors"] == 0 for row in serving["rows"]), serving
    assert serving["ratios"]["mcp of floor"] > 0
    assert serving["ratios"]["mcp gateway vs fastmcp gateway, shared session"] > 0
    assert serving["long_run"]["calls"] == 200 and serving["long_run"]["errors"] == 0
    console = Console(record=True, width=200)
    console.print(_report.serving_table(serving))
    text = console.export_text()
    assert "toolwire thread" in text and "library client" in text
    words = " ".join(text.split())  # the caption as one line, wherever it wrapped
    assert "mcp gateway overhead" in words and "(target <= 0.15)" in words
