"""toolwire's benchmark: the ToolRegistry concurrency benchmark, run through toolwire and toolregistry 0.19.0.

`python -m toolwire_bench --help`, or `toolwire_bench.main(argv)` (what the `toolwire-bench` script calls).
This module imports nothing heavy: toolregistry's side imports parts of this package too.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark with the command-line arguments `argv` (default: `sys.argv[1:]`); the exit code."""
    from toolwire_bench._cli import main as run

    return run(argv)
