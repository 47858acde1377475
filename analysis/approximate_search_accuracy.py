"""
Accuracy of the approximate neighbour search against the exact one on
large training sets (docs: Performance, "Large training sets"):

    python -m analysis.approximate_search_accuracy [--seeds 0-4] [--eps 3] [--output FILE]

For each seed: the paper's stratified 4:1 split, the training part
resampled to 10^6 galaxies with photometric noise (as the benchmark's
large section does, resampling seed 100 + seed), models fitted with the
exact search and with ``search_eps``, both judged on the test part
(sigma_NMAD and outlier fraction). About 7 s a seed on one core.
``--output`` also writes the per-seed figures (ECSV); ``--smoke`` runs
seed 0 with 20,000 training galaxies, to check that it runs.
"""

import argparse
import warnings

import numpy as np
from astropy.table import Table

from benchmarks._common import parse_seeds, quiet_fit, resample_training
from photoz_numba.datasets import load_kalna2024, paper_sample
from photoz_numba.metrics import outlier_fraction, sigma_nmad
from photoz_numba.selection import stratified_split


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-4"))
    parser.add_argument("--eps", type=float, default=3.0)
    parser.add_argument("--n-train", type=int, default=1_000_000)
    parser.add_argument("--output", help="also write the per-seed figures (ECSV) here")
    parser.add_argument("--smoke", action="store_true",
                        help="seed 0 and 20,000 training galaxies: checks that it runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds, args.n_train = [0], 20_000
    warnings.simplefilter("ignore")
    sample = paper_sample(load_kalna2024())
    rows = []
    print(f"{'seed':>4}  {'exact sigma_NMAD':>16} {'outliers':>8}  "
          f"{'eps=' + format(args.eps, 'g') + ' sigma_NMAD':>18} {'outliers':>8}")
    for seed in args.seeds:
        train, test = stratified_split(sample, z="zspec", seed=seed)
        big = resample_training(train, args.n_train, seed=100 + seed)
        z_spec = np.asarray(test["zspec"])
        row = []
        for eps in (0.0, args.eps):
            z_phot = np.asarray(quiet_fit(big, k=50, search_eps=eps).predict(test)["z_phot"])
            row += [sigma_nmad(z_phot, z_spec), outlier_fraction(z_phot, z_spec)]
        rows.append(row)
        print(f"{seed:>4}  {row[0]:16.5f} {row[1]:8.2%}  {row[2]:18.5f} {row[3]:8.2%}")
    mean = np.mean(rows, axis=0)
    print(f"mean  {mean[0]:16.5f} {mean[1]:8.2%}  {mean[2]:18.5f} {mean[3]:8.2%}")
    if args.output:
        Table(rows=[[seed, *row] for seed, row in zip(args.seeds, rows)],
              names=["seed", "sigma_nmad_exact", "outliers_exact", "sigma_nmad_approx",
                     "outliers_approx"], meta={"eps": args.eps, "n_train": args.n_train}
              ).write(args.output, overwrite=True)


if __name__ == "__main__":
    main()
