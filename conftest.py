"""Hypothesis profiles for every property test in the repository, loaded before any test module is imported.

`ci` (default): 400 examples per test unless the test says otherwise, derandomized, so a run tests the same
inputs every time and a commit's CI passes or fails on its own code. `explore`: 1,200 from a fresh random seed,
to look for new inputs (`HYPOTHESIS_PROFILE=explore uv run pytest tests/properties plugins`); `nightly`: a long
random search. `TOOLWIRE_PROPERTY_EXAMPLES` sets the count of the first two. Whatever a search finds becomes an
`@example` of its test.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                                       HealthCheck.function_scoped_fixture]}
_EXAMPLES = os.environ.get("TOOLWIRE_PROPERTY_EXAMPLES")
settings.register_profile("ci", max_examples=int(_EXAMPLES or 400), derandomize=True, database=None, **_COMMON)
settings.register_profile("explore", max_examples=int(_EXAMPLES or 1200), **_COMMON)
settings.register_profile("nightly", max_examples=50_000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
