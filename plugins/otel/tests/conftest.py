"""The OpenTelemetry SDK set up once for the test process (the API's providers can be set only once):
spans are sampled only while a test uses the `spans` fixture, so other tests run untraced."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult


class Switch(Sampler):
    """Samples every span while on, none while off."""

    on = False

    def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                      attributes: Any = None, links: Sequence[Any] | None = None, trace_state: Any = None
                      ) -> SamplingResult:
        return SamplingResult(Decision.RECORD_AND_SAMPLE if self.on else Decision.DROP, attributes)

    def get_description(self) -> str:
        return "switch"


class SlowToEnd(SpanProcessor):
    """Takes its time over the end of the call span with id `slow-end`; remembers the call spans it saw end."""

    def __init__(self) -> None:
        self.ended: list[str] = []

    def on_end(self, span: Any) -> None:
        call_id = (span.attributes or {}).get("gen_ai.tool.call.id")
        if call_id == "slow-end":
            time.sleep(0.3)
        if call_id is not None:
            self.ended.append(call_id)


SWITCH = Switch()
SLOW_TO_END = SlowToEnd()
EXPORTER = InMemorySpanExporter()
READER = InMemoryMetricReader()


def _install() -> None:
    provider = TracerProvider(sampler=SWITCH)
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    provider.add_span_processor(SLOW_TO_END)
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))


_install()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans are recorded (into the returned exporter) for the test's duration."""
    EXPORTER.clear()
    SWITCH.on = True
    try:
        yield EXPORTER
    finally:
        SWITCH.on = False
        EXPORTER.clear()


@pytest.fixture
def slow_to_end() -> SlowToEnd:
    """A span processor of the test process that is slow to end the call span with id `slow-end`."""
    SLOW_TO_END.ended.clear()
    return SLOW_TO_END


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    """The reader of the test process's meter provider (cumulative: filter by what the test recorded)."""
    return READER


@pytest.fixture
def sampling() -> Switch:
    """The switch: a test may turn sampling off within `spans`."""
    return SWITCH
