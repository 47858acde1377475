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
                       progress=None, tune=False, n_iter=50):
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
        Called as ``progress(done, total)`` as work is done: one unit per
        seed's prediction and, when tuning, one per trial.
    tune : bool, optional
        Tune ``k``, ``gamma`` and ``lam`` on each seed's training part
        (`~photoz_numba.PhotoZModel.tune`, seeded with the seed) before
        predicting its test part.
    n_iter : int, optional
        Settings tried per seed when tuning.

    Returns
    -------
    per_seed : `~astropy.table.Table`
        One row per seed: ``seed``, ``n_train``, ``n_test``, the
        hyper-parameters used, the best CV score when tuning, the metrics
        and the (tune +) fit + predict time in seconds.
    predictions : `~astropy.table.Table`
        The test galaxies of every seed with their predictions and a
        ``seed`` column.
    """
    if catalogue is None:
        catalogue = load_kalna2024()
    sample = paper_sample(catalogue)
    seeds = list(seeds)
    total = len(seeds) * ((n_iter if tune else 0) + 1)
    done = 0

    def advance():
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    rows, predictions = [], []
    for seed in seeds:
        train, test = stratified_split(sample, z="zspec", seed=seed)
        start = time.perf_counter()
        model = PhotoZModel(list(KALNA2024_BANDS), **(params or {}))
        if tune:
            model.tune(train, z="zspec", n_iter=n_iter, random_state=seed,
                       progress=lambda *_: advance())
        else:
            model.fit(train, z="zspec")
        out = model.predict(test)
        elapsed = time.perf_counter() - start
        ok = ~np.ma.getmaskarray(out["z_phot"])
        metrics = evaluate(out["z_phot"][ok], out["zspec"][ok])
        history = getattr(model, "tuning_history_", None)
        rows.append({"seed": seed, "n_train": len(train), "n_test": len(test),
                     "k": model.k, "gamma": model.gamma, "lam": model.lam,
                     "cv_score": (float(np.min(history["cv_score"])) if history
                                  is not None else np.nan),
                     "n_unpredicted": int((~ok).sum()),
                     **{name: metrics[name] for name in METRICS},
                     "seconds": elapsed})
        out["seed"] = np.full(len(out), seed)
        predictions.append(out)
        advance()
    return Table(rows), vstack(predictions)


def summarise(per_seed):
    """Mean and standard deviation of each metric over the seeds, as a dict."""
    return {name: (float(np.mean(per_seed[name])),
                   float(np.std(per_seed[name], ddof=1)) if len(per_seed) > 1 else 0.0)
            for name in METRICS}
