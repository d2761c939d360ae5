"""Plugin discovery through entry points, with plugins 'installed' as committed dist-info folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from stevedore import ExtensionManager
from toolwire import PluginConflictError, Plugins, ToolRegistry, UnknownPluginError, hookimpl

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch):
    """Put fixture 'site-packages' folders on sys.path, as if those distributions were installed."""
    monkeypatch.delenv("TOOLWIRE_PLUGINS", raising=False)
    monkeypatch.delenv("TOOLWIRE_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.setattr(ExtensionManager, "ENTRY_POINT_CACHE", {})  # stevedore's per-process cache

    def install(*names: str) -> None:
        for name in names:
            monkeypatch.syspath_prepend(str(FIXTURES / name))

    return install


def test_an_installed_plugin_is_discovered_and_used(site) -> None:
    site("good")
    with ToolRegistry(executor="fake-serial") as registry:
        assert "fake" in registry.plugins.loaders()
        registry.load("fake", {"answer": 42}, namespace="c")
        [result] = registry.execute_tool_calls([{"id": "1", "function": {"name": "c_const_answer"}}])
        assert result.value == 42
        assert registry.executor().batches == 1
    info = {p.name: p for p in registry.plugins.info()}
    assert info["fakegood"].distribution == "fake_good"
    assert info["fakegood"].version == "1.0"
    assert registry.plugins.offered_by("fakegood") == {
        "loaders": ["fake"], "executors": ["fake-serial"], "formats": [], "servers": []}


def test_detect_loader_hook_picks_the_loader(site) -> None:
    site("good")
    registry = ToolRegistry(executor="fake-serial")
    registry.register({"fake": True, "x": 1})
    assert "const_x" in registry


def test_a_broken_plugin_is_recorded_and_skipped(site) -> None:
    site("good", "broken")
    plugins = Plugins()
    [failure] = [f for f in plugins.failures if f.name.startswith("fake")]
    assert failure.name == "fakebroken"
    assert failure.distribution == "fake_broken"
    assert "ModuleNotFoundError" in failure.error
    assert "toolwire_dependency_that_is_not_installed" in failure.error
    assert "fake" in plugins.loaders()  # the others still work


def test_two_plugins_offering_one_name_is_an_error_naming_both(site) -> None:
    site("good", "conflict")
    plugins = Plugins()
    with pytest.raises(PluginConflictError) as caught:
        plugins.executors()
    message = str(caught.value)
    assert "executor 'fake-serial'" in message
    assert "fake_good" in message and "fake_conflict" in message


def test_toolwire_plugins_selects_entry_points_by_name(site, monkeypatch) -> None:
    site("good", "conflict", "broken")
    monkeypatch.setenv("TOOLWIRE_PLUGINS", "fakegood,native")
    plugins = Plugins()
    assert plugins.failures == []
    assert set(plugins.executors()) == {"fake-serial"}
    assert {p.name for p in plugins.info() if p.distribution != "toolwire-core"} == {"fakegood", "native"}


def test_disable_autoload_loads_no_entry_points(site, monkeypatch) -> None:
    site("good")
    monkeypatch.setenv("TOOLWIRE_DISABLE_PLUGIN_AUTOLOAD", "1")
    plugins = Plugins()
    assert plugins.executors() == {}
    assert plugins.loaders() == {}
    monkeypatch.setenv("TOOLWIRE_PLUGINS", "fakegood")
    assert set(Plugins().executors()) == {"fake-serial"}


def test_in_process_registration_with_autoload_off(monkeypatch) -> None:
    monkeypatch.setenv("TOOLWIRE_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = ToolRegistry()

    class Offers:
        @hookimpl
        def toolwire_loaders(self):
            from toolwire import LoaderSpec

            return [LoaderSpec("inline", dict)]

    registry.plugins.register(Offers(), name="inline")
    assert list(registry.plugins.loaders()) == ["inline"]
    registry.plugins.unregister("inline")
    assert registry.plugins.loaders() == {}


def test_unknown_executor_lists_the_installed_ones(site) -> None:
    site("good")
    registry = ToolRegistry()
    installed = sorted(registry.plugins.executors())
    assert "thread" in installed
    with pytest.raises(UnknownPluginError) as caught:
        registry.executor("x")
    assert str(caught.value) == f"unknown executor 'x'; installed: {', '.join(installed)}"


def test_a_missing_backend_of_toolwire_names_its_distribution() -> None:
    plugins = Plugins(autoload=False)
    with pytest.raises(UnknownPluginError) as caught:
        plugins.get("executor", "process")
    assert str(caught.value) == ("unknown executor 'process'; installed: none "
                                 "('process' comes with toolwire-process: pip install toolwire-process)")
    with pytest.raises(UnknownPluginError, match=r"pip install toolwire-mcp\)$"):
        plugins.get("loader", "mcp")


def test_unknown_loader_lists_the_installed_ones(site) -> None:
    site("good")
    with pytest.raises(UnknownPluginError, match=r"unknown loader 'nope'; installed: fake"):
        ToolRegistry().load("nope", "x")


def test_import_and_discovery_do_not_import_heavy_dependencies() -> None:
    script = (
        "import sys, toolwire\n"
        "r = toolwire.ToolRegistry()\n"
        "r.plugins.loaders(); r.plugins.executors(); r.plugins.formats()\n"
        "heavy = sorted(m for m in ('httpx', 'httpx2', 'mcp', 'dill', 'dask', 'distributed', 'pytest',"
        " 'langchain_core', 'pydantic_ai', 'agents', 'opentelemetry.sdk')"
        " if m in sys.modules)\n"
        "print(','.join(heavy) or 'none')\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "none", out.stdout + out.stderr
