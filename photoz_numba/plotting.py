# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Figures (matplotlib, an optional dependency: ``pip install photoz_numba[plot]``).

Each function draws into the Axes it is given (``ax=``; `plot_zphot_zspec`
a pair of them, ``axes=``), or into a new figure's, and returns them, as
matplotlib's own plotting functions do: titles, sizes and saving are the
caller's (``ax.figure.savefig(...)``). Axis labels name the error column
drawn (``errors=``), so that a figure says whether its errors are raw or
calibrated.
"""

import numpy as np

from .metrics import _read_redshifts, sigma_nmad

__all__ = ["plot_zphot_zspec", "plot_pulls", "plot_pit", "plot_coverage", "plot_pdf_pit",
           "plot_interval_coverage"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install "
                          "'photoz_numba[plot]'") from None
    return plt


def _axes(ax, figsize):
    """``ax``, or the Axes of a new figure of ``figsize``."""
    if ax is not None:
        return ax
    return _pyplot().subplots(figsize=figsize)[1]


def _error_name(errors):
    """How an axis label names the errors: ``errors`` or, by default,
    "z_phot_err"."""
    return errors or "z_phot_err"


def plot_zphot_zspec(z_spec, z_phot, z_phot_err, threshold=0.15, axes=None,
                     errors=None, ax=None):
    """The paper's Figure 1: z_phot against z_spec, and dz below.

    Points are coloured by ``z_phot_err``; outliers (``|dz| > threshold``)
    are drawn hollow. The top panel has the 1:1 line and the
    ``±threshold (1 + z)`` outlier bounds, the bottom panel ``dz =
    (z_phot - z_spec) / (1 + z_spec)`` with ``±threshold``.

    Parameters
    ----------
    z_spec, z_phot, z_phot_err : array-like
        One per galaxy, masked or not (`~photoz_numba.PhotoZModel.predict`'s
        columns as they are). Rows with no spectroscopic redshift
        (`~photoz_numba.metrics.no_redshift`) are left out with a
        `~photoz_numba.exceptions.PhotoZWarning`, as `~photoz_numba.metrics.evaluate`
        leaves them out; rows with no ``z_phot`` (masked or not finite:
        not predicted) are left out and counted on the top panel; rows
        with a ``z_phot`` but no ``z_phot_err`` (flagged ``no_error``) are
        drawn in grey.
    threshold : float, optional
        Outlier bound on ``|dz|``.
    axes : pair of `matplotlib.axes.Axes`, optional
        The top (z_phot) and bottom (dz) panels, sharing x; by default a
        new figure's.
    errors : str, optional
        What ``z_phot_err`` is, for the colour bar's label, e.g.
        ``"z_phot_err (calibrated)"`` or ``"z_phot_err_raw (raw RMS
        residual)"``; default ``"z_phot_err"``.
    ax : pair of `matplotlib.axes.Axes`, optional
        ``axes`` under the name the other plotting functions use (give
        one or the other).

    Returns
    -------
    axes : numpy array of two `matplotlib.axes.Axes`
        The top and bottom panels (the colour bar is beside them, in the
        same figure); the top panel is annotated with N, sigma_NMAD and the
        outlier percentage, the bottom one with the number of galaxies
        beyond its range.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    ValueError
        The three differ in length, or no row has both redshifts.

    Examples
    --------
    .. doctest-requires:: matplotlib

        >>> import os, tempfile
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> from photoz_numba.plotting import plot_zphot_zspec
        >>> rng = np.random.default_rng(0)
        >>> z_spec = rng.uniform(0.1, 6, 300)
        >>> z_phot = z_spec + 0.02 * (1 + z_spec) * rng.standard_normal(300)
        >>> z_phot[:6] += 1.5   # six outliers
        >>> z_phot_err = rng.uniform(0.01, 0.1, 300)
        >>> top, bottom = plot_zphot_zspec(z_spec, z_phot, z_phot_err)
        >>> print(top.texts[0].get_text())
        N = 300
        $\\sigma_\\mathrm{NMAD}$ = 0.0208
        outliers = 2.00 %
        >>> print(bottom.texts[0].get_text())
        3 beyond the panel
        >>> top.figure.savefig(os.path.join(tempfile.mkdtemp(), "zphot_zspec.png"))
        >>> plt.close(top.figure)
    """
    if ax is not None:
        if axes is not None:
            raise TypeError("give the two panels as ax= or as axes=, not both")
        axes = ax
    if axes is not None:
        axes = np.ravel(np.asarray(axes, dtype=object))    # a (2,), (1, 2) or (2, 1) array
        if axes.size != 2:
            raise ValueError("plot_zphot_zspec draws two panels: ax (or axes) must be a "
                             "pair of Axes (the z_phot and the dz panel)")
    plt = _pyplot()
    from matplotlib.colors import LogNorm
    z_spec, z_phot, z_err = _plotted_rows(z_spec, z_phot, z_phot_err)
    unpredicted = int(np.isnan(z_phot).sum())
    shown = ~np.isnan(z_phot)
    z_spec, z_phot, z_err = z_spec[shown], z_phot[shown], z_err[shown]
    dz = (z_phot - z_spec) / (1 + z_spec)
    outlier = np.abs(dz) > threshold
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(6, 7.5), sharex=True,
                               gridspec_kw={"height_ratios": [3, 1.2]})
    top, bottom = axes
    figure = top.figure
    z_max = max(z_spec.max(), z_phot.max()) * 1.03
    grid = np.linspace(0, z_max, 200)
    has_error = np.isfinite(z_err) & (z_err > 0)
    errors_shown = z_err[has_error] if has_error.any() else np.array([0.01, 0.1])
    norm = LogNorm(vmin=max(np.percentile(errors_shown, 1), 1e-4),
                   vmax=max(np.percentile(errors_shown, 99), 1.01e-4))
    dz_limit = 3 * threshold
    for axis, y in ((top, z_phot), (bottom, np.clip(dz, -dz_limit, dz_limit))):
        core = ~outlier & has_error
        points = axis.scatter(z_spec[core], y[core], c=z_err[core], s=6,
                              cmap="viridis", norm=norm, linewidths=0)
        axis.scatter(z_spec[~outlier & ~has_error], y[~outlier & ~has_error], s=6,
                     color="0.6", linewidths=0)
        edges = np.where(has_error[outlier, None],
                         plt.get_cmap("viridis")(norm(np.where(has_error, z_err, 1.0)[outlier])),
                         (0.6, 0.6, 0.6, 1.0))
        axis.scatter(z_spec[outlier], y[outlier], s=14, facecolors="none",
                     edgecolors=edges.reshape(-1, 4), linewidths=0.8)
    top.plot(grid, grid, color="k", lw=1)
    top.fill_between(grid, grid - threshold * (1 + grid), grid + threshold * (1 + grid),
                     color="tab:orange", alpha=0.15, lw=0)
    top.set(xlim=(0, z_max), ylim=(0, z_max), ylabel=r"$z_\mathrm{phot}$")
    bottom.axhline(0, color="k", lw=1)
    bottom.axhspan(-threshold, threshold, color="tab:orange", alpha=0.15, lw=0)
    # Galaxies beyond the panel are drawn at its edge, and counted.
    bottom.set(ylim=(-dz_limit * 1.05, dz_limit * 1.05), xlabel=r"$z_\mathrm{spec}$",
               ylabel=r"$\Delta z / (1 + z_\mathrm{spec})$")
    beyond = int((np.abs(dz) > dz_limit).sum())
    bottom.text(0.98, 0.06, f"{beyond} beyond the panel", transform=bottom.transAxes,
                ha="right", va="bottom", fontsize=8)
    figure.colorbar(points, ax=[top, bottom], shrink=0.8,
                    label=f"{_error_name(errors)} (colour; outliers hollow)")
    sigma = sigma_nmad(z_phot, z_spec)
    top.text(0.03, 0.97, f"N = {z_spec.size}\n$\\sigma_\\mathrm{{NMAD}}$ = {sigma:.4f}\n"
             f"outliers = {100 * outlier.mean():.2f} %"
             + (f"\n{unpredicted} not predicted, not shown" if unpredicted else ""),
             transform=top.transAxes, va="top", fontsize=9)
    return np.array([top, bottom])


def _plotted_rows(z_spec, z_phot, z_phot_err):
    """The three as float arrays of the rows with a spectroscopic redshift
    (saying how many have none, as `~photoz_numba.metrics.evaluate` does),
    NaN where ``z_phot`` or ``z_phot_err`` is masked or not finite."""
    def values(column):
        column = np.ma.asarray(getattr(column, "value", column), dtype=float)  # a Quantity's
        return np.ma.filled(np.ma.masked_invalid(column), np.nan)
    z_phot, z_err = values(z_phot), values(z_phot_err)
    z_spec_values = _read_redshifts(z_spec, "z_spec", stacklevel=4, then="are not shown")
    if not (z_spec_values.shape == z_phot.shape == z_err.shape):
        raise ValueError(f"z_spec, z_phot and z_phot_err must be one per galaxy, not of "
                         f"lengths {z_spec_values.size}, {z_phot.size} and {z_err.size}")
    keep = ~np.isnan(z_spec_values)
    if not (keep & ~np.isnan(z_phot)).any():
        raise ValueError(f"no row has both a spectroscopic redshift and a z_phot "
                         f"({keep.sum()} of {keep.size} have a z_spec, "
                         f"{(~np.isnan(z_phot)).sum()} a z_phot): nothing to plot")
    return z_spec_values[keep], z_phot[keep], z_err[keep]


def plot_pulls(report, pull_range=6.0, bins=60, ax=None, errors=None):
    """Histogram of the pulls with N(0, 1) and, if fitted, the mixture over it.

    Parameters
    ----------
    report : `~photoz_numba.calibration.CalibrationReport`
        The pulls, and their mixture fit if the report has one.
    pull_range : float, optional
        The histogram spans ``[-pull_range, pull_range]``; pulls beyond it
        are counted in the legend (and normalised with the rest).
    bins : int, optional
        Histogram bins.
    ax : `matplotlib.axes.Axes`, optional
        Where to draw; by default a new figure's.
    errors : str, optional
        The error column the pulls divide by, for the axis label, e.g.
        ``"z_phot_err_raw (raw)"``; default ``"z_phot_err"``.

    Returns
    -------
    ax : `matplotlib.axes.Axes`
        The pull histogram (as a density), N(0, 1), the mixture density if
        fitted, and the std, NMAD and coverage at 1 and 2 sigma on the
        right, below the legend's height; the legend above the curves, in
        the top left.

    Raises
    ------
    ImportError
        matplotlib is not installed.

    Examples
    --------
    Errors 1.2 times too small, with the mixture fit (a chain too short to
    be trusted, for speed):

    .. doctest-requires:: matplotlib

        >>> import os, tempfile
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from photoz_numba.calibration import calibration_report
        >>> from photoz_numba.datasets import toy_predictions
        >>> t = toy_predictions(500, error_scale=1.2)   # errors 1.2 times too small
        >>> import warnings
        >>> from photoz_numba.plotting import plot_pulls
        >>> with warnings.catch_warnings():  # the short chain warns
        ...     warnings.simplefilter("ignore")
        ...     report = calibration_report(t, mixture=True, random_state=0,
        ...                                 n_walkers=16, n_steps=300)
        >>> ax = plot_pulls(report)
        >>> for text in ax.get_legend().get_texts():
        ...     print(text.get_text())
        pulls (N = 500; 0 beyond ±6)
        N(0, 1)
        mixture: mu = 0.06, s = 1.23, f = 0.002
        >>> print(ax.texts[0].get_text())
        std 1.23
        NMAD 1.26
        |pull| < 1: 58.2 %
        |pull| < 2: 89.8 %
        >>> ax.figure.savefig(os.path.join(tempfile.mkdtemp(), "pulls.png"))
        >>> plt.close(ax.figure)
    """
    from scipy import stats
    values = np.asarray(report.pulls)
    edges = np.linspace(-pull_range, pull_range, bins + 1)
    width = edges[1] - edges[0]
    counts, _ = np.histogram(values, bins=edges)
    axis = _axes(ax, (6, 4.2))
    # Density of all pulls, so that the curves (normalised to 1) compare.
    axis.stairs(counts / (values.size * width), edges, fill=True, color="0.75",
                label=f"pulls (N = {values.size}; {int((np.abs(values) > pull_range).sum())}"
                      f" beyond ±{pull_range:g})")
    grid = np.linspace(-pull_range, pull_range, 400)
    axis.plot(grid, stats.norm.pdf(grid), color="k", lw=1.5, label="N(0, 1)")
    mixture = report.mixture
    if mixture is not None:
        axis.plot(grid, mixture.pdf(grid), color="tab:red", lw=1.5,
                  label=(f"mixture: mu = {mixture.mu.median:.2f}, s = {mixture.s.median:.2f}, "
                         f"f = {mixture.f.median:.3f}"))
    # Head room above the curves for the legend and the figures.
    top = max(counts.max() / (values.size * width), stats.norm.pdf(0.0))
    axis.set(xlabel=f"pull = (z_phot - z_spec) / {_error_name(errors)}",
             ylabel="density", xlim=(-pull_range, pull_range), ylim=(0, 1.5 * top))
    axis.legend(fontsize=8, loc="upper left", frameon=False)
    # The figures on the right, under the legend's height: clear of it in a
    # small panel too (in a very small one they reach the curves).
    axis.text(0.98, 0.62, f"std {report.std:.2f}\nNMAD {report.nmad:.2f}\n"
              f"|pull| < 1: {100 * report.coverage[1]:.1f} %\n"
              f"|pull| < 2: {100 * report.coverage[2]:.1f} %",
              transform=axis.transAxes, ha="right", va="top", fontsize=8)
    return axis


def plot_pit(report, ax=None, errors=None):
    """Histogram of the PIT values against the uniform density.

    A U shape means errors too small, a hump errors too large, a slope a
    bias.

    Parameters
    ----------
    report : `~photoz_numba.calibration.CalibrationReport`
        Its PIT histogram (``pit_edges``, ``pit_counts``) is drawn.
    ax : `matplotlib.axes.Axes`, optional
        Where to draw; by default a new figure's.
    errors : str, optional
        The error column of the PIT's normal, for the axis label; default
        ``"z_phot_err"``.

    Returns
    -------
    ax : `matplotlib.axes.Axes`
        The PIT density, the uniform density with its 1-sigma Poisson band,
        and the chi-square of the histogram; the legend above the bars.

    Raises
    ------
    ImportError
        matplotlib is not installed.

    Examples
    --------
    Errors 1.2 times too small give a U shape:

    .. doctest-requires:: matplotlib

        >>> import os, tempfile
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from photoz_numba.calibration import calibration_report
        >>> from photoz_numba.datasets import toy_predictions
        >>> t = toy_predictions(500, error_scale=1.2)   # errors 1.2 times too small
        >>> from photoz_numba.plotting import plot_pit
        >>> report = calibration_report(t)
        >>> report.pit_counts
        array([80, 51, 45, 51, 36, 43, 30, 45, 49, 70])
        >>> ax = plot_pit(report)
        >>> print(ax.texts[0].get_text())
        chi2 = 40 (9 dof)
        >>> ax.figure.savefig(os.path.join(tempfile.mkdtemp(), "pit.png"))
        >>> plt.close(ax.figure)
    """
    edges, counts = report.pit_edges, report.pit_counts
    density = counts / (counts.sum() * np.diff(edges))
    axis = _axes(ax, (6, 4.2))
    axis.stairs(density, edges, fill=True, color="0.75", label="PIT")
    expected = counts.sum() / counts.size
    # 1-sigma Poisson band of a uniform histogram.
    band = np.sqrt(expected) / expected
    axis.axhspan(1 - band, 1 + band, color="tab:blue", alpha=0.2, lw=0,
                 label="uniform ± 1 sigma")
    axis.axhline(1, color="k", lw=1.5)
    axis.set(xlabel=f"PIT = CDF of N(z_phot, {_error_name(errors)}) at z_spec",
             ylabel="density", xlim=(0, 1),
             ylim=(0, 1.35 * max(1.5, density.max(), 1 + band)))
    # One column: narrow enough to leave the right corner to the chi-square
    # in a small panel too.
    axis.legend(fontsize=8, loc="upper left", ncol=1, frameon=False)
    axis.text(0.98, 0.97, f"chi2 = {report.pit_chi2:.0f} ({counts.size - 1} dof)",
              transform=axis.transAxes, ha="right", va="top", fontsize=8)
    return axis


def plot_coverage(reports, labels=None, ax=None):
    """Coverage curve: the fraction of galaxies within the nominal interval.

    For a nominal coverage p, the empirical one is the fraction of
    ``|pull| < Phi^-1((1 + p) / 2)``; right errors follow the diagonal,
    errors too small fall below it.

    Parameters
    ----------
    reports : `~photoz_numba.calibration.CalibrationReport` or list of them
        E.g. before and after recalibration.
    labels : list of str, optional
        One per report: say which errors each is, e.g. ``"raw
        (z_phot_err_raw)"`` and ``"calibrated (z_phot_err)"``.
    ax : `matplotlib.axes.Axes`, optional
        Where to draw; by default a new figure's.

    Returns
    -------
    ax : `matplotlib.axes.Axes`
        The diagonal, one curve per report, and dotted lines at the nominal
        1 and 2 sigma coverage, labelled "68.3 % (1 sigma)" and "95.4 % (2
        sigma)"; the legend below the panel, off the curves.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    ValueError
        ``labels`` is not one per report.

    Examples
    --------
    Errors 1.2 times too small, before and after scaling them by 1.2:

    .. doctest-requires:: matplotlib

        >>> import os, tempfile
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> from photoz_numba.calibration import calibration_report
        >>> from photoz_numba.datasets import toy_predictions
        >>> t = toy_predictions(500, error_scale=1.2)   # errors 1.2 times too small
        >>> from photoz_numba.plotting import plot_coverage
        >>> before = calibration_report(t)
        >>> t["z_phot_err"] = 1.2 * t["z_phot_err"]
        >>> after = calibration_report(t)
        >>> ax = plot_coverage([before, after], labels=["raw", "x 1.2"])
        >>> for line in ax.get_lines()[:3]:
        ...     nominal, empirical = line.get_data()
        ...     print(f"{line.get_label()}: {np.interp(0.6827, nominal, empirical):.3f}")
        ideal: N(0, 1) pulls: 0.683
        raw: 0.581
        x 1.2: 0.664
        >>> [text.get_text() for text in ax.texts]
        ['68.3 % (1 sigma)', '95.4 % (2 sigma)']
        >>> ax.figure.savefig(os.path.join(tempfile.mkdtemp(), "coverage.png"))
        >>> plt.close(ax.figure)
    """
    from scipy import special
    if not isinstance(reports, (list, tuple)):
        reports = [reports]
    if isinstance(labels, str):
        labels = [labels]
    if labels is None:
        labels = [None] * len(reports)
    elif len(labels) != len(reports):
        raise ValueError(f"labels must be one per report: {len(reports)} report(s), "
                         f"{len(labels)} label(s) {list(labels)!r}")
    nominal = np.linspace(0, 1, 201)
    limits = np.sqrt(2) * special.erfinv(nominal)
    axis = _axes(ax, (4.8, 5.6))
    axis.plot([0, 1], [0, 1], color="k", lw=1, label="ideal: N(0, 1) pulls")
    for report, label in zip(reports, labels):
        magnitudes = np.sort(np.abs(report.pulls))
        empirical = np.searchsorted(magnitudes, limits, side="left") / magnitudes.size
        axis.plot(nominal, empirical, lw=1.8, label=label)
    for p, name in ((0.6827, "68.3 % (1 sigma)"), (0.9545, "95.4 % (2 sigma)")):
        axis.axvline(p, color="0.6", lw=0.8, ls=":")
        axis.text(p - 0.01, 0.02, name, rotation=90, ha="right", va="bottom", fontsize=7,
                  color="0.4")
    axis.set(xlabel="nominal coverage", ylabel="empirical coverage", xlim=(0, 1),
             ylim=(0, 1), aspect="equal")
    axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    return axis


def plot_pdf_pit(report, ax=None):
    """PIT histogram of p(z) (a `~photoz_numba.calibration.PdfReport`) with
    the 95 % band of a uniform PIT: bins outside it show miscalibration (a
    U shape p(z) too narrow, a hump too wide, a slope a bias).

    Parameters
    ----------
    report : `~photoz_numba.calibration.PdfReport`
    ax : `matplotlib.axes.Axes`, optional
        Where to draw (default: a new figure).

    Returns
    -------
    ax : `matplotlib.axes.Axes`

    Examples
    --------
    >>> import numpy as np
    >>> from photoz_numba.calibration import pdf_report
    >>> from photoz_numba.plotting import plot_pdf_pit
    >>> ax = plot_pdf_pit(pdf_report(np.random.default_rng(0).uniform(size=2000)))
    >>> ax.get_xlabel()
    'PIT = P(Z <= z_true) under p(z)'
    """
    plt = _pyplot()
    if ax is None:
        ax = plt.subplots(figsize=(5.5, 4))[1]
    width = np.diff(report.bin_edges)
    expected = report.n * width
    ax.fill_between(report.bin_edges, report.band[0] / expected[0],
                    report.band[1] / expected[0], color="0.85", lw=0,
                    label="95 % band of a uniform PIT")
    ax.stairs(report.counts / expected, report.bin_edges, color="tab:blue", lw=1.5,
              label=f"PIT of {report.n} galaxies"
              + (" (from percentiles)" if report.approximate else ""))
    ax.axhline(1.0, color="k", lw=0.8)
    top = max(1.5, 1.15 * float(np.max(report.counts / expected)))
    ax.set(xlim=(0, 1), ylim=(0, top), xlabel="PIT = P(Z <= z_true) under p(z)",
           ylabel="density")
    ax.legend(loc="upper center", fontsize=8, frameon=False, ncol=1)
    return ax


def plot_interval_coverage(report, ax=None):
    """Coverage of the central intervals of p(z) at every level (a
    `~photoz_numba.calibration.PdfReport`), against the diagonal of a
    calibrated p(z); the 68.3 % and 95.4 % levels marked.

    Parameters
    ----------
    report : `~photoz_numba.calibration.PdfReport`
    ax : `matplotlib.axes.Axes`, optional
        Where to draw (default: a new figure).

    Returns
    -------
    ax : `matplotlib.axes.Axes`
    """
    plt = _pyplot()
    if ax is None:
        ax = plt.subplots(figsize=(4.5, 4.5))[1]
    ax.plot([0, 1], [0, 1], color="k", lw=0.8, label="calibrated")
    ax.plot(report.levels, report.coverage, "o-", color="tab:blue", ms=3,
            label="p(z) central intervals")
    for level, text in ((0.683, "68.3 %"), (0.954, "95.4 %")):
        ax.axvline(level, color="0.6", ls=":", lw=0.8)
        ax.text(level, 0.02, text, rotation=90, va="bottom", ha="right", fontsize=8,
                color="0.4")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="nominal level of the central interval",
           ylabel="fraction of true redshifts inside")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return ax
