# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Figures (matplotlib, an optional dependency: ``pip install photoz_numba[plot]``).
"""

import numpy as np

__all__ = ["plot_zphot_zspec"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install "
                          "'photoz_numba[plot]'") from None
    return plt


def plot_zphot_zspec(z_spec, z_phot, z_phot_err, threshold=0.15, title=None):
    """The paper's Figure 1: z_phot against z_spec, and dz below.

    Points are coloured by ``z_phot_err``; outliers (``|dz| > threshold``)
    are drawn hollow. The top panel has the 1:1 line and the
    ``±threshold (1 + z)`` outlier bounds, the bottom panel ``dz =
    (z_phot - z_spec) / (1 + z_spec)`` with ``±threshold``.

    Parameters
    ----------
    z_spec, z_phot, z_phot_err : array-like
        Finite values, one per galaxy.
    threshold : float, optional
        Outlier bound on ``|dz|``.
    title : str, optional
        Figure title.

    Returns
    -------
    figure : `matplotlib.figure.Figure`
        Two panels and a colour bar; the top panel is annotated with N,
        sigma_NMAD and the outlier percentage.

    Raises
    ------
    ImportError
        matplotlib is not installed.

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
        >>> figure = plot_zphot_zspec(z_spec, z_phot, z_phot_err, title="synthetic")
        >>> print(figure.axes[0].texts[0].get_text())
        N = 300
        $\\sigma_\\mathrm{NMAD}$ = 0.0208
        outliers = 2.00 %
        >>> figure.savefig(os.path.join(tempfile.mkdtemp(), "zphot_zspec.png"))
        >>> plt.close(figure)
    """
    plt = _pyplot()
    from matplotlib.colors import LogNorm
    z_spec, z_phot, z_err = (np.asarray(v, dtype=float) for v in (z_spec, z_phot, z_phot_err))
    dz = (z_phot - z_spec) / (1 + z_spec)
    outlier = np.abs(dz) > threshold
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(6, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    z_max = max(z_spec.max(), z_phot.max()) * 1.03
    grid = np.linspace(0, z_max, 200)
    norm = LogNorm(vmin=max(np.percentile(z_err, 1), 1e-4), vmax=np.percentile(z_err, 99))
    for axis, y in ((top, z_phot), (bottom, dz)):
        points = axis.scatter(z_spec[~outlier], y[~outlier], c=z_err[~outlier], s=6,
                              cmap="viridis", norm=norm, linewidths=0)
        axis.scatter(z_spec[outlier], y[outlier], s=14, facecolors="none",
                     edgecolors=plt.get_cmap("viridis")(norm(z_err[outlier])),
                     linewidths=0.8)
    top.plot(grid, grid, color="k", lw=1)
    top.fill_between(grid, grid - threshold * (1 + grid), grid + threshold * (1 + grid),
                     color="tab:orange", alpha=0.15, lw=0)
    top.set(xlim=(0, z_max), ylim=(0, z_max), ylabel=r"$z_\mathrm{phot}$")
    bottom.axhline(0, color="k", lw=1)
    bottom.axhspan(-threshold, threshold, color="tab:orange", alpha=0.15, lw=0)
    bottom.set(ylim=(-3 * threshold, 3 * threshold), xlabel=r"$z_\mathrm{spec}$",
               ylabel=r"$\Delta z / (1 + z_\mathrm{spec})$")
    figure.colorbar(points, ax=[top, bottom], label=r"$z_\mathrm{phot}$ error", shrink=0.8)
    sigma = 1.4826 * np.median(np.abs(dz - np.median(dz)))
    top.text(0.03, 0.97, f"N = {z_spec.size}\n$\\sigma_\\mathrm{{NMAD}}$ = {sigma:.4f}\n"
             f"outliers = {100 * outlier.mean():.2f} %", transform=top.transAxes,
             va="top", fontsize=9)
    if title:
        top.set_title(title)
    return figure
