import os

import numpy as np
import pytest

from photoz_numba import conf
from photoz_numba.datasets import ENV_VAR, load_kalna2024, paper_sample


@pytest.fixture(scope="session")
def catalogue(request):
    """The paper's catalogue: the local copy CI points at, or a download."""
    if not (os.environ.get(ENV_VAR) or conf.kalna2024_path):
        if os.environ.get("CI"):
            pytest.fail(f"CI must set {ENV_VAR} to the local catalogue")
        if request.config.getoption("remote_data", "none") == "none":
            pytest.skip(f"set {ENV_VAR} to a local copy of the catalogue, "
                        f"or run with --remote-data to download it")
    return load_kalna2024()


@pytest.fixture(scope="session")
def sample(catalogue):
    return paper_sample(catalogue)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
