# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Model selection: redshift-stratified splits and folds, and out-of-fold
predictions.

This is the one path by which the package judges a setting on training
data. `~photoz_numba.PhotoZModel.tune` scores each trial,
`~photoz_numba.PhotoZModel.calibrate` learns from, and
`~photoz_numba.validation.cross_validate` reports, the same
`OutOfFold` predictions: each fold predicted by a copy of the model
fitted on the other folds (standardisation, band patterns and all), so a
tuning trial scores exactly what `~photoz_numba.validation.cross_validate`
reports for the same setting and folds. The paper's protocol
(`photoz_numba.protocol`) splits with `stratified_split`.
"""

import math

import numpy as np

from .metrics import _read_redshifts, evaluate
from .photometry import check_table

__all__ = ["training_redshifts", "stratified_kfold", "stratified_split", "OutOfFold"]


def training_redshifts(table, z, warn=True):
    """The redshift column ``z`` of ``table`` as float64, NaN where a row
    has no redshift.

    A value that is masked, not finite or outside
    `~photoz_numba.metrics.Z_SPEC_RANGE` (a sentinel such as 99 or -99)
    is no redshift (`~photoz_numba.metrics.no_redshift`): every path that
    learns from true redshifts skips such rows, and this warns how many
    and the first.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Galaxies with known redshifts.
    z : str
        The redshift column.
    warn : bool, optional
        Warn (`~photoz_numba.exceptions.PhotoZWarning`) of rows with no
        redshift.

    Returns
    -------
    redshift : ndarray of float64

    Raises
    ------
    TypeError
        ``z`` is not a column name, or the column does not hold numbers.
    KeyError
        The column is not in the table.
    ValueError
        No row has a redshift (the count and the first row are named).

    Examples
    --------
    >>> import warnings
    >>> from astropy.table import Table
    >>> from photoz_numba.selection import training_redshifts
    >>> training_redshifts(Table({"zspec": [0.5, 1.5, -0.001]}), "zspec").tolist()
    [0.5, 1.5, -0.001]
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     training_redshifts(Table({"zspec": [0.5, 99.0, -99.0]}), "zspec")
    array([0.5, nan, nan])
    >>> print(caught[0].message)  # doctest: +NORMALIZE_WHITESPACE
    2 of 3 rows have no redshift in 'zspec' (masked, not finite or outside
    -0.01 to 20, as the sentinels 99 and -99; first at row 1: 99.0) and are skipped
    """
    if not isinstance(z, str):
        # Its type, not its values (a Column's repr shows them all).
        named = getattr(z, "name", None)
        raise TypeError(f"z must be a column name (str), not {type(z).__name__}"
                        + (f": pass z={named!r}" if isinstance(named, str) else ""))
    if z not in table.colnames:
        raise KeyError(f"redshift column {z!r} is not in the table (columns: "
                       f"{', '.join(table.colnames)})")
    try:
        return _read_redshifts(table[z], z, warn=warn, stacklevel=4,
                               nothing="nothing to learn from")
    except TypeError:
        raise TypeError(f"redshift column {z!r} must hold numbers") from None


def _strata(z, n_bins):
    """Quantile-bin label of every redshift (as pandas.qcut with n_bins)."""
    z = np.asarray(z, dtype=float)
    if not np.isfinite(z).all():
        raise ValueError("redshifts to stratify must all be finite")
    edges = np.unique(np.quantile(z, np.linspace(0, 1, n_bins + 1)))
    return np.clip(np.searchsorted(edges, z, side="left") - 1, 0, len(edges) - 2)


def stratified_kfold(z, n_folds=5, n_bins=14, seed=None):
    """Fold label of every galaxy, stratified in quantile bins of redshift.

    Within each bin the galaxies are shuffled and dealt round-robin to the
    folds, starting each bin where the last one stopped, so the folds
    differ in size by at most one.

    Parameters
    ----------
    z : array-like
        Redshifts, finite.
    n_folds : int, optional
        Number of folds, >= 2.
    n_bins : int, optional
        Number of redshift quantile bins.
    seed : int or `numpy.random.Generator`, optional
        Seeds the shuffle.

    Returns
    -------
    folds : ndarray of int
        Fold index, 0 to ``n_folds - 1``, of every galaxy.

    Raises
    ------
    ValueError
        ``n_folds`` is not an integer from 2 to the number of galaxies, or
        a redshift is not finite.

    Examples
    --------
    Five folds of equal size and the same redshift distribution:

    >>> import numpy as np
    >>> from photoz_numba.selection import stratified_kfold
    >>> z = np.random.default_rng(0).uniform(0, 3, 1000)
    >>> folds = stratified_kfold(z, n_folds=5, seed=0)
    >>> np.bincount(folds).tolist()
    [200, 200, 200, 200, 200]
    >>> print(" ".join(f"{np.median(z[folds == k]):.2f}" for k in range(5)))
    1.58 1.61 1.59 1.59 1.59
    """
    z = np.asarray(z, dtype=float)
    if int(n_folds) != n_folds or n_folds < 2 or n_folds > z.size:
        raise ValueError(f"n_folds must be an integer from 2 to {z.size}, not "
                         f"{n_folds!r}")
    rng = np.random.default_rng(seed)
    strata = _strata(z, n_bins)
    folds = np.empty(z.size, dtype=int)
    next_fold = 0
    for label in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == label))
        folds[members] = (next_fold + np.arange(members.size)) % n_folds
        next_fold = (next_fold + members.size) % n_folds
    return folds


def stratified_split(table, z="zspec", test_size=0.2, n_bins=14, seed=None):
    """Split a table into training and test parts, stratified in redshift.

    The redshifts are cut into ``n_bins`` quantile bins (as the paper does,
    14 bins); ``ceil(test_size * len(table))`` test galaxies are shared
    among the bins in proportion to their size (largest remainders first)
    and drawn at random within each bin.

    Parameters
    ----------
    table : `~astropy.table.Table`
        The sample to split.
    z : str, optional
        The redshift column.
    test_size : float, optional
        Fraction of the galaxies in the test part, between 0 and 1.
    n_bins : int, optional
        Number of redshift quantile bins.
    seed : int, optional
        Seeds the draw: the same seed gives the same split.

    Returns
    -------
    train, test : `~astropy.table.Table`
        The two parts, each in the order of the input table. Rows with no
        redshift (`training_redshifts`) are in neither, and warned of.

    Raises
    ------
    KeyError
        The redshift column is not in the table.
    ValueError
        ``test_size`` is not between 0 and 1, or the table has fewer than 2
        rows with a redshift.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from photoz_numba.selection import stratified_split
    >>> table = Table({"zspec": np.linspace(0, 7, 100)})
    >>> train, test = stratified_split(table, seed=0)
    >>> len(train), len(test)
    (80, 20)
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be between 0 and 1, not {test_size!r}")
    redshift = training_redshifts(table, z)
    has_z = np.isfinite(redshift)
    if has_z.sum() < 2:
        raise ValueError(f"only {int(has_z.sum())} of the {len(table)} rows have a "
                         f"redshift in {z!r}; a split needs at least 2")
    if not has_z.all():
        # Rows with no redshift can be in neither part (warned above).
        table, redshift = table[has_z], redshift[has_z]
    strata = _strata(redshift, n_bins)
    labels, sizes = np.unique(strata, return_counts=True)
    n_test = math.ceil(test_size * len(table))
    share = sizes * n_test / len(table)
    per_bin = np.floor(share).astype(int)
    leftover = n_test - per_bin.sum()
    # Largest remainders get the leftover galaxies; ties go to the lower bin.
    order = np.lexsort((labels, -(share - per_bin)))
    per_bin[order[:leftover]] += 1
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(table), dtype=bool)
    for label, count in zip(labels, per_bin):
        members = np.flatnonzero(strata == label)
        is_test[rng.choice(members, size=count, replace=False)] = True
    return table[~is_test], table[is_test]


class OutOfFold:
    """Out-of-fold predictions of a training table, fold models kept.

    The table's rows are dealt to ``n_folds`` folds stratified in redshift
    (`stratified_kfold`); each fold is predicted by a copy of ``model``
    fitted on the other folds. The fold models are kept, so that
    `predict` can score another setting of the parameters a fit does not
    depend on (``k``, ``gamma``, ``lam``, ``clip_sigma``, ``offset``)
    without fitting again: the fitted state (magnitudes, standardisation,
    neighbour indices) is the same for every such setting.

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel`
        Supplies the parameters; it is not modified.
    table : `~astropy.table.Table`
        Training galaxies with the redshift column ``z``. Every row takes
        part, whichever bands it has, as in `~photoz_numba.PhotoZModel.fit`
        and `~photoz_numba.PhotoZModel.predict`.
    z : str, optional
        The redshift column.
    n_folds, n_bins : int, optional
        Number of folds and of redshift quantile bins to stratify in.
    seed : int, optional
        Seeds the assignment of galaxies to folds.

    Attributes
    ----------
    z : ndarray
        The redshifts of the table's rows; NaN where a row has none
        (`training_redshifts`): such a row is predicted but neither learnt
        from nor scored.
    folds : ndarray of int
        The fold of each row.

    Raises
    ------
    TypeError, KeyError, ValueError
        As for `training_redshifts`, `stratified_kfold` and
        `~photoz_numba.PhotoZModel.fit` on each fold's training part.

    Examples
    --------
    >>> from photoz_numba import PhotoZModel
    >>> from photoz_numba.datasets import toy_catalogue
    >>> from photoz_numba.selection import OutOfFold
    >>> table = toy_catalogue(600)    # g, r, i in uJy, and zspec
    >>> folds = OutOfFold(PhotoZModel(["g", "r", "i"], k=20), table, seed=0)
    >>> for k in (10, 40):
    ...     metrics = folds.metrics(k=k)
    ...     print(f"k = {k}: sigma_NMAD = {metrics['sigma_nmad']:.4f}")
    k = 10: sigma_NMAD = 0.0021
    k = 40: sigma_NMAD = 0.0018
    """

    def __init__(self, model, table, z="zspec", n_folds=5, n_bins=14, seed=0):
        check_table(table)
        self.z = training_redshifts(table, z)
        has_z = np.isfinite(self.z)
        self.folds = np.empty(len(table), dtype=int)
        self.folds[has_z] = stratified_kfold(self.z[has_z], n_folds=n_folds, n_bins=n_bins,
                                             seed=seed)
        # Rows with no redshift are predicted, dealt to the folds in turn,
        # but learnt from by no fold model (fit skips them; warned above).
        self.folds[~has_z] = np.arange((~has_z).sum()) % n_folds
        self._parts = []
        for fold in range(n_folds):
            held_out = self.folds == fold
            train = table[~held_out & has_z]
            fold_model = type(model)(**model.get_params()).fit(train, z=z)
            self._parts.append((held_out, fold_model, table[held_out]))

    def warm_up(self):
        """Compile the fold models' kernels, or load them from the cache
        (`~photoz_numba.PhotoZModel.warm_up`), before anything is timed."""
        for _, fold_model, _ in self._parts:
            fold_model.warm_up()

    @property
    def n_train(self):
        """The fewest training galaxies of any fold's model."""
        return min(fold_model.n_train_ for _, fold_model, _ in self._parts)

    def predict(self, nearest=False, **params):
        """Every row's out-of-fold `~photoz_numba.model.Prediction`.

        Parameters
        ----------
        nearest : bool, optional
            Also each row's distance to the nearest training galaxy of
            its fold model (``nearest_distance``).
        **params
            Settings of ``k``, ``gamma``, ``lam``, ``clip_sigma`` or
            ``offset`` to predict with instead of the model's.

        Returns
        -------
        prediction : `~photoz_numba.model.Prediction`
            Arrays over the table's rows, in its order.
        """
        parts = []
        for held_out, fold_model, held_table in self._parts:
            if params:
                fold_model.set_params(**params)
            parts.append((held_out, fold_model.predict_arrays(held_table, nearest=nearest)))
        first = parts[0][1]
        merged = {}
        for name, value in first._asdict().items():
            if value is None:
                merged[name] = None
                continue
            whole = np.empty((self.z.size,) + value.shape[1:], dtype=value.dtype)
            for held_out, part in parts:
                whole[held_out] = getattr(part, name)
            merged[name] = whole
        return type(first)(**merged)

    def metrics(self, **params):
        """Out-of-fold metrics: ``n``, ``sigma_nmad``, ``outlier_fraction``,
        ``bias`` (`~photoz_numba.metrics.evaluate`) over the predicted
        rows with a redshift, and ``n_unpredicted``, those left out. ``params`` as for
        `predict`."""
        z_phot = self.predict(**params).z_phot
        has_z = np.isfinite(self.z)
        ok = np.isfinite(z_phot) & has_z
        metrics = evaluate(z_phot[ok], self.z[ok])
        metrics["n_unpredicted"] = int((~ok & has_z).sum())
        return metrics
