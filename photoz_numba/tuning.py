# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Hyper-parameter tuning of `~photoz_numba.PhotoZModel` by Bayesian
optimisation with stratified k-fold cross-validation.

The optimiser is Optuna's Tree-structured Parzen Estimator: a sequential
model-based (Bayesian) optimiser, seedable, with integer and log-scaled
parameters built in, and well maintained. The objective, minimised, is
the cross-validated

    score = sigma_NMAD + 0.1 * outlier_fraction

which weighs one percentage point of outliers (``|dz| > 0.15``) like 0.001
in sigma_NMAD: on this problem that trade keeps both near their best.
``outlier_weight`` sets another weight, for a science case that pays more
for outliers (an n(z) for weak lensing, say) than for a sharp core; the
trials then trace the trade between the two (see the method page,
"Survey photometry").

The scores are those of `~photoz_numba.selection.OutOfFold`, the path
`~photoz_numba.validation.cross_validate` reports too: every training row
takes part, whichever bands it has. The fold models are fitted once; a
trial only predicts, since the fit does not depend on (k, gamma, lam).
"""

import numpy as np
from astropy.table import Table

from .metrics import no_redshift_said
from .selection import OutOfFold

__all__ = ["SEARCH_SPACE", "OUTLIER_WEIGHT", "cv_score", "tune"]

#: Parameters searched and their ranges: (low, high, log scale).
#: ``window`` and ``clip_sigma`` are searched only when the model has
#: them (not None), so that the first trial is always the model's setting.
SEARCH_SPACE = {"k": (10, 100, False), "gamma": (0.01, 3.0, True),
                "lam": (1e-3, 1.0, True), "window": (0.05, 0.3, True),
                "clip_sigma": (1.5, 4.0, False)}
#: Weight of the outlier fraction in the CV score.
OUTLIER_WEIGHT = 0.1


def cv_score(sigma, outliers, outlier_weight=OUTLIER_WEIGHT):
    """The tuning objective: ``sigma_nmad + outlier_weight * outlier_fraction``.

    Parameters
    ----------
    sigma : float or ndarray
        Cross-validated sigma_NMAD (dimensionless).
    outliers : float or ndarray
        Cross-validated outlier fraction, between 0 and 1.
    outlier_weight : float, optional
        Weight of the outlier fraction (`OUTLIER_WEIGHT` by default).

    Returns
    -------
    score : float or ndarray
        Lower is better.

    Examples
    --------
    Four percentage points of outliers weigh as much as 0.004 in
    sigma_NMAD:

    >>> from photoz_numba.tuning import cv_score
    >>> print(f"{cv_score(0.020, 0.04):.4f}")
    0.0240
    """
    return sigma + outlier_weight * outliers


def _check_outlier_weight(outlier_weight):
    """``outlier_weight`` as a float, or a ValueError naming it."""
    weight = float("nan")
    if not isinstance(outlier_weight, (bool, np.bool_, str, bytes)):
        try:
            weight = float(outlier_weight)
        except (TypeError, ValueError, OverflowError):
            pass
    if not (np.isfinite(weight) and weight >= 0):
        raise ValueError(f"outlier_weight must be a finite number >= 0, "
                         f"not {outlier_weight!r}")
    return weight


def tune(model, table, z="zspec", n_iter=50, n_folds=5, random_state=None,
         progress=None, trials=None, outlier_weight=OUTLIER_WEIGHT):
    """Tune ``k``, ``gamma``, ``lam``, ``window`` and ``clip_sigma`` of a
    model, then refit it.

    ``window`` and ``clip_sigma`` are tuned when the model has them; one
    that is None stays None.

    See `photoz_numba.PhotoZModel.tune`, which calls this.

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel`
        The model to tune; its current setting is the first trial. It is
        modified in place.
    table : `~astropy.table.Table`
        Training galaxies, as for `~photoz_numba.PhotoZModel.fit`; every
        row takes part in the cross-validation, as in
        `~photoz_numba.validation.cross_validate`.
    z : str, optional
        The redshift column.
    n_iter : int, optional
        Number of settings tried, >= 1.
    n_folds : int, optional
        Cross-validation folds, stratified in redshift.
    random_state : int, optional
        Seeds the folds and the optimiser: the same seed gives the same
        result, whatever the number of threads.
    progress : callable, optional
        Called as ``progress(trials_done, n_iter)`` after each trial, and
        as ``progress(0, n_iter)`` when the first starts (after the
        kernels are compiled or loaded).
    trials : list, optional
        A list of the caller's, to which each trial's row of
        ``tuning_history_`` (a dict) is appended as soon as the trial
        finishes. A run interrupted (`KeyboardInterrupt`, raised again
        from here) leaves in it the trials it finished, and
        ``Table(trials)`` is their history.
    outlier_weight : float, optional
        Weight of the outlier fraction in the objective, `cv_score`
        (`OUTLIER_WEIGHT`, 0.1, by default); >= 0. A larger weight trades
        a wider core for fewer outliers.

    Returns
    -------
    model : `~photoz_numba.PhotoZModel`
        ``model``, set to the best setting (lowest `cv_score`), fitted on
        the whole table, with ``tuning_history_``: a Table of every
        trial's ``k``, ``gamma``, ``lam`` (and ``window``, ``clip_sigma``
        where tuned), ``cv_sigma_nmad``,
        ``cv_outlier_fraction`` and ``cv_score``.

    Raises
    ------
    TypeError
        ``table`` is not an astropy Table.
    KeyError
        A band or the redshift column is not in the table.
    ValueError
        ``n_iter`` < 1, ``outlier_weight`` < 0 or not finite, an empty
        table, bad redshifts, or too few usable
        galaxies for the smallest ``k`` of `SEARCH_SPACE` in ``n_folds``
        folds.
    KeyboardInterrupt
        Interrupted (Ctrl-C): raised again once the search has stopped,
        with the finished trials in ``trials``.

    Examples
    --------
    >>> import numpy as np
    >>> from photoz_numba import PhotoZModel
    >>> from photoz_numba.tuning import tune
    >>> from photoz_numba.datasets import toy_catalogue
    >>> table = toy_catalogue(600)    # g, r, i in uJy, and zspec
    >>> model = PhotoZModel(["g", "r", "i"], k=20)
    >>> model = tune(model, table, n_iter=5, random_state=0)
    >>> history = model.tuning_history_
    >>> first = history[0]   # the setting the model had
    >>> print(f"k = {first['k']}, gamma = {first['gamma']:.2f}, "
    ...       f"lam = {first['lam']:.2f}: CV score {first['cv_score']:.4f}")
    k = 20, gamma = 0.10, lam = 0.10: CV score 0.0024
    >>> len(history), bool(history["cv_score"].min() <= first["cv_score"])
    (5, True)
    >>> best = history[np.argmin(history["cv_score"])]
    >>> bool(model.k == best["k"] and model.gamma == best["gamma"])
    True

    The trials finished before an interruption are kept in ``trials``:

    >>> def ctrl_c_after_three(done, total):    # as if Ctrl-C were pressed then
    ...     if done == 3:
    ...         raise KeyboardInterrupt
    >>> trials = []
    >>> try:
    ...     tune(PhotoZModel(["g", "r", "i"], k=20), table, n_iter=5, random_state=0,
    ...          progress=ctrl_c_after_three, trials=trials)
    ... except KeyboardInterrupt:
    ...     print(f"interrupted after {len(trials)} trials")
    interrupted after 3 trials
    >>> from astropy.table import Table
    >>> Table(trials)[:3] == history[:3]     # the first three of the run above
    array([ True,  True,  True])
    """
    import optuna

    if int(n_iter) < 1:
        raise ValueError(f"n_iter must be >= 1, not {n_iter!r}")
    outlier_weight = _check_outlier_weight(outlier_weight)
    # Fold models with k = 1, so that a small table reaches the check below
    # rather than failing in a fit; the trials set k.
    folds = OutOfFold(type(model)(**{**model.get_params(), "k": 1}), table, z,
                      n_folds=n_folds, seed=random_state)
    largest_k = min(SEARCH_SPACE["k"][1], folds.n_train - 1)
    if largest_k < SEARCH_SPACE["k"][0]:
        raise ValueError(f"too few training galaxies with a redshift "
                         f"({int(np.isfinite(folds.z).sum())}; the smallest fold model "
                         f"is fitted on {folds.n_train}) to tune k over "
                         f"{SEARCH_SPACE['k'][:2]} with {n_folds} folds")
    folds.warm_up()
    if progress is not None:
        progress(0, n_iter)
    rows = [] if trials is None else trials
    floats = ["gamma", "lam"] + [name for name in ("window", "clip_sigma")
                                 if getattr(model, name) is not None]

    interrupted = []

    def objective(trial):
        try:
            params = {"k": trial.suggest_int("k", SEARCH_SPACE["k"][0], largest_k)}
            for name in floats:
                low, high, log = SEARCH_SPACE[name]
                params[name] = trial.suggest_float(name, low, high, log=log)
            metrics = folds.metrics(**params)
            sigma, outliers = metrics["sigma_nmad"], metrics["outlier_fraction"]
            score = cv_score(sigma, outliers, outlier_weight)
            rows.append({"trial": trial.number, **params, "cv_sigma_nmad": sigma,
                         "cv_outlier_fraction": outliers, "cv_score": score})
            if progress is not None:
                progress(trial.number + 1, n_iter)
            return score
        except KeyboardInterrupt as exc:
            # Raised again once the study has stopped: through Optuna it
            # would be logged as a failed trial, with its traceback.
            interrupted.append(exc)
            trial.study.stop()
            return float("inf")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Seeded sampler and one worker: the same random_state gives the same
    # search, because every CV score is itself exactly reproducible.
    sampler = optuna.samplers.TPESampler(seed=random_state)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    # The current setting is tried first, so tuning never ends worse on CV.
    study.enqueue_trial({"k": min(int(model.k), largest_k),
                         **{name: float(np.clip(getattr(model, name), *SEARCH_SPACE[name][:2]))
                            for name in floats}})
    study.optimize(objective, n_trials=int(n_iter))
    if interrupted:
        raise interrupted[0]
    history = Table(rows)
    history.meta["outlier_weight"] = outlier_weight
    best = study.best_params
    model.set_params(k=int(best["k"]), **{name: float(best[name]) for name in floats})
    with no_redshift_said():              # rows with no redshift: warned of above
        model.fit(table, z)
    model.tuning_history_ = history
    return model
