"""The `toolwire` command's entry point: without the core's `cli` extra, it says how to install it."""

from __future__ import annotations

import importlib.util
import sys

CLI_EXTRA = ("click", "rich")


def main() -> None:
    """Run `toolwire.cli.main`, or exit with an install hint when click or rich is missing."""
    missing = [name for name in CLI_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        sys.exit(f"the toolwire command needs {' and '.join(missing)}, from the core's cli extra: "
                 "pip install 'toolwire-core[cli]' (or pip install toolwire)")
    from toolwire.cli import main as run

    run()
