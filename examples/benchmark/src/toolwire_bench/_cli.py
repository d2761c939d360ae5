"""`python -m toolwire_bench` / `toolwire-bench`: options in, table + JSON + chart out."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from toolwire_bench import _frameworks, _harness, _overhead, _report, _serving
from toolwire_bench._harness import BACKENDS, EXAMPLE_BACKENDS, SCENARIOS, Series, Settings


def _names(allowed: Sequence[str]) -> Any:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(allowed) if text == "all" else tuple(n.strip() for n in text.split(",") if n.strip())
        unknown = [n for n in names if n not in allowed]
        if unknown:
            choices = ", ".join(allowed)
            raise argparse.ArgumentTypeError(f"unknown: {', '.join(unknown)}; choose from {choices}")
        return names

    return parse


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(n) for n in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes must be comma-separated integers, got {text!r}") from None
    if any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sizes


def parser() -> argparse.ArgumentParser:
    """The command line; `--backends` defaults to every installed backend but the examples'."""
    from toolwire import Plugins

    defaults = Settings()
    backends = _harness.ordered_backends({*BACKENDS, *Plugins().executors()})
    cli = argparse.ArgumentParser(
        prog="python -m toolwire_bench",
        description="toolwire's concurrency benchmark beside toolregistry 0.19.0 and bare-library floors.",
    )
    cli.add_argument("--scenarios", type=_names(SCENARIOS), default=defaults.scenarios,
                     help=f"comma-separated, or 'all' (default): {', '.join(SCENARIOS)}")
    cli.add_argument("--backends", type=_names(backends), default=defaults.backends,
                     help=f"toolwire backends, comma-separated, from {', '.join(backends)} (default: every "
                          f"installed one except the examples' {', '.join(sorted(EXAMPLE_BACKENDS))}: "
                          f"{','.join(defaults.backends)})")
    cli.add_argument("--sizes", type=_sizes, default=defaults.sizes, help="batch sizes (default: 100,10000)")
    cli.add_argument("--large-scenarios", type=_names(SCENARIOS), default=defaults.large_scenarios,
                     help=f"scenarios that also run batches over {_harness.LARGE_BATCH:,} calls (default: "
                          "native-function,native-class; 'all' adds OpenAPI and MCP, which take minutes)")
    cli.add_argument("--repeats", type=int, default=defaults.repeats,
                     help="fresh-process repeats per series (default: 9)")
    cli.add_argument("--warm-batches", type=int, default=defaults.warm_batches,
                     help="warm batches after the cold one (default: 20; 1 for large batches)")
    cli.add_argument("--seed", type=int, default=defaults.seed, help="seed of the random calls (default: 0)")
    cli.add_argument("--workers", type=int, default=None,
                     help="workers of toolwire's backends and the floors (default: their own; 2 for dask)")
    cli.add_argument("--quick", action="store_true",
                     help="one repeat, two warm batches, batches of 100 only: a check that everything runs")
    cli.add_argument("--no-baseline", action="store_true", help="skip toolregistry (no download needed)")
    cli.add_argument("--no-floors", action="store_true", help="skip the bare-library floors")
    cli.add_argument("--no-overhead", action="store_true", help="skip the policies and tracing overhead table")
    cli.add_argument("--no-serving", action="store_true",
                     help="skip the serving table (10 MCP and HTTP clients against toolwire serve, FastMCP, "
                          "toolregistry-server and MCPServer; a 10,000-call run)")
    cli.add_argument("--no-frameworks", action="store_true",
                     help="skip the agent frameworks table (each framework's own tool execution vs its adapter)")
    cli.add_argument("--toolregistry", default=defaults.toolregistry,
                     help=f"toolregistry's requirement, installed in an isolated environment "
                          f"(default: {defaults.toolregistry})")
    cli.add_argument("--out", type=Path, default=Path("bench-results"),
                     help="directory for results.json and chart.png (default: ./bench-results)")
    return cli


def settings_from(args: argparse.Namespace) -> Settings:
    """The run's settings from parsed arguments (`--quick` overrides repeats, warm batches and sizes)."""
    if args.repeats < 1 or args.warm_batches < 1:
        raise SystemExit("--repeats and --warm-batches must be at least 1")
    return Settings(
        scenarios=args.scenarios,
        backends=args.backends,
        sizes=(100,) if args.quick else args.sizes,
        large_scenarios=args.large_scenarios,
        repeats=1 if args.quick else args.repeats,
        warm_batches=2 if args.quick else args.warm_batches,
        seed=args.seed,
        workers=args.workers,
        baseline=not args.no_baseline,
        floors=not args.no_floors,
        toolregistry=args.toolregistry,
    )


def _run_all(settings: Settings, planned: list[_harness.Measured], toolregistry: list[str] | None) -> None:
    """Every run, with a progress bar on a terminal and one line per run on stderr otherwise."""
    status = Console(stderr=True)
    runs = sum(1 for m in planned if m.skipped is None) * settings.repeats
    with _harness.serving(settings.scenarios) as endpoints, Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=status, transient=True, disable=not status.is_terminal,
    ) as progress:
        task = progress.add_task("starting", total=runs)

        def starting(series: Series) -> None:
            label = f"{series.scenario} ×{series.size:,} {series.side} {series.backend}"
            progress.update(task, description=label)
            if not status.is_terminal:
                status.print(f"[{int(progress.tasks[0].completed) + 1}/{runs}] {label}", markup=False)

        _harness.execute(settings, planned, endpoints, toolregistry, starting, lambda: progress.advance(task))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every toolwire series ran and returned every value correctly and no table
    failed. results.json is written after the main table and again after each other table."""
    from toolwire import ToolRegistry

    args = parser().parse_args(argv)
    settings = settings_from(args)
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)
    plugins = ToolRegistry().plugins
    loaders = set(plugins.loaders())
    planned = _harness.plan(settings, loaders, set(plugins.executors()))
    report: dict[str, Any] = {"machine": _harness.machine(), "settings": asdict(settings)}

    with console.status("compiling toolwire's environment to bytecode"):
        _harness.compile_bytecode([sys.executable])
    toolregistry, report["toolregistry"] = None, "toolregistry not run"
    if any(m.series.side == "toolregistry" for m in planned):
        with console.status(f"preparing toolregistry's environment ({settings.toolregistry})"):
            toolregistry, report["toolregistry"] = _harness.prepare_toolregistry(settings.toolregistry)

    _run_all(settings, planned, toolregistry)
    report["parse_100_calls_us"] = _harness.parse_cost_us(settings.seed)
    report["machine"]["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    report["results"] = [_harness.summarise(m) for m in planned]
    report["comparisons"] = _report.compare(report["results"])
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    _report.write_json(report, out / "results.json")
    _report.write_chart(report, out / "chart.png")
    console.print(_report.table(report))

    quick = args.quick
    phases: list[tuple[str, str, Callable[[], dict[str, Any]]]] = []
    if not args.no_overhead:
        phases.append(("overhead", "measuring the overhead of policies and tracing",
                       lambda: _overhead.measure(settings.repeats, 5 if quick else 200)))
    if not args.no_serving:
        phases.append(("serving", "measuring MCP and HTTP servers under 10 concurrent clients",
                       lambda: _serving.measure(2 if quick else settings.repeats,
                                                1_000 if quick else _serving.LONG_RUN)))
    if not args.no_frameworks:
        phases.append(("frameworks", "measuring the agent frameworks' tool execution against their toolwire adapters",
                       lambda: _frameworks.measure(settings.repeats, 1 if quick else 5)))
    for key, description, measure in phases:  # each written and printed as it ends: a failure loses no other
        with console.status(description):
            report[key] = _report.run_phase(measure)
        _report.write_json(report, out / "results.json")
        _report.print_section(key, report[key], console)
    console.print(f"wrote {out / 'results.json'} and {out / 'chart.png'}")
    ours = [r for r in report["results"] if r["side"] == "toolwire" and r["status"] != "not installed"]
    failed = [key for key, _, _ in phases if "failed" in report[key]]
    return 0 if not failed and all(r["status"] == "ok" and r["correct_rate"] == 1.0 for r in ours) else 1
