"""
Choose PhotoZModel's default hyper-parameters by cross-validation.

Only the training part of the paper's seed-0 split is used: 5-fold
stratified CV (fold seed 0) over a grid of settings. Writes the full grid
as an ECSV table and prints the best settings by the CV score

    score = sigma_nmad + 0.1 * outlier_fraction

which weighs one percentage point of outliers like 0.001 in sigma_NMAD.

Run:  python -m analysis.choose_defaults [OUTPUT.ecsv] [--smoke]
(with PHOTOZ_NUMBA_KALNA2024 pointing at a local copy of the catalogue,
or with network access). ``--smoke`` scores two settings of the grid
only, to check that it runs.
"""

import argparse
import itertools
import time
import warnings

from astropy.table import Table

from photoz_numba import PhotoZModel
from photoz_numba.datasets import KALNA2024_BANDS, load_kalna2024, paper_sample
from photoz_numba.selection import stratified_split
from photoz_numba.validation import cross_validate

GRID = {
    "offset": ["none", "median"],
    "magnitude_band": [None, "f444w", "f150w"],
    "k": [20, 30, 40, 60],
    "gamma": [0.01, 0.03, 0.1, 0.3, 1.0],
    "lam": [1e-3, 0.01, 0.1, 0.3, 1.0],
    "clip_sigma": [3.0],
}
#: Two settings of the grid, for ``--smoke``.
SMOKE_GRID = {"offset": ["median"], "magnitude_band": [None, "f150w"], "k": [40],
              "gamma": [0.1], "lam": [0.1], "clip_sigma": [3.0]}
OUTLIER_WEIGHT = 0.1


def main(output="choose_defaults.ecsv", grid=GRID):
    sample = paper_sample(load_kalna2024())
    train, _ = stratified_split(sample, z="zspec", seed=0)
    rows = []
    start = time.perf_counter()
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values))
        model = PhotoZModel(list(KALNA2024_BANDS), **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metrics = cross_validate(model, train, z="zspec", seed=0)
        score = metrics["sigma_nmad"] + OUTLIER_WEIGHT * metrics["outlier_fraction"]
        rows.append({**{k: str(v) for k, v in params.items()
                        if k in ("offset", "magnitude_band")},
                     **{k: v for k, v in params.items()
                        if k not in ("offset", "magnitude_band")},
                     "cv_sigma_nmad": metrics["sigma_nmad"],
                     "cv_outlier_fraction": metrics["outlier_fraction"],
                     "cv_score": score})
    table = Table(rows)
    table.sort("cv_score")
    table.meta["elapsed_s"] = time.perf_counter() - start
    table.write(output, overwrite=True)
    table[:15].pprint(max_width=200)
    print(f"{len(table)} settings in {table.meta['elapsed_s']:.0f} s")


def cli(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("output", nargs="?", default="choose_defaults.ecsv")
    parser.add_argument("--smoke", action="store_true",
                        help="two settings only: checks that it runs")
    args = parser.parse_args(argv)
    main(args.output, SMOKE_GRID if args.smoke else GRID)


if __name__ == "__main__":
    cli()
