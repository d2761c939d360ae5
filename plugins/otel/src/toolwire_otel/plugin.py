"""toolwire-otel's entry point: installed, it traces every batch through the global OpenTelemetry
providers (nothing is recorded until an SDK is configured)."""

from toolwire_otel._tracing import toolwire_dispatch, toolwire_execute

__all__ = ["toolwire_dispatch", "toolwire_execute"]
