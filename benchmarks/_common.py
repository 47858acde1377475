"""
Helpers shared by the benchmarks and the analyses: the bands, resampled
catalogues, quiet fits, the model's standardised features, the plain
NumPy baseline and interleaved timings.

Run from the repository root as modules (``python -m benchmarks.run``,
``python -m analysis.approximate_search_accuracy``), where both this
package and the tests' NumPy reference (``tests/reference.py``) import.
"""

import os
import statistics
import time
import warnings

import numba
import numpy as np
from astropy import units as u
from astropy.table import Table
from scipy.spatial import cKDTree

from photoz_numba import PhotoZModel
from photoz_numba.cli import _parse_seeds
from photoz_numba.datasets import KALNA2024_BANDS
from tests import reference  # the plain NumPy implementation

__all__ = ["BANDS", "parse_seeds", "resample", "resample_training", "quiet_fit", "full_pattern",
           "standardised", "numpy_baseline", "timed", "rate", "load"]

BANDS = list(KALNA2024_BANDS)

#: Seeds of the paper's splits as ``photoz-numba reproduce --seeds`` reads
#: them: '0-9', '0,3,5' or '2', as a list of ints.
parse_seeds = _parse_seeds


def resample(sample, n, seed=0):
    """n galaxies drawn from the sample, each flux perturbed by its error.

    The noise is applied in magnitudes (1.0857 err/flux), so every flux
    stays positive and every galaxy is predicted.
    """
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(sample), n)
    columns = {}
    for band in BANDS:
        flux = np.asarray(sample[band].filled(np.nan))[rows]
        err = np.asarray(sample[f"{band}_err"].filled(np.nan))[rows]
        # Capped at 0.5 mag: a few bands have S/N << 1.
        dmag = rng.normal(0.0, np.minimum(1.0857 * err / flux, 0.5))
        columns[band] = flux * 10 ** (-0.4 * dmag) * u.uJy
    return Table(columns)


def resample_training(train, n, seed):
    """n training galaxies drawn with replacement, fluxes perturbed by their
    errors (`resample`), each keeping its spectroscopic redshift."""
    table = resample(train, n, seed=seed)
    rows = np.random.default_rng(seed).integers(0, len(train), n)   # resample's draw
    table["zspec"] = np.asarray(train["zspec"])[rows]
    return table


def quiet_fit(table, **params):
    """`PhotoZModel` on all bands with ``params``, fitted without warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PhotoZModel(BANDS, **params).fit(table)


def full_pattern(model):
    """The band indices of all the model's bands: its full-band pattern."""
    return tuple(range(len(model.bands)))


def standardised(model, table):
    """The table's standardised features in the model's all-bands pattern
    (C-contiguous, one row per galaxy), and that pattern's training set
    (``model._pattern``: x_train_t, z, mean, std, index)."""
    bands = full_pattern(model)
    pattern = model._pattern(bands)
    magnitudes, _ = model._magnitudes(table, None)
    features = model._pattern_features(magnitudes, bands)
    return np.ascontiguousarray((features - pattern["mean"]) / pattern["std"]), pattern


def numpy_baseline(model, table, k):
    """The same maths with cKDTree neighbours and per-galaxy SciPy solves
    (``tests/reference.py``): z_phot of every galaxy of ``table``."""
    x_query, pattern = standardised(model, table)
    x_train = pattern["x_train_t"].T
    z_train = pattern["z"]
    _, neighbours = cKDTree(x_train).query(x_query, k=k)
    z_phot = np.empty(len(x_query))
    for q, nbr in enumerate(neighbours):
        d2 = ((x_train[nbr] - x_query[q]) ** 2).sum(axis=1)
        zp, err, resid = reference._fit(x_train[nbr], z_train[nbr], d2,
                                        model.gamma, model.lam, model.offset)
        keep = np.abs(resid) <= model.clip_sigma * err
        if reference.MIN_FIT <= keep.sum() < k:
            zp, _, _ = reference._fit(x_train[nbr[keep]], z_train[nbr[keep]],
                                      d2[keep], model.gamma, model.lam, model.offset)
        z_phot[q] = zp
    return z_phot


def timed(runs, repeat):
    """Interleaved timings: {name: [seconds, ...]} for {name: callable}."""
    times = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def rate(n, seconds):
    """(best, median) galaxies per second."""
    return n / min(seconds), n / statistics.median(seconds)


def load():
    """Print the machine's load average, CPUs and Numba threads; return the
    1-minute load."""
    uptime = os.getloadavg()
    print(f"load average {uptime[0]:.2f} {uptime[1]:.2f} {uptime[2]:.2f} on "
          f"{os.cpu_count()} CPUs; numba {numba.__version__}, "
          f"{numba.config.NUMBA_NUM_THREADS} threads", flush=True)
    return uptime[0]
