"""Fixtures for the fuzz tests: the implementations under test.

``h2_connection_cls`` lists the sans-I/O HTTP/2 connection classes: the h2-backed twin and,
when the speedups are built, the compiled core; every HTTP/2 fuzz test runs against both.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests.h2support import H2_CORES

# Bounded for CI; POUNCE_FUZZ_EXAMPLES=20000 for a longer hunt.
FUZZ_EXAMPLES = int(os.environ.get("POUNCE_FUZZ_EXAMPLES", "250"))
settings.register_profile(
    "pounce-fuzz",
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FUZZ = settings.get_profile("pounce-fuzz")


@pytest.fixture(params=H2_CORES, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def h2_connection_cls(request: pytest.FixtureRequest) -> type:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=["httptools", "h11"])
def h1_parser(request: pytest.FixtureRequest) -> str:
    return str(request.param)
