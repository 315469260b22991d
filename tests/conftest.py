"""Shared pytest configuration: the ``--rewrite`` option for transcript tests, and
hypothesis profiles.

The suite's default hypothesis profile, ``ci``, is derandomized: every run of the
suite tries the same examples, so a property that passes on one machine passes
on a clean clone and CI never fails on an example it drew by chance. To look for
new counterexamples, run with ``--hypothesis-profile=explore`` (random examples,
kept in the local example database) or set ``HYPOTHESIS_PROFILE=explore``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--rewrite",
        action="store_true",
        default=False,
        help="regenerate tests/testdata/*.out from the current code (review the diff!)",
    )


@pytest.fixture
def rewrite(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--rewrite"))
