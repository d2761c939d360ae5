"""The `toolwire` command, run as a user runs it: a subprocess in a directory with a config file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TOOLS = '''
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


def stash(record: dict) -> int:
    """Keep a free-form record."""
    return len(record)
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "cli_tools.py").write_text(TOOLS)
    (tmp_path / "toolwire.toml").write_text(
        '[executor]\nbackend = "thread"\n\n[[tools]]\nloader = "native"\nsource = "cli_tools"\nnamespace = "t"\n'
    )
    return tmp_path


def toolwire(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-c", "from toolwire._command import main; main()", *args]  # the script's target
    return subprocess.run(command, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=120)


def test_without_the_cli_extra_the_command_says_how_to_install_it(tmp_path: Path) -> None:
    hide_click = "import sys; sys.modules['click'] = None; from toolwire._command import main; main()"
    done = subprocess.run([sys.executable, "-c", hide_click, "plugins"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == ("the toolwire command needs click, from the core's cli extra: "
                           "pip install 'toolwire-core[cli]' (or pip install toolwire)\n")


def test_plugins_lists_distributions_and_what_they_offer(project: Path) -> None:
    out = toolwire(project, "plugins").stdout
    assert "toolwire-native" in out and "native" in out
    assert "toolwire-thread" in out and "openai-chat" in out


def test_tools_as_a_table_and_as_schemas(project: Path) -> None:
    table = toolwire(project, "tools")
    assert table.returncode == 0, table.stderr
    assert "t_add" in table.stdout and "Add two integers." in table.stdout
    schemas = json.loads(toolwire(project, "tools", "--format", "anthropic").stdout)
    assert [s["name"] for s in schemas] == ["t_add", "t_shout", "t_stash"]
    assert schemas[0]["input_schema"]["required"] == ["a", "b"]
    strict = toolwire(project, "tools", "--format", "openai-responses", "--strict")
    assert strict.returncode == 2 and "t_stash: /properties/record: an object with free-form keys" in strict.stderr
    auto = json.loads(toolwire(project, "tools", "--format", "openai-responses", "--strict", "auto").stdout)
    assert [(s["name"], s["strict"]) for s in auto] == [("t_add", True), ("t_shout", True), ("t_stash", False)]


def test_call_prints_a_json_line_and_exits_by_success(project: Path) -> None:
    ok = toolwire(project, "call", "t_add", "--args", '{"a": 2, "b": "40"}')
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["value"] == 42
    bad = toolwire(project, "call", "t_add", "--args", '{"a": 2}')
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["error"]["kind"] == "invalid_arguments"
    given = toolwire(project, "call", "t_add", '{"a": 1, "b": 2}')  # the arguments as ARGS
    assert given.returncode == 0, given.stderr
    assert json.loads(given.stdout)["value"] == 3
    twice = toolwire(project, "call", "t_add", '{"a": 1}', "--args", '{"a": 1}')
    assert twice.returncode == 2 and "give the arguments once" in twice.stderr


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_call_and_run_print_nothing_but_results_on_stdout_whatever_a_tool_prints(tmp_path: Path, backend: str) -> None:
    (tmp_path / "noisy_tools.py").write_text(
        'def noisy(x: int) -> int:\n    """Print, then answer."""\n    print("noise", x)\n    return x\n')
    (tmp_path / "toolwire.toml").write_text(
        f'[executor]\nbackend = "{backend}"\n\n[[tools]]\nloader = "native"\nsource = "noisy_tools"\n')
    called = toolwire(tmp_path, "call", "noisy", '{"x": 1}')
    batch = [{"id": f"c{i}", "type": "function", "function": {"name": "noisy", "arguments": f'{{"x": {i}}}'}}
             for i in (2, 3)]
    ran = toolwire(tmp_path, "run", "-", stdin=json.dumps(batch))
    for done, values in ((called, [1]), (ran, [2, 3])):
        assert done.returncode == 0, done.stderr
        assert [json.loads(line)["value"] for line in done.stdout.splitlines()] == values  # "noise 1" broke it
        assert all(f"noise {value}" in done.stderr for value in values)


def test_call_prints_json_that_strict_readers_take_infinities_and_nans_as_null(tmp_path: Path) -> None:
    (tmp_path / "cli_floats.py").write_text(
        "def spread(scale: float) -> dict:\n"
        "    return {'top': scale * 1e308 * 10, 'mean': [0.5, scale * 0.0 * 1e309]}\n")
    (tmp_path / "toolwire.toml").write_text('[[tools]]\nloader = "native"\nsource = "cli_floats"\n')
    done = toolwire(tmp_path, "call", "spread", "--args", '{"scale": 1}')
    assert done.returncode == 0, done.stderr
    strict = json.loads(done.stdout, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert strict["value"] == {"top": None, "mean": [0.5, None]}
    assert strict["content"] == '{"top":Infinity,"mean":[0.5,NaN]}'  # the model reads what the tool returned


def test_run_reads_any_providers_calls_from_stdin_or_a_file(project: Path) -> None:
    anthropic_blocks = [
        {"type": "tool_use", "id": "toolu_1", "name": "t_shout", "input": {"text": "hi"}},
        {"type": "tool_use", "id": "toolu_2", "name": "t_add", "input": {"a": 1, "b": 2}},
    ]
    out = toolwire(project, "run", "-", stdin=json.dumps(anthropic_blocks))
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["value"] for line in out.stdout.splitlines()] == ["HI", 3]
    (project / "calls.json").write_text(json.dumps([{"type": "function_call", "call_id": "c", "name": "nope",
                                                     "arguments": "{}"}]))
    failed = toolwire(project, "run", "calls.json")
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["error"]["kind"] == "unknown_tool"


def test_errors_are_one_line_and_debug_shows_the_traceback(project: Path) -> None:
    (project / "toolwire.toml").write_text('[executor]\nbackend = "nope"\n')
    plain = toolwire(project, "tools")
    assert plain.returncode == 2
    assert plain.stderr.strip().splitlines() == [
        plain.stderr.strip()
    ] and plain.stderr.startswith("error: toolwire.toml: 'executor.backend': unknown executor 'nope'")
    debug = toolwire(project, "--debug", "tools")
    assert "Traceback" in debug.stderr


def test_help_everywhere(project: Path) -> None:
    for command in ("plugins", "tools", "call", "run", "demo"):
        out = toolwire(project, command, "--help")
        assert out.returncode == 0 and "Usage: toolwire" in out.stdout


def test_the_installed_command_imports_tool_modules_from_the_working_directory(project: Path) -> None:
    script = Path(sys.executable).parent / "toolwire"
    done = subprocess.run([str(script), "tools"], cwd=project, env={"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "t_add" in done.stdout


def test_plugins_and_tools_as_json(project: Path) -> None:
    plugins = json.loads(toolwire(project, "plugins", "--json").stdout)
    native = next(p for p in plugins if p["plugin"] == "native")
    assert native["distribution"] == "toolwire-native" and native["loaders"] == ["native"]
    assert native["error"] is None
    tools = json.loads(toolwire(project, "tools", "--json").stdout)
    assert [t["name"] for t in tools] == ["t_add", "t_shout", "t_stash"]
    assert tools[0]["parameters"]["required"] == ["a", "b"] and tools[0]["loader"] == "native"


@pytest.fixture
def guarded(tmp_path: Path) -> Path:
    (tmp_path / "cli_tools.py").write_text(TOOLS)
    (tmp_path / "toolwire.toml").write_text(
        '[executor]\nbackend = "thread"\n\n[[tools]]\nloader = "native"\nsource = "cli_tools"\nnamespace = "t"\n'
        'requires_approval = true\n'
    )
    return tmp_path


def test_calls_needing_approval_are_denied_off_a_terminal_unless_yes(guarded: Path) -> None:
    denied = toolwire(guarded, "call", "t_add", "--args", '{"a": 1, "b": 2}')
    record = json.loads(denied.stdout)
    assert denied.returncode == 1
    assert record["error"]["kind"] == "denied" and "pass --yes to approve" in record["content"]
    approved = toolwire(guarded, "call", "t_add", "--args", '{"a": 1, "b": 2}', "--yes")
    assert json.loads(approved.stdout)["value"] == 3


def on_a_terminal(cwd: Path, args: list[str], prompts: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """Run `toolwire ARGS` on a pseudo-terminal, answering each prompt when it shows; its result line, read."""
    import os
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: the command on a pseudo-terminal
        os.chdir(cwd)
        os.environ["PYTHONPATH"] = str(cwd)
        os.execv(sys.executable, [sys.executable, "-c", "from toolwire._command import main; main()", *args])
    seen = b""
    for prompt, answer in prompts:
        while prompt not in seen:
            assert select.select([fd], [], [], 60)[0], f"no prompt came: {seen!r}"
            seen += os.read(fd, 1024)
        os.write(fd, answer + b"\n")
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.waitpid(pid, 0)
    return json.loads(next(line for line in seen.decode().splitlines() if line.startswith('{"call_id"')))


@pytest.mark.parametrize(("answer", "expected"), [("y", 3), ("n", None)])
def test_on_a_terminal_each_call_is_asked(guarded: Path, answer: str, expected: int | None) -> None:
    record = on_a_terminal(guarded, ["call", "t_add", "--args", '{"a": 1, "b": 2}'], [(b"Run t_add", answer.encode())])
    assert record["value"] == expected
    assert (record["error"] or {}).get("kind") == (None if expected else "denied")


ASKING = '''
from toolwire import ErrorKind, ToolCallError
from toolwire.executing import call_inputs


def greet(greeting: str) -> str:
    """Greet the user, asking their name first."""
    answers = call_inputs()
    if answers is None:
        form = {"type": "object", "properties": {"name": {"type": "string", "title": "Your name"}}}
        question = {"method": "elicitation/create", "params": {"message": "Who are you?", "requestedSchema": form}}
        raise ToolCallError("asks who you are", ErrorKind.INPUT_REQUIRED,
                            input_required={"inputRequests": {"who": question}, "requestState": "s"})
    answer = answers["inputResponses"]["who"]
    return f"{greeting} {answer['content']['name']}" if answer["action"] == "accept" else "no one"


def folders() -> list[str]:
    """The client's roots (asked as MCP's `roots/list`)."""
    answers = call_inputs()
    if answers is None:
        raise ToolCallError("asks for the roots", ErrorKind.INPUT_REQUIRED,
                            input_required={"inputRequests": {"r": {"method": "roots/list"}}})
    return [root["uri"] for root in answers["inputResponses"]["r"]["roots"]]
'''


@pytest.fixture
def asking(tmp_path: Path) -> Path:
    (tmp_path / "asking_tools.py").write_text(ASKING)
    (tmp_path / "toolwire.toml").write_text(
        '[executor]\nbackend = "thread"\n\n[[tools]]\nloader = "native"\nsource = "asking_tools"\n')
    return tmp_path


@pytest.mark.parametrize(("share", "roots"), [("y", True), ("n", False)])
def test_a_tool_asking_for_the_roots_gets_the_working_directory_if_the_user_shares_it(
        asking: Path, share: str, roots: bool) -> None:
    record = on_a_terminal(asking, ["call", "folders"], [(b"Share", share.encode())])
    assert record["value"] == ([asking.resolve().as_uri()] if roots else [])


def test_a_tools_question_is_asked_on_a_terminal_and_left_in_the_result_off_one(asking: Path) -> None:
    off = toolwire(asking, "call", "greet", "--args", '{"greeting": "hi"}')
    record = json.loads(off.stdout)
    assert off.returncode == 1 and record["error"]["kind"] == "input_required"
    assert record["error"]["input_required"]["inputRequests"]["who"]["params"]["message"] == "Who are you?"
    record = on_a_terminal(asking, ["call", "greet", "--args", '{"greeting": "hi"}'],
                           [(b"Who are you? Answer?", b"y"), (b"Your name", b"ann")])
    assert record["value"] == "hi ann"
