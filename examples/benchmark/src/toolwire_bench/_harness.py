"""The harness: plan the measured runs, start the servers, run every run in a fresh process, aggregate.

A *series* is one contender (toolwire on a backend, toolregistry in a mode, or a floor) on one scenario
at one batch size; it is measured `repeats` times, each time in a fresh process, the series shuffled
within each repeat so that a change in the machine's load spreads over every contender alike.
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolwire_bench import servers
from toolwire_bench._floors import BARE_LOOP, HTTP_CAPACITY
from toolwire_bench._measure import make_workload, openai_calls, tool_names

if TYPE_CHECKING:
    from toolwire import Plugins

SCENARIOS = ("native-function", "native-class", "openapi", "mcp-stdio", "mcp-sse", "mcp-http")
BACKENDS = ("thread", "process", "dask")
"""toolwire's own backends, in the table's order; `--backends` also accepts any other installed one."""
EXAMPLE_BACKENDS = frozenset({"futures"})
"""Installed in the development environment only as examples (examples/custom_executor): run when named."""
DASK_WORKERS = 2
"""Worker processes of the dask backend's LocalCluster (and of its one-task-per-call floor) by default."""
DASK_PER_CALL = "dask-task-per-call"
"""The floor the dask backend's chunking is judged against: one Dask task per call, on the same cluster."""
TOOLREGISTRY_REQUIREMENT = "toolregistry[mcp]==0.19.0"
_LOADER = {"openapi": "openapi", "mcp-stdio": "mcp", "mcp-sse": "mcp", "mcp-http": "mcp"}
_HERE = Path(__file__).resolve().parent
RUN_TIMEOUT_S = 900.0
LARGE_BATCH = 1_000
"""Batches above this size run only for `large_scenarios`, with one warm batch instead of `warm_batches`."""


def toolregistry_modes(scenario: str) -> tuple[str, ...]:
    """toolregistry's modes worth running: it runs OpenAPI and MCP tools on threads even in `process` mode."""
    return ("thread", "process") if scenario.startswith("native") else ("thread", "async")


def installed_backends(plugins: Plugins | None = None) -> tuple[str, ...]:
    """Every backend the installed toolwire plugins offer, examples aside: toolwire's own first, in order."""
    if plugins is None:
        from toolwire import Plugins

        plugins = Plugins()
    return ordered_backends(name for name in plugins.executors() if name not in EXAMPLE_BACKENDS)


def ordered_backends(names: Iterable[str]) -> tuple[str, ...]:
    """`names` with toolwire's own backends first (in `BACKENDS` order), then the others by name."""
    given = set(names)
    return (*(b for b in BACKENDS if b in given), *sorted(given - set(BACKENDS)))


def floor_for(scenario: str) -> str:
    """The bare-library floor a scenario is compared with."""
    if scenario.startswith("native"):
        return "multiprocessing"
    return "http.client" if scenario == "openapi" else "mcp-session"


@dataclass(frozen=True, slots=True)
class Settings:
    """What to run, as the command line gave it."""

    scenarios: tuple[str, ...] = SCENARIOS
    backends: tuple[str, ...] = field(default_factory=installed_backends)
    sizes: tuple[int, ...] = (100, 10_000)
    large_scenarios: tuple[str, ...] = ("native-function", "native-class")
    repeats: int = 9
    warm_batches: int = 20
    seed: int = 0
    workers: int | None = None
    baseline: bool = True
    floors: bool = True
    toolregistry: str = TOOLREGISTRY_REQUIREMENT


@dataclass(frozen=True, slots=True)
class Series:
    """One contender on one scenario at one batch size."""

    side: str  # "toolwire", "toolregistry" or "floor"
    backend: str
    scenario: str
    size: int


@dataclass(slots=True)
class Measured:
    """A series' runs, or why it was not run."""

    series: Series
    runs: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None


def plan(settings: Settings, loaders: set[str], executors: set[str]) -> list[Measured]:
    """Every series the settings ask for; those that cannot run carry the reason."""
    planned = []
    for scenario in settings.scenarios:
        for size in settings.sizes:
            if size > LARGE_BATCH and scenario not in settings.large_scenarios:
                continue
            for backend in settings.backends:
                measured = Measured(Series("toolwire", backend, scenario, size))
                loader = _LOADER.get(scenario)
                if backend not in executors:
                    measured.skipped = f"executor '{backend}' not installed"
                elif loader is not None and loader not in loaders:
                    measured.skipped = f"loader '{loader}' not installed"
                planned.append(measured)
            if settings.baseline:
                modes = toolregistry_modes(scenario)
                planned += [Measured(Series("toolregistry", mode, scenario, size)) for mode in modes]
            if settings.floors:
                planned.append(Measured(Series("floor", floor_for(scenario), scenario, size)))
            if settings.floors and scenario.startswith("native"):
                planned.append(Measured(Series("floor", BARE_LOOP, scenario, size)))
            if settings.floors and scenario == "openapi":
                planned.append(Measured(Series("floor", HTTP_CAPACITY, scenario, size)))
            if settings.floors and "dask" in settings.backends and scenario.startswith("native"):
                per_call = Measured(Series("floor", DASK_PER_CALL, scenario, size))
                if "dask" not in executors:
                    per_call.skipped = "executor 'dask' not installed"
                planned.append(per_call)
    return planned


@contextmanager
def serving(scenarios: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Start the servers the scenarios need; yield the endpoints every run receives."""
    with ExitStack() as stack:
        endpoints: dict[str, Any] = {"mcp-stdio": list(servers.mcp_stdio_command())}
        if "openapi" in scenarios:
            endpoints["openapi"] = stack.enter_context(servers.calculator_service())
        if "mcp-sse" in scenarios:
            endpoints["mcp-sse"] = stack.enter_context(servers.mcp_server("sse")).url
        if "mcp-http" in scenarios:
            endpoints["mcp-http"] = stack.enter_context(servers.mcp_server("streamable-http")).url
        yield endpoints


def toolregistry_command(requirement: str) -> list[str] | None:
    """The command prefix running Python in toolregistry's own isolated environment, or None without uv."""
    uv = shutil.which("uv")
    if uv is None:
        return None
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return [uv, "run", "--isolated", "--no-project", "--python", python, "--with", requirement, "python"]


_COMPILE_ALL = "import compileall, os, sys; [compileall.compile_dir(p, quiet=2) for p in sys.path if os.path.isdir(p)]"


def compile_bytecode(python: list[str]) -> None:
    """Write the `.pyc` of every module `python` can import (untimed, quick once written).

    Each run is a fresh process; without this, an environment that sets `PYTHONDONTWRITEBYTECODE` (or a
    fresh install) makes every cold batch compile the modules it imports lazily, on one side more than the
    other. Modules it cannot write a `.pyc` for are left as they are.
    """
    subprocess.run([*python, "-c", _COMPILE_ALL], capture_output=True, timeout=RUN_TIMEOUT_S, check=False)


def prepare_toolregistry(requirement: str) -> tuple[list[str] | None, str]:
    """Build toolregistry's environment once (untimed); the command and the versions it holds, or an error."""
    command = toolregistry_command(requirement)
    if command is None:
        return None, "uv not found on PATH"
    probe = ("import importlib.metadata as m; "
             "print('toolregistry', m.version('toolregistry'), '+ mcp', m.version('mcp'))")
    done = subprocess.run([*command, "-c", probe], capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                          check=False)
    if done.returncode != 0:
        return None, f"could not build toolregistry's environment: {done.stderr.strip()[-500:]}"
    compile_bytecode(command)
    return command, done.stdout.strip()


def execute(
    settings: Settings,
    planned: list[Measured],
    endpoints: dict[str, Any],
    toolregistry: list[str] | None,
    starting: Callable[[Series], None],
    finished: Callable[[], None],
) -> None:
    """Run every runnable series `settings.repeats` times, each run in a fresh process."""
    runnable = [m for m in planned if m.skipped is None]
    with tempfile.TemporaryDirectory(prefix="toolwire-bench-") as tmp:
        workdir = Path(tmp)
        workloads = {}
        for size in sorted({m.series.size for m in runnable}):
            workloads[size] = workdir / f"workload-{size}.json"
            workloads[size].write_text(json.dumps(make_workload(size, settings.seed)))
        rng = random.Random(settings.seed)
        for repeat in range(settings.repeats):
            order = list(runnable)
            rng.shuffle(order)
            for measured in order:
                series = measured.series
                starting(series)
                spec = {
                    "scenario": series.scenario, "backend": series.backend, "workers": _workers(settings, series),
                    "workload": str(workloads[series.size]), "endpoints": endpoints,
                    "warm_batches": settings.warm_batches if series.size <= LARGE_BATCH else 1,
                    "out": str(workdir / "result.json"),
                }
                measured.runs.append(_run_once(series, spec, workdir, repeat, toolregistry))
                finished()


def _workers(settings: Settings, series: Series) -> int | None:
    """`--workers`, else the dask LocalCluster's default size for dask runs, else the backend's own."""
    if settings.workers is None and series.backend in ("dask", DASK_PER_CALL):
        return DASK_WORKERS
    return settings.workers


def _run_once(series: Series, spec: dict[str, Any], workdir: Path, repeat: int,
              toolregistry: list[str] | None) -> dict[str, Any]:
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec))
    out = Path(spec["out"])
    out.unlink(missing_ok=True)
    if series.side == "toolregistry":
        if toolregistry is None:
            return {"error": "toolregistry's environment is not available"}
        command = [*toolregistry, str(_HERE / "_toolregistry_side.py"), str(spec_path)]
    else:
        module = "toolwire_bench._toolwire_side" if series.side == "toolwire" else "toolwire_bench._floors"
        command = [sys.executable, "-m", module, str(spec_path)]
    try:
        done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"run {repeat + 1} did not finish within {RUN_TIMEOUT_S:.0f}s"}
    if done.returncode != 0 or not out.exists():
        return {"error": f"run {repeat + 1} exited with {done.returncode}: {done.stderr.strip()[-800:]}"}
    return json.loads(out.read_text())


def parse_cost_us(seed: int) -> float:
    """Median microseconds for toolwire to parse 100 OpenAI chat tool-call dicts."""
    from toolwire import ToolRegistry

    from toolwire_bench._toolwire_side import register

    registry = ToolRegistry(executor="thread")
    register(registry, "native-function", {})
    calls = openai_calls(make_workload(100, seed), tool_names([tool.name for tool in registry.list()]))
    per_loop = timeit.repeat(lambda: registry.parse_calls(calls), number=200, repeat=9)
    return statistics.median(per_loop) / 200 * 1e6


def summarise(measured: Measured) -> dict[str, Any]:
    """One series' entry in the results: medians over the runs, success and correctness over every call."""
    series = measured.series
    entry: dict[str, Any] = {"side": series.side, "backend": series.backend, "scenario": series.scenario,
                             "size": series.size}
    if measured.skipped is not None:
        return entry | {"status": "not installed", "note": measured.skipped}
    good = [run for run in measured.runs if "error" not in run]
    errors = [run["error"] for run in measured.runs if "error" in run]
    batches = [batch for run in good for batch in (run["cold"], *run["warm"])]
    for batch in batches:
        errors += batch["errors"]
    calls = sum(batch["n"] for batch in batches)
    cold = [run["cold"]["n"] / run["cold"]["seconds"] for run in good]
    warm = [statistics.median(b["n"] / b["seconds"] for b in run["warm"]) for run in good if run["warm"]]
    status = "ok" if good and len(good) == len(measured.runs) else "failed"
    return entry | {
        "status": status,
        "repeats": len(good),
        "failed_runs": len(measured.runs) - len(good),
        "cold_cps": statistics.median(cold) if cold else None,
        "warm_cps": statistics.median(warm) if warm else None,
        "cold_cps_runs": cold,
        "warm_cps_runs": warm,
        "calls": calls,
        "success_rate": sum(b["ok"] for b in batches) / calls if calls else 0.0,
        "correct_rate": sum(b["correct"] for b in batches) / calls if calls else 0.0,
        "errors": list(dict.fromkeys(errors))[:5],
    }


def machine() -> dict[str, Any]:
    """Where the numbers came from."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "time": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
