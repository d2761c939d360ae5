"""Which toolwire backends the benchmark runs: by default every one the installed plugins offer."""

from __future__ import annotations

from collections.abc import Callable

from toolwire import Executor, ExecutorConfig, ExecutorSpec, Plugins, hookimpl
from toolwire_bench._cli import parser
from toolwire_bench._harness import DASK_PER_CALL, EXAMPLE_BACKENDS, Settings, installed_backends, plan


class _ExtraPlugin:
    """A plugin registered in-process offering one more backend (built by the thread backend's factory)."""

    def __init__(self, factory: Callable[[ExecutorConfig], Executor]) -> None:
        self.factory = factory

    @hookimpl
    def toolwire_executors(self) -> list[ExecutorSpec]:
        return [ExecutorSpec("extra", self.factory, "another installed backend")]


def test_default_backends_are_the_installed_ones_but_the_examples() -> None:
    plugins = Plugins()
    offered = set(plugins.executors())

    assert set(installed_backends(plugins)) == offered - EXAMPLE_BACKENDS
    assert installed_backends(plugins)[:2] == ("thread", "process")

    plugins.register(_ExtraPlugin(plugins.executors()["thread"].factory), name="extra-plugin")
    assert "extra" in installed_backends(plugins)
    assert not EXAMPLE_BACKENDS & set(installed_backends(plugins))


def test_command_line_defaults_to_the_installed_backends_and_still_selects() -> None:
    assert Settings().backends == installed_backends()
    assert parser().parse_args([]).backends == installed_backends()
    assert parser().parse_args(["--backends", "process,thread"]).backends == ("process", "thread")


def test_dask_brings_its_one_task_per_call_floor_to_native_scenarios_only() -> None:
    settings = Settings(scenarios=("native-function", "openapi"), backends=("dask",), sizes=(100,),
                        baseline=False)

    def per_call(executors: set[str]) -> list[tuple[str, str | None]]:
        planned = plan(settings, {"openapi"}, executors)
        return [(m.series.scenario, m.skipped) for m in planned if m.series.backend == DASK_PER_CALL]

    assert per_call({"dask"}) == [("native-function", None)]
    assert per_call(set()) == [("native-function", "executor 'dask' not installed")]
