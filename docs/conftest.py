"""Doctests of the .rst pages that read the catalogue run only where it is
available: a local copy (as in CI) or --remote-data to download it."""

import os

import pytest

from photoz_numba import conf
from photoz_numba.datasets import ENV_VAR

NEEDS_CATALOGUE = {"getting_started.rst", "scale_out.rst", "calibration.rst"}


def pytest_collection_modifyitems(config, items):
    local = os.environ.get(ENV_VAR) or conf.kalna2024_path
    if local or config.getoption("remote_data", "none") != "none":
        return
    skip = pytest.mark.skip(reason=f"needs the catalogue: set {ENV_VAR} or "
                                   f"run with --remote-data")
    for item in items:
        if os.path.basename(str(item.fspath)) in NEEDS_CATALOGUE:
            item.add_marker(skip)
