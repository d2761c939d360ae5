"""Every public name is documented: each public module of each toolwire package has a docstring, and so
does every class, function and constant its `__all__` names, and every public method or property of those
classes (its own or the one it overrides). Hook implementations (documented by their spec) and the
conformance suite's tests (their names are their documentation) are the exceptions."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(
    package.name for pattern in ("core", "plugins/*", "executors/*", "util/*")
    for distribution in ROOT.glob(pattern) if (distribution / "pyproject.toml").exists()
    for package in (distribution / "src").iterdir() if (package / "__init__.py").exists()
)


def public_modules(name: str) -> list[ModuleType]:
    package = importlib.import_module(name)
    found = [package]
    for info in pkgutil.walk_packages(package.__path__, f"{name}."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            found.append(importlib.import_module(info.name))
    return found


def documented_constants(module: ModuleType) -> tuple[set[str], set[str]]:
    """The names a module assigns at its top level, and those followed by a docstring."""
    body = ast.parse(inspect.getsource(module)).body
    assigned: set[str] = set()
    documented: set[str] = set()
    for node, after in zip(body, [*body[1:], None], strict=True):
        if isinstance(node, ast.Assign):
            names = {target.id for target in node.targets if isinstance(target, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = {node.target.id}
        else:
            continue
        assigned |= names
        if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            documented |= names
    return assigned, documented


def undocumented_members(cls: type) -> list[str]:
    missing = []
    for attr, value in vars(cls).items():
        if attr.startswith("_") or attr.startswith("test_"):
            continue
        function = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
        if not inspect.isfunction(function) or hasattr(function, "toolwire_impl"):
            continue
        inherited = (getattr(base, attr, None) for base in cls.__mro__[1:])
        if not function.__doc__ and not any(getattr(other, "__doc__", None) for other in inherited):
            missing.append(f"{cls.__qualname__}.{attr}")
    return missing


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_is_documented(package: str) -> None:
    missing: list[str] = []
    for module in public_modules(package):
        if not module.__doc__:
            missing.append(f"{module.__name__} (module)")
        assigned, documented = documented_constants(module)
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                if hasattr(value, "toolwire_impl"):
                    continue
                if not value.__doc__:
                    missing.append(f"{module.__name__}.{name}")
                if inspect.isclass(value) and value.__module__.split(".")[0] == package:
                    missing += [f"{module.__name__}: {member}" for member in undocumented_members(value)]
            elif name in assigned and name not in documented:
                missing.append(f"{module.__name__}.{name} (constant)")
    assert not missing, "undocumented public names:\n" + "\n".join(missing)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_function_and_class_a_module_defines_is_in_its_all(package: str) -> None:
    """Public or private, never neither: a function or class a public module defines either starts with `_` or is
    in the module's `__all__` (and so held to the documentation check above). Hook implementations are exempt."""
    unlisted = [f"{module.__name__}.{name}"
                for module in public_modules(package) for name, value in vars(module).items()
                if not name.startswith("_") and name not in getattr(module, "__all__", ())
                and (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == module.__name__
                and not hasattr(value, "toolwire_impl")]
    assert not unlisted, "public-looking names missing from __all__ (list them, or give them a leading _):\n" + \
        "\n".join(unlisted)
