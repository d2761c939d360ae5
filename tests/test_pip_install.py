"""What a pip user gets: the wheels of the distributions, installed from their own metadata into a fresh
virtual environment outside this repository, run `toolwire demo` (native, OpenAPI and MCP tools, served by
toolwire itself) and the README's first example.

The wheels are installed with `uv pip`, as pip would install them (bytecode compiled too) in a fraction of
pip's time: what is tested is the wheels, their dependencies and entry points, not the installer."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WANTED = ("toolwire_core", "toolwire_native", "toolwire_thread", "toolwire_process", "toolwire_openapi",
          "toolwire_mcp", "toolwire_shipping")
EXTRAS = {"toolwire_core": "[cli]", "toolwire_openapi": "[serve]"}


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("building the wheels needs uv (the project's own tool)")
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run([uv, "build", "--all-packages", "--wheel", "--out-dir", str(wheels), "-q"], cwd=ROOT, check=True,
                   capture_output=True)
    files = {path.name.split("-")[0]: path for path in wheels.glob("*.whl")}
    home = tmp_path_factory.mktemp("venv")
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(home)], check=True, capture_output=True)
    requirements = [f"{files[name]}{EXTRAS.get(name, '')}" for name in WANTED]
    subprocess.run([uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(home / "bin" / "python"),
                    *requirements], check=True, capture_output=True, timeout=600)
    return home


def test_toolwire_demo_runs_from_a_pip_install(environment: Path, tmp_path: Path) -> None:
    done = subprocess.run([environment / "bin" / "toolwire", "demo"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={"PATH": str(environment / "bin"), "COLUMNS": "250"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for expected in ("http_add", "mcp_multiply", "8 results for 8 calls; 3 errors"):
        assert expected in done.stdout, done.stdout[-3000:]
    assert re.search(r"c6 .*mcp_multiply .* 42\.0", done.stdout), done.stdout[-3000:]


def test_the_readme_example_runs_from_a_pip_install(environment: Path, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```python\n(.*?)```", readme, re.S).group(1)  # type: ignore[union-attr]
    done = subprocess.run([environment / "bin" / "python", "-c", example], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "5"
