"""`toolwire.testing` catches broken executors, and a correct one passes it.

Each case writes a test module subclassing `ExecutorConformance` with a deliberately wrong executor and
runs pytest on it in a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest_plugins = ["pytester"]

HEADER = '''
import asyncio

import toolwire.testing
from toolwire import Executor, Outcome, call_invoker, call_invoker_async
from toolwire.testing import ExecutorConformance

toolwire.testing.HANG_S = 1.0  # the hanging tools return after 1 s: a serial backend waits for them


def serial(jobs):
    """Run each job in turn in this thread, ignoring deadlines."""
    return [asyncio.run(call_invoker_async(job)) if job.tool.is_async else call_invoker(job) for job in jobs]
'''


def run_suite(pytester: pytest.Pytester, executor_body: str, *args: str) -> pytest.RunResult:
    source = HEADER + textwrap.dedent(executor_body) + textwrap.dedent('''

        class TestSuite(ExecutorConformance):
            def make_executor(self, config):
                return Subject()
        ''')
    pytester.makepyfile(test_subject=source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", *args)


def test_import_toolwire_does_not_import_pytest() -> None:
    code = "import sys, toolwire; print(sorted({'pytest', 'toolwire.testing'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert done.stdout.strip() == "[]"


def test_a_correct_serial_executor_passes_everything_but_deadlines(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, '''
        class Subject(Executor):
            def run(self, jobs):
                return serial(jobs)
        ''', "-k", "not deadline")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes["passed"] >= 20
    assert outcomes["skipped"] == 5  # crash isolation, concurrent runs, early reports, cancellation (2) not declared


def test_reversed_outcomes_fail_the_order_checks(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, '''
        class Subject(Executor):
            def run(self, jobs):
                return serial(jobs)[::-1]
        ''', "-k", "order_is_kept")
    result.assert_outcomes(passed=1, failed=4)  # a batch of one is its own reverse


def test_a_dropped_outcome_fails(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, '''
        class Subject(Executor):
            def run(self, jobs):
                return serial(jobs)[:-1]
        ''', "-k", "duplicate or large_batch or one_outcome_per_job or order_is_kept")
    result.assert_outcomes(failed=8)


def test_an_executor_that_lets_tool_exceptions_escape_fails(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, '''
        class Subject(Executor):
            def run(self, jobs):
                return [Outcome(value=job.tool.invoker(**job.arguments)) for job in jobs
                        if not job.tool.is_async] + serial([job for job in jobs if job.tool.is_async])
        ''', "-k", "does_not_pickle or kind_passes_through or (raising_tool and not async_fail)")
    result.assert_outcomes(failed=7)


def test_an_executor_that_hides_errors_fails(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, '''
        class Subject(Executor):
            def run(self, jobs):
                return [Outcome(value=outcome.value) for outcome in serial(jobs)]
        ''', "-k", "raising_tool or does_not_pickle or kind_passes_through")
    result.assert_outcomes(failed=8)


def test_a_late_finish_reported_as_success_fails(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, '''
        class Subject(Executor):
            def run(self, jobs):
                return serial(jobs)
        ''', "-k", "deadline")
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines(["*finished late*"])


def test_an_executor_that_cannot_start_twice_fails(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, '''
        CLOSED = []

        class Subject(Executor):
            def run(self, jobs):
                if CLOSED:
                    raise RuntimeError("closed")
                return serial(jobs)

            def close(self):
                CLOSED.append(True)
        ''', "-k", "close_then_a_new_executor")
    result.assert_outcomes(failed=1)


def test_a_backend_claiming_crash_isolation_must_survive_os_exit(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_subject=HEADER + textwrap.dedent('''
        class TestSuite(ExecutorConformance):
            isolates_crashes = True

            def make_executor(self, config):
                class Subject(Executor):
                    def run(self, jobs):
                        return serial(jobs)
                return Subject()
        '''))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-k", "crash")
    assert result.ret == 3  # the tool's os._exit(3) took the test run down with it


def test_running_serves_until_the_block_ends_and_reports_a_server_that_cannot_start() -> None:
    import asyncio

    from toolwire.serving import Server
    from toolwire.testing import running

    class Idle(Server):
        stopped = False

        async def arun(self) -> None:
            self.url = "idle://"
            self.started.set()
            try:
                await asyncio.Event().wait()
            finally:
                self.stopped = True

    class Broken(Server):
        async def arun(self) -> None:
            raise OSError("address already in use")

    with running(Idle()) as server:
        assert server.url == "idle://" and not server.stopped
    assert server.stopped
    with pytest.raises(RuntimeError, match="the server did not start: OSError"), running(Broken(), timeout=5):
        pass
