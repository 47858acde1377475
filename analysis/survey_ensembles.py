"""
Two ideas against outliers on the LSST-like benchmark, each scored by
5-fold CV on its training file and only then on the test file: the
median of the best tuning trials (an ensemble), and training photometry
resampled within its errors (augmentation). Writes an ECSV table and
prints it.

    python -m analysis.survey_ensembles [OUTPUT.ecsv] [--smoke]

The files are ``lsst_like_train.fits`` and ``lsst_like_test.fits`` in
``PHOTOZ_NUMBA_LSST_LIKE`` (default ``../shared/data``); asinh
magnitudes, softening from the training errors, as in
``analysis.survey_ideas``. k, gamma, lam, window and clip_sigma are
tuned with 50 trials (seed 0); every CV below uses the tuning's folds.

* Ensemble: the top M trials by the tuning's CV objective (sigma_NMAD +
  0.1 outlier fraction), each galaxy's z_phot the median of the M
  models' (out-of-fold on the training file; the M models fitted on the
  whole training file for the test file). The same CV chose the M
  trials, so the best single trial is listed as the reference.
* Augmentation: R copies of every training galaxy, each band's flux
  redrawn from N(flux, flux_err) (seeded), added to the originals, at
  the best trial's settings with k times (R + 1) or k kept. The folds
  split original galaxies: a held-out galaxy's copies are never in its
  fold's training set, and only originals are predicted.

``--smoke``: 2000 + 2000 rows, 9 trials: checks that it runs.
"""

import argparse
import warnings

import numpy as np
from astropy.table import Table, vstack

from analysis.survey_ideas import BANDS, COLUMNS, load
from photoz_numba import PhotoZModel
from photoz_numba.metrics import evaluate
from photoz_numba.photometry import lupton_softening
from photoz_numba.selection import stratified_kfold
from photoz_numba.tuning import cv_score
from photoz_numba.validation import cross_val_predict, cross_validate

TUNED = ("k", "gamma", "lam", "window", "clip_sigma")
ENSEMBLE_SIZES = (3, 5, 9)
COPIES = (1, 2, 4)
N_FOLDS = 5
SEED = 0


def figures(z_phot, z_spec):
    """``evaluate`` over the predicted rows, with the tuning objective."""
    ok = np.isfinite(z_phot)
    result = evaluate(z_phot[ok], z_spec[ok])
    result["score"] = cv_score(result["sigma_nmad"], result["outlier_fraction"])
    return result


def row(idea, cv, test):
    return {"idea": idea, "cv_sigma_nmad": cv["sigma_nmad"],
            "cv_outlier_fraction": cv["outlier_fraction"], "cv_score": cv["score"],
            "test_sigma_nmad": test["sigma_nmad"],
            "test_outlier_fraction": test["outlier_fraction"],
            "test_score": cv_score(test["sigma_nmad"], test["outlier_fraction"])}


def trial_settings(history, index):
    return {name: (int(history[index][name]) if name == "k" else float(history[index][name]))
            for name in TUNED}


def test_predictions(model, train, test):
    fitted = PhotoZModel(**model.get_params()).fit(train, z="redshift")
    return np.asarray(fitted.predict(test)["z_phot"].filled(np.nan))


def ensembles(base, history, train, test):
    """Rows of the best single trial and of the median of the top M trials."""
    z_train = np.asarray(train["redshift"], dtype=float)
    z_test = np.asarray(test["redshift"], dtype=float)
    order = np.argsort(history["cv_score"], kind="stable")[:max(ENSEMBLE_SIZES)]
    oof, predicted = [], []
    for index in order:
        model = PhotoZModel(**{**base.get_params(), **trial_settings(history, index)})
        z_phot = cross_val_predict(model, train, z="redshift", n_folds=N_FOLDS, seed=SEED)[0]
        # The same folds as the tuning's: its CV figures, to the last digit.
        own = figures(z_phot, z_train)
        assert np.isclose(own["sigma_nmad"], history[index]["cv_sigma_nmad"], rtol=1e-12)
        assert np.isclose(own["outlier_fraction"], history[index]["cv_outlier_fraction"],
                          rtol=1e-12)
        oof.append(z_phot)
        predicted.append(test_predictions(model, train, test))
    oof, predicted = np.array(oof), np.array(predicted)
    best = trial_settings(history, order[0])
    rows = [row(f"best single trial (k = {best['k']}, gamma = {best['gamma']:.3g}, "
                f"lam = {best['lam']:.3g}, window = {best['window']:.3g}, "
                f"clip {best['clip_sigma']:.3g})",
                figures(oof[0], z_train), figures(predicted[0], z_test))]
    for m in ENSEMBLE_SIZES:
        if m > len(order):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)    # all-NaN rows stay NaN
            cv = figures(np.nanmedian(oof[:m], axis=0), z_train)
            on_test = figures(np.nanmedian(predicted[:m], axis=0), z_test)
        rows.append(row(f"ensemble: median of the top {m} trials by CV", cv, on_test))
    return rows, best


def resampled_copies(train, n_copies, seed):
    """``n_copies`` copies of the table, each band's flux redrawn from
    N(flux, flux_err); copy r is the same whatever ``n_copies``."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n_copies, len(train), len(BANDS)))
    copies = []
    for r in range(n_copies):
        copy = train.copy()
        for b, band in enumerate(BANDS):
            column = COLUMNS[band]
            copy[column] = train[column] + train[column + "_err"] * noise[r, :, b]
        copies.append(copy)
    return copies


def augmented_cv(model, train, copies):
    """Out-of-fold z_phot of the original galaxies, each fold's model
    fitted on the other folds' originals and their copies; the folds are
    cross_validate's (stratified in redshift, the same seed)."""
    z = np.asarray(train["redshift"], dtype=float)
    folds = stratified_kfold(z, n_folds=N_FOLDS, seed=SEED)
    z_phot = np.full(z.size, np.nan)
    for fold in range(N_FOLDS):
        held_out = folds == fold
        fold_train = vstack([train[~held_out]] + [copy[~held_out] for copy in copies])
        fitted = PhotoZModel(**model.get_params()).fit(fold_train, z="redshift")
        z_phot[held_out] = fitted.predict_arrays(train[held_out]).z_phot
    return z_phot


def augmentations(base, best, train, test):
    z_train = np.asarray(train["redshift"], dtype=float)
    z_test = np.asarray(test["redshift"], dtype=float)
    model = PhotoZModel(**{**base.get_params(), **best})
    # Without copies this is the package's own CV, to the last digit.
    check = figures(augmented_cv(model, train, []), z_train)
    reference = cross_validate(model, train, z="redshift", n_folds=N_FOLDS, seed=SEED)
    assert np.isclose(check["sigma_nmad"], reference["sigma_nmad"], rtol=1e-12)
    assert np.isclose(check["outlier_fraction"], reference["outlier_fraction"], rtol=1e-12)
    all_copies = resampled_copies(train, max(COPIES), SEED)
    rows = []
    for n_copies in COPIES:
        copies = all_copies[:n_copies]
        for scale, label in ((n_copies + 1, f"k x {n_copies + 1} = "), (1, "k kept, ")):
            k = best["k"] * scale
            model = PhotoZModel(**{**base.get_params(), **best, "k": k})
            cv = figures(augmented_cv(model, train, copies), z_train)
            on_test = figures(test_predictions(model, vstack([train] + copies), test), z_test)
            rows.append(row(f"augmented: {n_copies} resampled "
                            f"cop{'y' if n_copies == 1 else 'ies'}, {label}{k}", cv, on_test))
    return rows


def main(output="survey_ensembles.ecsv", n_iter=50, smoke=False):
    warnings.simplefilter("ignore")
    train, test = load(smoke)
    base = PhotoZModel(BANDS, columns=COLUMNS, softening=lupton_softening(train, COLUMNS))
    tuned = PhotoZModel(**base.get_params()).tune(train, z="redshift", n_iter=n_iter,
                                                  random_state=SEED)
    history = tuned.tuning_history_
    rows, best = ensembles(base, history, train, test)
    rows += augmentations(base, best, train, test)
    table = Table(rows)
    table.meta["trials"] = n_iter
    table.meta["best_trial"] = best
    table.meta["top_trials"] = [trial_settings(history, index) for index in
                                np.argsort(history["cv_score"], kind="stable")
                                [:max(ENSEMBLE_SIZES)]]
    table.write(output, overwrite=True)
    for line in table:
        print(f"{line['idea']:<84} CV {line['cv_sigma_nmad']:.4f} "
              f"{100 * line['cv_outlier_fraction']:5.2f}% ({line['cv_score']:.5f})   "
              f"test {line['test_sigma_nmad']:.4f} "
              f"{100 * line['test_outlier_fraction']:5.2f}% ({line['test_score']:.5f})")


def cli(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("output", nargs="?", default="survey_ensembles.ecsv")
    parser.add_argument("--smoke", action="store_true",
                        help="2000 + 2000 rows and 9 trials: checks that it runs")
    args = parser.parse_args(argv)
    main(args.output, 9 if args.smoke else 50, args.smoke)


if __name__ == "__main__":
    cli()
