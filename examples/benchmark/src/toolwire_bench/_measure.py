"""The workload, the correctness check and the timing loop, shared by every contender.

Standard library only: toolregistry's side imports this module from its own isolated environment, and
each measured run is a fresh process that reads a run spec (JSON) and writes its result (JSON).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from toolwire_bench.arith import OPS

Workload = list[tuple[str, int, int]]
"""The calls of one batch: (operation, a, b)."""

Outcome = tuple[bool, Any]
"""What one call gave: (True, value) or (False, error message)."""

BatchRunner = Callable[[], Sequence[Outcome]]


def make_workload(size: int, seed: int) -> Workload:
    """`size` calls drawn at random (seeded) from the four operations, operands in 1..100."""
    rng = random.Random(seed)
    return [(rng.choice(OPS), rng.randint(1, 100), rng.randint(1, 100)) for _ in range(size)]


def expected(op: str, a: float, b: float) -> float:
    """The arithmetic answer to one call."""
    return {"add": a + b, "subtract": a - b, "multiply": a * b, "divide": a / b}[op]


def openai_calls(workload: Workload, names: dict[str, str]) -> list[dict[str, Any]]:
    """The workload as OpenAI chat tool-call dicts, naming each operation's tool as `names` says."""
    return [
        {"id": f"call_{i}", "type": "function",
         "function": {"name": names[op], "arguments": json.dumps({"a": a, "b": b})}}
        for i, (op, a, b) in enumerate(workload)
    ]


def tool_names(available: Sequence[str], separators: str = "_.-") -> dict[str, str]:
    """Map each operation to the one available tool named after it (bare, or after a namespace)."""
    names = {}
    for op in OPS:
        found = [n for n in available if n == op or any(n.endswith(f"{sep}{op}") for sep in separators)]
        if len(found) != 1:
            raise LookupError(f"expected one tool for '{op}' among {sorted(available)}, found {found}")
        names[op] = found[0]
    return names


def number(value: Any) -> float | None:
    """The number in a tool's answer: a number, `{"result": x}`, or either as JSON text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        if "result" in value:
            return number(value["result"])
        return number(next(iter(value.values()))) if len(value) == 1 else None
    if isinstance(value, list | tuple) and len(value) == 1:
        return number(value[0])
    if isinstance(value, str):
        try:
            return number(json.loads(value))
        except ValueError:
            return None
    return None


def summarise(workload: Workload, outcomes: Sequence[Outcome], seconds: float) -> dict[str, Any]:
    """One batch's time, success count, correct-value count and first errors."""
    ok = correct = 0
    errors: list[str] = []
    for (op, a, b), (success, payload) in zip(workload, outcomes, strict=False):
        if not success:
            if len(errors) < 3:
                errors.append(str(payload)[:300])
            continue
        ok += 1
        got = number(payload)
        if got is not None and math.isclose(got, expected(op, a, b), rel_tol=1e-9, abs_tol=1e-12):
            correct += 1
        elif len(errors) < 3:
            errors.append(f"wrong value for {op}({a}, {b}): {str(payload)[:200]}")
    return {"seconds": seconds, "n": len(workload), "returned": len(outcomes), "ok": ok, "correct": correct,
            "errors": errors}


def measure(workload: Workload, run_batch: BatchRunner, warm_batches: int) -> dict[str, Any]:
    """Time the first (cold) batch and `warm_batches` more, checking every value of every batch."""
    batches = []
    for _ in range(1 + warm_batches):
        started = time.perf_counter()
        outcomes = run_batch()
        batches.append(summarise(workload, outcomes, time.perf_counter() - started))
    return {"cold": batches[0], "warm": batches[1:]}


Builder = Callable[[dict[str, Any], Workload], AbstractContextManager[BatchRunner]]


def run_spec(build: Builder) -> None:
    """A measured run's entry point: read the spec named in argv[1], build the contender, time it.

    `build(spec, workload)` is a context manager: it registers the tools (not timed), yields the function
    that runs one batch, and frees everything on exit. The result, or the error, is written as JSON to the
    spec's `out` path.
    """
    spec = json.loads(Path(sys.argv[1]).read_text())
    workload: Workload = [(op, a, b) for op, a, b in json.loads(Path(spec["workload"]).read_text())]
    try:
        with build(spec, workload) as run_batch:
            result = measure(workload, run_batch, spec["warm_batches"])
    except Exception:
        result = {"error": traceback.format_exc(limit=8)}
    Path(spec["out"]).write_text(json.dumps(result))
