# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
`PhotoZModel`: fit on a Table with spectroscopic redshifts, predict
``z_phot`` columns onto another.

This layer only validates input and shapes output; the per-galaxy work is
done by `photoz_numba.kernels`.
"""

import numbers
import warnings
from contextlib import contextmanager

import numpy as np
from astropy import units as u
from astropy.table import MaskedColumn, Table

from . import flags as _flags
from .exceptions import NotFittedError, PhotoZWarning
from .photometry import (MEASURED, MISSING, NONDETECTION, _resolve_unit,
                         adjacent_colours, band_magnitudes, colour_names)

__all__ = ["PhotoZModel", "OUTPUT_COLUMNS"]

#: Columns that `PhotoZModel.predict` adds.
OUTPUT_COLUMNS = ("z_phot", "z_phot_err", "z_phot_flag", "z_phot_nused")

_OFFSETS = ("none", "median", "mean")


@contextmanager
def _numba_threads(n_threads):
    """Run with ``n_threads`` Numba threads, restoring the count afterwards."""
    if n_threads is None:
        yield
        return
    import numba
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


class PhotoZModel:
    """Kernelised local linear regression photo-z (Kalná et al. 2024).

    For each galaxy, the ``k`` training galaxies nearest in standardised
    colour space are fitted by RBF kernel ridge regression; neighbours with
    residuals beyond ``clip_sigma`` times their RMS are dropped and the fit
    is redone. The RMS residual of the final fit is ``z_phot_err``.

    The defaults were chosen by 5-fold cross-validation on the training
    part of the paper's seed-0 split (see the "method" page of the docs).

    Parameters
    ----------
    bands : sequence of str
        Band names, ordered by wavelength: features are the colours of
        adjacent bands in this order.
    k : int, optional
        Number of nearest neighbours fitted per galaxy.
    gamma : float, optional
        Width of the RBF kernel ``exp(-gamma |x - x'|^2)`` in standardised
        feature units; > 0.
    lam : float, optional
        Ridge regularisation added to the Gram matrix; > 0.
    clip_sigma : float or None, optional
        Neighbours with ``|residual| > clip_sigma * rms`` are dropped before
        the refit (3 in the paper); None disables clipping.
    offset : {'median', 'none', 'mean'}, optional
        What the ridge is fitted around: ``'none'`` fits ``z`` itself (the
        paper), ``'median'`` or ``'mean'`` fit ``z`` minus the neighbours'
        median or mean redshift, so that predictions far from the
        neighbours relax to that value rather than to 0.
    magnitude_band : str, 'auto' or None, optional
        A band whose AB magnitude is added, standardised, to the colours as
        a feature. ``'auto'`` takes the middle band of ``bands`` (f150w for
        the paper's 11 bands); None (the paper) uses colours only.
    columns : dict, optional
        Column name of each band, where it differs from the band name.
    units : dict or unit, optional
        Unit of band columns that carry none (or to read them in instead of
        their own): one unit for all bands, or a dict keyed by band name.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from photoz_numba import PhotoZModel
    >>> rng = np.random.default_rng(1)
    >>> z = rng.uniform(0.1, 3, 600)
    >>> mags = {"g": 25 + z, "r": 24.5 + 0.5 * z, "i": 24.2 + 0.2 * z ** 2}
    >>> table = Table({**mags, "zspec": z})
    >>> model = PhotoZModel(["g", "r", "i"], k=20, units="ABmag")
    >>> model = model.fit(table[:500], z="zspec")
    >>> out = model.predict(table[500:])
    >>> for row in out[:3]:
    ...     print(f"z_phot = {row['z_phot']:.3f}, zspec = {row['zspec']:.3f}")
    z_phot = 1.320, zspec = 1.323
    z_phot = 0.174, zspec = 0.174
    z_phot = 0.581, zspec = 0.587
    """

    def __init__(self, bands, k=40, gamma=0.1, lam=0.1, clip_sigma=3.0,
                 offset="median", magnitude_band="auto", columns=None,
                 units=None):
        self.bands = bands
        self.k = k
        self.gamma = gamma
        self.lam = lam
        self.clip_sigma = clip_sigma
        self.offset = offset
        self.magnitude_band = magnitude_band
        self.columns = columns
        self.units = units
        self._check_params()

    # -- scikit-learn style parameter access ---------------------------------

    _PARAMS = ("bands", "k", "gamma", "lam", "clip_sigma", "offset",
               "magnitude_band", "columns", "units")

    def get_params(self):
        """The constructor's keyword arguments, as a dict."""
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params):
        """Set constructor keywords; a fitted model must be fitted again."""
        for name, value in params.items():
            if name not in self._PARAMS:
                raise ValueError(f"{name!r} is not a parameter of PhotoZModel; "
                                 f"valid: {', '.join(self._PARAMS)}")
            setattr(self, name, value)
        self._check_params()
        return self

    def __repr__(self):
        args = ", ".join(f"{name}={getattr(self, name)!r}"
                         for name in self._PARAMS
                         if getattr(self, name) is not None)
        return f"PhotoZModel({args})"

    def _check_params(self):
        bands = self.bands
        if isinstance(bands, str) or not all(isinstance(b, str) for b in bands):
            raise TypeError(f"bands must be a sequence of band names (str), "
                            f"not {bands!r}")
        self.bands = list(bands)
        if len(self.bands) < 2:
            raise ValueError(f"at least 2 bands are needed for a colour, "
                             f"got {self.bands}")
        if len(set(self.bands)) != len(self.bands):
            raise ValueError(f"bands has duplicates: {self.bands}")
        if (isinstance(self.k, bool) or not isinstance(self.k, numbers.Integral)
                or self.k < 1):
            raise ValueError(f"k must be a positive integer, not {self.k!r}")
        for name in ("gamma", "lam"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                    or not np.isfinite(value) or value <= 0):
                raise ValueError(f"{name} must be a finite number > 0, not "
                                 f"{value!r}")
        if self.clip_sigma is not None and (
                isinstance(self.clip_sigma, bool)
                or not isinstance(self.clip_sigma, numbers.Real)
                or not self.clip_sigma > 0):
            raise ValueError(f"clip_sigma must be a number > 0 or None, not "
                             f"{self.clip_sigma!r}")
        if self.offset not in _OFFSETS:
            raise ValueError(f"offset must be one of {_OFFSETS}, not "
                             f"{self.offset!r}")
        if self.magnitude_band not in (None, "auto", *self.bands):
            raise ValueError(f"magnitude_band {self.magnitude_band!r} is not "
                             f"one of the bands {self.bands}")
        if self.columns is not None:
            if not isinstance(self.columns, dict):
                raise TypeError(f"columns must be a dict of band -> column "
                                f"name, not {type(self.columns).__name__}")
            unknown = set(self.columns) - set(self.bands)
            if unknown:
                raise ValueError(f"columns names bands that are not in bands: "
                                 f"{sorted(unknown)}")

    # -- tables to arrays ------------------------------------------------------

    def _magnitude_band(self):
        """The band whose magnitude is a feature, or None."""
        if self.magnitude_band == "auto":
            return self.bands[len(self.bands) // 2]
        return self.magnitude_band

    def _column_names(self):
        columns = self.columns or {}
        return [columns.get(band, band) for band in self.bands]

    def _stated_units(self, units=None):
        """Stated units keyed by band, from a unit or a band dict."""
        units = self.units if units is None else units
        if units is None:
            return {}
        if isinstance(units, dict):
            unknown = set(units) - set(self.bands)
            if unknown:
                raise ValueError(f"units names bands that are not in bands: "
                                 f"{sorted(unknown)}")
            return dict(units)
        return {band: units for band in self.bands}

    def _column_units(self, units):
        """Stated units keyed by column name."""
        names = dict(zip(self.bands, self._column_names()))
        return {names[band]: unit for band, unit in self._stated_units(units).items()}

    @staticmethod
    def _check_table(table):
        if not isinstance(table, Table):
            raise TypeError(f"expected an astropy Table, not "
                            f"{type(table).__name__}")
        if len(table) == 0:
            raise ValueError("the table has no rows")

    def _features(self, table, units):
        """Unstandardised features and per-band states of a table."""
        self._check_table(table)
        mag, state = band_magnitudes(table, self._column_names(),
                                     self._column_units(units))
        features = adjacent_colours(mag)
        if self._magnitude_band() is not None:
            band = self.bands.index(self._magnitude_band())
            features = np.column_stack([features, mag[:, band]])
        return features, state

    def _feature_names(self):
        names = colour_names(self.bands)
        if self._magnitude_band() is not None:
            names.append(self._magnitude_band())
        return names

    # -- fit and predict ---------------------------------------------------------

    def fit(self, table, z="zspec", units=None):
        """Learn from galaxies with known redshifts.

        Rows that lack a measurement or a detection in some band cannot be
        placed in colour space: they are not used, and a `PhotoZWarning`
        says how many.

        Parameters
        ----------
        table : `~astropy.table.Table`
            Training galaxies: a column per band (flux density or AB
            magnitude, with units) and the redshift column.
        z : str, optional
            The redshift column; every value must be finite, unmasked and
            > -1.
        units : dict or unit, optional
            Overrides the constructor's ``units`` for this table.

        Returns
        -------
        self : `PhotoZModel`

        Raises
        ------
        KeyError
            A band or the redshift column is not in the table.
        astropy.units.UnitsError
            A band column has no unit and none is stated, or a wrong one.
        ValueError
            Bad redshifts, fewer than ``k + 1`` usable galaxies, or a
            feature that is constant over the training set.
        """
        self._check_params()
        features, state = self._features(table, units)
        redshift = self._training_redshifts(table, z)
        usable = (state == MEASURED).all(axis=1)
        n_unusable = int((~usable).sum())
        if n_unusable:
            warnings.warn(f"{n_unusable} of {len(table)} training rows lack a "
                          f"measured, detected flux in some band and are not "
                          f"used", PhotoZWarning)
        n_usable = int(usable.sum())
        if n_usable < self.k + 1:
            raise ValueError(f"only {n_usable} training galaxies have all bands "
                             f"measured; k={self.k} needs at least {self.k + 1}")
        features = features[usable]
        mean = features.mean(axis=0)
        std = features.std(axis=0, ddof=1)
        # Round-off leaves a spread of ~1e-15 on a colour that is constant.
        constant = [name for name, s, m in zip(self._feature_names(), std, mean)
                    if not s > 1e-9 * (1 + abs(m))]
        if constant:
            raise ValueError(f"feature(s) {constant} are constant over the "
                             f"training set: they cannot be standardised")
        stated = self._column_units(units)
        self.band_units_ = [_resolve_unit(table[name], name, stated.get(name))
                            for name in self._column_names()]
        self.feature_names_ = self._feature_names()
        self.feature_mean_ = mean
        self.feature_std_ = std
        # Feature-major, as the kernel's distance pass wants it.
        self.train_features_ = np.ascontiguousarray(((features - mean) / std).T)
        self.train_z_ = np.ascontiguousarray(redshift[usable])
        self.n_train_ = n_usable
        return self

    @staticmethod
    def _training_redshifts(table, z):
        if not isinstance(z, str):
            raise TypeError(f"z must be a column name, not {z!r}")
        if z not in table.colnames:
            raise KeyError(f"redshift column {z!r} is not in the table")
        column = table[z]
        masked = np.ma.getmaskarray(column)
        values = column.value if isinstance(column, u.Quantity) else column
        try:
            values = np.asarray(np.ma.getdata(values), dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"redshift column {z!r} must hold numbers") from None
        bad = masked | ~np.isfinite(values) | (values <= -1)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise ValueError(f"redshift column {z!r} has {rows.size} masked, "
                             f"non-finite or <= -1 values (first at row "
                             f"{rows[0]}: {column[rows[0]]})")
        return values

    def tune(self, table, z="zspec", n_iter=50, n_folds=5, random_state=None,
             progress=None):
        """Tune ``k``, ``gamma`` and ``lam`` by Bayesian optimisation, then refit.

        Each trial scores a setting by stratified ``n_folds``-fold
        cross-validation on ``table`` alone (see `photoz_numba.tuning` for
        the objective: sigma_NMAD + 0.1 outlier fraction); the first trial
        is the model's current setting. The best setting is kept and the
        model refitted on the whole table. Other parameters (``offset``,
        ``magnitude_band``, ``clip_sigma``) stay as they are.

        Parameters
        ----------
        table : `~astropy.table.Table`
            Training galaxies, as for `fit`.
        z : str, optional
            The redshift column.
        n_iter : int, optional
            Number of settings tried.
        n_folds : int, optional
            Cross-validation folds, stratified in redshift.
        random_state : int, optional
            Seeds the folds and the optimiser: the same seed gives the same
            result, whatever the number of threads.
        progress : callable, optional
            Called as ``progress(trials_done, n_iter)``.

        Returns
        -------
        self : `PhotoZModel`
            Fitted, with ``tuning_history_``: a Table of every trial's
            parameters and CV figures.
        """
        from .tuning import tune
        return tune(self, table, z=z, n_iter=n_iter, n_folds=n_folds,
                    random_state=random_state, progress=progress)

    def write(self, path, overwrite=False):
        """Save the fitted model as a FITS file (`photoz_numba.io.write_model`).

        Parameters
        ----------
        path : str or path-like
            The file to write; nothing is left under this name if writing
            fails.
        overwrite : bool, optional
            Replace an existing file.
        """
        from .io import write_model
        write_model(self, path, overwrite=overwrite)

    @classmethod
    def read(cls, path):
        """Load a model saved by `write` (`photoz_numba.io.read_model`).

        Raises
        ------
        ValueError
            Not a model file, an incompatible format version, or a
            truncated or altered file.
        """
        from .io import read_model
        return read_model(path)

    def _check_fitted(self):
        if not hasattr(self, "train_z_"):
            raise NotFittedError("this PhotoZModel is not fitted yet: call "
                                 "fit(table, z=...) first")
        if self.k > self.n_train_:
            raise ValueError(f"k={self.k} exceeds the {self.n_train_} training "
                             f"galaxies the model was fitted on; fit it again")

    def predict(self, table, units=None, n_threads=None):
        """Photometric redshifts for every row of a table.

        Parameters
        ----------
        table : `~astropy.table.Table`
            Galaxies with the model's band columns. It is not modified.
        units : dict or unit, optional
            Overrides the constructor's ``units`` for this table.
        n_threads : int, optional
            Numba threads to use for this call (default: Numba's current
            setting). Results do not depend on it.

        Returns
        -------
        out : `~astropy.table.Table`
            A copy of ``table`` (same class) with four columns added:
            ``z_phot`` and ``z_phot_err`` (masked where no prediction could
            be made), ``z_phot_flag`` (bits in `photoz_numba.flags`) and
            ``z_phot_nused`` (neighbours in the final fit). Every input row
            is there, in the input order.

        Raises
        ------
        NotFittedError
            The model has not been fitted.
        ValueError
            The table already has one of the output columns, or no rows.
        """
        self._check_fitted()
        self._check_table(table)
        present = [name for name in OUTPUT_COLUMNS if name in table.colnames]
        if present:
            raise ValueError(f"the table already has column(s) {present}; "
                             f"remove or rename them before predicting")
        z_phot, z_phot_err, flag, n_used = self._predict_arrays(
            table, units, n_threads)
        out = table.copy()
        unpredicted = (flag & _flags.UNPREDICTED) != 0
        out["z_phot"] = MaskedColumn(z_phot, mask=unpredicted,
                                     description="photometric redshift")
        out["z_phot_err"] = MaskedColumn(
            z_phot_err, mask=unpredicted,
            description="RMS residual of the neighbours in the final fit")
        out["z_phot_flag"] = MaskedColumn(
            flag, description="bit flags, see photoz_numba.flags")
        out["z_phot_nused"] = MaskedColumn(
            n_used, description="neighbours used in the final fit")
        return out

    def _predict_arrays(self, table, units=None, n_threads=None):
        """z_phot, z_phot_err, z_phot_flag and z_phot_nused as plain arrays."""
        from .kernels import (OFFSET_MODES, STATUS_EXTRAPOLATION,
                              STATUS_SOLVE_FAILED, predict_kernel)
        features, state = self._features(table, units)
        flag = np.zeros(len(table), dtype=np.int16)
        flag[(state == MISSING).any(axis=1)] |= _flags.MISSING_BAND
        flag[(state == NONDETECTION).any(axis=1)] |= _flags.NONDETECTION
        predictable = flag == 0
        x_query = (features - self.feature_mean_) / self.feature_std_
        x_query[~predictable] = 0.0
        x_query = np.ascontiguousarray(x_query)
        n = len(table)
        z_phot = np.empty(n)
        z_phot_err = np.empty(n)
        n_used = np.empty(n, dtype=np.int64)
        status = np.empty(n, dtype=np.int64)
        clip = np.inf if self.clip_sigma is None else float(self.clip_sigma)
        with _numba_threads(n_threads):
            predict_kernel(self.train_features_, self.train_z_, x_query,
                           predictable, int(self.k), float(self.gamma),
                           float(self.lam), clip, OFFSET_MODES[self.offset],
                           z_phot, z_phot_err, n_used, status)
        flag[(status & STATUS_SOLVE_FAILED) != 0] |= _flags.SOLVE_FAILED
        flag[(status & STATUS_EXTRAPOLATION) != 0] |= _flags.EXTRAPOLATION
        return z_phot, z_phot_err, flag, n_used.astype(np.int32)
