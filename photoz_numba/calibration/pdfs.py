# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Is a p(z) calibrated? The PIT histogram against the uniform distribution
(with its 95 % band), the coverage of central intervals at every level,
the PIT's Kolmogorov-Smirnov distance and the CDE loss.

The PIT values come from `~photoz_numba.PhotoZModel.cdf` (exact) or, for a
predictions file, from its percentile columns (`pit_from_percentiles`:
exact at the percentiles' own levels, interpolated between them).
"""

import numpy as np
from astropy.table import Table
from scipy import stats

from ..metrics import redshift_values
from ..pdf import central_coverage, pit_ks
from ..schema import PERCENTILES

__all__ = ["PdfReport", "pdf_report", "pit_from_percentiles", "COVERAGE_LEVELS"]

#: Levels of the central intervals whose coverage `pdf_report` measures:
#: every 5 %, and the 1 and 2 sigma levels of a Gaussian (68.27 and 95.45 %).
COVERAGE_LEVELS = np.union1d(np.round(np.arange(0.05, 0.951, 0.05), 2), [0.6827, 0.9545])


def pit_from_percentiles(table, z_spec="zspec"):
    """PIT values from the percentile columns of a predictions table.

    The CDF is taken piecewise linear through the five percentiles
    (`photoz_numba.schema.PERCENTILES`), extended beyond the outer ones
    with the slope of the segment next to them down to 0 and up to 1.
    Coverage of [z_phot_160, z_phot_840] and [z_phot_025, z_phot_975] is
    exact from it; other levels are interpolated.

    Parameters
    ----------
    table : `~astropy.table.Table`
        With the percentile columns and the true redshifts.
    z_spec : str, optional
        The true redshift column.

    Returns
    -------
    pit : ndarray
        One value per row, NaN where a percentile is masked or not finite
        or ``z_spec`` is no redshift (`photoz_numba.metrics.no_redshift`).

    Examples
    --------
    >>> from astropy.table import Table
    >>> from photoz_numba.calibration import pit_from_percentiles
    >>> table = Table({"zspec": [1.0, 1.2], "z_phot_025": [0.8, 0.8],
    ...                "z_phot_160": [0.9, 0.9], "z_phot_500": [1.0, 1.0],
    ...                "z_phot_840": [1.1, 1.1], "z_phot_975": [1.2, 1.2]})
    >>> pit_from_percentiles(table).tolist()
    [0.5, 0.975]
    """
    missing = [name for name, _ in PERCENTILES if name not in table.colnames]
    if missing:
        raise KeyError(f"the table has no percentile column(s) {missing}")
    if z_spec not in table.colnames:
        raise KeyError(f"redshift column {z_spec!r} is not in the table")
    knots = np.column_stack([np.ma.filled(np.ma.asarray(table[name], dtype=float), np.nan)
                             for name, _ in PERCENTILES])
    levels = np.array([probability for _, probability in PERCENTILES])
    first = knots[:, 0] - levels[0] * (knots[:, 1] - knots[:, 0]) / (levels[1] - levels[0])
    last = knots[:, -1] + (1 - levels[-1]) * (knots[:, -1] - knots[:, -2]) / (
        levels[-1] - levels[-2])
    knots = np.column_stack([first, knots, last])
    levels = np.concatenate([[0.0], levels, [1.0]])
    truth = redshift_values(table[z_spec])      # NaN for a sentinel such as 99: no PIT
    pit = np.full(len(table), np.nan)
    ok = np.isfinite(knots).all(axis=1) & np.isfinite(truth)
    for row in np.flatnonzero(ok):
        pit[row] = np.interp(truth[row], knots[row], levels)
    return pit


class PdfReport:
    """The calibration of a set of p(z): see `pdf_report`.

    Attributes
    ----------
    n : int
        Galaxies with a PIT value.
    bin_edges, counts : ndarray
        The PIT histogram.
    band : tuple of float
        The central 95 % range of a bin's count for a uniform PIT.
    levels, coverage : ndarray
        Nominal levels of central intervals and the fraction of galaxies
        whose true redshift lies in theirs.
    ks : float
        The PIT's Kolmogorov-Smirnov distance from uniform.
    cde_loss : float or None
        The CDE loss (Izbicki & Lee 2017), when it was given.
    approximate : bool
        Whether the PIT values were interpolated between percentiles.
    """

    def __init__(self, pit, cde_loss=None, bins=10, approximate=False):
        pit = np.asarray(pit, dtype=float)
        pit = pit[np.isfinite(pit)]
        if pit.size == 0:
            raise ValueError("no finite PIT values to report on")
        self.n = int(pit.size)
        self.counts, self.bin_edges = np.histogram(pit, bins=bins, range=(0.0, 1.0))
        self.band = tuple(float(v) for v in stats.binom.ppf([0.025, 0.975], self.n,
                                                            1.0 / bins))
        self.levels = COVERAGE_LEVELS
        self.coverage = np.array([central_coverage(pit, level) for level in self.levels])
        self.ks = pit_ks(pit)
        self.cde_loss = None if cde_loss is None else float(cde_loss)
        self.approximate = bool(approximate)

    def to_table(self):
        """The coverage at every level, with the histogram and figures in
        its ``meta``."""
        table = Table({"level": self.levels, "coverage": self.coverage})
        table.meta.update({"n": self.n, "pit_ks": self.ks, "cde_loss": self.cde_loss,
                           "pit_counts": self.counts.tolist(), "pit_band": list(self.band),
                           "approximate": self.approximate})
        return table

    def __repr__(self):
        source = " (PIT from percentiles)" if self.approximate else ""
        lines = [f"<PdfReport of {self.n} p(z){source}"]
        for level in (0.6827, 0.9545):
            index = int(np.argmin(np.abs(self.levels - level)))
            lines.append(f"  {100 * self.levels[index]:.2f} % intervals hold "
                         f"{100 * self.coverage[index]:.2f} %")
        inside = ((self.counts >= self.band[0]) & (self.counts <= self.band[1])).sum()
        lines.append(f"  PIT: KS distance {self.ks:.4f}; {inside} of {self.counts.size} bins "
                     f"within the uniform's 95 % band [{self.band[0]:.0f}, {self.band[1]:.0f}]")
        lines.append("  CDE loss " + ("not measured (needs the model's p(z))"
                                      if self.cde_loss is None else f"{self.cde_loss:.3f}"))
        return "\n".join(lines) + ">"


def pdf_report(pit, cde_loss=None, bins=10, approximate=False):
    """Calibration figures of p(z) from their PIT values.

    Parameters
    ----------
    pit : array-like
        P(Z <= z_true) of each galaxy (`~photoz_numba.PhotoZModel.cdf`, or
        `pit_from_percentiles`); NaN values are left out.
    cde_loss : float, optional
        The CDE loss, if measured (`~photoz_numba.PhotoZModel.cde_loss`).
    bins : int, optional
        Bins of the PIT histogram.
    approximate : bool, optional
        Say that the PIT values were interpolated between percentiles.

    Returns
    -------
    report : `PdfReport`

    Examples
    --------
    >>> import numpy as np
    >>> from photoz_numba.calibration import pdf_report
    >>> report = pdf_report(np.random.default_rng(0).uniform(size=5000))
    >>> print(f"{report.coverage[report.levels == 0.7][0]:.2f}, KS {report.ks:.3f}")
    0.70, KS 0.010
    """
    return PdfReport(pit, cde_loss=cde_loss, bins=bins, approximate=approximate)
