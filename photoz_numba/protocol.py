# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The paper's evaluation protocol: for each seed, a stratified 4:1 split of
the 4605-galaxy sample, a fit on the training part and metrics on the test
part.
"""

import time

import numpy as np
from astropy.table import Table, vstack

from .datasets import KALNA2024_BANDS, load_kalna2024, paper_sample
from .metrics import evaluate
from .model import PhotoZModel
from .selection import stratified_split

__all__ = ["PAPER_FIGURES", "PUBLISHED_CODE_FIGURES", "run_paper_protocol",
           "summarise"]

#: Figures of Kalná et al. (2024): sigma_NMAD and outlier fraction.
PAPER_FIGURES = {"sigma_nmad": 0.018, "outlier_fraction": 0.035}
#: The published code, run on the same protocol here (10 seeds).
PUBLISHED_CODE_FIGURES = {"sigma_nmad": 0.0204, "outlier_fraction": 0.039}

METRICS = ("sigma_nmad", "outlier_fraction", "bias")


def run_paper_protocol(catalogue=None, seeds=range(10), params=None,
                       progress=None, tune=False, n_iter=50, on_seed=None):
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
        seed's prediction and, when tuning, one per trial; first as
        ``progress(0, total)``, once the kernels are compiled or loaded.
    tune : bool, optional
        Tune ``k``, ``gamma`` and ``lam`` on each seed's training part
        (`~photoz_numba.PhotoZModel.tune`, seeded with the seed) before
        predicting its test part.
    n_iter : int, optional
        Settings tried per seed when tuning.
    on_seed : callable, optional
        Called with each seed's row of ``per_seed`` (a dict) as soon as
        that seed is done, so that a caller can show or keep it before
        the others are (the command line prints it).

    Returns
    -------
    per_seed : `~astropy.table.Table`
        One row per seed: ``seed``, ``n_train``, ``n_test``, the
        hyper-parameters used, the best CV score when tuning, the metrics
        and the (tune +) fit + predict time in seconds (the kernels'
        compilation, on a machine's first run, is done before and not
        counted).
    predictions : `~astropy.table.Table`
        The test galaxies of every seed with their predictions and a
        ``seed`` column.

    Raises
    ------
    FileNotFoundError, OSError, ValueError
        As for `~photoz_numba.datasets.load_kalna2024`, when the catalogue
        is not given and cannot be found, downloaded or verified.
    KeyError
        ``zspec`` or a band column of
        `~photoz_numba.datasets.KALNA2024_BANDS` is not in the catalogue.
    ValueError
        A split cannot be fitted (see `~photoz_numba.PhotoZModel.fit`), or
        ``params`` are invalid.

    Examples
    --------
    Called without a catalogue, this runs the paper's protocol on its
    catalogue (10 seeds; minutes)::

        per_seed, predictions = run_paper_protocol()

    Here, three seeds on 500 synthetic galaxies with fluxes (uJy) in the
    paper's 11 bands:

    >>> import numpy as np
    >>> from astropy import units as u
    >>> from astropy.table import Table
    >>> from photoz_numba.datasets import KALNA2024_BANDS
    >>> from photoz_numba.protocol import run_paper_protocol
    >>> rng = np.random.default_rng(2)
    >>> z = rng.uniform(0.1, 6, 500)
    >>> catalogue = Table({"zspec": z})
    >>> for b, band in enumerate(KALNA2024_BANDS):
    ...     mag = 25 + np.sin(z + b / 2) + 0.02 * rng.standard_normal(z.size)
    ...     catalogue[band] = 10 ** ((23.9 - mag) / 2.5) * u.uJy
    >>> per_seed, predictions = run_paper_protocol(catalogue, seeds=[0, 1, 2],
    ...                                            params={"k": 20})
    >>> for name in ("sigma_nmad", "outlier_fraction"):
    ...     per_seed[name].format = ".4f"
    >>> print(per_seed["seed", "n_train", "n_test", "k", "sigma_nmad", "outlier_fraction"])
    seed n_train n_test  k  sigma_nmad outlier_fraction
    ---- ------- ------ --- ---------- ----------------
       0     400    100  20     0.0037           0.0000
       1     400    100  20     0.0038           0.0000
       2     400    100  20     0.0035           0.0000
    >>> len(predictions), predictions.colnames[-5:]
    (300, ['z_phot', 'z_phot_err', 'z_phot_flag', 'z_phot_nused', 'seed'])
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

    # Compiled (or loaded) before any seed's clock starts: the seconds
    # reported per seed are the method's, on every machine's first run too.
    if seeds:
        warm_train, _ = stratified_split(sample, z="zspec", seed=seeds[0])
        model = PhotoZModel(list(KALNA2024_BANDS), **(params or {}))
        model.fit(warm_train, z="zspec").warm_up()
    if progress is not None:
        progress(0, total)
    rows, predictions = [], []
    for seed in seeds:
        train, test = stratified_split(sample, z="zspec", seed=seed)
        start = time.perf_counter()
        model = PhotoZModel(list(KALNA2024_BANDS), **(params or {}))
        if tune:
            model.tune(train, z="zspec", n_iter=n_iter, random_state=seed,
                       progress=lambda trials, _: advance() if trials else None)
        else:
            model.fit(train, z="zspec")
        out = model.predict(test)
        elapsed = time.perf_counter() - start
        ok = ~np.ma.getmaskarray(out["z_phot"])
        metrics = evaluate(out["z_phot"][ok], out["zspec"][ok])
        history = getattr(model, "tuning_history_", None)
        rows.append({"seed": seed, "n_train": len(train), "n_test": len(test),
                     "k": model.k, "gamma": model.gamma, "lam": model.lam,
                     # NaN: switched off (None).
                     "window": np.nan if model.window is None else model.window,
                     "clip_sigma": np.nan if model.clip_sigma is None else model.clip_sigma,
                     "cv_score": (float(np.min(history["cv_score"])) if history
                                  is not None else np.nan),
                     "n_unpredicted": int((~ok).sum()),
                     **{name: metrics[name] for name in METRICS},
                     "seconds": elapsed})
        out["seed"] = np.full(len(out), seed)
        predictions.append(out)
        advance()
        if on_seed is not None:
            on_seed(rows[-1])
    return Table(rows), vstack(predictions)


def summarise(per_seed):
    """Mean and standard deviation of each metric over the seeds, as a dict.

    Parameters
    ----------
    per_seed : `~astropy.table.Table`
        One row per seed with columns ``sigma_nmad``, ``outlier_fraction``
        and ``bias``, as returned by `run_paper_protocol`.

    Returns
    -------
    summary : dict
        ``{metric: (mean, std)}`` for the three metrics (dimensionless
        floats); the standard deviation is the sample one (``ddof=1``), 0
        for a single seed.

    Raises
    ------
    KeyError
        A metric column is not in ``per_seed``.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from photoz_numba.protocol import summarise
    >>> per_seed = Table({"sigma_nmad": [0.018, 0.020, 0.019],
    ...                   "outlier_fraction": [0.030, 0.040, 0.035],
    ...                   "bias": [0.001, -0.001, 0.000]})
    >>> for name, (mean, std) in summarise(per_seed).items():
    ...     print(f"{name}: {mean:.4f} +/- {std:.4f}")
    sigma_nmad: 0.0190 +/- 0.0010
    outlier_fraction: 0.0350 +/- 0.0050
    bias: 0.0000 +/- 0.0010
    """
    return {name: (float(np.mean(per_seed[name])),
                   float(np.std(per_seed[name], ddof=1)) if len(per_seed) > 1 else 0.0)
            for name in METRICS}
