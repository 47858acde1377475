"""
What beats the paper: each idea scored by cross-validation and on the
paper's protocol. Writes an ECSV table and prints it (docs: method page).

    python -m analysis.ideas [OUTPUT.ecsv] [--smoke]

CV: 5-fold stratified CV (fold seed 0) on the training part of the seed-0
split. Test: mean over seeds 0-9 of the metrics on each test part.
For "tuned per seed", CV is the mean over seeds of the best CV score of
each seed's own search (50 trials on its training part). ``--smoke``:
two ideas, seed 0 and 2 tuning trials, to check that it runs.
"""

import argparse
import time
import warnings

import numpy as np
from astropy.table import Table

from photoz_numba import PhotoZModel
from photoz_numba.datasets import KALNA2024_BANDS, load_kalna2024, paper_sample
from photoz_numba.protocol import run_paper_protocol, summarise
from photoz_numba.selection import stratified_split
from photoz_numba.validation import cross_validate

# Each step adds one idea to the one above it, except where marked.
VARIANTS = [
    ("paper's form: no offset, colours only (best of the CV grid)",
     dict(offset="none", magnitude_band=None, k=20, gamma=0.01, lam=0.01, window=None)),
    ("+ ridge around the neighbours' median z (best of the grid)",
     dict(offset="median", magnitude_band=None, k=20, gamma=1.0, lam=0.3, window=None)),
    ("+ magnitude of the middle band (f150w)",
     dict(offset="median", magnitude_band="auto", k=40, gamma=0.1, lam=0.1, window=None)),
    ("+ densest redshift window, 0.15 (1 + z): the defaults",
     dict(offset="median", magnitude_band="auto", k=40, gamma=0.1, lam=0.1, window=0.15)),
    ("defaults with a window of 0.10 (1 + z)",
     dict(offset="median", magnitude_band="auto", k=40, gamma=0.1, lam=0.1, window=0.10)),
    ("defaults with a window of 0.20 (1 + z)",
     dict(offset="median", magnitude_band="auto", k=40, gamma=0.1, lam=0.1, window=0.20)),
    ("defaults with the mean instead of the median",
     dict(offset="mean", magnitude_band="auto", k=40, gamma=0.1, lam=0.1)),
    ("defaults without clipping",
     dict(offset="median", magnitude_band="auto", k=40, gamma=0.1, lam=0.1,
          clip_sigma=None)),
]


def main(output="ideas.ecsv", variants=VARIANTS, seeds=range(10), n_iter=50):
    warnings.simplefilter("ignore")
    catalogue = load_kalna2024()
    train, _ = stratified_split(paper_sample(catalogue), z="zspec", seed=0)
    rows = []
    for name, params in variants:
        cv = cross_validate(PhotoZModel(list(KALNA2024_BANDS), **params), train, seed=0)
        per_seed, _ = run_paper_protocol(catalogue, seeds=seeds, params=params)
        summary = summarise(per_seed)
        rows.append({"idea": name, "cv_sigma_nmad": cv["sigma_nmad"],
                     "cv_outlier_fraction": cv["outlier_fraction"],
                     "test_sigma_nmad": summary["sigma_nmad"][0],
                     "test_outlier_fraction": summary["outlier_fraction"][0]})
    start = time.perf_counter()
    per_seed, _ = run_paper_protocol(catalogue, seeds=seeds, tune=True, n_iter=n_iter)
    summary = summarise(per_seed)
    best = []
    for seed in seeds:
        split_train, _ = stratified_split(paper_sample(catalogue), z="zspec", seed=seed)
        model = PhotoZModel(list(KALNA2024_BANDS)).tune(split_train, n_iter=n_iter,
                                                        random_state=seed)
        history = model.tuning_history_
        best.append(history[np.argmin(history["cv_score"])])
    rows.append({"idea": f"+ k, gamma, lam, window, clip_sigma tuned per seed "
                         f"({n_iter} trials)",
                 "cv_sigma_nmad": float(np.mean([b["cv_sigma_nmad"] for b in best])),
                 "cv_outlier_fraction": float(np.mean([b["cv_outlier_fraction"] for b in best])),
                 "test_sigma_nmad": summary["sigma_nmad"][0],
                 "test_outlier_fraction": summary["outlier_fraction"][0]})
    table = Table(rows)
    table.meta["tuning_seconds"] = time.perf_counter() - start
    table.write(output, overwrite=True)
    for row in table:
        print(f"{row['idea']:<62} CV {row['cv_sigma_nmad']:.5f} "
              f"{100 * row['cv_outlier_fraction']:5.2f}%   test {row['test_sigma_nmad']:.5f} "
              f"{100 * row['test_outlier_fraction']:5.2f}%")


def cli(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("output", nargs="?", default="ideas.ecsv")
    parser.add_argument("--smoke", action="store_true",
                        help="two ideas, seed 0, 2 tuning trials: checks that it runs")
    args = parser.parse_args(argv)
    if args.smoke:
        main(args.output, VARIANTS[:2], range(1), 2)
    else:
        main(args.output)


if __name__ == "__main__":
    cli()
