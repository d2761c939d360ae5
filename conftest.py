"""Hypothesis profiles for every property test in the repository, loaded before any test module is imported.

`ci` (default): 1,200 examples per test unless the test says otherwise, derandomized, so a run tests the same
inputs every time and a commit's CI passes or fails on its own code. `explore`: the same count from a fresh
random seed, to look for new inputs (`HYPOTHESIS_PROFILE=explore uv run pytest tests/properties plugins`);
`nightly`: a long random search. Whatever they find becomes an `@example` of its test.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                                       HealthCheck.function_scoped_fixture]}
_EXAMPLES = int(os.environ.get("TOOLWIRE_PROPERTY_EXAMPLES", "1200"))
settings.register_profile("ci", max_examples=_EXAMPLES, derandomize=True, database=None, **_COMMON)
settings.register_profile("explore", max_examples=_EXAMPLES, **_COMMON)
settings.register_profile("nightly", max_examples=50_000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
