"""Hypothesis profiles for the property tests: `ci` (default: 1,200 examples per test, about 3,000 in a CI run)
and `nightly` (a long search): `HYPOTHESIS_PROFILE=nightly uv run pytest tests/properties`."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                                       HealthCheck.function_scoped_fixture]}
settings.register_profile("ci", max_examples=int(os.environ.get("TOOLWIRE_PROPERTY_EXAMPLES", "1200")), **_COMMON)
settings.register_profile("nightly", max_examples=50_000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
