# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Cross-validation of a `~photoz_numba.PhotoZModel` on a training table.

Both functions report `~photoz_numba.selection.OutOfFold` predictions:
folds stratified in redshift (`~photoz_numba.selection.stratified_kfold`),
each predicted by a copy of the model fitted on the others. Tuning and
calibration use the same path.
"""

from .selection import OutOfFold

__all__ = ["cross_val_predict", "cross_validate"]


def cross_val_predict(model, table, z="zspec", n_folds=5, n_bins=14, seed=0):
    """Out-of-fold predictions for every row of a training table.

    Each fold is predicted by a copy of ``model`` fitted on the other
    folds, standardisation included, so no fold sees its own galaxies.

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel`
        Supplies the hyper-parameters; it is not modified.
    table : `~astropy.table.Table`
        Training galaxies with the redshift column ``z``.
    z : str, optional
        The redshift column.
    n_folds, n_bins : int, optional
        Number of folds and of redshift quantile bins to stratify in.
    seed : int, optional
        Seeds the assignment of galaxies to folds.

    Returns
    -------
    z_phot, z_phot_err : ndarray
        Out-of-fold predictions (NaN for rows that could not be predicted).
    flag : ndarray of int
        ``z_phot_flag`` of every row.

    Raises
    ------
    KeyError
        The redshift column or a band column is not in the table.
    ValueError
        The redshifts are masked or not finite, ``n_folds`` is not an
        integer from 2 to the number of rows, or a fold's training part
        cannot be fitted (see `~photoz_numba.PhotoZModel.fit`).

    Examples
    --------
    600 synthetic galaxies with AB magnitudes in three bands, each
    predicted by a model fitted on the four folds without it:

    >>> from photoz_numba import PhotoZModel
    >>> from photoz_numba.datasets import toy_catalogue
    >>> table = toy_catalogue(600)    # g, r, i in uJy, and zspec
    >>> z = table["zspec"]
    >>> model = PhotoZModel(["g", "r", "i"], k=20)
    >>> from photoz_numba.validation import cross_val_predict
    >>> z_phot, z_phot_err, flag = cross_val_predict(model, table, seed=0)
    >>> for i in range(3):
    ...     print(f"z_phot = {z_phot[i]:.3f} +/- {z_phot_err[i]:.3f}, zspec = {z[i]:.3f}")
    z_phot = 1.579 +/- 0.024, zspec = 1.584
    z_phot = 2.865 +/- 0.018, zspec = 2.856
    z_phot = 0.517 +/- 0.026, zspec = 0.518
    >>> hasattr(model, "train_redshifts_")   # the model itself is not fitted
    False
    """
    prediction = OutOfFold(model, table, z, n_folds=n_folds, n_bins=n_bins,
                           seed=seed).predict()
    return prediction.z_phot, prediction.z_phot_err, prediction.z_phot_flag


def cross_validate(model, table, z="zspec", n_folds=5, n_bins=14, seed=0):
    """Cross-validated metrics of a model on a training table.

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel`
        Supplies the hyper-parameters; it is not modified.
    table : `~astropy.table.Table`
        Training galaxies with the redshift column ``z``.
    z : str, optional
        The redshift column.
    n_folds, n_bins : int, optional
        Number of folds and of redshift quantile bins to stratify in.
    seed : int, optional
        Seeds the assignment of galaxies to folds.

    Returns
    -------
    metrics : dict
        ``n``, ``sigma_nmad``, ``outlier_fraction`` and ``bias`` of the
        out-of-fold predictions, and ``n_unpredicted``: rows without a
        prediction, left out of the metrics.

    Raises
    ------
    KeyError
        The redshift column or a band column is not in the table.
    ValueError
        The redshifts are masked or not finite, ``n_folds`` is not an
        integer from 2 to the number of rows, or a fold's training part
        cannot be fitted (see `~photoz_numba.PhotoZModel.fit`).

    Examples
    --------
    >>> from photoz_numba import PhotoZModel
    >>> from photoz_numba.datasets import toy_catalogue
    >>> table = toy_catalogue(600)    # g, r, i in uJy, and zspec
    >>> model = PhotoZModel(["g", "r", "i"], k=20)
    >>> from photoz_numba.validation import cross_validate
    >>> metrics = cross_validate(model, table, n_folds=5, seed=0)
    >>> print(f"n = {metrics['n']}, sigma_NMAD = {metrics['sigma_nmad']:.4f}, "
    ...       f"outliers = {metrics['outlier_fraction']:.3f}, "
    ...       f"unpredicted = {metrics['n_unpredicted']}")
    n = 600, sigma_NMAD = 0.0024, outliers = 0.000, unpredicted = 0
    """
    return OutOfFold(model, table, z, n_folds=n_folds, n_bins=n_bins, seed=seed).metrics()
