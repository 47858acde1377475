# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Recalibration of ``z_phot_err``: `ErrorCalibration`.

`~photoz_numba.PhotoZModel.calibrate` learns an `ErrorCalibration` from
out-of-fold predictions: the calibrated error ``scale * err ** power *
exp(slope * z_phot) * max(distance, DISTANCE_FLOOR) ** distance_power``,
with the exponents that its form (one of `CALIBRATION_FORMS`) frees
chosen on a grid, and ``scale`` chosen to minimise `coverage_loss`, the
distance of the fractions within 1 and 2 sigma from a Gaussian's. The
coverage is the target because a Gaussian width fitted to all pulls
would be dragged by the outliers.
"""

import math

import numpy as np
from astropy.table import Table

from .diagnostics import GAUSSIAN_COVERAGE

__all__ = ["CALIBRATION_FORMS", "ErrorCalibration", "coverage_loss"]

#: Forms of `ErrorCalibration`, simplest first.
CALIBRATION_FORMS = ("scale", "error", "error_redshift", "error_distance")

# Tolerances of the coverage at 1 and 2 sigma that `coverage_loss` counts
# deviations in (the acceptance window of the recalibration).
_TOLERANCE = {1: 0.03, 2: 0.02}


def coverage_loss(coverage_1, coverage_2):
    """Distance of the coverage at 1 and 2 sigma from a Gaussian's, in
    tolerances: ``((c1 - 0.6827) / 0.03)**2 + ((c2 - 0.9545) / 0.02)**2``.

    Below 1 both are inside their tolerance (3 and 2 percentage points).

    Parameters
    ----------
    coverage_1, coverage_2 : float or ndarray
        Fractions (0 to 1) of the galaxies within 1 and 2 sigma.

    Returns
    -------
    loss : float or ndarray
        Dimensionless, >= 0; 0 for exactly Gaussian coverage. Arrays are
        broadcast and give one loss per element.

    Examples
    --------
    >>> from photoz_numba.calibration import coverage_loss
    >>> round(coverage_loss(0.6827, 0.9345), 3)
    1.0
    """
    return (((coverage_1 - GAUSSIAN_COVERAGE[1]) / _TOLERANCE[1]) ** 2
            + ((coverage_2 - GAUSSIAN_COVERAGE[2]) / _TOLERANCE[2]) ** 2)


# Grids of the free exponents; a form's other exponents stay at their
# neutral value (power 1, slope 0, distance power 0).
_GRIDS = {"power": np.round(np.arange(0.5, 2.5001, 0.05), 4),
          "slope": np.round(np.arange(-0.5, 0.5001, 0.025), 4),
          "distance_power": np.round(np.arange(0.0, 1.5001, 0.05), 4)}
_NEUTRAL = {"power": 1.0, "slope": 0.0, "distance_power": 0.0}
#: The exponents each form fits.
_FREE = {"scale": (), "error": ("power",), "error_redshift": ("power", "slope"),
         "error_distance": ("power", "distance_power")}
# Nearest-neighbour distances below this (duplicates in colour space) count
# as this, so that a power of them stays finite.
DISTANCE_FLOOR = 0.01
# Candidate coverages at 1 err_cal for the scale of each shape.
_SCALE_QUANTILES = np.linspace(0.55, 0.85, 121)


class ErrorCalibration:
    """A correction of ``z_phot_err``, learnt from out-of-fold predictions.

    The calibrated error is

        err_cal = scale * err ** power * exp(slope * z_phot)
                  * max(distance, 0.01) ** distance_power

    where ``err`` is the RMS residual the kernel gives (``z_phot_err_raw``
    in the output of a calibrated model) and ``distance`` the distance of
    the galaxy to its nearest training galaxy in the standardised feature
    space the neighbours are searched in. The forms (`CALIBRATION_FORMS`)
    free some of the exponents:

    - ``'scale'``: ``scale`` only;
    - ``'error'``: and ``power``, so that large and small errors are scaled
      differently;
    - ``'error_redshift'``: ``power`` and the redshift ``slope``;
    - ``'error_distance'``: ``power`` and ``distance_power``: galaxies far
      from any training galaxy get larger errors.

    `fit` chooses the free exponents on a grid and ``scale`` among the
    values that put 55 to 85 % of the galaxies within 1 err_cal, to
    minimise `coverage_loss`: the distance of the fractions within 1 and
    2 err_cal from 68.27 and 95.45 %, in units of 3 and 2 percentage
    points. (A Gaussian width fitted to all pulls would be dragged by the
    outliers; targeting the coverage is not.) When the pulls are
    Gaussian, this puts 68.27 % within 1 err_cal.

    Parameters
    ----------
    form : str
        One of `CALIBRATION_FORMS`.
    scale, power, slope, distance_power : float
        The coefficients.
    n_train : int, optional
        Galaxies it was learnt from.

    Examples
    --------
    >>> import numpy as np
    >>> from photoz_numba.calibration import ErrorCalibration
    >>> rng = np.random.default_rng(0)
    >>> err = rng.uniform(0.02, 0.1, 5000)
    >>> z_phot = rng.uniform(0, 4, 5000)
    >>> z_spec = z_phot - rng.normal(0, 2 * err)     # errors 2 times too small
    >>> cal = ErrorCalibration.fit(z_phot, err, z_spec, form="scale")
    >>> cal
    ErrorCalibration(form='scale', scale=1.983, power=1, slope=0, distance_power=0, n_train=5000)
    >>> cal.apply(np.array([0.05]), np.array([1.0])).round(4)
    array([0.0991])
    """

    def __init__(self, form, scale, power=1.0, slope=0.0, distance_power=0.0, n_train=0):
        if form not in CALIBRATION_FORMS:
            raise ValueError(f"form must be one of {CALIBRATION_FORMS}, not {form!r}")
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a finite number > 0, not {scale!r}")
        self.form = form
        self.scale, self.power, self.slope = float(scale), float(power), float(slope)
        self.distance_power = float(distance_power)
        self.n_train = int(n_train)
        #: CV comparison of the forms, when chosen by `select` (a
        #: diagnostic: not stored in model files, None in a model read).
        self.comparison = None

    def __repr__(self):
        return (f"ErrorCalibration(form={self.form!r}, scale={self.scale:.4g}, "
                f"power={self.power:.4g}, slope={self.slope:.4g}, "
                f"distance_power={self.distance_power:.4g}, n_train={self.n_train})")

    def __eq__(self, other):
        return (isinstance(other, ErrorCalibration)
                and self.form == other.form
                and all(getattr(self, name) == getattr(other, name) for name in self._FIELDS))

    @property
    def needs_distance(self):
        """Whether `apply` needs the nearest-neighbour distance."""
        return self.distance_power != 0.0

    def apply(self, z_phot_err, z_phot, distance=None):
        """Calibrated errors.

        Parameters
        ----------
        z_phot_err, z_phot : array-like
            Raw errors and photometric redshifts.
        distance : array-like, optional
            Nearest-neighbour distances; needed when ``distance_power`` is
            not 0.

        Returns
        -------
        z_phot_err_cal : ndarray
            ``scale * z_phot_err ** power * exp(slope * z_phot) *
            max(distance, 0.01) ** distance_power``, of the shape of
            ``z_phot_err`` (broadcast with the others).

        Raises
        ------
        ValueError
            ``distance`` is needed but not given.

        Examples
        --------
        >>> from photoz_numba.calibration import ErrorCalibration
        >>> cal = ErrorCalibration("error_redshift", scale=0.5, power=0.8, slope=0.1)
        >>> cal.apply([0.02, 0.05, 0.1], [0.5, 1.0, 3.0]).round(4)
        array([0.023 , 0.0503, 0.107 ])
        >>> far = ErrorCalibration("error_distance", scale=1.5, distance_power=0.5)
        >>> far.apply([0.05, 0.05], [1.0, 1.0], distance=[0.04, 0.36]).round(4)
        array([0.015, 0.045])
        >>> try:
        ...     far.apply([0.05], [1.0])
        ... except ValueError as exc:
        ...     print(exc)
        the 'error_distance' calibration needs the nearest-neighbour distance of every galaxy
        """
        err = np.asarray(z_phot_err, dtype=np.float64)
        out = self.scale * (err if self.power == 1.0 else err ** self.power)
        if self.slope != 0.0:
            out = out * np.exp(self.slope * np.asarray(z_phot, dtype=np.float64))
        if self.needs_distance:
            if distance is None:
                raise ValueError(f"the {self.form!r} calibration needs the nearest-"
                                 f"neighbour distance of every galaxy")
            out = out * np.maximum(np.asarray(distance, dtype=np.float64),
                                   DISTANCE_FLOOR) ** self.distance_power
        return out

    # Persisted as one row of float64 (exact) in model files.
    _FIELDS = ("scale", "power", "slope", "distance_power", "n_train")

    def to_table(self):
        """One row: form and coefficients (stored in model files).

        Returns
        -------
        table : `~astropy.table.Table`
            One row with columns ``form`` (str) and ``scale``, ``power``,
            ``slope``, ``distance_power`` and ``n_train`` (float64, so
            that the values round-trip exactly).

        Examples
        --------
        >>> from photoz_numba.calibration import ErrorCalibration
        >>> cal = ErrorCalibration("error", scale=0.35, power=0.65, n_train=2000)
        >>> print(cal.to_table())
         form scale power slope distance_power n_train
        ----- ----- ----- ----- -------------- -------
        error  0.35  0.65   0.0            0.0  2000.0
        """
        return Table({"form": [self.form],
                      **{name: [float(getattr(self, name))] for name in self._FIELDS}})

    @classmethod
    def from_table(cls, table):
        """The inverse of `to_table`.

        Parameters
        ----------
        table : `~astropy.table.Table`
            Its first row is read: columns ``form``, ``scale``, ``power``,
            ``slope``, ``distance_power`` and ``n_train``, as `to_table`
            writes them.

        Returns
        -------
        calibration : `ErrorCalibration`

        Raises
        ------
        KeyError
            A column is missing.
        ValueError
            The form is not one of `CALIBRATION_FORMS`, or the scale is not
            a finite number > 0.

        Examples
        --------
        >>> import os, tempfile
        >>> from astropy.table import Table
        >>> from photoz_numba.calibration import ErrorCalibration
        >>> cal = ErrorCalibration("error", scale=0.35, power=0.65, n_train=2000)
        >>> path = os.path.join(tempfile.mkdtemp(), "calibration.ecsv")
        >>> cal.to_table().write(path)
        >>> ErrorCalibration.from_table(Table.read(path))  # doctest: +NORMALIZE_WHITESPACE
        ErrorCalibration(form='error', scale=0.35, power=0.65, slope=0, distance_power=0,
                         n_train=2000)
        >>> ErrorCalibration.from_table(Table.read(path)) == cal
        True
        """
        row = table[0]
        return cls(str(row["form"]), float(row["scale"]), float(row["power"]),
                   float(row["slope"]), float(row["distance_power"]), int(row["n_train"]))

    @staticmethod
    def _arrays(z_phot, z_phot_err, z_spec, distance=None):
        arrays = [np.asarray(v, dtype=np.float64).ravel() for v in (z_phot, z_phot_err, z_spec)]
        names = ["z_phot", "z_phot_err", "z_spec"]
        if distance is not None:
            arrays.append(np.asarray(distance, dtype=np.float64).ravel())
            names.append("distance")
        if len({a.size for a in arrays}) != 1:
            raise ValueError(f"{', '.join(names)} differ in length")
        for name, a in zip(names, arrays):
            if not np.isfinite(a).all():
                raise ValueError(f"{name} has non-finite values")
        if not (arrays[1] > 0).all():
            raise ValueError("z_phot_err has values <= 0")
        if distance is None:
            arrays.append(None)
        return arrays

    @classmethod
    def fit(cls, z_phot, z_phot_err, z_spec, form="scale", distance=None, min_galaxies=50):
        """Learn a calibration of the given form from predictions.

        Parameters
        ----------
        z_phot, z_phot_err, z_spec : array-like
            Predictions (out-of-fold, not the galaxies the model was fitted
            on) and true redshifts; finite, errors > 0.
        form : str, optional
            One of `CALIBRATION_FORMS`.
        distance : array-like, optional
            Nearest-neighbour distances, for ``'error_distance'``.
        min_galaxies : int, optional
            Fewest galaxies to learn from.

        Returns
        -------
        calibration : `ErrorCalibration`

        Raises
        ------
        ValueError
            Unknown ``form``; ``'error_distance'`` without ``distance``;
            inputs of different lengths, non-finite values or errors <= 0;
            fewer than ``min_galaxies`` galaxies.

        Examples
        --------
        Errors whose true size is ``0.4 err ** 0.7``: too large for the
        small errors and too small for the large ones, which a scale alone
        cannot correct.

        >>> import numpy as np
        >>> from photoz_numba.calibration import ErrorCalibration
        >>> rng = np.random.default_rng(0)
        >>> err = rng.uniform(0.01, 0.2, 2000)
        >>> z_phot = rng.uniform(0, 4, 2000)
        >>> z_spec = z_phot - rng.normal(0, 0.4 * err ** 0.7)  # true error 0.4 err^0.7
        >>> cal = ErrorCalibration.fit(z_phot, err, z_spec, form="error")
        >>> cal  # doctest: +NORMALIZE_WHITESPACE
        ErrorCalibration(form='error', scale=0.3504, power=0.65, slope=0, distance_power=0,
                         n_train=2000)
        >>> small, large = err < 0.05, err > 0.15
        >>> for name, calibration in (("scale", ErrorCalibration.fit(z_phot, err, z_spec)),
        ...                           ("error", cal)):
        ...     c_small = calibration.coverage(z_phot[small], err[small], z_spec[small])
        ...     c_large = calibration.coverage(z_phot[large], err[large], z_spec[large])
        ...     print(f"{name}: within 1 sigma {c_small[1]:.3f} (err < 0.05), "
        ...           f"{c_large[1]:.3f} (err > 0.15)")
        scale: within 1 sigma 0.502 (err < 0.05), 0.785 (err > 0.15)
        error: within 1 sigma 0.681 (err < 0.05), 0.677 (err > 0.15)
        """
        if form not in CALIBRATION_FORMS:
            raise ValueError(f"form must be one of {CALIBRATION_FORMS}, not {form!r}")
        if "distance_power" in _FREE[form] and distance is None:
            raise ValueError(f"form {form!r} needs the nearest-neighbour distances")
        z_phot, err, z_spec, distance = cls._arrays(z_phot, z_phot_err, z_spec, distance)
        if z_phot.size < min_galaxies:
            raise ValueError(f"a calibration needs at least {min_galaxies} galaxies with "
                             f"a prediction and an error > 0, got {z_phot.size}")
        log_residual = np.log(np.maximum(np.abs(z_phot - z_spec), 1e-300))
        logs = {"power": np.log(err), "slope": z_phot,
                "distance_power": (np.log(np.maximum(distance, DISTANCE_FLOOR))
                                   if distance is not None else None)}
        free = _FREE[form]
        grids = np.meshgrid(*[_GRIDS[name] for name in free], indexing="ij")
        settings = np.column_stack([g.ravel() for g in grids]) if free else np.zeros((1, 0))
        n = z_phot.size
        best = None
        for values in settings:
            exponents = dict(_NEUTRAL, **dict(zip(free, values)))
            log_shape = (exponents["power"] * logs["power"]
                         + exponents["slope"] * logs["slope"])
            if exponents["distance_power"]:
                log_shape = log_shape + exponents["distance_power"] * logs["distance_power"]
            log_ratio = np.sort(log_residual - log_shape)
            log_scales = np.quantile(log_ratio, _SCALE_QUANTILES)
            within_1 = np.searchsorted(log_ratio, log_scales) / n
            within_2 = np.searchsorted(log_ratio, log_scales + math.log(2)) / n
            loss = coverage_loss(within_1, within_2)
            i = int(np.argmin(loss))
            # Ties go to the setting nearest the plain scale.
            key = (round(float(loss[i]), 9),
                   sum(abs(exponents[name] - _NEUTRAL[name]) for name in free))
            if best is None or key < best[0]:
                best = (key, float(np.exp(log_scales[i])), exponents)
        _, scale, exponents = best
        return cls(form, scale, exponents["power"], exponents["slope"],
                   exponents["distance_power"], n_train=n)

    def coverage(self, z_phot, z_phot_err, z_spec, distance=None):
        """Fractions of ``|z_phot - z_spec| < k err_cal`` for k = 1, 2, 3.

        Parameters
        ----------
        z_phot, z_phot_err, z_spec : array-like
            Predictions, raw errors (``err_cal`` is ``apply(z_phot_err,
            z_phot, distance)``) and true redshifts; finite, errors > 0.
        distance : array-like, optional
            Nearest-neighbour distances; needed when ``distance_power`` is
            not 0.

        Returns
        -------
        coverage : dict
            ``{1: c1, 2: c2, 3: c3}``, fractions between 0 and 1 (a
            Gaussian error gives 0.6827, 0.9545 and 0.9973,
            `GAUSSIAN_COVERAGE`).

        Raises
        ------
        ValueError
            Inputs of different lengths, non-finite values or errors <= 0,
            or ``distance`` needed but not given.

        Examples
        --------
        >>> import numpy as np
        >>> from photoz_numba.calibration import ErrorCalibration
        >>> rng = np.random.default_rng(0)
        >>> err = rng.uniform(0.01, 0.2, 2000)
        >>> z_phot = rng.uniform(0, 4, 2000)
        >>> z_spec = z_phot - rng.normal(0, 0.4 * err ** 0.7)  # true error 0.4 err^0.7
        >>> cal = ErrorCalibration.fit(z_phot, err, z_spec, form="error")
        >>> {k: round(c, 3) for k, c in cal.coverage(z_phot, err, z_spec).items()}
        {1: 0.682, 2: 0.955, 3: 0.999}
        """
        z_phot, err, z_spec, distance = self._arrays(z_phot, z_phot_err, z_spec, distance)
        t = np.abs(z_phot - z_spec) / self.apply(err, z_phot, distance)
        return {k: float(np.mean(t < k)) for k in GAUSSIAN_COVERAGE}

    @classmethod
    def select(cls, z_phot, z_phot_err, z_spec, distance=None, forms=None, n_folds=5,
               seed=0):
        """Choose the form by cross-validation, and fit it on all galaxies.

        Each form is fitted on ``n_folds - 1`` folds of the galaxies and
        its coverage at 1 and 2 sigma measured on the held-out fold; the
        form with the smallest `coverage_loss` of the pooled held-out
        coverage wins (the simpler on a tie). The comparison is kept in
        the ``comparison`` attribute (a Table) of the result.

        Parameters
        ----------
        z_phot, z_phot_err, z_spec, distance : array-like
            As for `fit`; without ``distance``, ``'error_distance'`` is not
            a candidate.
        forms : sequence of str, optional
            Candidate forms (default: all that the inputs allow).
        n_folds : int, optional
            Folds of this second cross-validation.
        seed : int, optional
            Seeds the folds.

        Returns
        -------
        calibration : `ErrorCalibration`

        Raises
        ------
        ValueError
            Unknown forms; inputs of different lengths, non-finite values
            or errors <= 0; fewer than 50 galaxies.

        Examples
        --------
        >>> import numpy as np
        >>> from photoz_numba.calibration import ErrorCalibration
        >>> rng = np.random.default_rng(0)
        >>> err = rng.uniform(0.01, 0.2, 2000)
        >>> z_phot = rng.uniform(0, 4, 2000)
        >>> z_spec = z_phot - rng.normal(0, 0.4 * err ** 0.7)  # true error 0.4 err^0.7
        >>> cal = ErrorCalibration.select(z_phot, err, z_spec, forms=["scale", "error"])
        >>> cal.form, cal.n_train
        ('error', 2000)
        >>> for row in cal.comparison:
        ...     print(f"{row['form']}: CV within 1 and 2 sigma {row['cv_coverage_1sigma']:.3f}, "
        ...           f"{row['cv_coverage_2sigma']:.3f}; loss {row['cv_loss']:.3f}")
        scale: CV within 1 and 2 sigma 0.686, 0.947; loss 0.157
        error: CV within 1 and 2 sigma 0.683, 0.952; loss 0.023
        """
        z_phot, err, z_spec, distance = cls._arrays(z_phot, z_phot_err, z_spec, distance)
        if forms is None:
            forms = [form for form in CALIBRATION_FORMS
                     if distance is not None or "distance_power" not in _FREE[form]]
        forms = list(forms)
        if not forms or any(form not in CALIBRATION_FORMS for form in forms):
            raise ValueError(f"forms must be among {CALIBRATION_FORMS}, not {forms!r}")
        folds = np.random.default_rng(seed).permutation(z_phot.size) % n_folds
        rows = []
        for form in forms:
            within = {1: 0.0, 2: 0.0, 3: 0.0}
            for fold in range(n_folds):
                test = folds == fold
                part = (lambda a: None if a is None else a[~test])
                held = (lambda a: None if a is None else a[test])
                cal = cls.fit(z_phot[~test], err[~test], z_spec[~test], form=form,
                              distance=part(distance), min_galaxies=1)
                coverage = cal.coverage(z_phot[test], err[test], z_spec[test],
                                        held(distance))
                for k in within:
                    within[k] += coverage[k] * test.sum()
            c1, c2, c3 = (within[k] / z_phot.size for k in (1, 2, 3))
            rows.append({"form": form, "cv_coverage_1sigma": c1, "cv_coverage_2sigma": c2,
                         "cv_coverage_3sigma": c3, "cv_loss": coverage_loss(c1, c2)})
        comparison = Table(rows)
        best = forms[int(np.argmin(comparison["cv_loss"]))]
        calibration = cls.fit(z_phot, err, z_spec, form=best, distance=distance)
        calibration.comparison = comparison
        return calibration
