"""`DaskExecutor`: tool calls on a Dask distributed cluster, tools shipped once, calls sent in chunks."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from toolwire import Executor, ExecutorConfig, Job, Outcome, Tool, check_options, report_progress
from toolwire_shipping.packing import ShippedTool, Shipper, UnshippableToolError

from toolwire_dask import _cluster, _worker
from toolwire_dask._run import Busy, Run, hear_early

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

__all__ = ["DaskExecutor"]

OPTIONS: dict[str, type | tuple[type, ...]] = {
    "chunk_size": object, "connect_timeout": object, "scheduler": object, "threads_per_worker": object,
    "memory_limit": (str, int), "prepare": bool,
}
"""The options `ExecutorConfig.options` may hold (their values are checked where they are read)."""
DEFAULT_CONNECT_TIMEOUT_S = 10.0
MAX_LOCAL_WORKERS = 1024
"""The most workers of a local cluster (each a process on this machine); more is a typo, or a real cluster."""


class DaskExecutor(Executor):
    """Runs each batch on a Dask cluster.

    The cluster is, in order: the `client` passed in (left open by `close`); the scheduler at the
    `scheduler` option (`"tcp://host:8786"`); else a `LocalCluster` of `config.workers` worker processes,
    started at first use and closed by `close`. Options: `scheduler`, `connect_timeout` (seconds),
    `chunk_size` (calls per task; by default it adapts to the batch and the cluster's threads),
    `threads_per_worker` and `memory_limit` (per worker, e.g. "2GiB": Dask's nanny restarts a worker past
    it, and its calls are `crashed`) for the `LocalCluster`; `prepare` (default true): false leaves `prepare`
    undone, each worker loading a tool at its first task. Runs from several threads share the cluster.
    """

    name = "dask"

    def __init__(self, config: ExecutorConfig | None = None, *, client: Client | None = None) -> None:
        config = config or ExecutorConfig(backend="dask")
        options = dict(config.options)
        check_options("dask", options, OPTIONS)
        scheduler = options.get("scheduler")
        if scheduler is not None and not isinstance(scheduler, str):
            raise ValueError(f"the dask executor's 'scheduler' must be an address string, got {scheduler!r}")
        if scheduler is not None and client is not None:
            raise ValueError("give the dask executor either a client or a 'scheduler' address, not both")
        self.scheduler: str | None = scheduler
        self.workers = _positive("workers", config.workers)
        if self.workers is not None and self.workers > MAX_LOCAL_WORKERS and scheduler is None and client is None:
            raise ValueError(f"a local Dask cluster has at most {MAX_LOCAL_WORKERS} workers (each is a process on "
                             f"this machine), got {self.workers}; for more, a cluster's 'scheduler' address")
        self.chunk_size = _positive("chunk_size", options.get("chunk_size"))
        self.prepares: bool = options.get("prepare", True)
        """Whether `prepare` loads the tools on the workers (option `prepare`)."""
        self.threads_per_worker = _positive("threads_per_worker", options.get("threads_per_worker"))
        timeout = options.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"the dask executor's 'connect_timeout' must be a positive number, got {timeout!r}")
        self.connect_timeout = float(timeout)
        self.memory_limit = options.get("memory_limit")
        if self.memory_limit is not None and (scheduler is not None or client is not None):
            raise ValueError("the dask executor's 'memory_limit' applies to the LocalCluster it starts; set a "
                             "cluster's own memory limit where it is started")
        self._client = client
        self._owns_client = client is None
        self._cluster: LocalCluster | None = None
        self._shipper = Shipper()
        self._held: dict[str, Future] = {}
        self._token = uuid.uuid4().hex[:12]  # keeps this executor's cluster-side copies apart from others'
        self._lock = threading.Lock()
        self._runs: set[Any] = set()
        self._busy = Busy()
        self._closed = False
        self._hearing: Client | None = None

    @property
    def client(self) -> Client:
        """The `distributed.Client` in use, connecting (or starting the `LocalCluster`) on first use."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the dask executor is closed")
            if self._client is None:
                if self.scheduler is not None:
                    self._client = _cluster.connect(self.scheduler, self.connect_timeout)
                else:
                    from distributed import Client

                    self._cluster = _cluster.start_local_cluster(self.workers, self.threads_per_worker,
                                                                 self.memory_limit)
                    self._client = Client(self._cluster, set_as_default=False)
            return self._client

    def warm(self) -> None:
        """Connect to the scheduler (or start the `LocalCluster`) and wait for a worker."""
        self.client.wait_for_workers(1, timeout=self.connect_timeout)

    def prepare(self, tools: Sequence[Tool]) -> None:
        """Load `tools` on every worker now and call each invoker's `prepare()` there (`Client.run`); a worker
        that joins later loads them with its first task that needs them, as before. Nothing, with the option
        `prepare = false`."""
        if not self.prepares:
            return
        forms = [form for form in self._ship(tools).values() if isinstance(form, ShippedTool)]
        if forms:
            self.client.run(_worker.prepare, [form.fields() for form in forms])

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        if not jobs:
            return []
        client = self.client
        forms = self._ship(job.tool for job in jobs)
        tools = {form.key: form for form in forms.values() if isinstance(form, ShippedTool)}
        tool_futures = self._hold(client, tools.values()) if tools else {}
        run = Run(client, jobs, forms, tool_futures, self.chunk_size, self._busy)
        self._hear(client)
        with self._lock:
            self._runs.add(run)
        try:
            return run.run()
        finally:
            with self._lock:
                self._runs.discard(run)

    def cancel(self, jobs: Sequence[Job]) -> None:
        """Give these jobs a `cancelled` outcome at once; a chunk left with nothing to do is cancelled on the
        cluster: its worker starts none of its other calls, cancels its async calls, and leaves a sync call it
        runs to finish in the background (marked abandoned, so a generator function stops reading)."""
        wanted = {id(job) for job in jobs}
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            indices = [index for index, job in enumerate(run.jobs) if id(job) in wanted]
            if indices:
                run.cancel(indices)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
            self._held.clear()
        if client is not None and self._owns_client:
            client.close()
        if cluster is not None:
            cluster.close()

    def _hear(self, client: Client) -> None:
        """Hand this process's listeners the progress workers send as events, and the runs in flight the records
        they send early (subscribed once per client; a client passed in keeps the handlers, which only forward
        to `report_progress` and to the runs of this process)."""
        with self._lock:
            if self._hearing is client:
                return
            self._hearing = client
        client.subscribe_topic(_worker.PROGRESS_TOPIC, _progress_event)
        client.subscribe_topic(_worker.RESULTS_TOPIC, hear_early)

    def _ship(self, tools: Iterable[Tool]) -> dict[int, ShippedTool | UnshippableToolError]:
        """Each distinct tool's shipped form (or why it cannot be shipped), by `id(tool)`."""
        shipped: dict[int, ShippedTool | UnshippableToolError] = {}
        with self._lock:
            for tool in tools:
                if id(tool) not in shipped:
                    try:
                        shipped[id(tool)] = self._shipper.ship(tool)
                    except UnshippableToolError as exc:
                        shipped[id(tool)] = exc
        return shipped

    def _hold(self, client: Client, tools: Iterable[ShippedTool]) -> dict[str, Future]:
        """The cluster-side copies of `tools`, sent once and kept while this executor lives.

        Each copy is the result of a task (not scattered data), so the scheduler computes it again when the
        worker holding it dies: a crashing tool cannot take the batch's tools down with it.
        """
        with self._lock:
            missing = {f"toolwire-tool-{t.key}-{self._token}": t for t in tools
                       if t.key not in self._held or self._held[t.key].status in ("cancelled", "error")}
        if missing:  # plain fields travel: workers need no class of ours to read them
            futures = {name: client.submit(_worker.hold, t.fields(), key=name, pure=False)
                       for name, t in missing.items()}
            with self._lock:
                for name, future in futures.items():
                    self._held[missing[name].key] = future
        with self._lock:
            return dict(self._held)


def _positive(name: str, value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"the dask executor's '{name}' must be a positive integer, got {value!r}")
    return value


def _progress_event(event: tuple[float, list[Any]]) -> None:
    _, (call_id, progress, total, message) = event
    report_progress(progress, total, message, call_id=call_id)
