"""Fixtures for the fuzz tests: the parsers under test, and Hypothesis's settings.

Every HTTP/2 fuzz test runs against both sans-I/O cores (the ``h2_core`` fixture of
tests/conftest.py).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Bounded for CI; POUNCE_FUZZ_EXAMPLES=20000 for a longer hunt.
FUZZ_EXAMPLES = int(os.environ.get("POUNCE_FUZZ_EXAMPLES", "250"))
settings.register_profile(
    "pounce-fuzz",
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FUZZ = settings.get_profile("pounce-fuzz")


@pytest.fixture(params=["httptools", "h11"])
def h1_parser(request: pytest.FixtureRequest) -> str:
    return str(request.param)
