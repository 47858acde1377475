"""
Which neighbours to fit, on the LSST-like benchmark: ideas scored by
5-fold CV on its training file only, with a plain NumPy version of the
method (the tests' reference, ``tests/reference.py``) so that a choice can
be changed without touching the kernels (docs: method page, "Survey
photometry", ideas measured and not kept).

    python -m analysis.survey_neighbourhoods [OUTPUT.ecsv] [--smoke]

The model is the package's, with asinh magnitudes (the rule for forced
photometry) and the hyper-parameters that ``tune`` finds on the training
file (50 trials, random_state 0). Each fold's features and 150 nearest
neighbours come from the package; the NumPy version then chooses the
neighbours, fits and clips. Its first line, the method as it is, must
equal the package's own CV (printed beside it). The ideas:

- density-adaptive neighbourhoods: keep a neighbour only when its squared
  distance is at most ``rho^2`` times the ``m``-th neighbour's, so that a
  galaxy in a sparse region is not fitted to far neighbours (from a pool
  of ``k`` or more);
- the redshift window's neighbour weights: ``1 / j^p`` for the j-th
  nearest (the package's p = 1), or ``exp(-d^2 / (s d_m^2))``, Gaussian in
  the distance relative to the m-th neighbour's;
- nested windows: the densest window of a wider width first (0.10 to
  0.20), then the tuned window among its members, so that the redshift
  region is chosen by more neighbours and the core still fitted narrowly.

It also prints how the CV outliers divide by the share of rank weight of
the neighbours near their true redshift (within the window's width): an
outlier whose true redshift has almost no neighbour cannot be mended by
any choice among the neighbours. ``--smoke``: 2000 training rows, 3 trials.
"""

import argparse
import time
import warnings

import numpy as np
from astropy.table import Table

from photoz_numba import PhotoZModel
from photoz_numba._kernels.search import nearest_neighbours
from photoz_numba.metrics import OUTLIER, outlier_fraction, sigma_nmad
from photoz_numba.photometry import lupton_softening
from photoz_numba.selection import OutOfFold
from tests import reference  # the plain NumPy implementation

from .survey_ideas import BANDS, COLUMNS, load

POOL = 150

#: (idea, adaptive (m, rho) or None, pool k or None (the tuned k), window weights)
VARIANTS = [
    ("the method as it is (rank weights 1 / j)", None, None, ("power", 1.0)),
    ("adaptive: d^2 <= 2^2 d_5^2", (5, 2.0), None, ("power", 1.0)),
    ("adaptive: d^2 <= 1.5^2 d_10^2", (10, 1.5), None, ("power", 1.0)),
    ("adaptive: d^2 <= 2^2 d_10^2", (10, 2.0), None, ("power", 1.0)),
    ("adaptive: d^2 <= 2^2 d_20^2", (20, 2.0), None, ("power", 1.0)),
    ("adaptive: d^2 <= 2^2 d_10^2 of 120", (10, 2.0), 120, ("power", 1.0)),
    ("adaptive: d^2 <= 1.5^2 d_20^2 of 150", (20, 1.5), 150, ("power", 1.0)),
    ("window weights 1 / j^0.5", None, None, ("power", 0.5)),
    ("window weights 1 / j^1.5", None, None, ("power", 1.5)),
    ("window weights equal", None, None, ("power", 0.0)),
    ("window weights exp(-d^2 / d_10^2)", None, None, ("gauss", 1.0, 10)),
    ("window weights exp(-d^2 / (2 d_10^2))", None, None, ("gauss", 2.0, 10)),
    ("window weights exp(-d^2 / d_20^2)", None, None, ("gauss", 1.0, 20)),
    ("nested: densest 0.10 window, then the tuned one in it", None, None, ("nested", 0.10)),
    ("nested: densest 0.15 window, then the tuned one in it", None, None, ("nested", 0.15)),
    ("nested: densest 0.20 window, then the tuned one in it", None, None, ("nested", 0.20)),
]


def window_weights(d2, shape):
    """Weights of the window's choice for neighbours at squared distances
    ``d2`` (nearest first)."""
    if shape[0] in ("power", "nested"):
        return 1.0 / np.arange(1, d2.size + 1) ** (shape[1] if shape[0] == "power" else 1.0)
    _, scale, m = shape
    return np.exp(-d2 / (scale * d2[min(m, d2.size) - 1]))


def predict_one(x_train, z_train, query, nbr, d2, params, adaptive, shape):
    """z_phot of one galaxy from its neighbours ``nbr`` (nearest first)."""
    if adaptive is not None:
        m, rho = adaptive
        keep = d2 <= rho * rho * d2[m - 1]
        nbr, d2 = nbr[keep], d2[keep]
    weights = window_weights(d2, shape)
    if shape[0] == "nested":
        # The densest wide window first (a robust choice of the redshift
        # region), then the tuned window among its members (a sharp core).
        wide = reference.window_members(z_train[nbr], d2, shape[1], weights)
        nbr, d2, weights = nbr[wide], d2[wide], weights[wide]
    inside = reference.window_members(z_train[nbr], d2, params["window"], weights)
    nbr, d2 = nbr[inside], d2[inside]
    x = x_train[nbr] - query
    zp, err, resid = reference._fit(x, z_train[nbr], d2, params["gamma"], params["lam"],
                                    "median")
    keep = np.abs(resid) <= params["clip_sigma"] * err
    if reference.MIN_FIT <= keep.sum() < nbr.size:
        zp, _, _ = reference._fit(x[keep], z_train[nbr[keep]], d2[keep], params["gamma"],
                                  params["lam"], "median")
    return zp


def fold_inputs(folds):
    """Per fold: held-out mask, training features and redshifts, the held
    galaxies' features, their `POOL` nearest neighbours and distances."""
    parts = []
    for held, fold_model, held_table in folds._parts:
        mag, state = fold_model._magnitudes(held_table, None)
        (rows, _, bands), = list(fold_model._groups(state))   # all bands: one group
        x_query, train = fold_model._standardised(mag, rows, bands)
        pool = min(POOL, train["z"].size)
        nbr, d2 = nearest_neighbours(train["index"], x_query, pool)
        parts.append((held, np.ascontiguousarray(train["x_train_t"].T), train["z"],
                      x_query, nbr, d2))
    return parts


def cross_validated(folds, parts, params, adaptive, pool, shape):
    z_phot = np.empty(folds.z.size)
    k = pool or params["k"]
    for held, x_train, z_train, x_query, nbr, d2 in parts:
        z_phot[held] = [predict_one(x_train, z_train, x_query[q], nbr[q, :k], d2[q, :k],
                                    params, adaptive, shape) for q in range(len(x_query))]
    return z_phot


def true_share(folds, parts, z_phot, k, width):
    """Outliers and all galaxies by the share of rank weight of the
    neighbours within ``width (1 + z_spec)`` of their true redshift."""
    share = np.empty(folds.z.size)
    weight = 1.0 / np.arange(1, k + 1)
    for held, _, z_train, _, nbr, _ in parts:
        z_true = folds.z[held][:, None]
        close = np.abs(z_train[nbr[:, :k]] - z_true) <= width * (1 + z_true)
        share[held] = (close * weight).sum(axis=1) / weight.sum()
    outlier = np.abs(z_phot - folds.z) > OUTLIER * (1 + folds.z)
    rows = []
    for low, high in ((0.0, 0.001), (0.001, 0.1), (0.1, 0.3), (0.3, 0.5), (0.5, 1.0 + 1e-9)):
        inside = (share >= low) & (share < high)
        rows.append({"share_low": low, "share_high": min(high, 1.0),
                     "galaxies": int(inside.sum()), "outliers": int((inside & outlier).sum())})
    return Table(rows)


def main(output="survey_neighbourhoods.ecsv", smoke=False):
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    train, _ = load(smoke)          # the test file is not used
    model = PhotoZModel(BANDS, columns=COLUMNS, softening=lupton_softening(train, COLUMNS))
    model.tune(train, z="redshift", n_iter=3 if smoke else 50, random_state=0)
    names = ("k", "gamma", "lam", "window", "clip_sigma")
    params = {name: getattr(model, name) for name in names}
    folds = OutOfFold(model, train, z="redshift", seed=0)
    own = folds.predict().z_phot
    parts = fold_inputs(folds)
    rows = []
    variants = VARIANTS[:2] + VARIANTS[-1:] if smoke else VARIANTS
    for idea, adaptive, pool, shape in variants:
        z_phot = cross_validated(folds, parts, params, adaptive, pool, shape)
        if not rows:
            first = z_phot
        rows.append({"idea": idea, "cv_sigma_nmad": sigma_nmad(z_phot, folds.z),
                     "cv_outlier_fraction": outlier_fraction(z_phot, folds.z)})
        print(f"{idea:<42} CV {rows[-1]['cv_sigma_nmad']:.5f} "
              f"{100 * rows[-1]['cv_outlier_fraction']:.2f} %", flush=True)
    table = Table(rows)
    table.meta["tuned"] = {name: float(value) for name, value in params.items()}
    table.meta["package_cv"] = {"sigma_nmad": float(sigma_nmad(own, folds.z)),
                                "outlier_fraction": float(outlier_fraction(own, folds.z))}
    shares = true_share(folds, parts, first, params["k"], params["window"])
    table.meta["outliers_by_true_share"] = {name: [float(v) for v in shares[name]]
                                            for name in shares.colnames}
    table.write(output, overwrite=True)
    print(f"package's own CV: {table.meta['package_cv']}; tuned: {table.meta['tuned']}")
    print("CV outliers by the rank-weight share of neighbours near the true redshift:")
    print(shares)
    print(f"{time.perf_counter() - start:.0f} s")


def cli(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("output", nargs="?", default="survey_neighbourhoods.ecsv")
    parser.add_argument("--smoke", action="store_true",
                        help="2000 training rows, 3 trials: checks that it runs")
    args = parser.parse_args(argv)
    main(args.output, args.smoke)


if __name__ == "__main__":
    cli()
