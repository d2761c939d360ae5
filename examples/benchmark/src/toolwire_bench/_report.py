"""The report: toolwire beside toolregistry and the floors, and the issues' targets; table, JSON and chart."""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from toolwire_bench._harness import BARE_LOOP, DASK_PER_CALL, HTTP_CAPACITY, LARGE_BATCH, SCENARIOS, floor_for

_SIDE_ORDER = ("toolwire", "toolregistry", "floor")
_BACKEND_ORDER = ("thread", "process", "dask", "async")


def compare(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each measured toolwire series: the ratio to toolregistry, the share of the floor, the targets."""
    comparisons = []
    for entry in results:
        if entry["side"] != "toolwire" or entry.get("warm_cps") is None:
            continue
        peers = [r for r in results if r["scenario"] == entry["scenario"] and r["size"] == entry["size"]
                 and r.get("warm_cps") is not None]
        toolregistry = {r["backend"]: r for r in peers if r["side"] == "toolregistry"}
        floors = {r["backend"]: r for r in peers if r["side"] == "floor"}
        floor = floors.get(floor_for(entry["scenario"]))
        per_call = floors.get(DASK_PER_CALL) if entry["backend"] == "dask" else None
        bare = floors.get(BARE_LOOP)
        capacity = floors.get(HTTP_CAPACITY)
        same = toolregistry.get(entry["backend"])
        best = max(toolregistry.values(), key=lambda r: r["warm_cps"], default=None)
        versus = same or best
        row: dict[str, Any] = {
            "scenario": entry["scenario"], "size": entry["size"], "backend": entry["backend"],
            "versus": versus["backend"] if versus else None,
            "ratio_warm": _ratio(entry["warm_cps"], _rate(versus, "warm_cps")),
            "ratio_cold": _ratio(entry["cold_cps"], _rate(versus, "cold_cps")),
            "best_toolregistry_mode": best["backend"] if best else None,
            "ratio_warm_best": _ratio(entry["warm_cps"], _rate(best, "warm_cps")),
            "floor": floor["backend"] if floor else None,
            "floor_share_warm": _ratio(entry["warm_cps"], _rate(floor, "warm_cps")),
            "ratio_warm_dask_per_call": _ratio(entry["warm_cps"], _rate(per_call, "warm_cps")),
            "cost_vs_bare_loop": _ratio(_rate(bare, "warm_cps"), entry["warm_cps"]),
            "capacity_vs_best": _ratio(_rate(capacity, "warm_cps"), _rate(best, "warm_cps")),
        }
        row["targets"] = _targets(entry, row, same is not None)
        comparisons.append(row)
    return comparisons


def _rate(row: dict[str, Any] | None, key: str) -> float | None:
    """A contender's calls per second (`warm_cps` or `cold_cps`), or None when there is no such contender."""
    return None if row is None else row[key]


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return ours / theirs if ours and theirs else None


def _target(name: str, value: float | None, goal: float, strict: bool = False,
            at_most: bool = False) -> dict[str, Any]:
    if value is None:
        met = None
    elif at_most:
        met = value <= goal
    else:
        met = value > goal if strict else value >= goal
    return {"target": name, "value": value, "goal": goal, "met": met}


def _targets(entry: dict[str, Any], row: dict[str, Any], same_mode: bool) -> list[dict[str, Any]]:
    """The issues' targets that apply to this series (shown, never asserted); "tr" is toolregistry."""
    scenario, backend, large = entry["scenario"], entry["backend"], entry["size"] > LARGE_BATCH
    native = scenario.startswith("native")
    if native and backend == "thread" and large:
        return [_target("cost ≤ 2× bare loop", row["cost_vs_bare_loop"], 2.0, at_most=True)]
    if native and backend == "process" and large:
        return [_target("warm ≥ 25% of floor", row["floor_share_warm"], 0.25)]
    if native and backend == "thread" and same_mode:
        return [_target("warm ≥ 1.5× tr thread", row["ratio_warm"], 1.5)]
    if native and backend == "dask" and large:
        return [_target("warm ≥ 5× dask task per call", row["ratio_warm_dask_per_call"], 5.0)]
    if native and backend == "process" and same_mode:
        return [_target("warm ≥ 10× tr process", row["ratio_warm"], 10.0),
                _target("cold ≥ 3× tr process", row["ratio_cold"], 3.0)]
    if scenario == "openapi" and backend == "thread":
        return [_target("warm ≥ 1.5× tr best", row["ratio_warm_best"], 1.5),
                _target("warm ≥ 70% of floor", row["floor_share_warm"], 0.7)]
    if scenario.startswith("mcp") and backend in ("thread", "process"):
        targets = [_target("warm ≥ 90% of floor", row["floor_share_warm"], 0.9),
                   _target("warm > tr best", row["ratio_warm_best"], 1.0, strict=True)]
        if scenario == "mcp-stdio" and backend == "process":  # a server per worker
            targets.append(_target("warm > floor", row["floor_share_warm"], 1.0, strict=True))
        return targets
    return []


def table(report: dict[str, Any]) -> Table:
    """The terminal table: every series, grouped by scenario and batch size."""
    machine = report["machine"]
    caption = (
        f"{machine['cpus']} CPUs, {machine['platform']}, Python {machine['python']}; load average "
        f"{_load(machine.get('load_average'))} at start, {_load(machine.get('load_average_end'))} at end. "
        f"{report['toolregistry']}. Medians over {report['settings']['repeats']} fresh-process repeats. "
        f"toolwire parses 100 OpenAI chat tool calls in {_us(report.get('parse_100_calls_us'))}."
    )
    grid = Table(title="toolwire vs toolregistry 0.19.0 vs the bare-library floors (calls per second)",
                 caption=caption, show_lines=False)
    for name, justify in (("scenario", "left"), ("calls", "right"), ("contender", "left"),
                          ("cold/s", "right"), ("warm/s", "right"), ("ok", "right"), ("correct", "right"),
                          ("× toolregistry", "right"), ("% of floor", "right"), ("targets", "left")):
        grid.add_column(name, justify=justify)  # type: ignore[arg-type]
    comparisons = {(c["scenario"], c["size"], c["backend"]): c for c in report["comparisons"]}
    previous = None
    for entry in _ordered(report["results"]):
        group = (entry["scenario"], entry["size"])
        if previous is not None and group != previous:
            grid.add_section()
        first = group != previous
        previous = group
        cells = [entry["scenario"] if first else "", f"{entry['size']:,}" if first else "",
                 f"{entry['side']} {entry['backend']}"]
        if entry["status"] == "not installed":
            grid.add_row(*cells, "[dim]not installed[/]", f"[dim]{entry['note']}[/]", *[""] * 5)
            continue
        comparison = comparisons.get((entry["scenario"], entry["size"], entry["backend"]))
        cells += [_cps(entry.get("cold_cps")), _cps(entry.get("warm_cps")), _pct(entry.get("success_rate")),
                  _pct(entry.get("correct_rate"))]
        if comparison is not None and entry["side"] == "toolwire":
            versus = comparison["versus"]
            cells += [f"{_times(comparison['ratio_warm'])} {versus or ''}".strip(),
                      _pct(comparison["floor_share_warm"]),
                      _target_text(comparison["targets"]) or _per_call_text(comparison) or _first_error(entry)]
            if comparison["cost_vs_bare_loop"] is not None:
                cells[-1] = _dim_line(cells[-1], f"cost {_times(comparison['cost_vs_bare_loop'])} bare loop")
            if comparison["capacity_vs_best"] is not None:  # the most any client could reach against tr
                cells[-1] = _dim_line(cells[-1], f"the service's capacity: {_times(comparison['capacity_vs_best'])} "
                                                 "tr best")
        else:
            cells += ["", "", _first_error(entry)]
        grid.add_row(*cells)
    return grid


def _dim_line(cell: str, line: str) -> str:
    return "\n".join(filter(None, [cell, f"[dim]{line}[/]"]))


def _ordered(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(entry: dict[str, Any]) -> tuple[int, int, int, int]:
        backend = _BACKEND_ORDER.index(entry["backend"]) if entry["backend"] in _BACKEND_ORDER else 9
        return SCENARIOS.index(entry["scenario"]), entry["size"], _SIDE_ORDER.index(entry["side"]), backend

    return sorted(results, key=key)


def _first_error(entry: dict[str, Any]) -> str:
    """The last line of the first error (a traceback's last line names the exception)."""
    errors = entry.get("errors") or []
    return f"[red]{escape(errors[0].strip().splitlines()[-1][:70])}[/]" if errors else ""


def _per_call_text(comparison: dict[str, Any]) -> str:
    """The dask backend's speed-up over one Dask task per call, where no target applies."""
    ratio = comparison["ratio_warm_dask_per_call"]
    return "" if ratio is None else f"[dim]{_times(ratio)} dask task per call[/]"


def _target_text(targets: list[dict[str, Any]]) -> str:
    marks = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[dim]?[/]"}
    lines = []
    for target in targets:
        shown = _pct if "floor" in target["target"] else _times
        lines.append(f"{marks[target['met']]} {target['target']} ({shown(target['value'])})")
    return "\n".join(lines)


def _cps(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _times(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _us(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.0f} µs"


def _load(values: list[float] | None) -> str:
    return "?" if not values else "/".join(f"{v:.1f}" for v in values)


def write_json(report: dict[str, Any], path: Path) -> None:
    """The whole report, every run's rates included."""
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False))


def write_chart(report: dict[str, Any], path: Path) -> None:
    """A PNG: warm calls per second per scenario and contender, one panel per batch size, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r for r in report["results"] if r.get("warm_cps")]
    sizes = sorted({r["size"] for r in measured})
    if not sizes:
        return
    figure, axes = plt.subplots(len(sizes), 1, figsize=(12, 4.5 * len(sizes)), squeeze=False)
    for axis, size in zip(axes[:, 0], sizes, strict=True):
        rows = [r for r in _ordered(measured) if r["size"] == size]
        scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
        contenders = list(dict.fromkeys(_label(r) for r in rows))
        width = 0.8 / len(contenders)
        for index, contender in enumerate(contenders):
            values = {r["scenario"]: r["warm_cps"] for r in rows if _label(r) == contender}
            positions = [s + (index - (len(contenders) - 1) / 2) * width for s in range(len(scenarios))]
            axis.bar(positions, [values.get(s, 0) for s in scenarios], width, label=contender)
        axis.set_xticks(range(len(scenarios)), scenarios)
        axis.set_yscale("log")
        axis.set_ylabel("warm calls / s (log)")
        axis.set_title(f"batches of {size:,} calls")
        axis.legend(fontsize="small", ncol=3)
        axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _label(entry: dict[str, Any]) -> str:
    if entry["side"] == "floor" and entry["backend"] not in (DASK_PER_CALL, BARE_LOOP, HTTP_CAPACITY):
        return "floor"
    return f"{entry['side']} {entry['backend']}"


def overhead_table(overhead: dict[str, Any]) -> Table:
    """What policies and tracing add to the plain batch (issue 17's targets)."""
    caption = (f"{overhead['batch']}-call native batch, warm, {overhead['backend']} backend; median of "
               f"{overhead['repeats']} fresh processes x {overhead['warm_batches']} warm batches")
    out = Table(title="Overhead of policies and tracing", caption=caption)
    for column in ("variant", "batch ms", "x plain", "target"):
        out.add_column(column, justify="left" if column == "variant" else "right")
    for row in overhead["rows"]:
        if row["skipped"]:
            out.add_row(row["variant"], "-", "-", f"skipped: {row['skipped']}")
            continue
        target = "" if row["target"] is None else f"<= {row['target']:.2f}x " + ("met" if row["met"] else "NOT met")
        out.add_row(row["variant"], f"{row['median_ms']:.3f}", _times(row["ratio"]), target)
    return out


def frameworks_table(frameworks: dict[str, Any]) -> Table:
    """Each agent framework's own tool execution against the same framework through toolwire (issue 19)."""
    caption = (f"one model turn of {frameworks['calls']} parallel calls, whole agent run; median of "
               f"{frameworks['repeats']} fresh processes x {frameworks['runs']} runs; io: 50 ms sleep each, "
               "toolwire on threads; cpu: ~20 ms of Python each, toolwire on processes")
    out = Table(title="Agent frameworks: their own tool execution vs toolwire's adapter", caption=caption)
    for column in ("framework", "workload", "own ms", "toolwire ms", "speedup", "target"):
        out.add_column(column, justify="left" if column in ("framework", "workload") else "right")
    for row in frameworks["rows"]:
        if row["skipped"]:
            out.add_row(row["framework"], row["workload"], "-", "-", "-", f"skipped: {row['skipped']}")
            continue
        target = f">= {row['target']:.1f}x " + ("met" if row["met"] else "NOT met")
        out.add_row(row["framework"], f"{row['workload']} ({row['backend']})", f"{row['own_ms']:.1f}",
                    f"{row['toolwire_ms']:.1f}", _times(row["speedup"]), target)
    return out


def serving_table(serving: dict[str, Any]) -> Table:
    """Servers under concurrent clients (issue 16): warm calls/s, CPU per call, and the targeted ratios."""
    long = serving["long_run"]
    ratios = ", ".join(f"{name} {value:.2f}{_target_of(name, serving['targets'])}"
                       for name, value in serving["ratios"].items())
    caption = (f"{serving['clients']} clients x {serving['in_flight']} calls in flight, warm rounds of 100 calls, "
               "median; each server in its own process. Lean client: toolwire_bench._raw_http (keep-alive HTTP/1.1, "
               "JSON-RPC as the mcp SDK's client sends it); library clients: the mcp SDK's Client (MCP), httpx (HTTP). "
               f"Ratios (lean client): {ratios}. {long['calls']:,} calls from {serving['clients']} mcp SDK clients to "
               f"toolwire thread: {long['errors']} errors in {long['seconds']:.1f} s.")
    out = Table(title="Serving under load", caption=caption)
    for column in ("protocol", "server", "calls/s", "errors", "server CPU µs/call", "client CPU µs/call",
                   "calls/s, library client", "its client CPU µs/call"):
        out.add_column(column, justify="left" if column in ("protocol", "server") else "right")
    for row in serving["rows"]:
        sdk = row["sdk"]
        out.add_row(row["protocol"], row["contender"], f"{row['calls_per_s']:,.0f}",
                    str(row["errors"] + sdk["errors"]), f"{row['server_cpu_us']:,.0f}", f"{row['client_cpu_us']:,.0f}",
                    f"{sdk['calls_per_s']:,.0f}", f"{sdk['client_cpu_us']:,.0f}")
    return out


def _target_of(name: str, targets: dict[str, float]) -> str:
    if name not in targets:
        return ""
    return f" (target {'<=' if 'overhead' in name else '>='} {targets[name]})"


def run_phase(measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """What `measure()` returns, or `{"failed": why, "traceback": ...}` when it raises: one table's failure is
    reported in its place and does not cost the tables measured before or after it."""
    try:
        return measure()
    except Exception as error:
        return {"failed": _describe(error), "traceback": "".join(traceback.format_exception(error))}


def _describe(error: BaseException) -> str:
    """`Type: message`, and for an exception group each exception in it, flattened."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in error.exceptions)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


_SECTIONS: dict[str, Callable[[dict[str, Any]], Table]] = {
    "overhead": overhead_table, "serving": serving_table, "frameworks": frameworks_table}


def print_section(key: str, section: dict[str, Any], console: Console) -> None:
    """Print the `overhead`, `serving` or `frameworks` table, or why it failed."""
    if "failed" in section:
        console.print(f"[bold red]{key} table failed:[/] {escape(section['failed'])}")
        return
    console.print(_SECTIONS[key](section))

