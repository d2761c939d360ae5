"""OpenTelemetry tracing and metrics for toolwire: a span per batch, an `execute_tool {name}` span per
call (GenAI semantic conventions), carried into the workers that run the calls; a duration histogram.

Installing the distribution is enough; configure the OpenTelemetry SDK as usual.
"""

from toolwire_otel._scope import TraceScope
from toolwire_otel._tracing import CAPTURE_CONTENT

__all__ = ["CAPTURE_CONTENT", "TraceScope"]
