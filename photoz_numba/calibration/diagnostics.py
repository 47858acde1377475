# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
How far the pulls ``(z_phot - z_spec) / z_phot_err`` are from N(0, 1).

If ``z_phot_err`` were the standard deviation of a Gaussian error, the
pulls would follow N(0, 1): `pulls` computes them from a table of
predictions, and `calibration_report` measures how far they are from it
(moments, robust width, coverage at 1, 2 and 3 sigma, Kolmogorov-Smirnov
and Anderson-Darling tests, PIT histogram), with the mixture fit of
``photoz_numba.calibration.mixture`` when asked for. `GAUSSIAN_COVERAGE`
is the coverage a Gaussian error gives.

Rows are handled so that none is dropped silently:

- rows whose ``z_spec`` is no redshift (masked, not finite, or a
  sentinel such as 99 or -99: `photoz_numba.metrics.no_redshift`) are
  skipped, counted (``n_no_redshift``) and warned of;
- rows with a masked (or NaN) ``z_phot`` -- the galaxies the model could
  not predict -- are skipped and counted (``n_unpredicted``);
- rows with a ``z_phot_err`` that is <= 0, NaN, infinite or masked while
  ``z_phot`` is not are *invalid*: an error by default, or skipped and
  counted (``n_invalid``) with ``invalid='skip'``;
- outliers are kept: every statistic is computed on all the remaining
  pulls, however large. The NMAD width and the mixture fit are the
  figures that outliers do not drag.
"""

import math

import numpy as np
from astropy.table import Table
from scipy import special, stats

from ..metrics import NMAD_SCALE, _read_redshifts
from .mixture import _finite_pulls, fit_pull_mixture

__all__ = ["GAUSSIAN_COVERAGE", "pulls", "anderson_darling_normal", "calibration_report",
           "CalibrationReport"]

#: Fraction of a Gaussian within 1, 2 and 3 sigma of its mean.
GAUSSIAN_COVERAGE = {k: math.erf(k / math.sqrt(2)) for k in (1, 2, 3)}


# -- pulls ------------------------------------------------------------------------

def _column(table, name, role):
    if not isinstance(name, str):
        # Its type, not its values (a Column's repr shows them all).
        named = getattr(name, "name", None)
        raise TypeError(f"{role} must be a column name (str), not {type(name).__name__}"
                        + (f": pass {role}={named!r}" if isinstance(named, str) else ""))
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
        or masked (while ``z_phot`` is given): raise `ValueError` naming
        the column, or skip them and count them. Rows whose ``z_spec`` is
        no redshift are always skipped, counted and warned of.

    Returns
    -------
    values : ndarray
        The pulls of the usable rows, in table order.
    counts : dict
        ``n_rows``; ``n_no_redshift``, rows skipped because ``z_spec``
        is no redshift; ``n_unpredicted``, rows skipped because ``z_phot``
        is masked or NaN (no prediction); ``n_invalid``, rows skipped
        under ``invalid='skip'``; ``n_used``.

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
    has_z = ~np.isnan(_read_redshifts(table[z_spec], z_spec))
    unpredicted = has_z & (phot_mask | np.isnan(phot))
    skipped = ~has_z | unpredicted
    bad_err = ~skipped & (err_mask | ~np.isfinite(err) | ~(err > 0))
    bad_phot = ~skipped & ~np.isfinite(phot)
    if invalid == "raise":
        for bad, name, role, what in (
                (bad_phot, z_phot, "z_phot", "infinite"),
                (bad_err, z_phot_err, "z_phot_err", "<= 0, NaN, infinite or masked")):
            if bad.any():
                rows = np.flatnonzero(bad)
                raise ValueError(
                    f"{role} column {name!r} has {rows.size} value(s) {what} (first "
                    f"at row {rows[0]}: {table[name][rows[0]]}); pass invalid='skip' to "
                    f"leave those rows out (they are counted)")
    invalid_rows = bad_err | bad_phot
    usable = ~skipped & ~invalid_rows
    counts = {"n_rows": len(table), "n_no_redshift": int((~has_z).sum()),
              "n_unpredicted": int(unpredicted.sum()),
              "n_invalid": int(invalid_rows.sum()), "n_used": int(usable.sum())}
    if not usable.any():
        raise ValueError(f"no row of the {len(table)} has a usable {z_phot!r}, "
                         f"{z_phot_err!r} and {z_spec!r} ({counts['n_no_redshift']} "
                         f"with no redshift, {counts['n_unpredicted']} unpredicted, "
                         f"{counts['n_invalid']} invalid)")
    return (phot[usable] - spec[usable]) / err[usable], counts


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
    n, n_rows, n_no_redshift, n_unpredicted, n_invalid : int
        Pulls used; rows in the table; rows skipped for no spectroscopic
        redshift, for a masked prediction, and as invalid.
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
    <CalibrationReport of 500 pulls (of 500 rows; skipped 0 with no redshift, 0 unpredicted, 0 invalid)
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
        self.n_no_redshift = counts.get("n_no_redshift", 0)
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
            ``n_no_redshift``, ``n_unpredicted``, ``n_invalid`` and ``column_z_spec``,
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
                           "n_no_redshift": self.n_no_redshift,
                           "n_unpredicted": self.n_unpredicted, "n_invalid": self.n_invalid,
                           **{f"column_{role}": name for role, name in self.columns.items()}})
        return table

    def __repr__(self):
        lines = [f"<CalibrationReport of {self.n} pulls (of {self.n_rows} rows; skipped "
                 f"{self.n_no_redshift} with no redshift, {self.n_unpredicted} "
                 f"unpredicted, {self.n_invalid} invalid)",
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
