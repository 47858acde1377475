"""
Metrics of the peer comparison, in plain NumPy, the same for every code:
point accuracy, interval coverage, the PIT and its Kolmogorov-Smirnov
distance from uniform, the CDE loss on a redshift grid and a table per
redshift bin.

A p(z) here is an (n_rows, n_grid) array of densities per unit redshift
on an increasing grid; `normalise` makes each row integrate to 1 on it.
"""

import numpy as np

__all__ = ["OUTLIER", "Z_BINS", "point_metrics", "normalise", "gaussian_pdf",
           "cdf_on_grid", "pit_from_pdf", "quantiles_from_pdf", "coverage",
           "ks_uniform", "ks_uniform_expected", "cde_loss", "in_bin", "per_bin_table"]

#: |dz| / (1 + z) above which a galaxy is an outlier.
OUTLIER = 0.15
#: Edges of the spectroscopic-redshift bins of the per-bin table.
Z_BINS = (0, 1, 2, 3, 4, 5, 6, 7)


def _dz(z_phot, z_true):
    """(z_phot - z_true) / (1 + z_true)."""
    z_true = np.asarray(z_true, dtype=float)
    return (np.asarray(z_phot, dtype=float) - z_true) / (1 + z_true)


def point_metrics(z_phot, z_true):
    """sigma_NMAD (1.48 median |dz - median dz|), outlier fraction
    (|dz| > `OUTLIER`) and median of dz = (z_phot - z_true) / (1 + z_true),
    as a dict; NaN for no galaxies."""
    dz = _dz(z_phot, z_true)
    if dz.size == 0:
        return {"sigma_nmad": np.nan, "outlier_fraction": np.nan, "median_dz": np.nan}
    median = np.median(dz)
    return {"sigma_nmad": float(1.4826 * np.median(np.abs(dz - median))),
            "outlier_fraction": float(np.mean(np.abs(dz) > OUTLIER)),
            "median_dz": float(median)}


def normalise(pdf, z_grid):
    """Each row of ``pdf`` divided by its trapezoidal integral over
    ``z_grid`` (negative densities set to 0 first); a row that integrates
    to 0 becomes uniform on the grid."""
    pdf = np.clip(np.asarray(pdf, dtype=float), 0, None)
    z_grid = np.asarray(z_grid, dtype=float)
    norm = np.trapezoid(pdf, z_grid, axis=1)
    empty = ~(norm > 0)
    pdf[empty] = 1.0
    norm[empty] = z_grid[-1] - z_grid[0]
    return pdf / norm[:, None]


def gaussian_pdf(mean, sigma, z_grid):
    """The Gaussian N(mean, sigma) of each row on ``z_grid``, normalised on
    the grid (`normalise`): the p(z) a point estimate with one error
    stands for. Each density is the Gaussian's mean over the grid cell
    around the point (a difference of its CDF over the cell's width), so
    that a sigma below the grid step still integrates to 1 at the right
    place."""
    mean = np.asarray(mean, dtype=float)[:, None]
    sigma = np.asarray(sigma, dtype=float)[:, None]
    z_grid = np.asarray(z_grid, dtype=float)
    mid = 0.5 * (z_grid[1:] + z_grid[:-1])
    edges = np.concatenate([[z_grid[0]], mid, [z_grid[-1]]])
    cdf = 0.5 * (1 + _erf((edges[None, :] - mean) / (np.sqrt(2) * sigma)))
    pdf = np.diff(cdf, axis=1) / np.diff(edges)
    return normalise(pdf, z_grid)


def _erf(x):
    """The error function, vectorised: the Chebyshev fit of erfc of
    Numerical Recipes (``erfcc``), fractional error below 1.2e-7."""
    x = np.asarray(x, dtype=float)
    t = 1.0 / (1.0 + 0.5 * np.abs(x))
    poly = (-1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277)))))))))
    erfc = t * np.exp(-x * x + poly)
    return np.where(x >= 0, 1 - erfc, erfc - 1)


def cdf_on_grid(pdf, z_grid):
    """The cumulative trapezoidal integral of each row of ``pdf`` over
    ``z_grid``: P(Z <= z_grid[j]), from 0 to (for a normalised p(z)) 1."""
    pdf = np.asarray(pdf, dtype=float)
    z_grid = np.asarray(z_grid, dtype=float)
    steps = 0.5 * (pdf[:, 1:] + pdf[:, :-1]) * np.diff(z_grid)[None, :]
    return np.concatenate([np.zeros((len(pdf), 1)), np.cumsum(steps, axis=1)], axis=1)


def pit_from_pdf(pdf, z_grid, z_true):
    """The probability integral transform P(Z <= z_true) of each row,
    interpolated linearly in the CDF on the grid (0 below it, 1 above)."""
    cdf = cdf_on_grid(pdf, z_grid)
    z_true = np.asarray(z_true, dtype=float)
    return np.array([np.interp(z, z_grid, row, left=0.0, right=row[-1])
                     for z, row in zip(z_true, cdf)])


def quantiles_from_pdf(pdf, z_grid, levels):
    """The redshifts at which each row's CDF reaches each of ``levels``
    (an (n_rows, n_levels) array), by linear interpolation in the CDF."""
    cdf = cdf_on_grid(pdf, z_grid)
    levels = np.asarray(levels, dtype=float)
    out = np.empty((len(cdf), levels.size))
    for i, row in enumerate(cdf):
        row = row / row[-1]
        # np.interp needs an increasing abscissa: drop flat stretches.
        keep = np.concatenate([[True], np.diff(row) > 0])
        out[i] = np.interp(levels, row[keep], z_grid[keep])
    return out


def coverage(z_true, low, high):
    """Fraction of rows with low <= z_true <= high."""
    z_true = np.asarray(z_true, dtype=float)
    return float(np.mean((z_true >= np.asarray(low)) & (z_true <= np.asarray(high))))


def ks_uniform(pit):
    """Kolmogorov-Smirnov distance between the empirical distribution of
    ``pit`` (values in [0, 1]) and the uniform distribution: the largest
    gap between the two CDFs."""
    pit = np.sort(np.clip(np.asarray(pit, dtype=float), 0, 1))
    n = pit.size
    if n == 0:
        return np.nan
    above = np.arange(1, n + 1) / n - pit
    below = pit - np.arange(n) / n
    return float(max(above.max(), below.max()))


def ks_uniform_expected(n, draws=4000, seed=0):
    """The mean `ks_uniform` of ``n`` values drawn from the uniform
    distribution (``draws`` Monte Carlo samples): the distance a perfectly
    calibrated p(z) scores on ``n`` galaxies through sampling noise alone
    (about 0.8687 / sqrt(n) for large n)."""
    rng = np.random.default_rng(seed)
    return float(np.mean([ks_uniform(rng.uniform(size=n)) for _ in range(draws)]))


def cde_loss(pdf, z_grid, z_true):
    """The conditional density estimation loss of Izbicki & Lee (2017):
    the mean over rows of the integral of p(z)^2 over the grid minus twice
    p(z_true) (interpolated linearly on the grid; 0 outside it). Lower is
    better; only differences between codes on the same grid mean much."""
    pdf = np.asarray(pdf, dtype=float)
    z_grid = np.asarray(z_grid, dtype=float)
    z_true = np.asarray(z_true, dtype=float)
    term1 = np.trapezoid(pdf ** 2, z_grid, axis=1)
    term2 = np.array([np.interp(z, z_grid, row, left=0.0, right=0.0)
                      for z, row in zip(z_true, pdf)])
    return float(np.mean(term1 - 2 * term2))


def in_bin(z_true, low, high, edges=Z_BINS):
    """The rows with z_true in [low, high), or [low, high] for the last
    bin of ``edges``."""
    z_true = np.asarray(z_true, dtype=float)
    upper = (z_true <= high) if high >= edges[-1] else (z_true < high)
    return (z_true >= low) & upper


def per_bin_table(z_phot, z_true, edges=Z_BINS):
    """Rows of (z_low, z_high, count, sigma_NMAD, outlier fraction, median
    dz) for z_true in [z_low, z_high) (the last bin closed), as a list of
    dicts."""
    z_phot = np.asarray(z_phot, dtype=float)
    z_true = np.asarray(z_true, dtype=float)
    rows = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = in_bin(z_true, low, high, edges)
        rows.append({"z_low": low, "z_high": high, "count": int(inside.sum()),
                     **point_metrics(z_phot[inside], z_true[inside])})
    return rows
