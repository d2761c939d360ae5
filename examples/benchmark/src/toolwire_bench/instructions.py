"""Where a large batch's per-call cost goes, counted in instructions: `python -m toolwire_bench.instructions`.

Wall-clock ratios on a shared machine move by 10% from run to run; instruction counts (valgrind's callgrind) do
not, so a change to the per-call path can be judged by them. Each stage of the pipeline is run cumulatively
(parse the provider's dicts into `ToolCall`s; then validate into `Job`s; then run them with the thread backend's
drain loop in the calling thread, so that no thread hand-off makes the count vary; then build the results; then
the whole `execute_tool_calls`), each in two processes under callgrind, with `--batches` batches and with none;
the difference over the calls made is a call's cost. The collector is held as in a large batch, and its hold is
not timed out (valgrind runs ~50× slower than the hold's limit assumes). Needs `valgrind` on the PATH.

Compare a change with itself, stage by stage. Not with the bare loop: the same bare loop counted 10,000
instructions a call in a process that had not imported toolwire and 16,500 in one that had (the process around
it, not its code), and an instruction of `json.loads` is not an instruction of the interpreter loop; the
benchmark's wall-clock ratio is the target's measure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from toolwire_bench import arith
from toolwire_bench._measure import make_workload, openai_calls

STAGES = ("parse", "validate", "run", "results", "whole")
"""How far each counted run goes: toolwire's pipeline up to that stage, or all of `execute_tool_calls`."""


def stage_runner(stage: str, size: int) -> tuple[Callable[[], Any], Callable[[], None]]:
    """A function running one batch of `size` calls up to `stage`, and the function that frees what it holds."""
    calls = openai_calls(make_workload(size, 1), {op: op for op in arith.OPS})

    from toolwire import Executor, Job, ToolRegistry, _collector
    from toolwire._pipeline import make_results, prepare_all
    from toolwire_thread._run import Run

    class Inline(Executor):
        """The thread backend's drain loop, in the calling thread."""

        name = "inline"

        def run(self, jobs: Any) -> Any:
            run = Run(jobs, lambda: None)
            run.sync_indices = iter(range(len(jobs)))
            run.drain(threading.current_thread())
            return run.outcomes.result()

    registry = ToolRegistry(executor=Inline())
    for function in (arith.add, arith.subtract, arith.multiply, arith.divide):
        registry.register(function)
    if stage == "whole":
        return lambda: registry.execute_tool_calls(calls), registry.close
    executor, tools = registry.executor(), registry._catalog.tools
    last = STAGES.index(stage)

    def upto() -> Any:
        with _collector.collector_held(size):
            parsed = registry.parse_calls(calls)
            if last == STAGES.index("parse"):
                return parsed
            jobs, _ = prepare_all(tools, parsed, time.monotonic() + 600)
            if last == STAGES.index("validate"):
                return jobs
            outcomes = executor.run(cast("list[Job]", jobs))  # every call of the workload is valid
            if last == STAGES.index("run"):
                return outcomes
            return make_results(parsed, outcomes, [1] * len(outcomes), None)

    return upto, registry.close


def _inner(stage: str, size: int, batches: int) -> None:
    from toolwire import _collector

    _collector.HOLD_LIMIT = float("inf")  # this process only: valgrind is far slower than the limit assumes
    run, close = stage_runner(stage, size)
    try:
        for _ in range(2 + batches):  # two to warm up, in every process alike
            run()
    finally:
        close()


def _counted(stage: str, size: int, batches: int) -> int:
    """The instructions a process running `batches` batches of `stage` executes."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m",
               "toolwire_bench.instructions", "--inner", stage, "--size", str(size), "--batches", str(batches)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
                          check=True)
    line = next(line for line in done.stderr.splitlines() if "Collected :" in line)
    return int(line.rsplit(":", 1)[1].replace(",", "").strip())


def main(argv: list[str] | None = None) -> None:
    """Count each stage and print a call's instructions by stage, against the bare loop's."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    cli.add_argument("--size", type=int, default=10_000, help="calls a batch (default 10,000)")
    cli.add_argument("--batches", type=int, default=4, help="batches counted (default 4)")
    cli.add_argument("--inner", choices=STAGES, help=argparse.SUPPRESS)
    options = cli.parse_args(argv)
    if options.inner:
        _inner(options.inner, options.size, options.batches)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("this count needs valgrind (callgrind) on the PATH")
    calls = options.size * options.batches
    per_call = {stage: (_counted(stage, options.size, options.batches) - _counted(stage, options.size, 0)) // calls
                for stage in STAGES}
    print(f"instructions a call, {options.batches} batches of {options.size:,} calls (callgrind), by stage:")
    before = 0
    for stage in STAGES[:-1]:
        print(f"  {stage:<9} {per_call[stage] - before:>7,}   (up to here {per_call[stage]:,})")
        before = per_call[stage]
    print(f"  {'whole':<9} {per_call['whole']:>7,}   (execute_tool_calls)")


if __name__ == "__main__":
    main()
