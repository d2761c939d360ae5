"""The instruction count's stages run the workload's calls and give the functions' own values (the count itself
needs valgrind, and minutes: it is not run here)."""

from __future__ import annotations

import subprocess
import sys

from toolwire_bench import arith
from toolwire_bench._measure import make_workload
from toolwire_bench.instructions import STAGES, stage_runner


def test_every_stage_runs_the_workload_and_the_values_are_the_functions_own() -> None:
    expected = [getattr(arith, op)(a, b) for op, a, b in make_workload(50, 1)]
    for stage in STAGES:
        run, close = stage_runner(stage, 50)
        try:
            produced = run()
        finally:
            close()
        assert len(produced) == 50, stage
        if stage in ("results", "whole"):
            assert [result.value for result in produced] == expected, stage
        if stage == "run":
            assert [outcome.value for outcome in produced] == expected


def test_the_run_a_count_starts_completes_in_a_process_of_its_own() -> None:
    done = subprocess.run([sys.executable, "-m", "toolwire_bench.instructions", "--inner", "whole", "--size", "20",
                           "--batches", "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "", done.stderr[-2000:]
