# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Is ``z_phot_err`` a 1-sigma error? Checks of the pulls, and recalibration.

The *pull* of a galaxy is ``(z_phot - z_spec) / z_phot_err``. If
``z_phot_err`` were the standard deviation of a Gaussian error, the pulls
would follow N(0, 1): `calibration_report` measures how far they are
from it (moments, robust width, coverage at 1, 2 and 3 sigma,
Kolmogorov-Smirnov and Anderson-Darling tests, PIT histogram),
`fit_pull_mixture` fits them with a Gaussian core plus a broad outlier
component by MCMC (emcee), and `ErrorCalibration` is the correction of
``z_phot_err`` that `~photoz_numba.PhotoZModel.calibrate` learns.

Rows are handled so that none is dropped silently:

- rows with a masked (or NaN) ``z_phot`` -- the galaxies the model could
  not predict -- or a masked ``z_spec`` are skipped and counted
  (``n_unpredicted``);
- rows with a ``z_phot_err`` that is <= 0, NaN, infinite or masked while
  ``z_phot`` is not, or a non-finite ``z_spec``, are *invalid*: an error
  by default, or skipped and counted (``n_invalid``) with
  ``invalid='skip'``;
- outliers are kept: every statistic is computed on all the remaining
  pulls, however large. The NMAD width and the mixture fit are the
  figures that outliers do not drag.
"""

import math
import warnings
from collections import namedtuple

import numpy as np
from astropy.table import Table
from scipy import special, stats

from .exceptions import ShortChainWarning
from .metrics import NMAD_SCALE

__all__ = ["GAUSSIAN_COVERAGE", "CALIBRATION_FORMS", "pulls", "anderson_darling_normal",
           "calibration_report", "CalibrationReport", "fit_pull_mixture", "PullMixture",
           "Estimate", "ErrorCalibration", "coverage_loss"]

#: Fraction of a Gaussian within 1, 2 and 3 sigma of its mean.
GAUSSIAN_COVERAGE = {k: math.erf(k / math.sqrt(2)) for k in (1, 2, 3)}

#: Forms of `ErrorCalibration`, simplest first.
CALIBRATION_FORMS = ("scale", "error", "error_redshift", "error_distance")

# Tolerances of the coverage at 1 and 2 sigma that `coverage_loss` counts
# deviations in (the acceptance window of the recalibration).
_TOLERANCE = {1: 0.03, 2: 0.02}


# -- pulls ------------------------------------------------------------------------

def _column(table, name, role):
    if not isinstance(name, str):
        raise TypeError(f"{role} must be a column name, not {name!r}")
    if name not in table.colnames:
        raise KeyError(f"{role} column {name!r} is not in the table (columns: "
                       f"{', '.join(table.colnames)})")
    column = table[name]
    mask = np.ma.getmaskarray(column)
    values = getattr(column, "value", column)
    try:
        values = np.asarray(np.ma.getdata(values), dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{role} column {name!r} must hold numbers") from None
    if values.ndim != 1:
        raise ValueError(f"{role} column {name!r} must be one value per row")
    return values, mask


def pulls(table, z_spec="zspec", z_phot="z_phot", z_phot_err="z_phot_err",
          invalid="raise"):
    """Pulls ``(z_phot - z_spec) / z_phot_err`` of the rows of a table.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Predictions with spectroscopic redshifts.
    z_spec, z_phot, z_phot_err : str, optional
        Column names.
    invalid : {'raise', 'skip'}, optional
        What to do with rows whose ``z_phot_err`` is <= 0, NaN, infinite
        or masked (while ``z_phot`` is given) or whose ``z_spec`` is not
        finite: raise `ValueError` naming the column, or skip them and
        count them.

    Returns
    -------
    values : ndarray
        The pulls of the usable rows, in table order.
    counts : dict
        ``n_rows``; ``n_unpredicted``, rows skipped because ``z_phot`` or
        ``z_spec`` is masked (or ``z_phot`` NaN: no prediction);
        ``n_invalid``, rows skipped under ``invalid='skip'``; ``n_used``.

    Raises
    ------
    KeyError
        A column is not in the table.
    ValueError
        Invalid rows (``invalid='raise'``), or no usable row.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from photoz_numba.calibration import pulls
    >>> t = Table({"zspec": [1.0, 2.0, 3.0], "z_phot": [1.1, 1.9, 3.0],
    ...            "z_phot_err": [0.1, 0.05, 0.0]})
    >>> pulls(t)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: z_phot_err column 'z_phot_err' has 1 value(s) <= 0, ... (first at row 2: 0.0); ...
    >>> values, counts = pulls(t, invalid="skip")
    >>> values.round(6), counts["n_invalid"]
    (array([ 1., -2.]), 1)
    """
    if invalid not in ("raise", "skip"):
        raise ValueError(f"invalid must be 'raise' or 'skip', not {invalid!r}")
    if not isinstance(table, Table):
        raise TypeError(f"expected an astropy Table, not {type(table).__name__}")
    spec, spec_mask = _column(table, z_spec, "z_spec")
    phot, phot_mask = _column(table, z_phot, "z_phot")
    err, err_mask = _column(table, z_phot_err, "z_phot_err")
    unpredicted = phot_mask | np.isnan(phot) | spec_mask
    bad_err = ~unpredicted & (err_mask | ~np.isfinite(err) | ~(err > 0))
    bad_spec = ~unpredicted & ~np.isfinite(spec)
    bad_phot = ~unpredicted & ~np.isfinite(phot)
    if invalid == "raise":
        for bad, name, role, what in (
                (bad_spec, z_spec, "z_spec", "non-finite"),
                (bad_phot, z_phot, "z_phot", "infinite"),
                (bad_err, z_phot_err, "z_phot_err", "<= 0, NaN, infinite or masked")):
            if bad.any():
                rows = np.flatnonzero(bad)
                raise ValueError(
                    f"{role} column {name!r} has {rows.size} value(s) {what} (first "
                    f"at row {rows[0]}: {table[name][rows[0]]}); pass invalid='skip' to "
                    f"leave those rows out (they are counted)")
    invalid_rows = bad_err | bad_spec | bad_phot
    usable = ~unpredicted & ~invalid_rows
    counts = {"n_rows": len(table), "n_unpredicted": int(unpredicted.sum()),
              "n_invalid": int(invalid_rows.sum()), "n_used": int(usable.sum())}
    if not usable.any():
        raise ValueError(f"no row of the {len(table)} has a usable {z_phot!r}, "
                         f"{z_phot_err!r} and {z_spec!r} ({counts['n_unpredicted']} "
                         f"unpredicted, {counts['n_invalid']} invalid)")
    return (phot[usable] - spec[usable]) / err[usable], counts


def _finite_pulls(values):
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("no pulls given")
    if not np.isfinite(values).all():
        raise ValueError(f"pulls must be finite; {int((~np.isfinite(values)).sum())} "
                         f"are not")
    return values


# -- tests against N(0, 1) ------------------------------------------------------

def _adinf(z):
    """P(A^2 < z) of the Anderson-Darling statistic of a fully specified
    distribution as n -> infinity (Marsaglia & Marsaglia 2004, J. Stat.
    Softw. 9, 2; |error| < 2e-6)."""
    if z <= 0:
        return 0.0
    if z < 2:
        return (math.exp(-1.2337141 / z) / math.sqrt(z)
                * (2.00012 + (0.247105 - (0.0649821 - (0.0347962 - (0.011672 - 0.00168691 * z)
                                                       * z) * z) * z) * z))
    return math.exp(-math.exp(1.0776 - (2.30695 - (0.43424 - (0.082433 - (
        0.008056 - 0.0003146 * z) * z) * z) * z) * z))


def anderson_darling_normal(values):
    """Anderson-Darling test of a sample against N(0, 1), no parameter fitted.

    `scipy.stats.anderson` fits the mean and width of the normal family;
    here both are fixed, as a calibrated error predicts them. The p-value
    is the asymptotic one of Marsaglia & Marsaglia (2004), accurate for
    samples of a few tens and more.

    Parameters
    ----------
    values : array-like
        Finite sample.

    Returns
    -------
    statistic, pvalue : float

    Examples
    --------
    >>> import numpy as np
    >>> from photoz_numba.calibration import anderson_darling_normal
    >>> stat, p = anderson_darling_normal(np.random.default_rng(0).normal(size=1000))
    >>> p > 0.05
    True
    >>> stat, p = anderson_darling_normal(np.random.default_rng(0).normal(0, 1.2, 1000))
    >>> p < 0.001
    True
    """
    x = np.sort(_finite_pulls(values))
    n = x.size
    i = np.arange(1, n + 1)
    # log Phi(x) and log(1 - Phi(x)) stay finite for pulls of any size.
    statistic = -n - np.mean((2 * i - 1) * (special.log_ndtr(x)
                                            + special.log_ndtr(-x[::-1])))
    return float(statistic), float(min(max(1.0 - _adinf(statistic), 0.0), 1.0))


class CalibrationReport:
    """How far the pulls ``(z_phot - z_spec) / z_phot_err`` are from N(0, 1).

    Made by `calibration_report`; every figure is an attribute, and
    `to_table` gives them all with the value a unit Gaussian expects.

    Attributes
    ----------
    pulls : ndarray
        The pulls used.
    n, n_rows, n_unpredicted, n_invalid : int
        Pulls used; rows in the table; rows skipped for a masked
        prediction or spectroscopic redshift; rows skipped as invalid.
    mean, std, nmad : float
        Mean, standard deviation (ddof=1) and NMAD width
        (``1.4826 median(|pull - median|)``) of the pulls.
    coverage : dict
        Fraction of ``|pull| < k`` for k = 1, 2, 3 (`GAUSSIAN_COVERAGE`
        is the expectation).
    ks_statistic, ks_pvalue : float
        Kolmogorov-Smirnov test against N(0, 1) (`scipy.stats.kstest`).
    ad_statistic, ad_pvalue : float
        Anderson-Darling test against N(0, 1) (`anderson_darling_normal`).
    pit : ndarray
        Probability integral transform of every galaxy: the CDF of its
        Gaussian PDF N(z_phot, z_phot_err) at z_spec, ``Phi(-pull)``;
        uniform on [0, 1] when the errors are right.
    pit_edges, pit_counts : ndarray
        The PIT histogram.
    pit_chi2, pit_pvalue : float
        Chi-square of the PIT histogram against uniform, and its p-value.
    pit_max_deviation : float
        Largest ``|density - 1|`` of the PIT histogram (0 when uniform).
    mixture : `PullMixture` or None
        The MCMC fit of the pulls, when asked for.
    columns : dict
        Names of the ``z_spec``, ``z_phot`` and ``z_phot_err`` columns the
        pulls were computed from.

    Examples
    --------
    Errors 1.2 times too small: the pulls are too wide, too few fall
    within 1 and 2 sigma, and the PIT histogram is U-shaped.

    >>> from photoz_numba.calibration import calibration_report
    >>> from photoz_numba.datasets import toy_predictions
    >>> t = toy_predictions(500, error_scale=1.2)   # errors 1.2 times too small
    >>> report = calibration_report(t)
    >>> print(report)
    <CalibrationReport of 500 pulls (of 500 rows; skipped 0 unpredicted, 0 invalid)
      mean +0.057  std 1.230  NMAD 1.263   (N(0, 1): 0, 1, 1)
      |pull| < 1:  58.20 %   (N(0, 1): 68.27 %)
      |pull| < 2:  89.80 %   (N(0, 1): 95.45 %)
      |pull| < 3:  98.40 %   (N(0, 1): 99.73 %)
      KS D = 0.0719 (p = 0.0109)   AD A2 = 8.293 (p = 7.94e-05)
      PIT: chi2 = 40.0 for 9 dof (p = 7.73e-06), max |density - 1| = 0.60>
    >>> report.n, round(report.nmad, 3), round(report.coverage[1], 3)
    (500, 1.263, 0.582)
    >>> report.pit_counts
    array([80, 51, 45, 51, 36, 43, 30, 45, 49, 70])
    """

    def __init__(self, values, counts, pit_bins=10, mixture=None, columns=None):
        values = _finite_pulls(values)
        self.pulls = values
        self.n = values.size
        self.n_rows = counts.get("n_rows", self.n)
        self.n_unpredicted = counts.get("n_unpredicted", 0)
        self.n_invalid = counts.get("n_invalid", 0)
        self.columns = columns or {}
        self.mean = float(values.mean())
        self.std = float(values.std(ddof=1)) if self.n > 1 else float("nan")
        self.nmad = float(NMAD_SCALE * np.median(np.abs(values - np.median(values))))
        self.coverage = {k: float(np.mean(np.abs(values) < k)) for k in GAUSSIAN_COVERAGE}
        ks = stats.kstest(values, "norm")
        self.ks_statistic, self.ks_pvalue = float(ks.statistic), float(ks.pvalue)
        self.ad_statistic, self.ad_pvalue = anderson_darling_normal(values)
        self.pit = special.ndtr(-values)
        if int(pit_bins) < 2:
            raise ValueError(f"pit_bins must be >= 2, not {pit_bins!r}")
        self.pit_edges = np.linspace(0.0, 1.0, int(pit_bins) + 1)
        self.pit_counts, _ = np.histogram(self.pit, bins=self.pit_edges)
        expected = self.n / int(pit_bins)
        self.pit_chi2 = float(np.sum((self.pit_counts - expected) ** 2 / expected))
        self.pit_pvalue = float(stats.chi2.sf(self.pit_chi2, int(pit_bins) - 1))
        self.pit_max_deviation = float(np.max(np.abs(self.pit_counts / expected - 1)))
        self.mixture = mixture

    def to_table(self):
        """All figures as a Table: ``statistic``, ``value``, ``expected``
        (for N(0, 1) pulls; NaN for test statistics) and ``description``.
        The counts and column names are in ``meta``; the mixture fit's
        rows, if any, have their 68 % interval in ``lower`` and ``upper``.

        Returns
        -------
        table : `~astropy.table.Table`
            One row per figure (13, and 7 more with a mixture fit: its
            four parameters and three diagnostics of the chain), with
            columns ``statistic``, ``value``, ``expected``, ``lower``,
            ``upper`` (NaN but for the mixture parameters) and
            ``description``; ``meta`` holds ``n``, ``n_rows``,
            ``n_unpredicted``, ``n_invalid`` and ``column_z_spec``,
            ``column_z_phot``, ``column_z_phot_err``.

        Examples
        --------
        >>> from photoz_numba.calibration import calibration_report
        >>> from photoz_numba.datasets import toy_predictions
        >>> t = toy_predictions(500, error_scale=1.2)   # errors 1.2 times too small
        >>> table = calibration_report(t).to_table()
        >>> len(table), table.meta["n"], table.meta["column_z_phot_err"]
        (13, 500, 'z_phot_err')
        >>> for row in table[:6]:
        ...     print(f"{row['statistic']:>15}: {row['value']:.4f} "
        ...           f"(N(0, 1): {row['expected']:.4f})")
                   mean: 0.0569 (N(0, 1): 0.0000)
                    std: 1.2303 (N(0, 1): 1.0000)
                   nmad: 1.2628 (N(0, 1): 1.0000)
        coverage_1sigma: 0.5820 (N(0, 1): 0.6827)
        coverage_2sigma: 0.8980 (N(0, 1): 0.9545)
        coverage_3sigma: 0.9840 (N(0, 1): 0.9973)
        """
        rows = [
            ("mean", self.mean, 0.0, "mean of the pulls"),
            ("std", self.std, 1.0, "standard deviation of the pulls"),
            ("nmad", self.nmad, 1.0, "1.4826 x median absolute deviation of the pulls"),
            *[(f"coverage_{k}sigma", self.coverage[k], GAUSSIAN_COVERAGE[k],
               f"fraction with |pull| < {k}") for k in GAUSSIAN_COVERAGE],
            ("ks_statistic", self.ks_statistic, np.nan, "Kolmogorov-Smirnov D vs N(0, 1)"),
            ("ks_pvalue", self.ks_pvalue, np.nan, "Kolmogorov-Smirnov p-value"),
            ("ad_statistic", self.ad_statistic, np.nan, "Anderson-Darling A^2 vs N(0, 1)"),
            ("ad_pvalue", self.ad_pvalue, np.nan, "Anderson-Darling p-value (asymptotic)"),
            ("pit_chi2", self.pit_chi2, float(len(self.pit_counts) - 1),
             f"chi-square of the {len(self.pit_counts)}-bin PIT histogram vs uniform"),
            ("pit_pvalue", self.pit_pvalue, np.nan, "p-value of pit_chi2"),
            ("pit_max_deviation", self.pit_max_deviation, 0.0,
             "largest |density - 1| of the PIT histogram"),
        ]
        lower = [np.nan] * len(rows)
        upper = [np.nan] * len(rows)
        if self.mixture is not None:
            for name, estimate, expected, text in self.mixture._rows():
                rows.append((name, estimate.median, expected, text))
                lower.append(estimate.lower)
                upper.append(estimate.upper)
            for name, value, text in self.mixture._diagnostics():
                rows.append((name, value, np.nan, text))
                lower.append(np.nan)
                upper.append(np.nan)
        names, values, expected, text = zip(*rows)
        table = Table({"statistic": names, "value": np.array(values, dtype=float),
                       "expected": np.array(expected, dtype=float),
                       "lower": np.array(lower, dtype=float),
                       "upper": np.array(upper, dtype=float),
                       "description": text})
        table.meta.update({"n": self.n, "n_rows": self.n_rows,
                           "n_unpredicted": self.n_unpredicted, "n_invalid": self.n_invalid,
                           **{f"column_{role}": name for role, name in self.columns.items()}})
        return table

    def __repr__(self):
        lines = [f"<CalibrationReport of {self.n} pulls (of {self.n_rows} rows; skipped "
                 f"{self.n_unpredicted} unpredicted, {self.n_invalid} invalid)",
                 f"  mean {self.mean:+.3f}  std {self.std:.3f}  NMAD {self.nmad:.3f}"
                 f"   (N(0, 1): 0, 1, 1)"]
        for k, expected in GAUSSIAN_COVERAGE.items():
            lines.append(f"  |pull| < {k}: {100 * self.coverage[k]:6.2f} %"
                         f"   (N(0, 1): {100 * expected:.2f} %)")
        lines.append(f"  KS D = {self.ks_statistic:.4f} (p = {self.ks_pvalue:.3g})   "
                     f"AD A2 = {self.ad_statistic:.3f} (p = {self.ad_pvalue:.3g})")
        lines.append(f"  PIT: chi2 = {self.pit_chi2:.1f} for {len(self.pit_counts) - 1} dof "
                     f"(p = {self.pit_pvalue:.3g}), max |density - 1| = "
                     f"{self.pit_max_deviation:.2f}")
        if self.mixture is not None:
            lines.extend("  " + line for line in repr(self.mixture).splitlines())
        return "\n".join(lines) + ">"


def calibration_report(table, z_spec="zspec", z_phot="z_phot", z_phot_err="z_phot_err",
                       invalid="raise", pit_bins=10, mixture=False, random_state=None,
                       **mixture_options):
    """Compare the pulls of a table of predictions with N(0, 1).

    Parameters
    ----------
    table : `~astropy.table.Table`
        Predictions with spectroscopic redshifts, e.g. the output of
        `~photoz_numba.PhotoZModel.predict` on galaxies with ``z_spec``.
    z_spec, z_phot, z_phot_err : str, optional
        Column names.
    invalid : {'raise', 'skip'}, optional
        Rows with a bad ``z_phot_err`` or ``z_spec`` (see `pulls`): an
        error, or skipped and counted in the report.
    pit_bins : int, optional
        Bins of the PIT histogram.
    mixture : bool, optional
        Also fit the pulls with `fit_pull_mixture` (a few seconds).
    random_state : int or `numpy.random.Generator`, optional
        Seeds the mixture fit.
    **mixture_options
        Passed to `fit_pull_mixture` (``n_walkers``, ``n_steps``, ...).

    Returns
    -------
    report : `CalibrationReport`

    Examples
    --------
    Pulls of errors that are 1.5 times too small:

    >>> from photoz_numba.calibration import calibration_report
    >>> from photoz_numba.datasets import toy_predictions
    >>> t = toy_predictions(2000, error_scale=1.5)   # errors 1.5 times too small
    >>> report = calibration_report(t)
    >>> round(report.std, 2), round(report.coverage[1], 3)
    (1.49, 0.491)
    >>> report.ks_pvalue < 1e-6
    True
    >>> for row in report.to_table()[3:5]:
    ...     print(f"{row['statistic']}: {row['value']:.4f} (N(0, 1): {row['expected']:.4f})")
    coverage_1sigma: 0.4915 (N(0, 1): 0.6827)
    coverage_2sigma: 0.8235 (N(0, 1): 0.9545)
    """
    values, counts = pulls(table, z_spec=z_spec, z_phot=z_phot, z_phot_err=z_phot_err,
                           invalid=invalid)
    fit = fit_pull_mixture(values, random_state=random_state,
                           **mixture_options) if mixture else None
    return CalibrationReport(values, counts, pit_bins=pit_bins, mixture=fit,
                             columns={"z_spec": z_spec, "z_phot": z_phot,
                                      "z_phot_err": z_phot_err})


# -- mixture fit ------------------------------------------------------------------

Estimate = namedtuple("Estimate", "median lower upper")
Estimate.__doc__ = """A posterior summary: median and the 16th and 84th percentiles.

A named tuple; the parameters of a `PullMixture` are of this type.

Attributes
----------
median : float
    Posterior median.
lower, upper : float
    15.865th and 84.135th percentiles of the posterior: the 68 %
    interval (median ± 1 sigma for a Gaussian posterior).

Examples
--------
>>> from photoz_numba.calibration import Estimate
>>> e = Estimate(median=1.2, lower=1.1, upper=1.35)
>>> e.median, round(e.upper - e.lower, 2)
(1.2, 0.25)
>>> median, lower, upper = e
>>> lower
1.1
"""

# Prior bounds (see fit_pull_mixture).
_MU_MAX = 10.0
_S_RANGE = (0.01, 100.0)
_F_MAX = 0.5
_OUTLIER_WIDTH_MIN_RATIO = 3.0
_OUTLIER_WIDTH_MAX = 1000.0
_PARAMS = ("mu", "s", "f", "outlier_width")


def _log_prior(theta):
    mu, log_s, f, log_w = theta.T
    ok = ((np.abs(mu) < _MU_MAX) & (log_s > math.log(_S_RANGE[0]))
          & (log_s < math.log(_S_RANGE[1])) & (f > 0) & (f < _F_MAX)
          & (log_w > log_s + math.log(_OUTLIER_WIDTH_MIN_RATIO))
          & (log_w < math.log(_OUTLIER_WIDTH_MAX)))
    # log S uniform on [log 3s, log 1000] given s: its density is 1 / width.
    width = math.log(_OUTLIER_WIDTH_MAX) - math.log(_OUTLIER_WIDTH_MIN_RATIO) - log_s
    return np.where(ok, -np.log(np.where(ok, width, 1.0)), -np.inf)


def _log_probability(theta, x):
    theta = np.atleast_2d(theta)
    prior = _log_prior(theta)
    out = np.full(theta.shape[0], -np.inf)
    ok = np.isfinite(prior)
    if ok.any():
        mu, log_s, f, log_w = (column[:, None] for column in theta[ok].T)
        d2 = (x[None, :] - mu) ** 2
        core = np.log1p(-f) - log_s - 0.5 * d2 * np.exp(-2 * log_s)
        broad = np.log(f) - log_w - 0.5 * d2 * np.exp(-2 * log_w)
        like = np.logaddexp(core, broad).sum(axis=1) - 0.5 * x.size * math.log(2 * math.pi)
        out[ok] = prior[ok] + like
    return out


class PullMixture:
    """Posterior of the mixture fit of the pulls (see `fit_pull_mixture`).

    Attributes
    ----------
    mu, s, f, outlier_width : `Estimate`
        Posterior median and 68 % interval (16th to 84th percentile) of
        the core's centre and width, the outlier fraction and the outlier
        component's width.
    samples : ndarray, shape (n, 4)
        Posterior samples after burn-in, columns as above.
    acceptance_fraction : float
        Mean acceptance fraction of the walkers (0.2 to 0.5 is healthy).
    autocorr_time : dict
        Integrated autocorrelation time of each parameter, in steps.
    n_walkers, n_steps, burn, n_points : int
        Chain shape, steps discarded, pulls fitted.
    converged : bool
        The kept chain is at least 50 autocorrelation times long.

    Examples
    --------
    Pulls with a core 1.3 wide and 10 % outliers, fitted with a chain far
    too short to be trusted (the default ``n_steps`` is 4000):

    >>> import warnings
    >>> import numpy as np
    >>> from photoz_numba.calibration import fit_pull_mixture
    >>> rng = np.random.default_rng(3)
    >>> outlier = rng.random(500) < 0.1
    >>> x = np.where(outlier, rng.normal(0, 8, 500), rng.normal(0, 1.3, 500))
    >>> with warnings.catch_warnings():  # a short chain, for speed: it warns
    ...     warnings.simplefilter("ignore")
    ...     fit = fit_pull_mixture(x, n_walkers=16, n_steps=300, random_state=1)
    >>> fit  # doctest: +NORMALIZE_WHITESPACE +ELLIPSIS
    <PullMixture of 500 pulls: mu = 0.00... [-0.0..., 0.0...]  s = 1.2... [1.1..., 1.2...]
      f = 0.0... [0.0..., 0.1...]  outlier width = ... [...]
      acceptance 0.4..., autocorrelation time ... steps, 225 kept x 16 walkers
      (TOO SHORT: < 50 autocorrelation times)>

    (The digits beyond these depend on the CPU: NumPy's vectorised
    functions round differently on different processors, and the chain
    amplifies it.)
    >>> print(f"s = {fit.s.median:.2f} [{fit.s.lower:.2f}, {fit.s.upper:.2f}]")
    s = 1.22 [1.18, 1.27]
    >>> fit.samples.shape, fit.converged
    ((3600, 4), False)
    """

    def __init__(self, samples, acceptance_fraction, autocorr_time, n_walkers, n_steps,
                 burn, n_points):
        self.samples = samples
        lower, median, upper = np.percentile(samples, [15.865, 50, 84.135], axis=0)
        for i, name in enumerate(_PARAMS):
            setattr(self, name, Estimate(float(median[i]), float(lower[i]), float(upper[i])))
        self.acceptance_fraction = float(acceptance_fraction)
        self.autocorr_time = dict(zip(_PARAMS, (float(t) for t in autocorr_time)))
        self.n_walkers, self.n_steps, self.burn = n_walkers, n_steps, burn
        self.n_points = n_points
        self.converged = bool(n_steps - burn >= 50 * max(self.autocorr_time.values()))

    def pdf(self, x):
        """The mixture density at the posterior medians.

        Parameters
        ----------
        x : array-like
            Pulls to evaluate the density at.

        Returns
        -------
        density : ndarray or float
            ``(1 - f) N(x; mu, s) + f N(x; mu, S)`` with the posterior
            medians of ``mu``, ``s``, ``f`` and ``S`` (``outlier_width``);
            of the shape of ``x``.

        Examples
        --------
        >>> import warnings
        >>> import numpy as np
        >>> from photoz_numba.calibration import fit_pull_mixture
        >>> rng = np.random.default_rng(3)
        >>> outlier = rng.random(500) < 0.1
        >>> x = np.where(outlier, rng.normal(0, 8, 500), rng.normal(0, 1.3, 500))
        >>> with warnings.catch_warnings():  # a short chain, for speed: it warns
        ...     warnings.simplefilter("ignore")
        ...     fit = fit_pull_mixture(x, n_walkers=16, n_steps=300, random_state=1)
        >>> fit.pdf([0.0, 1.0, 10.0]).round(1)
        array([0.3, 0.2, 0. ])
        """
        x = np.asarray(x, dtype=float)
        mu, s, f, w = self.mu.median, self.s.median, self.f.median, self.outlier_width.median
        return (1 - f) * stats.norm.pdf(x, mu, s) + f * stats.norm.pdf(x, mu, w)

    def _rows(self):
        return [("mixture_mu", self.mu, 0.0, "centre of the Gaussian core of the pulls"),
                ("mixture_s", self.s, 1.0, "width of the Gaussian core"),
                ("mixture_f", self.f, 0.0, "fraction in the broad outlier component"),
                ("mixture_outlier_width", self.outlier_width, np.nan,
                 "width of the outlier component")]

    def _diagnostics(self):
        return [("mixture_acceptance_fraction", self.acceptance_fraction,
                 "mean acceptance fraction of the walkers"),
                ("mixture_autocorr_time", max(self.autocorr_time.values()),
                 "largest integrated autocorrelation time (steps)"),
                ("mixture_chain_steps", float(self.n_steps - self.burn),
                 f"steps kept per walker ({self.n_walkers} walkers)")]

    def to_table(self):
        """Parameters with median, lower and upper; diagnostics in ``meta``.

        Returns
        -------
        table : `~astropy.table.Table`
            Four rows, ``mixture_mu``, ``mixture_s``, ``mixture_f`` and
            ``mixture_outlier_width``, with columns ``parameter``,
            ``median``, ``lower`` and ``upper`` (the 68 % interval);
            ``meta`` holds ``mixture_acceptance_fraction``,
            ``mixture_autocorr_time`` (the largest, in steps) and
            ``mixture_chain_steps`` (kept per walker).

        Examples
        --------
        >>> import warnings
        >>> import numpy as np
        >>> from photoz_numba.calibration import fit_pull_mixture
        >>> rng = np.random.default_rng(3)
        >>> outlier = rng.random(500) < 0.1
        >>> x = np.where(outlier, rng.normal(0, 8, 500), rng.normal(0, 1.3, 500))
        >>> with warnings.catch_warnings():  # a short chain, for speed: it warns
        ...     warnings.simplefilter("ignore")
        ...     fit = fit_pull_mixture(x, n_walkers=16, n_steps=300, random_state=1)
        >>> table = fit.to_table()
        >>> for row in table:
        ...     print(f"{row['parameter']:>21}: {row['median']:.1f} "
        ...           f"[{row['lower']:.1f}, {row['upper']:.1f}]")
                   mixture_mu: 0.0 [-0.1, 0.1]
                    mixture_s: 1.2 [1.2, 1.3]
                    mixture_f: 0.1 [0.1, 0.1]
        mixture_outlier_width: 9.2 [8.3, 10.2]
        >>> table.meta["mixture_chain_steps"]
        225.0
        """
        table = Table(rows=[(name, *estimate) for name, estimate, _, _ in self._rows()],
                      names=("parameter", "median", "lower", "upper"))
        table.meta.update({name: value for name, value, _ in self._diagnostics()})
        return table

    def __repr__(self):
        def show(name, e):
            return f"{name} = {e.median:.3f} [{e.lower:.3f}, {e.upper:.3f}]"
        return (f"<PullMixture of {self.n_points} pulls: {show('mu', self.mu)}  "
                f"{show('s', self.s)}\n  {show('f', self.f)}  "
                f"{show('outlier width', self.outlier_width)}\n  acceptance "
                f"{self.acceptance_fraction:.2f}, autocorrelation time "
                f"{max(self.autocorr_time.values()):.0f} steps, {self.n_steps - self.burn} "
                f"kept x {self.n_walkers} walkers"
                f"{'' if self.converged else ' (TOO SHORT: < 50 autocorrelation times)'}>")


def _start(x, rng, n_walkers):
    """Walkers around robust estimates, inside the prior."""
    mu = float(np.median(x))
    s = float(np.clip(NMAD_SCALE * np.median(np.abs(x - mu)), 0.02, 50))
    far = np.abs(x - mu) > 4 * s
    f = float(np.clip(far.mean(), 0.01, 0.4))
    width = float(np.std(x[far] - mu)) if far.sum() > 1 else 10 * s
    width = float(np.clip(width, 5 * s, 0.5 * _OUTLIER_WIDTH_MAX))
    centre = np.array([mu, math.log(s), f, math.log(width)])
    scatter = np.array([0.05 * s, 0.05, 0.1 * f, 0.1])
    p0 = centre + scatter * rng.standard_normal((n_walkers, 4))
    p0[:, 2] = np.clip(p0[:, 2], 1e-3, _F_MAX - 1e-3)
    return p0


def fit_pull_mixture(values, n_walkers=32, n_steps=4000, burn=None, random_state=None,
                     max_points=20_000):
    """Fit the pulls with a Gaussian core plus a broad outlier component (emcee).

    The model of a pull ``x`` is

        p(x) = (1 - f) N(x; mu, s) + f N(x; mu, S)

    a core of centre ``mu`` and width ``s`` (0 and 1 for right errors)
    and a fraction ``f`` of outliers in a Gaussian of the same centre and
    width ``S`` > 3 s. Priors: ``mu`` uniform on (-10, 10); ``s``
    log-uniform on (0.01, 100); ``f`` uniform on (0, 0.5), the outliers
    being the minority; ``S`` log-uniform on (3 s, 1000). The affine
    ensemble sampler of emcee (differential-evolution moves) runs
    ``n_walkers`` walkers for ``n_steps`` steps from robust starting
    values; the first ``burn`` are discarded. The integrated
    autocorrelation time is `emcee.EnsembleSampler.get_autocorr_time`
    (``tol=0``) of the kept chain.

    Parameters
    ----------
    values : array-like
        Finite pulls, at least 20.
    n_walkers : int, optional
        Walkers (at least 8).
    n_steps : int, optional
        Steps per walker. The integrated autocorrelation time is about 15
        steps with a clear outlier component and up to about 55 when
        there is none (``f`` near 0 mixes slowest): the default keeps
        3000 steps, enough for both.
    burn : int, optional
        Steps discarded as burn-in (default: a quarter of ``n_steps``).
    random_state : int or `numpy.random.Generator`, optional
        Seeds the starting values and the sampler: the same seed gives
        the same chain.
    max_points : int, optional
        Above this many pulls, a random subset of this size (drawn with
        ``random_state``) is fitted, so that the run time stays bounded;
        ``n_points`` of the result says how many.

    Returns
    -------
    fit : `PullMixture`

    Warns
    -----
    ShortChainWarning
        The kept chain is shorter than 50 integrated autocorrelation
        times: run more steps.

    Examples
    --------
    >>> import numpy as np
    >>> from photoz_numba.calibration import fit_pull_mixture
    >>> rng = np.random.default_rng(3)
    >>> outlier = rng.random(1000) < 0.1
    >>> x = np.where(outlier, rng.normal(-0.2, 8, 1000), rng.normal(-0.2, 1.3, 1000))
    >>> fit = fit_pull_mixture(x, n_steps=2000, random_state=1)
    >>> print(f"s = {fit.s.median:.2f} [{fit.s.lower:.2f}, {fit.s.upper:.2f}]")
    s = 1.34 [1.30, 1.38]
    >>> fit.converged, 0.2 < fit.acceptance_fraction < 0.7
    (True, True)
    """
    import emcee

    x = _finite_pulls(values)
    if x.size < 20:
        raise ValueError(f"the mixture fit needs at least 20 pulls, got {x.size}")
    n_walkers, n_steps = int(n_walkers), int(n_steps)
    if n_walkers < 8:
        raise ValueError(f"n_walkers must be >= 8 (2 x 4 parameters), not {n_walkers}")
    burn = n_steps // 4 if burn is None else int(burn)
    if not 0 <= burn < n_steps or n_steps - burn < 10:
        raise ValueError(f"need 0 <= burn < n_steps with at least 10 steps kept; got "
                         f"n_steps={n_steps}, burn={burn}")
    rng = np.random.default_rng(random_state)
    if x.size > max_points:
        x = rng.choice(x, size=int(max_points), replace=False)
    # Differential-evolution moves mix this posterior about three times
    # faster (autocorrelation ~15 steps) than the default stretch move.
    moves = [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]
    sampler = emcee.EnsembleSampler(n_walkers, 4, _log_probability, args=(x,),
                                    vectorize=True, moves=moves)
    sampler.random_state = np.random.RandomState(
        rng.integers(2 ** 32, dtype=np.uint64)).get_state()
    sampler.run_mcmc(_start(x, rng, n_walkers), n_steps, progress=False)
    tau = sampler.get_autocorr_time(discard=burn, tol=0)
    samples = sampler.get_chain(discard=burn, flat=True).copy()
    samples[:, 1] = np.exp(samples[:, 1])
    samples[:, 3] = np.exp(samples[:, 3])
    fit = PullMixture(samples, np.mean(sampler.acceptance_fraction), tau, n_walkers,
                      n_steps, burn, x.size)
    if not fit.converged:
        warnings.warn(f"the mixture chain keeps {n_steps - burn} steps, fewer than 50 "
                      f"autocorrelation times ({max(tau):.0f} steps): its intervals and "
                      f"autocorrelation time are not reliable; raise n_steps",
                      ShortChainWarning)
    return fit


# -- recalibration ------------------------------------------------------------------

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
        #: CV comparison of the forms, when chosen by `select`.
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
