"""Configuration files, environment overrides and the errors they give."""

from __future__ import annotations

from pathlib import Path

import pytest
from toolwire import ConfigError, ToolRegistry, load_config


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("TOOLWIRE_EXECUTOR", "TOOLWIRE_WORKERS", "TOOLWIRE_TIMEOUT", "TOOLWIRE_SEPARATOR", "TOOLWIRE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_defaults_without_any_file(workdir: Path) -> None:
    config = load_config()
    assert (config.executor.backend, config.executor.timeout, config.separator) == ("process", 60.0, "_")
    assert config.source == "defaults"


def test_toolwire_toml_in_the_working_directory(workdir: Path) -> None:
    (workdir / "toolwire.toml").write_text('[executor]\nbackend = "thread"\nworkers = 3\ntimeout = 5\nmax_x = 1\n')
    config = load_config()
    assert config.executor.backend == "thread"
    assert (config.executor.workers, config.executor.timeout) == (3, 5.0)
    assert config.executor.options == {"max_x": 1}


def test_tool_toolwire_table_in_pyproject(workdir: Path) -> None:
    (workdir / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.toolwire.executor]\nbackend = "thread"\n')
    assert load_config().executor.backend == "thread"


def test_an_explicit_path_and_toolwire_config(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "toolwire.toml").write_text('[executor]\nbackend = "thread"\n')
    other = workdir / "other.toml"
    other.write_text('separator = "-"\n')
    assert load_config(other).separator == "-"
    monkeypatch.setenv("TOOLWIRE_CONFIG", str(other))
    assert load_config().separator == "-"


def test_environment_variables_override_single_keys(workdir: Path) -> None:
    (workdir / "toolwire.toml").write_text('[executor]\nbackend = "process"\nworkers = 2\n')
    environ = {"TOOLWIRE_EXECUTOR": "thread", "TOOLWIRE_WORKERS": "7", "TOOLWIRE_TIMEOUT": "1.5",
               "TOOLWIRE_EXECUTOR_SCHEDULER": "tcp://127.0.0.1:8786", "TOOLWIRE_EXECUTOR_CHUNK_SIZE": "50"}
    config = load_config(environ=environ)
    assert (config.executor.backend, config.executor.workers, config.executor.timeout) == ("thread", 7, 1.5)
    assert config.executor.options == {"scheduler": "tcp://127.0.0.1:8786", "chunk_size": 50}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[executer]\nbackend = "thread"\n',
         "unknown key 'executer'; accepted: executor, policy, separator, serve, tools"),
        ("[executor]\nworkers = \"four\"\n", "'executor.workers' must be int, got str 'four'"),
        ("[executor]\ntimeout = true\n", "'executor.timeout' must be float, got bool True"),
        ("[executor]\ntimeout = 0\n", "'executor.timeout': timeout must be more than 0 seconds (or inf, or None, "
                                      "for no limit), not 0.0"),  # 0, -1 and nan timed every call out at once
        ("[executor]\ntimeout = -1\n", "'executor.timeout': timeout must be more than 0 seconds"),
        ("[executor]\ntimeout = nan\n", "'executor.timeout': timeout must be more than 0 seconds"),
        ('separator = "."\n', "'separator' '.' would make tool names invalid"),
        ("tools = 3\n", "'tools' must be an array of tables"),
        ('[[tools]]\nsource = "x"\n', "'tools[0]' needs a 'loader'"),
        ("[executor\n", "not valid TOML"),
        ("[[policy.tools]]\nnames = -1\n", "'policy.tools[0].names' must be a list of tool names, got -1"),
    ],
)
def test_errors_name_the_file_and_the_key(workdir: Path, text: str, message: str) -> None:
    path = workdir / "toolwire.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert str(caught.value).startswith("toolwire.toml: ")
    assert message in str(caught.value)


def test_secrets_are_read_from_the_environment(workdir: Path) -> None:
    (workdir / "toolwire.toml").write_text(
        '[[tools]]\nloader = "openapi"\nsource = "spec.json"\nheaders = { Authorization = { env = "SVC_TOKEN" } }\n'
    )
    config = load_config(environ={"SVC_TOKEN": "Bearer s3cret"})
    assert config.tools[0]["headers"] == {"Authorization": "Bearer s3cret"}
    with pytest.raises(ConfigError, match=r"'tools\[0\].headers.Authorization' refers to environment variable SVC_"):
        load_config(environ={})


def test_an_unknown_backend_names_the_file_the_key_and_the_installed_ones(workdir: Path) -> None:
    (workdir / "toolwire.toml").write_text('[executor]\nbackend = "nope"\n')
    with pytest.raises(ConfigError) as caught:
        ToolRegistry.from_config()
    message = str(caught.value)
    assert message.startswith("toolwire.toml: 'executor.backend': unknown executor 'nope'; installed: ")
    assert "thread" in message


@pytest.mark.parametrize(("settings", "error"), [
    ("max_x = 1", "unknown option 'max_x' for the thread executor; accepted: thread_name_prefix"),
    ("workers = 0", "at least one worker"),
])
def test_a_bad_backend_setting_names_the_file_before_any_batch(workdir: Path, settings: str, error: str) -> None:
    (workdir / "toolwire.toml").write_text(f'[executor]\nbackend = "thread"\n{settings}\n')
    with pytest.raises(ConfigError) as caught:
        ToolRegistry.from_config()
    assert str(caught.value).startswith("toolwire.toml: 'executor': "), caught.value
    assert error in str(caught.value)


def test_an_unknown_loader_names_the_entry_and_the_installed_ones(workdir: Path) -> None:
    (workdir / "toolwire.toml").write_text('[executor]\nbackend = "thread"\n\n[[tools]]\nloader = "grpc"\n')
    with pytest.raises(ConfigError, match=r"toolwire.toml: 'tools\[0\]': unknown loader 'grpc'; installed: .*native"):
        ToolRegistry.from_config()


def test_from_config_loads_the_declared_tools(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "mytools.py").write_text("def double(x: int) -> int:\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(workdir))
    (workdir / "toolwire.toml").write_text(
        'separator = "-"\n[executor]\nbackend = "thread"\n\n'
        '[[tools]]\nloader = "native"\nsource = "mytools"\nnamespace = "m"\ntags = ["math"]\n'
    )
    with ToolRegistry.from_config() as registry:
        assert [t.name for t in registry.list()] == ["m-double"]
        assert registry.get("m-double").tags == frozenset({"math"})
        call = {"id": "1", "function": {"name": "m-double", "arguments": '{"x": "4"}'}}
        [result] = registry.execute_tool_calls([call])
        assert result.value == 8
