"""
Ideas for survey photometry, each scored on the LSST-like benchmark:
5-fold CV on its training file, then the test file. Writes an ECSV table
and prints it (docs: method page, "Survey photometry").

    python -m analysis.survey_ideas [OUTPUT.ecsv] [--tune N] [--smoke]

The files are ``lsst_like_train.fits`` and ``lsst_like_test.fits`` in
``PHOTOZ_NUMBA_LSST_LIKE`` (default ``../shared/data``). Each line adds
its idea to the one above it, except where marked; every setting is
chosen on the training file (CV, or the tuning's CV) and only then
scored on the test file. ``--tune N``: the last line tunes k, gamma, lam,
window and clip_sigma with N trials (default 50). ``--smoke``: 2000 +
2000 rows, 2 trials.
"""

import argparse
import os
import pathlib
import warnings

import numpy as np
from astropy.table import Table

from photoz_numba import PhotoZModel
from photoz_numba.metrics import evaluate
from photoz_numba.photometry import lupton_softening
from photoz_numba.validation import cross_validate

BANDS = list("ugrizy")
COLUMNS = {band: f"{band}_flux" for band in BANDS}
ROOT = pathlib.Path(__file__).resolve().parents[1]

#: (idea, constructor keywords, asinh magnitudes?)
VARIANTS = [
    ("log magnitudes, flux <= 0 a non-detection, no window (the old defaults)",
     dict(window=None), False),
    ("+ densest redshift window 0.15 (1 + z): the defaults", dict(), False),
    ("+ asinh magnitudes, softening 1.042 x median training error", dict(), True),
    ("asinh, window 0.10, k = 80, lam = 0.03, clip 1.5 (best of a CV grid)",
     dict(k=80, lam=0.03, window=0.10, clip_sigma=1.5), True),
    ("asinh, no window (window alone taken out)", dict(window=None), True),
]


def load(smoke):
    folder = pathlib.Path(os.environ.get("PHOTOZ_NUMBA_LSST_LIKE",
                                         ROOT.parent / "shared" / "data"))
    train = Table.read(folder / "lsst_like_train.fits")
    test = Table.read(folder / "lsst_like_test.fits")
    return (train[:2000], test[:2000]) if smoke else (train, test)


def score(model, train, test):
    """CV figures on the training file, then the test file's."""
    cv = cross_validate(model, train, z="redshift", seed=0)
    fitted = PhotoZModel(**model.get_params()).fit(train, z="redshift")
    return cv, test_figures(fitted, test)


def test_figures(model, test):
    out = model.predict(test)
    z_phot = np.asarray(out["z_phot"].filled(np.nan))
    ok = np.isfinite(z_phot)
    return evaluate(z_phot[ok], np.asarray(test["redshift"], dtype=float)[ok])


def main(output="survey_ideas.ecsv", n_iter=50, smoke=False):
    warnings.simplefilter("ignore")
    train, test = load(smoke)
    softening = lupton_softening(train, COLUMNS)
    rows = []
    for idea, params, asinh in VARIANTS:
        model = PhotoZModel(BANDS, columns=COLUMNS, softening=softening if asinh else None,
                            **params)
        cv, figures = score(model, train, test)
        rows.append({"idea": idea, "cv_sigma_nmad": cv["sigma_nmad"],
                     "cv_outlier_fraction": cv["outlier_fraction"],
                     "test_sigma_nmad": figures["sigma_nmad"],
                     "test_outlier_fraction": figures["outlier_fraction"]})
    model = PhotoZModel(BANDS, columns=COLUMNS, softening=softening)
    model.tune(train, z="redshift", n_iter=n_iter, random_state=0)
    best = model.tuning_history_[np.argmin(model.tuning_history_["cv_score"])]
    figures = test_figures(model, test)
    rows.append({"idea": f"asinh, k, gamma, lam, window, clip_sigma tuned ({n_iter} trials)",
                 "cv_sigma_nmad": best["cv_sigma_nmad"],
                 "cv_outlier_fraction": best["cv_outlier_fraction"],
                 "test_sigma_nmad": figures["sigma_nmad"],
                 "test_outlier_fraction": figures["outlier_fraction"]})
    table = Table(rows)
    table.meta["tuned"] = {name: float(getattr(model, name))
                           for name in ("k", "gamma", "lam", "window", "clip_sigma")}
    table.write(output, overwrite=True)
    for row in table:
        print(f"{row['idea']:<76} CV {row['cv_sigma_nmad']:.4f} "
              f"{100 * row['cv_outlier_fraction']:5.2f}%   test {row['test_sigma_nmad']:.4f} "
              f"{100 * row['test_outlier_fraction']:5.2f}%")
    print("tuned:", table.meta["tuned"])


def cli(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("output", nargs="?", default="survey_ideas.ecsv")
    parser.add_argument("--tune", type=int, default=50, metavar="N")
    parser.add_argument("--smoke", action="store_true",
                        help="2000 + 2000 rows and 2 trials: checks that it runs")
    args = parser.parse_args(argv)
    main(args.output, 2 if args.smoke else args.tune, args.smoke)


if __name__ == "__main__":
    cli()
