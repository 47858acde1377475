# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The paper's evaluation protocol: for each seed, a stratified 4:1 split of
the 4605-galaxy sample, a fit on the training part and metrics on the test
part.
"""

import time

import numpy as np
from astropy.table import Table, vstack

from .datasets import KALNA2024_BANDS, load_kalna2024, paper_sample, stratified_split
from .metrics import evaluate
from .model import PhotoZModel

__all__ = ["PAPER_FIGURES", "PUBLISHED_CODE_FIGURES", "run_paper_protocol",
           "summarise"]

#: Figures of Kalná et al. (2024): sigma_NMAD and outlier fraction.
PAPER_FIGURES = {"sigma_nmad": 0.018, "outlier_fraction": 0.035}
#: The published code, run on the same protocol here (10 seeds).
PUBLISHED_CODE_FIGURES = {"sigma_nmad": 0.0204, "outlier_fraction": 0.039}

METRICS = ("sigma_nmad", "outlier_fraction", "bias")


def run_paper_protocol(catalogue=None, seeds=range(10), params=None,
                       progress=None):
    """Fit and evaluate a model on the paper's splits, one per seed.

    Parameters
    ----------
    catalogue : `~astropy.table.Table`, optional
        The Kalná et al. (2024) catalogue; loaded with
        `~photoz_numba.datasets.load_kalna2024` if not given.
    seeds : iterable of int, optional
        Seeds of the stratified 4:1 splits (0 to 9 in the paper).
    params : dict, optional
        Keyword arguments of `~photoz_numba.PhotoZModel` other than
        ``bands``; its defaults otherwise.
    progress : callable, optional
        Called as ``progress(seed, metrics)`` after each seed.

    Returns
    -------
    per_seed : `~astropy.table.Table`
        One row per seed: ``seed``, ``n_train``, ``n_test``, the metrics
        and the fit + predict time in seconds.
    predictions : `~astropy.table.Table`
        The test galaxies of every seed with their predictions and a
        ``seed`` column.
    """
    if catalogue is None:
        catalogue = load_kalna2024()
    sample = paper_sample(catalogue)
    rows, predictions = [], []
    for seed in seeds:
        train, test = stratified_split(sample, z="zspec", seed=seed)
        start = time.perf_counter()
        model = PhotoZModel(list(KALNA2024_BANDS), **(params or {}))
        model.fit(train, z="zspec")
        out = model.predict(test)
        elapsed = time.perf_counter() - start
        ok = ~np.ma.getmaskarray(out["z_phot"])
        metrics = evaluate(out["z_phot"][ok], out["zspec"][ok])
        rows.append({"seed": seed, "n_train": len(train), "n_test": len(test),
                     "n_unpredicted": int((~ok).sum()),
                     **{name: metrics[name] for name in METRICS},
                     "seconds": elapsed})
        out["seed"] = np.full(len(out), seed)
        predictions.append(out)
        if progress is not None:
            progress(seed, metrics)
    return Table(rows), vstack(predictions)


def summarise(per_seed):
    """Mean and standard deviation of each metric over the seeds, as a dict."""
    return {name: (float(np.mean(per_seed[name])),
                   float(np.std(per_seed[name], ddof=1)) if len(per_seed) > 1 else 0.0)
            for name in METRICS}
