# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
`PhotoZModel`: fit on a Table with spectroscopic redshifts, predict
``z_phot`` columns onto another.

This layer only validates input and shapes output; the per-galaxy work is
done by the compiled kernels of ``photoz_numba._kernels``.

What the rest of the package uses of a model is its public contract:
`PhotoZModel.predict_arrays` (a `Prediction`), `PhotoZModel.output_schema`
(the `~photoz_numba.schema.OutputColumn` table), `PhotoZModel.input_columns`,
`PhotoZModel.stated_units`, `PhotoZModel.check_fitted` and the fitted
state (`PhotoZModel.fitted_state`, `PhotoZModel.from_fitted_state`).
"""

import numbers
import warnings
from collections import namedtuple
from contextlib import contextmanager

import numpy as np
from astropy import units as u
from astropy.table import MaskedColumn, Table

from . import flags as _flags
from .exceptions import NotFittedError, PhotoZWarning
from .photometry import (STATE_MEASURED, STATE_MISSING, STATE_NONDETECTION, _resolve_unit,
                         adjacent_colours, band_magnitudes, check_plausible_fluxes,
                         check_table, colour_names, resolve_sentinels, softening_by_band)
from .schema import PERCENTILES, FittedState, check_no_output_columns, output_columns
from .selection import training_redshifts

__all__ = ["PhotoZModel", "Prediction"]

_OFFSETS = ("none", "median", "mean")

# Rows predicted per pass of `PhotoZModel.predict_arrays`: bounds the
# working memory to some 60 MB beyond the outputs (docs: performance) at
# no measurable cost in throughput.
_PREDICT_ROWS = 1 << 17


class Prediction(namedtuple("Prediction", ["z_phot", "z_phot_err", "z_phot_err_raw",
                                           "z_phot_flag", "z_phot_nused",
                                           "nearest_distance", "percentiles"],
                            defaults=(None, None))):
    """Predictions as plain arrays, one entry per input row, in order.

    ``z_phot`` and ``z_phot_err`` (float64) are NaN where no prediction
    could be made (see `unpredicted`), and ``z_phot_err`` where the fit
    had no spread to give an error (flag ``no_error``, see `masked`);
    ``z_phot_err`` is the calibrated error for a calibrated model and
    ``z_phot_err_raw`` the kernel's RMS residual (the same values as
    ``z_phot_err`` without a calibration, but for ``no_error`` rows);
    ``z_phot_flag`` (int16) holds the bits of `photoz_numba.flags`;
    ``z_phot_nused`` (int32) the neighbours in the final fit;
    ``nearest_distance`` the distance to the nearest training galaxy in
    the standardised features, only when asked for (else None);
    ``percentiles`` (n, 5) the 2.5, 16, 50, 84 and 97.5 percentiles of
    p(z) for a model with one (else None).
    """

    __slots__ = ()

    @property
    def unpredicted(self):
        """Rows without a prediction (masked in a Table), as a bool array."""
        return (self.z_phot_flag & _flags.UNPREDICTED) != 0

    def masked(self, name):
        """Rows where output column ``name`` has no value: those
        `unpredicted`, and for the error and percentile columns those
        flagged ``no_error`` too."""
        if name in _flags.NO_ERROR_COLUMNS:
            return (self.z_phot_flag & (_flags.UNPREDICTED | _flags.NO_ERROR)) != 0
        return self.unpredicted

    def column(self, name):
        """The values of output column ``name`` (`photoz_numba.schema`)."""
        for position, (percentile, _) in enumerate(PERCENTILES):
            if name == percentile:
                return self.percentiles[:, position]
        return getattr(self, name)

    def filled(self, column):
        """The values of an `~photoz_numba.schema.OutputColumn`, NaN where
        it is masked (no prediction), as files and DataFrames hold them."""
        values = self.column(column.name)
        return np.where(self.masked(column.name), np.nan, values) if column.masked else values


def _check_threads(n_threads, option="n_threads"):
    """ValueError unless ``n_threads`` is None or a whole number from 1 to
    the threads Numba may use here; ``option`` names it (the command
    line's ``--threads``)."""
    if n_threads is None:
        return
    import numba
    most = numba.config.NUMBA_NUM_THREADS
    if (not isinstance(n_threads, numbers.Integral) or isinstance(n_threads, bool)
            or not 1 <= n_threads <= most):
        raise ValueError(f"{option} must be from 1 to {most} (the cores Numba may use "
                         f"here), not {n_threads!r}")


@contextmanager
def _numba_threads(n_threads):
    """Run with ``n_threads`` Numba threads, restoring the count afterwards."""
    _check_threads(n_threads)
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


def _as_redshifts(values):
    """Redshifts as float64 (masked values NaN; a Quantity must be
    dimensionless)."""
    if isinstance(values, u.Quantity):
        values = values.to_value(u.dimensionless_unscaled)
    return np.asarray(np.ma.filled(np.ma.asarray(values, dtype=np.float64), np.nan),
                      dtype=np.float64)


def _of_rows(has_z, what):
    """'400 training rows', or '380 training rows with a redshift (400 in
    all)' when some have none: what a count of rows with a redshift is
    out of."""
    if has_z.all():
        return f"{has_z.size} {what}"
    return f"{int(has_z.sum())} {what} with a redshift ({has_z.size} in all)"


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
        the refit (3 in the paper), unless fewer than three would be left;
        None disables clipping.
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
        Unit of band columns that carry none: one unit for all bands, or a
        dict keyed by band name. A column's own unit is never overridden:
        at `fit` a stated unit that differs from it is an error (so that
        the units a model file keeps are those it was trained in); a later
        table's column with a unit of its own is read in that unit.
    min_bands : int, optional
        Fewest usable bands a galaxy needs to be predicted (at least 2: one
        colour). A galaxy with missing or undetected bands is predicted
        from the bands it has, against the training galaxies measured in
        all of them; with fewer than ``min_bands`` it keeps a masked
        ``z_phot`` and the ``too_few_bands`` flag.
    snr_min : float or None, optional
        Flux measurements with a signal-to-noise ratio below this count as
        non-detections and, like flux <= 0, as missing. None (default):
        only flux <= 0 does.
    error_columns : dict, optional
        Error column of each band, used with ``snr_min``; by default the
        band's column name + ``'_err'``.
    search_eps : float, optional
        0 (default): the exact k nearest training galaxies. Above 0, an
        approximate search for training sets larger than
        `~photoz_numba.neighbours.SCAN_ROWS` (smaller ones are always scanned
        exactly): each neighbour is at most ``1 + search_eps`` times as
        far as the true one of its rank. On 10^6 training galaxies, 3
        predicts 5.3 to 5.7 times as fast as the exact search with the
        same accuracy on the paper's test galaxies within the noise
        (docs: performance).
    sentinels : dict, optional
        Values a catalogue writes instead of a measurement, by kind of
        column: ``{"magnitude": {value: state}, "flux": {value: state}}``
        with states ``"missing"`` or ``"nondetection"``; a kind given
        replaces its defaults. None (default):
        `~photoz_numba.photometry.DEFAULT_SENTINELS`, 99 mag a
        non-detection, -99 mag and a flux of -99 missing (docs: bad_input).
    window : float or None, optional
        Before the fit, keep only the neighbours whose redshifts lie within
        ``window * (1 + z0)`` of the redshift z0 whose such neighbours weigh
        most, the n-th nearest weighing 1/n: where the neighbours'
        redshifts split into groups (a colour degeneracy), the fit follows
        the group nearest in colour, not an average across groups.
        Between 0 and 1; 0.15 (default) is the outlier threshold. None
        fits all ``k`` (the paper). Clipping then applies to the
        neighbours kept.
    second_group : float or None, optional
        With the window: the heaviest window of the neighbours it left out
        is fitted instead when it holds at least this share of the first
        window's rank weight (above 0 and at most 1: that window never
        outweighs the first), has at least three neighbours and they are
        nearer on average in the kernel's sense (mean ``exp(-gamma d^2)``
        larger). Where a few
        near neighbours at one redshift are outweighed by many farther
        ones at another (the Lyman/Balmer break degeneracy at z 5-6), the
        near ones win. None (default): the first window always. 0.5,
        chosen by cross-validation on the paper's training parts, is the
        documented setting for deep catalogues with that degeneracy
        (JWST); on the LSST-like benchmark it costs outliers and 95 %
        coverage, so it is not the default (docs: method).
    softening : Quantity, dict or None, optional
        Flux bands are read as asinh magnitudes (Lupton, Gunn & Szalay
        1999) with this softening, a flux density: one for all bands or a
        dict keyed by band (bands left out keep log magnitudes). Zero and
        negative fluxes are then measurements that carry information,
        not non-detections; for forced photometry, such as a survey's.
        `~photoz_numba.photometry.lupton_softening` takes it from the
        training set's flux errors. None (default): AB magnitudes, a flux
        <= 0 a non-detection. A band given in magnitudes gets the asinh
        magnitude of the flux they stand for, so that a model predicts
        the same from a band's fluxes or its magnitudes.

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
                 units=None, min_bands=2, snr_min=None, error_columns=None, search_eps=0.0,
                 sentinels=None, window=0.15, softening=None, second_group=None):
        self.bands = bands
        self.k = k
        self.gamma = gamma
        self.lam = lam
        self.clip_sigma = clip_sigma
        self.offset = offset
        self.magnitude_band = magnitude_band
        self.columns = columns
        self.units = units
        self.min_bands = min_bands
        self.snr_min = snr_min
        self.error_columns = error_columns
        self.search_eps = search_eps
        self.sentinels = sentinels
        self.window = window
        self.softening = softening
        self.second_group = second_group
        self._check_params()

    # -- scikit-learn style parameter access ---------------------------------

    _PARAMS = ("bands", "k", "gamma", "lam", "clip_sigma", "offset",
               "magnitude_band", "columns", "units", "min_bands", "snr_min",
               "error_columns", "search_eps", "sentinels", "window", "softening",
               "second_group")

    def get_params(self):
        """The constructor's keyword arguments, as a dict.

        Returns
        -------
        params : dict
            Every keyword of the constructor and its current value, so that
            ``PhotoZModel(**model.get_params())`` is an unfitted copy.

        Examples
        --------
        >>> from photoz_numba import PhotoZModel
        >>> model = PhotoZModel(["g", "r", "i"], k=20)
        >>> params = model.get_params()
        >>> params["k"], params["gamma"], params["lam"], params["clip_sigma"]
        (20, 0.1, 0.1, 3.0)
        >>> PhotoZModel(**params)  # doctest: +NORMALIZE_WHITESPACE
        PhotoZModel(bands=['g', 'r', 'i'], k=20, gamma=0.1, lam=0.1, clip_sigma=3.0,
                    offset='median', magnitude_band='auto', min_bands=2, search_eps=0.0,
                    window=0.15)
        """
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params):
        """Set constructor keywords; a fitted model must be fitted again.

        Parameters
        ----------
        **params
            Constructor keywords and their new values.

        Returns
        -------
        self : `PhotoZModel`

        Raises
        ------
        ValueError
            A keyword that is not a parameter, or an invalid value (the
            same checks as the constructor's).

        Examples
        --------
        >>> from photoz_numba import PhotoZModel
        >>> model = PhotoZModel(["g", "r", "i"]).set_params(k=25, lam=0.05)
        >>> model.k, model.lam
        (25, 0.05)
        >>> model.set_params(sigma=1)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: 'sigma' is not a parameter of PhotoZModel; valid: bands, k, gamma, ...
        """
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
        if self.window is not None and (
                isinstance(self.window, bool) or not isinstance(self.window, numbers.Real)
                or not 0 < self.window < 1):
            raise ValueError(f"window must be a number between 0 and 1 or None, not "
                             f"{self.window!r}")
        # The second window is the heaviest of the neighbours the first
        # left out, so it never outweighs the first: a share above 1 could
        # never be met.
        if self.second_group is not None and (
                isinstance(self.second_group, bool)
                or not isinstance(self.second_group, numbers.Real)
                or not 0 < self.second_group <= 1):
            raise ValueError(f"second_group is the share of the first window's weight "
                             f"that the second must hold, and the second never outweighs "
                             f"the first: it must be a number > 0 and <= 1 or None, not "
                             f"{self.second_group!r}")
        self._softening_ujy()     # raises, naming softening
        if (isinstance(self.search_eps, bool) or not isinstance(self.search_eps, numbers.Real)
                or not 0 <= self.search_eps < np.inf):
            raise ValueError(f"search_eps must be a finite number >= 0, not "
                             f"{self.search_eps!r}")
        resolve_sentinels(self.sentinels)     # raises, naming sentinels
        if self.offset not in _OFFSETS:
            raise ValueError(f"offset must be one of {_OFFSETS}, not "
                             f"{self.offset!r}")
        if self.magnitude_band not in (None, "auto", *self.bands):
            raise ValueError(f"magnitude_band {self.magnitude_band!r} is not "
                             f"one of the bands {self.bands}")
        if (isinstance(self.min_bands, bool) or not isinstance(self.min_bands, numbers.Integral)
                or not 2 <= self.min_bands <= len(self.bands)):
            raise ValueError(f"min_bands must be an integer from 2 to {len(self.bands)}, "
                             f"not {self.min_bands!r}")
        if self.snr_min is not None and (
                isinstance(self.snr_min, bool) or not isinstance(self.snr_min, numbers.Real)
                or not self.snr_min > 0):
            raise ValueError(f"snr_min must be a number > 0 or None, not "
                             f"{self.snr_min!r}")
        if self.error_columns is not None and not isinstance(self.error_columns, dict):
            raise TypeError(f"error_columns must be a dict of band -> column name, "
                            f"not {type(self.error_columns).__name__}")
        if self.columns is not None:
            if not isinstance(self.columns, dict):
                raise TypeError(f"columns must be a dict of band -> column "
                                f"name, not {type(self.columns).__name__}")
            unknown = set(self.columns) - set(self.bands)
            if unknown:
                raise ValueError(f"columns= names band(s) {sorted(unknown)} that are not "
                                 f"among the model's bands {list(self.bands)}")
        readers = {}
        for band, column in zip(self.bands, self.band_columns):
            readers.setdefault(column, []).append(band)
        for column, bands in readers.items():
            if len(bands) > 1:
                # Two bands of one column: a colour of 0 for every galaxy,
                # and redshifts far off (a mapping's typo).
                raise ValueError(f"bands {bands} all read column {column!r}: each band "
                                 f"needs a column of its own (columns=)")

    # -- tables to arrays ------------------------------------------------------

    @property
    def band_columns(self):
        """Column name of each band, in band order."""
        columns = self.columns or {}
        return [columns.get(band, band) for band in self.bands]

    def _error_columns(self):
        """Error column name of each band (used with ``snr_min``)."""
        names = self.error_columns or {}
        return [names.get(band, f"{column}_err")
                for band, column in zip(self.bands, self.band_columns)]

    def _unjudged(self, table, units, state):
        """Rows with a measured band whose error is unusable (masked, NaN
        or <= 0), so that ``snr_min`` could not judge it."""
        from .photometry import band_errors
        errors = band_errors(table, dict(zip(self.band_columns, self._error_columns())),
                             self._column_units(units, table))
        return ((state == STATE_MEASURED) & ~np.isfinite(errors)).any(axis=1)

    @property
    def input_columns(self):
        """Every column a table to predict must have: the band columns
        and, with ``snr_min``, their error columns."""
        if self.snr_min is None:
            return self.band_columns
        return self.band_columns + self._error_columns()

    def stated_units(self, units=None):
        """Stated units keyed by band: from ``units`` (one unit, or a dict
        keyed by band), else from the constructor's ``units``; empty when
        none is stated (the columns' own units are used).

        Raises
        ------
        ValueError
            ``units`` names a band that is not in ``bands``.
        """
        units = self.units if units is None else units
        if units is None:
            return {}
        if isinstance(units, dict):
            unknown = set(units) - set(self.bands)
            if unknown:
                raise ValueError(f"units= names band(s) {sorted(unknown)} that are not "
                                 f"among the model's bands {list(self.bands)}")
            return dict(units)
        return {band: units for band in self.bands}

    def _magnitude_band(self):
        """The band whose magnitude is a feature, or None."""
        if self.magnitude_band == "auto":
            return self.bands[len(self.bands) // 2]
        return self.magnitude_band

    def _softening_ujy(self):
        """Softening in uJy keyed by column name ({} without)."""
        if self.softening is None:
            return {}
        names = dict(zip(self.bands, self.band_columns))
        return {names[band]: value
                for band, value in softening_by_band(self.softening, self.bands).items()}

    def _column_units(self, units, table):
        """Stated units keyed by column name, for the columns of ``table``
        to be read in: a stated unit is for a column without one. The
        constructor's ``units`` (kept in model files) give way to a
        column's own unit; ``units`` stated for this call must agree with
        it, or it is an error naming the column."""
        names = dict(zip(self.bands, self.band_columns))
        out = {}
        for band, unit in self.stated_units(units).items():
            name = names[band]
            own = getattr(table[name], "unit", None) if name in table.colnames else None
            # The constructor's units are for columns without one; those
            # stated for the call are checked against the column's own
            # (photometry._resolve_unit).
            if own is None or units is not None:
                out[name] = unit
        return out

    def _magnitudes(self, table, units):
        """AB magnitudes and per-band states of the band columns."""
        check_table(table)
        errors = None
        if self.snr_min is not None:
            errors = dict(zip(self.band_columns, self._error_columns()))
        return band_magnitudes(table, self.band_columns, self._column_units(units, table),
                               snr_min=self.snr_min, errors=errors, sentinels=self.sentinels,
                               softening=self._softening_ujy())

    def _feature_names(self):
        names = colour_names(self.bands)
        if self._magnitude_band() is not None:
            names.append(self._magnitude_band())
        return names

    # -- fit and predict ---------------------------------------------------------

    def fit(self, table, z="zspec", units=None):
        """Learn from galaxies with known redshifts.

        Rows that lack a measurement or a detection in some band are kept
        and used: each band pattern a prediction needs is trained on the
        rows that have all of its bands, so such a row takes part wherever
        its bands suffice. Only rows with fewer than ``min_bands`` measured,
        detected bands are left out, and a `PhotoZWarning` says how many.

        Parameters
        ----------
        table : `~astropy.table.Table`
            Training galaxies: a column per band (flux density or AB
            magnitude, with units) and the redshift column.
        z : str, optional
            The redshift column. Rows with no redshift (masked, not finite
            or a sentinel such as 99 or -99: outside
            `~photoz_numba.metrics.Z_SPEC_RANGE`) are not used, and a
            `PhotoZWarning` says how many and the first.
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
            No row with a redshift, fewer than ``k + 1`` usable galaxies,
            or a feature that is constant over the training set.

        Examples
        --------
        >>> import numpy as np
        >>> from astropy import units as u
        >>> from astropy.table import Table
        >>> from photoz_numba import PhotoZModel
        >>> z = np.linspace(0.1, 3, 200)
        >>> table = Table({"g": (25 + z) * u.ABmag, "r": (24.5 + 0.5 * z) * u.ABmag,
        ...                "i": (24.2 + 0.2 * z ** 2) * u.ABmag, "zspec": z})
        >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table, z="zspec")
        >>> model.n_train_, model.feature_names_
        (200, ['g-r', 'r-i', 'r'])
        """
        self._check_params()
        mag, state = self._magnitudes(table, units)
        redshift = training_redshifts(table, z)
        has_z = np.isfinite(redshift)
        measured = state == STATE_MEASURED
        usable = (measured.sum(axis=1) >= self.min_bands) & has_z
        n_unusable = int((~usable & has_z).sum())
        if n_unusable:
            warnings.warn(f"{n_unusable} of {_of_rows(has_z, 'training rows')} have fewer "
                          f"than min_bands={self.min_bands} measured, detected "
                          f"bands and are not used", PhotoZWarning)
        n_usable = int(usable.sum())
        if n_usable < self.k + 1:
            raise ValueError(f"only {n_usable} training galaxies have a redshift and at "
                             f"least {self.min_bands} bands measured; k={self.k} needs at "
                             f"least {self.k + 1}")
        # Every stated unit, the constructor's too, must agree with the
        # training columns' own (the model file keeps them for later tables).
        names = dict(zip(self.bands, self.band_columns))
        for band, unit in self.stated_units(units).items():
            _resolve_unit(table[names[band]], names[band], unit)
        stated = self._column_units(units, table)
        self.band_units_ = [_resolve_unit(table[name], name, stated.get(name))
                            for name in self.band_columns]
        check_plausible_fluxes(mag, measured, self.band_columns, self.band_units_)
        self.train_magnitudes_ = np.where(measured, mag, np.nan)[usable]
        self.train_redshifts_ = np.ascontiguousarray(redshift[usable])
        self._set_full_pattern()
        # A calibration belongs to the training set it was learnt on.
        self.calibration_ = None
        self.pz_ = None
        return self

    def _set_full_pattern(self):
        """Standardised full-band training set, from train_magnitudes_.

        Raises ValueError for a feature constant over the galaxies that
        have every band.
        """
        self._patterns = {}
        complete = np.isfinite(self.train_magnitudes_).all(axis=1)
        self.n_train_ = int(self.train_redshifts_.size)
        self.feature_names_ = self._feature_names()
        if complete.sum() >= 2:
            features = self._pattern_features(self.train_magnitudes_[complete],
                                              tuple(range(len(self.bands))))
            mean = features.mean(axis=0)
            std = features.std(axis=0, ddof=1)
            # Round-off leaves a spread of ~1e-15 on a colour that is constant.
            constant = [name for name, sd, m in zip(self.feature_names_, std, mean)
                        if not sd > 1e-9 * (1 + abs(m))]
            if constant:
                raise ValueError(f"feature(s) {constant} are constant over the "
                                 f"training set: they cannot be standardised")
        self._pattern(tuple(range(len(self.bands))))
        full = self._patterns[tuple(range(len(self.bands)))]
        self.feature_mean_, self.feature_std_ = full["mean"], full["std"]
        # Feature-major, as the kernel's distance pass wants it.
        self.train_features_, self.train_z_ = full["x_train_t"], full["z"]

    def _pattern_features(self, mag, bands):
        """Features from the magnitudes of the given band indices.

        Colours of consecutive bands among ``bands`` and, if the model has
        a magnitude band, its magnitude -- or the nearest band's in the
        band order when it is not among ``bands``.
        """
        features = adjacent_colours(mag[:, list(bands)])
        wanted = self._magnitude_band()
        if wanted is None:
            return features
        target = self.bands.index(wanted)
        nearest = min(bands, key=lambda b: (abs(b - target), b))
        return np.column_stack([features, mag[:, nearest]])

    def _pattern(self, bands):
        """Training set of a band pattern, cached: standardised features
        (feature-major), redshifts, mean and std. Empty when fewer than two
        training galaxies have all the bands."""
        cached = self._patterns.get(bands)
        if cached is None:
            members = np.isfinite(self.train_magnitudes_[:, list(bands)]).all(axis=1)
            features = self._pattern_features(self.train_magnitudes_[members], bands)
            if members.sum() >= 2:
                mean = features.mean(axis=0)
                std = features.std(axis=0, ddof=1)
                # A feature constant over this subset carries no information.
                std = np.where(std > 1e-9 * (1 + np.abs(mean)), std, 1.0)
            else:
                mean = np.zeros(features.shape[1])
                std = np.ones(features.shape[1])
            cached = {"x_train_t": np.ascontiguousarray(((features - mean) / std).T),
                      "z": np.ascontiguousarray(self.train_redshifts_[members]),
                      "rows": np.flatnonzero(members), "mean": mean, "std": std}
            self._patterns[bands] = cached
        eps = float(self.search_eps)
        if cached.get("eps") != eps:
            from ._kernels.search import build_index
            # Built from the training set, never stored in model files:
            # deterministic, so a model read back predicts bit-identically.
            # Rebuilt when set_params changes the search after the fit.
            cached["index"] = build_index(cached["x_train_t"], eps=eps)
            cached["eps"] = eps
        return cached

    def _resolve_pattern(self, bands):
        """The bands a galaxy with usable ``bands`` is predicted from.

        While fewer than k + 1 training galaxies have all of them, the band
        the fewest training galaxies have is dropped. Returns None below
        ``min_bands``.
        """
        measured = np.isfinite(self.train_magnitudes_)
        coverage = measured.sum(axis=0)
        bands = list(bands)
        while len(bands) >= self.min_bands:
            if measured[:, bands].all(axis=1).sum() >= self.k + 1:
                return tuple(bands)
            bands.remove(min(bands, key=lambda b: (coverage[b], -b)))
        return None

    def tune(self, table, z="zspec", n_iter=50, n_folds=5, random_state=None,
             progress=None, outlier_weight=0.1):
        """Tune ``k``, ``gamma``, ``lam``, ``window`` and ``clip_sigma`` by
        Bayesian optimisation, then refit.

        Each trial scores a setting by stratified ``n_folds``-fold
        cross-validation on ``table`` alone (see `photoz_numba.tuning` for
        the objective: sigma_NMAD + ``outlier_weight`` times the outlier
        fraction); the first trial
        is the model's current setting. The best setting is kept and the
        model refitted on the whole table. ``window`` and ``clip_sigma``
        are tuned only where they are set (a None stays None); other
        parameters (``offset``, ``magnitude_band``) stay as they are.
        Tune on training data only: a test set tuned on no longer measures
        how the model does on new galaxies.

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
            Called as ``progress(trials_done, n_iter)``, with 0 when the
            first trial starts.
        outlier_weight : float, optional
            Weight of the outlier fraction in the objective (0.1: one
            percentage point of outliers weighs like 0.001 in sigma_NMAD);
            a larger weight trades a wider core for fewer outliers.

        Returns
        -------
        self : `PhotoZModel`
            Fitted, with ``tuning_history_``: a Table of every trial's
            parameters and CV figures.

        Examples
        --------
        >>> from photoz_numba import PhotoZModel
        >>> from photoz_numba.datasets import toy_catalogue
        >>> table = toy_catalogue(400)    # g, r, i in uJy, and zspec
        >>> model = PhotoZModel(["g", "r", "i"], k=20)
        >>> model = model.tune(table, n_iter=5, random_state=0)
        >>> len(model.tuning_history_)
        5
        >>> best = model.tuning_history_["cv_score"].argmin()
        >>> bool(model.k == model.tuning_history_["k"][best])
        True
        """
        from .tuning import tune
        return tune(self, table, z=z, n_iter=n_iter, n_folds=n_folds,
                    random_state=random_state, progress=progress,
                    outlier_weight=outlier_weight)

    def calibrate(self, table, z="zspec", form="auto", n_folds=20, seed=0, pz=True):
        """Learn a correction of ``z_phot_err`` from cross-validated predictions.

        ``table`` must be the training table (or part of it), never the
        galaxies the model will be judged on. Each of ``n_folds``
        stratified folds of it is predicted by a copy of the model fitted
        on the other folds; the out-of-fold pulls are used to fit an
        `~photoz_numba.calibration.ErrorCalibration` (``form``), which
        `predict` then applies: ``z_phot_err`` becomes the calibrated
        error and ``z_phot_err_raw`` keeps the kernel's RMS residual.
        The fitted model itself is not changed otherwise; fitting it again
        removes the calibration.

        Parameters
        ----------
        table : `~astropy.table.Table`
            Training galaxies with the redshift column ``z``.
        z : str, optional
            The redshift column.
        form : str, optional
            ``'auto'`` (default) chooses among
            `~photoz_numba.calibration.CALIBRATION_FORMS` by a second
            cross-validation on the out-of-fold predictions (the comparison
            is in ``calibration_.comparison``, a diagnostic that model
            files do not store); or one of those forms.
        n_folds : int, optional
            Folds of the cross-validated predictions (default 20). Each
            fold model is fitted on ``(n_folds - 1) / n_folds`` of the
            table, so with many folds its neighbourhoods are nearly those
            of the model fitted on the whole table, whose errors are being
            calibrated; with 5 folds (80 %) they are wider, and the errors
            and p(z) learnt from them were too wide or shifted for the
            final model (docs: calibration, "Folds").
        seed : int, optional
            Seeds the folds.
        pz : bool, optional
            Also learn a p(z) (``pz_``, see `pdf`): then ``table`` must be
            the training table itself, and `predict` adds the percentile
            columns ``z_phot_025`` ... ``z_phot_975``.

        Returns
        -------
        self : `PhotoZModel`
            With ``calibration_`` (and ``pz_``) set.

        Warns
        -----
        PhotoZWarning
            Some training galaxies had no out-of-fold prediction or a zero
            error and were not used (the warning says how many).

        Examples
        --------
        Spectroscopic redshifts with a Gaussian scatter of 0.05, which the
        kernel's RMS residual (``z_phot_err_raw``) already nearly matches:

        >>> import numpy as np
        >>> from astropy.table import Table
        >>> from photoz_numba import PhotoZModel
        >>> rng = np.random.default_rng(2)
        >>> z = rng.uniform(0.1, 3, 1500)
        >>> table = Table({"g": 25 + z, "r": 24.5 + 0.5 * z, "i": 24.2 + 0.2 * z ** 2,
        ...                "zspec": z + rng.normal(0, 0.05, 1500)})
        >>> model = PhotoZModel(["g", "r", "i"], k=20, units="ABmag")
        >>> model = model.fit(table[:1000]).calibrate(table[:1000], form="scale")
        >>> model.calibration_.form, round(model.calibration_.scale, 2)
        ('scale', 1.05)
        >>> out = model.predict(table[1000:])
        >>> out.colnames[4:9]
        ['z_phot', 'z_phot_err', 'z_phot_err_raw', 'z_phot_flag', 'z_phot_nused']
        >>> out.colnames[9:]      # percentiles of p(z)
        ['z_phot_025', 'z_phot_160', 'z_phot_500', 'z_phot_840', 'z_phot_975']
        >>> inside = np.abs(out["z_phot"] - out["zspec"]) < out["z_phot_err"]
        >>> round(float(inside.mean()), 2)   # 500 galaxies: 0.68 +- 0.02
        0.66
        """
        from .calibration import CALIBRATION_FORMS, ErrorCalibration
        from .selection import OutOfFold
        self.check_fitted()
        if form != "auto" and form not in CALIBRATION_FORMS:
            raise ValueError(f"form must be 'auto' or one of {CALIBRATION_FORMS}, "
                             f"not {form!r}")
        folds = OutOfFold(self, table, z, n_folds=n_folds, seed=seed)
        prediction = folds.predict(nearest=True)
        z_spec, z_phot = folds.z, prediction.z_phot
        z_phot_err, distance = prediction.z_phot_err, prediction.nearest_distance
        has_z = np.isfinite(z_spec)     # rows with none: warned by OutOfFold
        usable = has_z & np.isfinite(z_phot) & np.isfinite(z_phot_err) & (z_phot_err > 0)
        n_skipped = int((~usable & has_z).sum())
        if n_skipped:
            warnings.warn(f"{n_skipped} of {_of_rows(has_z, 'calibration galaxies')} have no "
                          f"out-of-fold prediction or a zero error and are not used",
                          PhotoZWarning)
        arrays = (z_phot[usable], z_phot_err[usable], z_spec[usable])
        if form == "auto":
            calibration = ErrorCalibration.select(*arrays, distance=distance[usable], seed=seed)
        else:
            calibration = ErrorCalibration.fit(*arrays, form=form, distance=distance[usable])
        self.pz_ = None
        self.calibration_ = calibration
        if pz:
            self.pz_ = self._learn_pz(table, z, prediction, folds.z)
        return self

    def _learn_pz(self, table, z, prediction, z_spec):
        """The p(z) of `calibrate`, from the out-of-fold predictions of the
        training table: each training galaxy's pull (calibrated error), and
        the mixture's shape chosen on those galaxies (`photoz_numba.pdf`)."""
        from .pdf import fit_pz_shape
        training = self._training_rows(table, z)
        with np.errstate(invalid="ignore", divide="ignore"):
            err = self.calibration_.apply(prediction.z_phot_err, prediction.z_phot,
                                          prediction.nearest_distance)
            pulls = (z_spec - prediction.z_phot) / err
        pulls = np.where(np.isfinite(pulls), pulls, np.nan)[training]
        # Each training galaxy's neighbours in the whole training set,
        # itself left out, as a new galaxy's would be.
        neighbours = self._neighbour_rows(table[training], self.k + 1)
        own = np.arange(training.size)[:, None]
        neighbours = np.where(neighbours == own, -1, neighbours)
        z_hat, scale = prediction.z_phot[training], err[training]
        # p(z) ends at the highest redshift the model's training set knows.
        z_max = float(np.nanmax(self.train_redshifts_))
        return fit_pz_shape(z_hat, scale, pulls, neighbours, z_spec[training], z_max)

    def _training_rows(self, table, z):
        """Rows of ``table`` that are the training galaxies, in training
        order; ValueError unless ``table`` is the table the model was
        fitted on."""
        _, state = self._magnitudes(table, None)
        redshift = training_redshifts(table, z, warn=False)
        rows = np.flatnonzero(((state == STATE_MEASURED).sum(axis=1) >= self.min_bands)
                              & np.isfinite(redshift))
        redshift = redshift[rows]
        if not np.array_equal(redshift, self.train_redshifts_):
            raise ValueError("a p(z) is calibrated on the training table itself (the one "
                             "passed to fit): its galaxies' neighbours carry their "
                             "out-of-fold errors; pass pz=False to calibrate only "
                             "z_phot_err on another table")
        return rows

    @property
    def is_calibrated(self):
        """Whether `calibrate` has set a correction of ``z_phot_err``."""
        return getattr(self, "calibration_", None) is not None

    def output_schema(self):
        """The columns `predict` adds, in order: a tuple of
        `~photoz_numba.schema.OutputColumn` (name, dtype, unit,
        description, FITS format), which FITS streaming and Dask use too.

        Examples
        --------
        >>> from photoz_numba import PhotoZModel
        >>> [column.name for column in PhotoZModel(["g", "r", "i"]).output_schema()]
        ['z_phot', 'z_phot_err', 'z_phot_flag', 'z_phot_nused']
        """
        return output_columns(self.calibration_.form if self.is_calibrated else None,
                              pz=getattr(self, "pz_", None) is not None)

    def fitted_state(self):
        """What a fit learnt, for serialisation (`photoz_numba.io`).

        Returns
        -------
        state : `~photoz_numba.schema.FittedState`
            The constructor's parameters, the units the band columns were
            read in, the training magnitudes and redshifts, and the
            calibration (or None). `from_fitted_state` makes a model that
            predicts bit-identically to this one.

        Raises
        ------
        NotFittedError
            The model has not been fitted.
        """
        self.check_fitted()
        return FittedState(params=self.get_params(),
                           band_units=[str(unit) for unit in self.band_units_],
                           train_magnitudes=self.train_magnitudes_,
                           train_redshifts=self.train_redshifts_,
                           calibration=getattr(self, "calibration_", None),
                           pz=getattr(self, "pz_", None))

    @classmethod
    def from_fitted_state(cls, state):
        """A fitted model from a `~photoz_numba.schema.FittedState`.

        Parameters
        ----------
        state : `~photoz_numba.schema.FittedState`
            As returned by `fitted_state` (or read from a model file).

        Returns
        -------
        model : `PhotoZModel`

        Raises
        ------
        ValueError
            Invalid parameters, arrays whose shapes do not match the bands,
            or a feature constant over the training set.

        Examples
        --------
        >>> import numpy as np
        >>> from photoz_numba import PhotoZModel
        >>> from photoz_numba.datasets import toy_catalogue
        >>> table = toy_catalogue(300)
        >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table)
        >>> copy = PhotoZModel.from_fitted_state(model.fitted_state())
        >>> bool(np.array_equal(copy.predict_arrays(table).z_phot,
        ...                     model.predict_arrays(table).z_phot))
        True
        """
        model = cls(**state.params)
        magnitudes = np.asarray(state.train_magnitudes, dtype=np.float64)
        redshifts = np.ascontiguousarray(state.train_redshifts, dtype=np.float64)
        if (magnitudes.ndim != 2 or magnitudes.shape[1] != len(model.bands)
                or redshifts.shape != (magnitudes.shape[0],)):
            raise ValueError(f"training magnitudes of shape {magnitudes.shape} and "
                             f"redshifts of shape {redshifts.shape} do not match "
                             f"{len(model.bands)} bands")
        model.train_magnitudes_ = magnitudes
        model.train_redshifts_ = redshifts
        model.band_units_ = list(state.band_units)
        model._set_full_pattern()
        model.calibration_ = state.calibration
        if state.pz is not None and (state.calibration is None
                                     or state.pz.pulls.shape != redshifts.shape):
            raise ValueError("a p(z) needs its calibration and one pull per training galaxy")
        model.pz_ = state.pz
        return model

    def write(self, path, overwrite=False):
        """Save the fitted model as a FITS file (`photoz_numba.io.write_model`).

        Parameters
        ----------
        path : str or path-like
            The file to write, a FITS name (``.fits``, or ``.fits.gz`` etc.
            to compress it); nothing is left under this name if writing
            fails.
        overwrite : bool, optional
            Replace an existing file.

        Raises
        ------
        NotFittedError
            The model has not been fitted.
        OSError
            ``path`` exists and ``overwrite`` is False.
        ValueError
            ``path`` is not a FITS name (``model.ecsv``).

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from astropy.table import Table
        >>> from photoz_numba import PhotoZModel
        >>> z = np.linspace(0.1, 3, 200)
        >>> table = Table({"g": 25 + z, "r": 24.5 + 0.5 * z, "i": 24.2 + 0.2 * z ** 2,
        ...                "zspec": z})
        >>> model = PhotoZModel(["g", "r", "i"], k=20, units="ABmag").fit(table)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.fits")
        >>> model.write(path)
        >>> again = PhotoZModel.read(path)
        >>> bool((again.predict(table)["z_phot"] == model.predict(table)["z_phot"]).all())
        True
        """
        from .io import write_model
        write_model(self.fitted_state(), path, overwrite=overwrite)

    @classmethod
    def read(cls, path):
        """Load a model saved by `write` (`photoz_numba.io.read_model_state`).

        Parameters
        ----------
        path : str or path-like
            A model file.

        Returns
        -------
        model : `PhotoZModel`
            Fitted, predicting bit-identically to the model written (see
            `write` for an example).

        Raises
        ------
        ValueError
            Not a model file, an incompatible format version, or a
            truncated or altered file.
        """
        from .io import read_model_state
        return cls.from_fitted_state(read_model_state(path))

    def check_fitted(self):
        """Raise unless the model is fitted for its current ``k``.

        Raises
        ------
        NotFittedError
            The model has not been fitted.
        ValueError
            ``k`` exceeds the number of training galaxies.
        """
        if not hasattr(self, "train_redshifts_"):
            raise NotFittedError("this PhotoZModel is not fitted yet: call "
                                 "fit(table, z=...) first")
        if self.k > self.n_train_:
            raise ValueError(f"k={self.k} exceeds the {self.n_train_} training "
                             f"galaxies the model was fitted on; fit it again")

    def warm_up(self):
        """Compile the kernels `predict` runs, or load them from Numba's
        on-disk cache (the first call on a machine compiles them, in some
        seconds, and says so once through the ``photoz_numba`` logger;
        later ones load them). Timings call this first, so that no reported
        rate includes the compilation.

        Returns
        -------
        seconds : float
            The time it took.
        """
        import time

        from ._kernels.predict import empty_outputs, predict_kernel, ridge_params
        self.check_fitted()
        start = time.perf_counter()
        train = self._pattern(tuple(range(len(self.bands))))
        x_query = np.ascontiguousarray(train["x_train_t"][:, :1].T)
        has_pz = getattr(self, "pz_", None) is not None
        out = empty_outputs(1, self.k if has_pz else 0)
        predict_kernel(train["index"], train["z"], x_query, np.ones(1, dtype=bool),
                       ridge_params(self.k, self.gamma, self.lam, self.clip_sigma,
                                    self.offset, self.window, self.second_group),
                       out)
        if has_pz:
            from .pdf import pz_cdf, pz_percentiles
            scale = np.ones(1)
            pz_percentiles(self.pz_, out.z_phot, scale, out.neighbours, [0.5])
            pz_cdf(self.pz_, out.z_phot, scale, out.neighbours, out.z_phot)
        return time.perf_counter() - start

    def predict(self, table, units=None, n_threads=None):
        """Photometric redshifts for every row of a table.

        Parameters
        ----------
        table : `~astropy.table.Table`
            Galaxies with the model's band columns. It is not modified.
        units : dict or unit, optional
            Overrides the constructor's ``units`` for this table.
        n_threads : int, optional
            Numba threads to use for this call, from 1 to
            ``numba.config.NUMBA_NUM_THREADS`` (default: Numba's current
            setting). Results do not depend on it.

        Returns
        -------
        out : `~astropy.table.Table`
            A copy of ``table`` (same class) with four columns added:
            ``z_phot`` and ``z_phot_err`` (masked where no prediction could
            be made; ``z_phot_err`` also where the fit had no spread to give
            an error, flag ``no_error``), ``z_phot_flag`` (bits in `photoz_numba.flags`) and
            ``z_phot_nused`` (neighbours in the final fit). Every input row
            is there, in the input order. A calibrated model (`calibrate`)
            adds a fifth, ``z_phot_err_raw``, after ``z_phot_err``: the
            kernel's RMS residual, while ``z_phot_err`` is the calibrated
            error. A table without rows gives a table without rows, with
            the output columns.

        Raises
        ------
        NotFittedError
            The model has not been fitted.
        KeyError
            A band column is not in the table.
        ValueError
            ``n_threads`` is out of range, or the table already has one of
            the output columns, in any
            case (``Z_PHOT`` is ``z_phot`` to FITS).

        Examples
        --------
        >>> import numpy as np
        >>> from astropy import units as u
        >>> from astropy.table import Table
        >>> from photoz_numba import PhotoZModel
        >>> from photoz_numba.flags import decode_z_phot_flags
        >>> z = np.linspace(0.1, 3, 300)
        >>> mags = {"g": 25 + z, "r": 24.5 + 0.5 * z, "i": 24.2 + 0.2 * z ** 2}
        >>> train = Table({**{band: m * u.ABmag for band, m in mags.items()}, "zspec": z})
        >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(train)
        >>> fluxes = Table({band: (mags[band][[100, 150]] * u.ABmag).to(u.uJy)
        ...                 for band in mags})     # fluxes work as well as magnitudes
        >>> fluxes["r"][1] = np.nan                # no measurement in r, and
        >>> fluxes["i"][1] = -1.0                  # no detection in i: one band left
        >>> out = model.predict(fluxes)
        >>> out.colnames
        ['g', 'r', 'i', 'z_phot', 'z_phot_err', 'z_phot_flag', 'z_phot_nused']
        >>> print(f"{out['z_phot'][0]:.3f} (zspec {z[100]:.3f})")
        1.074 (zspec 1.070)
        >>> bool(out["z_phot"].mask[1]), decode_z_phot_flags(out["z_phot_flag"][1])
        (True, ['missing_band', 'nondetection', 'too_few_bands'])
        """
        self.check_fitted()
        empty = isinstance(table, Table) and len(table) == 0
        if not empty:
            check_table(table)
        schema = self.output_schema()
        check_no_output_columns(table.colnames, schema, "the table",
                                "; remove or rename them before predicting")
        if empty:
            # No rows, no work (an empty selection in a pipeline, as FITS
            # streaming and Dask give): the output columns, empty.
            missing = [name for name in self.input_columns if name not in table.colnames]
            if missing:
                raise KeyError(f"band column(s) {missing} not in the table")
            self.stated_units(units)    # raises, as with rows, for bad units
            prediction = None
        else:
            prediction = self.predict_arrays(table, units, n_threads)
            self.warn_if_mostly_extrapolated(_flags.n_extrapolated(prediction.z_phot_flag),
                                             len(table))
        out = table.copy()
        for column in schema:
            if prediction is None:
                values, mask = np.empty(0, column.dtype), None
            else:
                values = prediction.column(column.name)
                mask = prediction.masked(column.name) if column.masked else None
            out[column.name] = MaskedColumn(values, mask=mask, unit=column.unit or None,
                                            description=column.description)
        return out

    def predict_arrays(self, table, units=None, n_threads=None, nearest=False):
        """`predict`'s results as plain arrays, without copying the table.

        Parameters
        ----------
        table : `~astropy.table.Table`
            Galaxies with the model's `input_columns`.
        units, n_threads
            As for `predict`.
        nearest : bool, optional
            Also each galaxy's distance to its nearest training galaxy in
            the standardised features of its band pattern.

        Returns
        -------
        prediction : `Prediction`
            One entry per row, in order.

        Raises
        ------
        NotFittedError
            The model has not been fitted.

        Examples
        --------
        >>> from photoz_numba import PhotoZModel
        >>> from photoz_numba.datasets import toy_catalogue
        >>> table = toy_catalogue(600)
        >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500])
        >>> prediction = model.predict_arrays(table[500:])
        >>> print(f"{prediction.z_phot[0]:.3f}", prediction.z_phot_flag[0],
        ...       prediction.z_phot_nused[0])
        1.320 0 20
        """
        self.check_fitted()
        n = len(table)
        if n <= _PREDICT_ROWS:
            return self._predict_chunk(table, units, n_threads, nearest)
        # Rows are taken _PREDICT_ROWS at a time, which bounds the working
        # memory (magnitudes, features, neighbours) whatever the table's
        # length; each galaxy's result does not depend on the others.
        parts = [self._predict_chunk(table[start:start + _PREDICT_ROWS], units, n_threads,
                                     nearest)
                 for start in range(0, n, _PREDICT_ROWS)]
        return Prediction(*(None if values[0] is None else np.concatenate(values)
                            for values in zip(*parts)))

    def check_pz(self):
        """Raise unless the model is fitted and has a p(z) (see `calibrate`).

        Raises
        ------
        NotFittedError
            The model is not fitted, or has no p(z).
        """
        self.check_fitted()
        if getattr(self, "pz_", None) is None:
            raise NotFittedError("this model has no p(z): call calibrate(train, z=...) "
                                 "on its training table first")

    def _pz_inputs(self, table, units, n_threads):
        """Each row's p(z) centre (the kernel prediction), scale (the
        calibrated error) and neighbours, NaN/-1 where not predicted, and
        its z_phot_flag."""
        needs_distance = self.calibration_.needs_distance
        z_hat, raw, flag, _, distance, neighbours = self._predict_rows(
            table, units, n_threads, needs_distance, neighbours=True)
        with np.errstate(invalid="ignore"):
            scale = self.calibration_.apply(raw, z_hat, distance if needs_distance else None)
        return z_hat, scale, neighbours, flag

    def _pz_cdf(self, table, z, units, n_threads):
        """Each row's CDF at ``z`` (one or more values per row), row chunk
        by row chunk, and each row's z_phot_flag."""
        from .pdf import pz_cdf
        out = np.empty(z.shape)
        flag = np.empty(len(table), dtype=np.int16)
        with _numba_threads(n_threads):
            for start in range(0, len(table), _PREDICT_ROWS):
                rows = slice(start, start + _PREDICT_ROWS)
                z_hat, scale, neighbours, flag[rows] = self._pz_inputs(table[rows], units, None)
                out[rows] = pz_cdf(self.pz_, z_hat, scale, neighbours, z[rows])
        return out, flag

    def mostly_extrapolated(self, n_extrapolated, n_rows):
        """Whether `warn_if_mostly_extrapolated` would warn of these rows
        (`~photoz_numba.flags.mostly_extrapolated` with this model's ``k``
        and number of features), for a caller that must know before it
        warns.

        Raises
        ------
        NotFittedError
            The model has not been fitted.
        """
        self.check_fitted()
        return _flags.mostly_extrapolated(n_extrapolated, n_rows, self.k,
                                          len(self.feature_names_))

    def warn_if_mostly_extrapolated(self, n_extrapolated, n_rows, part=None, stacklevel=3):
        """`~photoz_numba.flags.warn_if_mostly_extrapolated` with this
        model's ``k`` and number of features: warn when far more of
        ``n_rows`` rows are flagged ``extrapolation`` (``n_extrapolated``:
        `~photoz_numba.flags.n_extrapolated`) than galaxies like the
        training set would be, as `predict` does. ``part`` names the part
        of a catalogue these rows are; ``stacklevel`` is `warnings.warn`'s,
        counted from here (3: the caller's caller).

        Raises
        ------
        NotFittedError
            The model has not been fitted.

        Examples
        --------
        >>> from photoz_numba import PhotoZModel
        >>> from photoz_numba.datasets import toy_catalogue
        >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(toy_catalogue(500))
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as said:
        ...     warnings.simplefilter("always")
        ...     model.warn_if_mostly_extrapolated(10, 100)      # as expected: no warning
        ...     model.warn_if_mostly_extrapolated(95, 100)
        >>> print(*(w.message for w in said))
        95 of 100 rows lie beyond their neighbours in some feature (flag extrapolation): ...
        """
        self.check_fitted()
        _flags.warn_if_mostly_extrapolated(n_extrapolated, n_rows, self.k,
                                           len(self.feature_names_), part,
                                           stacklevel=stacklevel + 1)

    @staticmethod
    def _per_row(table, z):
        """One redshift per row, from a column name or an array (masked
        values as NaN)."""
        values = _as_redshifts(table[z] if isinstance(z, str) else z)
        if values.shape != (len(table),):
            raise ValueError(f"z must hold one redshift per row ({len(table)}), not "
                             f"an array of shape {values.shape}")
        return values

    def _true_redshifts(self, table, z, then="are skipped", nothing=None):
        """The rows' true redshifts (a column name or an array), NaN where
        there is none (`~photoz_numba.metrics.no_redshift`), warned of; a
        ValueError ending in ``nothing`` when no row has one, if given."""
        from .metrics import _read_redshifts
        return _read_redshifts(self._per_row(table, z), z if isinstance(z, str) else "z",
                               stacklevel=4, then=then, nothing=nothing)

    def cdf(self, table, z, units=None, n_threads=None):
        """P(Z <= z) under each row's p(z).

        Parameters
        ----------
        table : `~astropy.table.Table`
            Galaxies with the model's `input_columns`.
        z : str, float or array-like
            A column of ``table`` holding the rows' true redshifts: the
            result is the PIT, NaN where a row has no redshift (masked, not
            finite or a sentinel such as 99 or -99:
            `~photoz_numba.metrics.no_redshift`), with a `PhotoZWarning`
            that says how many and the first. Or redshifts to ask at, any
            value (P(z < 25) is 1): an array of one per row, or one for
            every row.
        units, n_threads
            As for `predict`.

        Returns
        -------
        cdf : ndarray
            One value per row, from 0 to 1; NaN where ``z`` is NaN or masked
            or no redshift (a column), or the row could not be predicted.
            Rows far more often beyond their neighbours' range than chance
            would leave are warned of as by `predict` (flag
            ``extrapolation``: are the band columns in the units they say?).

        Raises
        ------
        NotFittedError
            The model has no p(z) (see `calibrate`).
        ValueError
            ``z`` has the wrong length.

        Examples
        --------
        >>> import numpy as np
        >>> from photoz_numba import PhotoZModel
        >>> from photoz_numba.datasets import toy_catalogue
        >>> table = toy_catalogue(1200, seed=3)
        >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:1000])
        >>> model = model.calibrate(table[:1000])
        >>> pit = model.cdf(table[1000:], "zspec")     # the PIT of 200 galaxies
        >>> bool(((pit >= 0) & (pit <= 1)).all())
        True
        >>> float(model.cdf(table[1000:1001], [np.nan])[0])
        nan
        """
        self.check_pz()
        if isinstance(z, str):
            values = self._true_redshifts(table, z, then="get a NaN PIT")
        else:
            values = self._asked_at(table, z)
        cdf, flag = self._pz_cdf(table, values, units, n_threads)
        self.warn_if_mostly_extrapolated(_flags.n_extrapolated(flag), flag.size)
        return cdf

    def _asked_at(self, table, z):
        """Redshifts to ask each row's p(z) at: one for every row, or one
        per row (a column name or an array), any value."""
        if np.ndim(z) == 0 and not isinstance(z, str):
            return np.full(len(table), _as_redshifts(z))
        return self._per_row(table, z)

    def pdf(self, table, z_grid, units=None, n_threads=None, *, return_flags=False):
        """Each row's p(z), per unit redshift, on a grid.

        Parameters
        ----------
        table : `~astropy.table.Table`
            Galaxies with the model's `input_columns`.
        z_grid : array-like
            Redshifts, strictly increasing.
        units, n_threads
            As for `predict`.
        return_flags : bool, optional
            Also return each row's ``z_phot_flag`` (as `predict` gives
            it), for a caller that judges many tables' rows at once.

        Returns
        -------
        pdf : ndarray (n_rows, n_grid)
            The density of each row at each grid point, averaged over the
            point's cell (from half-way to the point before to half-way to
            the one after; the end points' cells are halves): each row
            integrates (``numpy.trapezoid`` on ``z_grid``) to its
            probability within the grid, 1 for a grid that covers it,
            whatever the grid's spacing. NaN rows where no prediction could
            be made. A `~photoz_numba.exceptions.PhotoZWarning` says how
            many rows have more than `photoz_numba.pdf.GRID_LOSS` (0.1 %)
            of their p(z) outside the grid, and another, as `predict`'s,
            when far more rows than chance would leave are beyond their
            neighbours' range (flag ``extrapolation``: are the band
            columns in the units they say?).
        z_phot_flag : ndarray of int16
            With ``return_flags``: each row's flags.

        Raises
        ------
        NotFittedError
            The model has no p(z) (see `calibrate`).
        ValueError
            ``z_grid`` is empty, not 1-d, not finite or not increasing.

        Examples
        --------
        >>> import numpy as np
        >>> from photoz_numba import PhotoZModel
        >>> from photoz_numba.datasets import toy_catalogue
        >>> table = toy_catalogue(1200, seed=3)
        >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:1000])
        >>> model = model.calibrate(table[:1000])
        >>> grid = np.linspace(0, 4, 401)
        >>> p = model.pdf(table[1000:1003], grid)
        >>> p.shape, np.round(np.trapezoid(p, grid, axis=1), 6).tolist()
        ((3, 401), [1.0, 1.0, 1.0])
        """
        from .pdf import check_grid, off_grid, warn_off_grid
        self.check_pz()
        grid = check_grid(z_grid)
        density, within, flag = self._grid_densities(table, grid, units, n_threads)
        warn_off_grid(*off_grid(within), len(table), grid)
        self.warn_if_mostly_extrapolated(_flags.n_extrapolated(flag), flag.size)
        return (density, flag) if return_flags else density

    def _grid_densities(self, table, grid, units, n_threads):
        """`pdf` without its warnings: the densities, each row's
        probability within the grid (NaN where no p(z)) and its
        z_phot_flag, for the callers that say them once for many tables."""
        from .pdf import cell_edges
        # Each row's CDF at the grid cells' edges: its differences over the
        # cells' widths are the cells' mean densities, on which the
        # trapezoid rule gives exactly the probability within the grid's
        # span (the last edge's CDF less the first's), however coarse the
        # grid and sharp the p(z).
        edges = cell_edges(grid)
        z = np.ascontiguousarray(np.broadcast_to(edges, (len(table), edges.size)))
        cdf, flag = self._pz_cdf(table, z, units, n_threads)
        return np.diff(cdf, axis=1) / np.diff(edges), cdf[:, -1] - cdf[:, 0], flag

    def stack_pdf(self, table, z_grid, weights=None, units=None, n_threads=None):
        """The rows' p(z) summed on a grid: the sample's redshift
        distribution, n(z).

        The rows are taken in chunks sized to the grid, so the memory does
        not grow with the table or the grid (for a catalogue larger than
        memory, see `photoz_numba.io.stack_fits`, ``photoz-numba stack``
        and `photoz_numba.dask.stack_pdf`).

        Parameters
        ----------
        table : `~astropy.table.Table`
            Galaxies with the model's `input_columns`.
        z_grid : array-like
            Redshifts, strictly increasing.
        weights : str, array-like or None
            A weight per row (a column name or an array), finite and >= 0;
            None weighs every row 1.
        units, n_threads
            As for `predict`.

        Returns
        -------
        stacked : `~astropy.table.Table`
            Columns ``z`` (the grid) and ``n_z``, the sum over the rows of
            weight times p(z) per unit redshift, each density averaged over
            its grid point's cell as in `pdf`: ``numpy.trapezoid(n_z, z)``
            is the (weighted) number of galaxies within the grid. ``meta``
            holds ``n_rows``, ``n_stacked`` (the rows with a p(z)) and
            ``weight_sum`` (their weight), and ``n_extrapolated``, the
            rows flagged ``extrapolation`` (`photoz_numba.flags`). Rows
            with no p(z) (no ``z_phot``, or one without an error to give
            it a width: flag ``no_error``) are not in the sum, and a
            `~photoz_numba.exceptions.PhotoZWarning` says how many; another,
            as `predict`'s, says when far more rows than chance would leave
            are extrapolated (are the band columns in the units they say?).

        Raises
        ------
        NotFittedError
            The model has no p(z) (see `calibrate`).
        KeyError
            A band column, or the ``weights`` column, is not in the table.
        ValueError
            ``z_grid`` is empty, not 1-d, not finite or not increasing, or
            a weight is negative, not finite, masked, not a number or has a
            unit.

        Examples
        --------
        >>> import numpy as np
        >>> from photoz_numba import PhotoZModel
        >>> from photoz_numba.datasets import toy_catalogue
        >>> table = toy_catalogue(1200, seed=3)
        >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:1000])
        >>> model = model.calibrate(table[:1000])
        >>> nz = model.stack_pdf(table[1000:], np.linspace(0, 4, 401))
        >>> round(float(np.trapezoid(nz["n_z"], nz["z"])), 6), nz.meta["n_stacked"]
        (200.0, 200)
        """
        from .pdf import check_grid, grid_chunk_rows, row_weights, stack_table
        self.check_pz()
        grid = check_grid(z_grid)
        weight = row_weights(table, weights)
        if len(table) == 0:
            self.predict(table, units)      # checks the columns and their units
        n_z = np.zeros(grid.size)
        stacked, weight_sum, extrapolated = 0, 0.0, 0
        chunk = grid_chunk_rows(grid.size + 1)      # the CDF is taken at the cells' edges
        for start in range(0, len(table), chunk):
            rows = slice(start, start + chunk)
            density, _, flag = self._grid_densities(table[rows], grid, units, n_threads)
            have = np.isfinite(density).all(axis=1)
            n_z += weight[rows][have] @ density[have]
            stacked += int(have.sum())
            weight_sum += float(weight[rows][have].sum())
            extrapolated += _flags.n_extrapolated(flag)
        result = stack_table(grid, n_z, len(table), stacked, weight_sum, extrapolated)
        self.warn_if_mostly_extrapolated(extrapolated, len(table))
        return result

    def cde_loss(self, table, z, units=None, n_threads=None):
        """The CDE loss (Izbicki & Lee 2017) of the rows' p(z) against
        their true redshifts: the mean of the integral of p(z)^2 minus
        twice p(z_true), over the rows that could be predicted; lower is
        better.

        Parameters
        ----------
        table : `~astropy.table.Table`
            Galaxies with the model's `input_columns`.
        z : str or array-like
            Their true redshifts: a column of ``table`` or an array. Rows
            with no redshift (masked, not finite or a sentinel such as 99 or
            -99: `~photoz_numba.metrics.no_redshift`) are left out, with a
            `PhotoZWarning` that says how many and the first.

        Returns
        -------
        loss : float

        Raises
        ------
        ValueError
            No row has a redshift.

        Examples
        --------
        >>> from photoz_numba import PhotoZModel
        >>> from photoz_numba.datasets import toy_catalogue
        >>> table = toy_catalogue(1200, seed=3)
        >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:1000])
        >>> model = model.calibrate(table[:1000])
        >>> print(f"{model.cde_loss(table[1000:], 'zspec'):.0f}")   # sharp toy p(z)
        -99
        """
        self.check_pz()
        values = self._true_redshifts(table, z, then="are left out", nothing="nothing to score")
        from .pdf import cde_from_scores, pz_scores
        with _numba_threads(n_threads):
            z_hat, scale, neighbours, _ = self._pz_inputs(table, units, None)
            scores = pz_scores(self.pz_, z_hat, scale, neighbours, values)
        return cde_from_scores(scores)

    def probability_above(self, table, z0, units=None, n_threads=None):
        """P(Z > z0) under each row's p(z): a high-redshift selection.

        Parameters
        ----------
        table : `~astropy.table.Table`
            Galaxies with the model's `input_columns`.
        z0 : float, str or array-like
            The threshold: one for all rows, or one per row (a column name
            or an array), any value.

        Returns
        -------
        probability : ndarray
            One value per row (NaN where not predicted); rows mostly
            extrapolated are warned of as by `cdf`.

        Examples
        --------
        >>> from photoz_numba import PhotoZModel
        >>> from photoz_numba.datasets import toy_catalogue
        >>> table = toy_catalogue(1200, seed=3)
        >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:1000])
        >>> model = model.calibrate(table[:1000])
        >>> high = model.probability_above(table[1000:], 2.0)
        >>> bool(abs((high > 0.5).mean() - (table["zspec"][1000:] > 2.0).mean()) < 0.05)
        True
        """
        self.check_pz()
        # Thresholds, not true redshifts: no PIT's rule for a column.
        cdf, flag = self._pz_cdf(table, self._asked_at(table, z0), units, n_threads)
        self.warn_if_mostly_extrapolated(_flags.n_extrapolated(flag), flag.size)
        return 1.0 - cdf

    def _predict_chunk(self, table, units, n_threads, nearest):
        """`predict_arrays` on at most ``_PREDICT_ROWS`` rows."""
        needs_distance = self.is_calibrated and self.calibration_.needs_distance
        has_pz = getattr(self, "pz_", None) is not None
        z_phot, raw, flag, n_used, distance, neighbours = self._predict_rows(
            table, units, n_threads, nearest or needs_distance, neighbours=has_pz)
        err = raw
        if self.is_calibrated:
            with np.errstate(invalid="ignore"):
                err = self.calibration_.apply(raw, z_phot,
                                              distance if needs_distance else None)
        percentiles = None
        if has_pz:
            from .pdf import pz_percentiles
            with _numba_threads(n_threads):
                percentiles = pz_percentiles(self.pz_, z_phot, err, neighbours,
                                             [p for _, p in PERCENTILES])
            if self.pz_.point == "median":
                # (Where there is no p(z), no_error, z_phot stays the kernel's.)
                z_phot = np.where(np.isfinite(percentiles[:, 2]), percentiles[:, 2], z_phot)
            err = 0.5 * (percentiles[:, 3] - percentiles[:, 1])
        # No spread among the fitted neighbours, no error (the RMS residual
        # stays in z_phot_err_raw).
        err = np.where((flag & _flags.NO_ERROR) != 0, np.nan, err)
        return Prediction(z_phot, err, raw, flag, n_used, distance if nearest else None,
                          percentiles)

    def _groups(self, state):
        """(rows, usable bands, resolved bands) of each band pattern in a
        table's per-band states; resolved is None below ``min_bands``."""
        measured = state == STATE_MEASURED
        if measured.shape[1] < 63:
            # One integer per row for its band pattern: np.unique over rows
            # (axis=0) sorts them as records, some 50 times slower.
            weights = np.int64(1) << np.arange(measured.shape[1], dtype=np.int64)
            codes, group = np.unique(measured.astype(np.int64) @ weights,
                                     return_inverse=True)
            patterns = (codes[:, None] & weights) != 0
        else:
            patterns, group = np.unique(measured, axis=0, return_inverse=True)
        group = group.ravel()
        for index, usable in enumerate(patterns):
            yield (np.flatnonzero(group == index), usable,
                   self._resolve_pattern(tuple(np.flatnonzero(usable))))

    def _standardised(self, mag, rows, bands):
        """A group's standardised features and its pattern's training set."""
        train = self._pattern(bands)
        x_query = np.ascontiguousarray(
            (self._pattern_features(mag[rows], bands) - train["mean"]) / train["std"])
        return x_query, train

    def _neighbour_rows(self, table, k, units=None):
        """Training rows of each galaxy's ``k`` nearest training galaxies in
        its band pattern, nearest first (-1 where there is none)."""
        from ._kernels.search import nearest_neighbours
        mag, state = self._magnitudes(table, units)
        neighbours = np.full((len(table), k), -1, dtype=np.int64)
        for rows, _, bands in self._groups(state):
            if bands is None:
                continue
            x_query, train = self._standardised(mag, rows, bands)
            found = nearest_neighbours(train["index"], x_query, min(k, train["z"].size))[0]
            neighbours[rows, :found.shape[1]] = np.where(found >= 0, train["rows"][found], -1)
        return neighbours

    def _predict_rows(self, table, units=None, n_threads=None, nearest=False,
                      neighbours=False):
        """`predict_arrays` on a table of at most a few ``_PREDICT_ROWS``:
        z_phot, the RMS residual, z_phot_flag, z_phot_nused, the nearest
        distance (None without ``nearest``) and the neighbours (None
        without ``neighbours``).

        Galaxies are grouped by the set of bands they have; each group is
        predicted by one kernel call against the training galaxies that
        have all of its bands. With ``nearest``: each galaxy's distance to
        its nearest training galaxy in the standardised features of its
        group (NaN where not predicted); with ``neighbours``: the training
        rows of its k neighbours (-1 where there is none).
        """
        from ._kernels.predict import (STATUS_EXTRAPOLATION, STATUS_NO_SPREAD,
                                       STATUS_SOLVE_FAILED, STATUS_SPLIT, STATUS_TWIN,
                                       empty_outputs,
                                       predict_kernel, ridge_params)
        mag, state = self._magnitudes(table, units)
        n = len(table)
        flag = np.zeros(n, dtype=np.int16)
        flag[(state == STATE_MISSING).any(axis=1)] |= _flags.MISSING_BAND
        flag[(state == STATE_NONDETECTION).any(axis=1)] |= _flags.NONDETECTION
        if self.snr_min is not None:
            flag[self._unjudged(table, units, state)] |= _flags.BAD_ERROR
        z_phot = np.full(n, np.nan)
        z_phot_err = np.full(n, np.nan)
        n_used = np.zeros(n, dtype=np.int64)
        status = np.zeros(n, dtype=np.int64)
        distance = np.full(n, np.nan) if nearest else None
        found = np.full((n, self.k), -1, dtype=np.int64) if neighbours else None
        params = ridge_params(self.k, self.gamma, self.lam, self.clip_sigma, self.offset,
                              self.window, self.second_group)
        with _numba_threads(n_threads):
            for rows, usable, bands in self._groups(state):
                if bands is None:
                    flag[rows] |= _flags.TOO_FEW_BANDS
                    continue
                if len(bands) < usable.sum():
                    flag[rows] |= _flags.BAND_IGNORED
                x_query, train = self._standardised(mag, rows, bands)
                out = empty_outputs(rows.size, self.k if neighbours else 0)
                predict_kernel(train["index"], train["z"], x_query,
                               np.ones(rows.size, dtype=bool), params, out)
                z_phot[rows], z_phot_err[rows], n_used[rows], status[rows] = out[:4]
                if nearest:
                    distance[rows] = self._nearest_distance(train, x_query)
                if neighbours:
                    found[rows] = np.where(out.neighbours >= 0,
                                           train["rows"][out.neighbours], -1)
        flag[(status & STATUS_SOLVE_FAILED) != 0] |= _flags.SOLVE_FAILED
        flag[(status & STATUS_EXTRAPOLATION) != 0] |= _flags.EXTRAPOLATION
        flag[(status & STATUS_SPLIT) != 0] |= _flags.SPLIT_NEIGHBOURS
        flag[(status & STATUS_NO_SPREAD) != 0] |= _flags.NO_ERROR
        flag[(status & STATUS_TWIN) != 0] |= _flags.TRAINING_TWIN
        if nearest:
            distance[(flag & _flags.UNPREDICTED) != 0] = np.nan
        return z_phot, z_phot_err, flag, n_used.astype(np.int32), distance, found

    @staticmethod
    def _nearest_distance(train, x_query):
        """Distance of each query to its nearest training galaxy of a band
        pattern, searched in the pattern's neighbour index (only
        calibrations of the 'error_distance' form ask for it)."""
        from ._kernels.search import nearest_neighbours
        return np.sqrt(nearest_neighbours(train["index"], x_query, 1)[1][:, 0])
