"""The house's shape: inside each distribution, modules form layers (no import circle, counting every
import: inside functions and those only for type checkers alike); a distribution imports only the
toolwire packages it declares as dependencies, and the core none at all."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = sorted(
    path.parent for pattern in ("core", "plugins/*", "executors/*", "util/*", "examples/*")
    for path in ROOT.glob(f"{pattern}/pyproject.toml")
)


def packages(distribution: Path) -> list[Path]:
    return sorted(p for p in (distribution / "src").iterdir() if (p / "__init__.py").exists())


def module_name(package: Path, path: Path) -> str:
    parts = [package.name, *path.relative_to(package).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """Every module imported anywhere in `tree` (functions and `if TYPE_CHECKING:` blocks included)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def graph(package: Path) -> dict[str, set[str]]:
    files = {module_name(package, path): path for path in package.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = imported(tree, name, path.name == "__init__.py")
        edges[name] = {t for t in targets if t in files and t != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in edges[node]:
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            connect(node)
    return found


def parent_packages(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Importing `a.b` runs `a/__init__.py` first: a package's `__init__` is not a layer below its modules."""
    return {name: {t for t in targets if not name.startswith(f"{t}.")} for name, targets in edges.items()}


@pytest.mark.parametrize("distribution", DISTRIBUTIONS, ids=lambda d: str(d.relative_to(ROOT)))
def test_no_import_circle_inside_a_distribution(distribution: Path) -> None:
    for package in packages(distribution):
        assert cycles(parent_packages(graph(package))) == [], f"import circle(s) in {package.name}"


def declared(distribution: Path) -> set[str]:
    project = tomllib.loads((distribution / "pyproject.toml").read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    names = set()
    for requirement in requirements:
        name = requirement.split(";")[0].split("[")[0]
        for mark in "<>=!~ ":
            name = name.split(mark)[0]
        names.add(name.strip().lower().replace("-", "_"))
    return names


TOOLWIRE_PACKAGES = {package.name for distribution in DISTRIBUTIONS for package in packages(distribution)}


@pytest.mark.parametrize("distribution", DISTRIBUTIONS, ids=lambda d: str(d.relative_to(ROOT)))
def test_a_distribution_imports_only_the_toolwire_packages_it_declares(distribution: Path) -> None:
    own = {package.name for package in packages(distribution)}
    allowed = {"toolwire"} | {name for name in declared(distribution) if name in TOOLWIRE_PACKAGES}
    if distribution.name == "core":
        allowed = {"toolwire"}
    for package in packages(distribution):
        for path in package.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            used = {name.split(".")[0] for name in imported(tree, module_name(package, path), False)}
            stray = {name for name in used & TOOLWIRE_PACKAGES if name not in own and name not in allowed}
            assert not stray, f"{path.relative_to(ROOT)} imports {sorted(stray)}, which its pyproject does not declare"


BOTH_WAYS = [ROOT / "plugins/mcp/src/toolwire_mcp", ROOT / "plugins/openapi/src/toolwire_openapi"]


@pytest.mark.parametrize("package", BOTH_WAYS, ids=lambda p: p.name)
def test_a_protocol_plugin_keeps_its_client_and_server_sides_apart(package: Path) -> None:
    edges = graph(package)
    sides = {side: f"{package.name}.{side}" for side in ("_client", "_server")}
    for side, other in (("_client", "_server"), ("_server", "_client")):
        members = [name for name in edges if name == sides[side] or name.startswith(f"{sides[side]}.")]
        assert members, f"{package.name} has no {side} subpackage"
        for name in members:
            crossing = sorted(t for t in edges[name] if t == sides[other] or t.startswith(f"{sides[other]}."))
            assert not crossing, f"{name} (the {side[1:]} side) imports {crossing}"
    loose = sorted(name for name in edges if name.count(".") == 1 and not name.endswith(("._client", "._server")))
    assert loose == [f"{package.name}.plugin"], f"modules outside the two sides: {loose}"
