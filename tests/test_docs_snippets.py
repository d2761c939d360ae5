"""The Python snippets of the README, the docs and the package READMEs, run as a reader would run them.

Each ```python block is preceded by a marker that says what to do with it:

- `<!-- snippet: run -->`: it runs as written, alone, in a fresh interpreter in an empty directory;
- `<!-- snippet: run with NAME -->`: it runs after the prelude NAME below (what the text around it assumes);
- `<!-- snippet: skip REASON -->`: it needs what a test cannot have (a provider's response, a remote service,
  a cluster) or is run elsewhere (the hook examples, by core/tests/test_hook_docs.py).

A block without a marker fails the test: every new snippet is either run or says why not.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted([ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("*/*/README.md")])
MARKER = re.compile(r"<!-- snippet: (run with (?P<prelude>[\w-]+)|run|skip (?P<reason>[^>]+?)) -->\s*$")
BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```", re.S | re.M)

PRELUDES = {
    "tools": """
        import types
        from toolwire import ToolCall, ToolRegistry, ToolResult

        def add(a: int, b: int) -> int:
            return a + b

        calls = [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}]

        class Calculator:
            def multiply(self, a: float, b: float) -> float:
                return a * b

            def debug_state(self) -> str:
                return "ok"

        my_module = types.ModuleType("my_module")
        def get_time() -> str:
            return "noon"
        my_module.get_time = get_time
        get_time.__module__ = "my_module"

        async def fetch(url: str) -> str:
            return url

        def delete_file(path: str) -> str:
            return f"deleted {path}"

        def approve(pending: list[ToolCall]) -> dict:
            return {call.id: True for call in pending}

        registry = ToolRegistry(executor="thread")
    """,
}


def snippets() -> list[pytest.ParameterSet]:
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text[: match.start()].count("\n") + 1
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            marker = MARKER.search(before)
            name = f"{document.relative_to(ROOT)}:{line}"
            found.append(pytest.param(match.group("code"), marker, id=name))
    return found


@pytest.mark.parametrize(("code", "marker"), snippets())
def test_snippet(code: str, marker: re.Match[str] | None, tmp_path: Path) -> None:
    assert marker is not None, ("this ```python block has no `<!-- snippet: run -->`, `run with NAME` or "
                                "`skip REASON` marker on the line before it")
    if marker.group("reason"):
        pytest.skip(marker.group("reason"))
    prelude = textwrap.dedent(PRELUDES[marker.group("prelude")]) if marker.group("prelude") else ""
    script = tmp_path / "snippet.py"
    script.write_text(prelude + "\n" + code)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"the snippet failed:\n{code}\n{done.stderr[-3000:]}"
