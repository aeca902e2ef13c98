"""Shared fixtures: small universes, generated once per session."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run the slow end-to-end tests (always on with CI=true)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or os.environ.get("CI", "").lower() == "true":
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow or CI=true")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def universe():
    """A 128 Mpc/h embedded universe (about 43k galaxies): catalogue and metadata."""
    from hgtools.universe import UniverseConfig, universe_catalogue

    return universe_catalogue(UniverseConfig(box_size=128.0, seed=0))


@pytest.fixture(scope="session")
def full_universe():
    """The full 205 Mpc/h embedded universe (slow tests only)."""
    from hgtools.universe import UniverseConfig, universe_catalogue

    return universe_catalogue(UniverseConfig(box_size=205.0, seed=0))


@pytest.fixture()
def small_catalogue(universe):
    """A copy of the first 2000 rows of the test universe, safe to modify."""
    return universe[0].iloc[:2000].copy()
