"""
The trade between a sharp core and few outliers on the LSST-like
benchmark: the tuning run with several weights of the outlier fraction,
every trial's 5-fold CV figures pooled, and the settings no other trial
beats on both (the front). Each front setting and each weight's choice is
then fitted on the training file and scored on the test file. Writes an
ECSV table and prints it.

    python -m analysis.survey_front [OUTPUT.ecsv] [--trials N] [--smoke]

The files are ``lsst_like_train.fits`` and ``lsst_like_test.fits`` in
``PHOTOZ_NUMBA_LSST_LIKE`` (default ``../shared/data``); asinh
magnitudes, softening from the training errors, as in
``analysis.survey_ideas``. For each weight w in `WEIGHTS`, k, gamma, lam,
window and clip_sigma are tuned with N trials (default 100, seed 0)
against sigma_NMAD + w x outlier fraction (``tune``'s
``outlier_weight``); all trials use the same folds. Nothing is chosen on
the test file: the weights' choices are the tuning's, and the front is a
CV front; the test figures only show where each lands.

``--smoke``: 2000 + 2000 rows, 6 trials: checks that it runs.
"""

import argparse
import warnings

import numpy as np
from astropy.table import Table, vstack

from analysis.survey_ideas import BANDS, COLUMNS, load, test_figures
from photoz_numba import PhotoZModel
from photoz_numba.photometry import lupton_softening

TUNED = ("k", "gamma", "lam", "window", "clip_sigma")
#: Weights of the outlier fraction: the default 0.1, then up to where a
#: percentage point of outliers weighs like 0.01 in sigma_NMAD.
WEIGHTS = (0.1, 0.2, 0.5, 1.0)
SEED = 0


def front(sigma, outliers):
    """Indices of the points that no other point beats on both figures
    (at least as good on both and better on one), by rising sigma."""
    sigma, outliers = np.asarray(sigma, float), np.asarray(outliers, float)
    keep = []
    for i in range(sigma.size):
        beaten = ((sigma <= sigma[i]) & (outliers <= outliers[i])
                  & ((sigma < sigma[i]) | (outliers < outliers[i])))
        if not beaten.any():
            keep.append(i)
    keep = np.array(keep, dtype=int)
    return keep[np.lexsort((outliers[keep], sigma[keep]))]


def settings(row):
    return {name: (int(row[name]) if name == "k" else float(row[name])) for name in TUNED}


def main(output="survey_front.ecsv", n_iter=100, smoke=False):
    warnings.simplefilter("ignore")
    train, test = load(smoke)
    base = PhotoZModel(BANDS, columns=COLUMNS, softening=lupton_softening(train, COLUMNS))
    histories = []
    for weight in WEIGHTS:
        tuned = PhotoZModel(**base.get_params()).tune(train, z="redshift", n_iter=n_iter,
                                                      random_state=SEED, outlier_weight=weight)
        history = tuned.tuning_history_
        history["weight"] = weight
        history["chosen"] = np.arange(len(history)) == np.argmin(history["cv_score"])
        histories.append(history)
    trials = vstack(histories, metadata_conflicts="silent")
    # The same setting tried under two weights (the first trial) is one point.
    seen, first = set(), []
    for index, row in enumerate(trials):
        key = tuple(float(row[name]) for name in TUNED)
        if key not in seen:
            seen.add(key)
            first.append(index)
    distinct = trials[first]
    on_front = front(distinct["cv_sigma_nmad"], distinct["cv_outlier_fraction"])
    rows = []
    for what, picked in (("chosen", trials[trials["chosen"]]), ("front", distinct[on_front])):
        for row in picked:
            model = PhotoZModel(**{**base.get_params(), **settings(row)}).fit(train, z="redshift")
            test_metrics = test_figures(model, test)
            rows.append({"kind": what, "weight": row["weight"] if what == "chosen" else np.nan,
                         **settings(row), "cv_sigma_nmad": row["cv_sigma_nmad"],
                         "cv_outlier_fraction": row["cv_outlier_fraction"],
                         "test_sigma_nmad": test_metrics["sigma_nmad"],
                         "test_outlier_fraction": test_metrics["outlier_fraction"]})
    table = Table(rows)
    table.meta.update({"trials_per_weight": n_iter, "weights": list(WEIGHTS), "seed": SEED,
                       "n_train": len(train), "n_test": len(test),
                       "n_distinct_trials": len(distinct)})
    table.write(output, overwrite=True)
    for line in table:
        label = (f"chosen, weight {line['weight']:g}" if line["kind"] == "chosen"
                 else "front")
        print(f"{label:<18} k {line['k']:3d} gamma {line['gamma']:.3g} lam {line['lam']:.3g} "
              f"window {line['window']:.3g} clip {line['clip_sigma']:.2f}   "
              f"CV {line['cv_sigma_nmad']:.5f} {100 * line['cv_outlier_fraction']:5.2f}%   "
              f"test {line['test_sigma_nmad']:.5f} "
              f"{100 * line['test_outlier_fraction']:5.2f}%")


def cli(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("output", nargs="?", default="survey_front.ecsv")
    parser.add_argument("--trials", type=int, default=100, metavar="N",
                        help="tuning trials per weight (default 100)")
    parser.add_argument("--smoke", action="store_true",
                        help="2000 + 2000 rows and 6 trials: checks that it runs")
    args = parser.parse_args(argv)
    main(args.output, 6 if args.smoke else args.trials, args.smoke)


if __name__ == "__main__":
    cli()
