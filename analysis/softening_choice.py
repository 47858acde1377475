"""
Asinh or log magnitudes on the paper's catalogue, chosen by each seed's
tuning (issue 22, point 3): per redshift bin, the test figures of each
choice and of the one each seed's cross-validation prefers. Writes an
ECSV table and prints it (docs: method, "Accuracy by redshift").

    python -m analysis.softening_choice [OUTPUT.ecsv] [--factors 0,0.25,0.5,1]
                                        [--seeds 0-9] [--tune 50] [--smoke]

For each seed and each factor f, a model with the JWST rule's second
group (``second_group=0.5``) and asinh magnitudes softened by f times
`~photoz_numba.photometry.lupton_softening` of the training part (f = 0:
log magnitudes) is tuned (``--tune`` trials, 5-fold CV, seeded with the
seed) and calibrated on the training part of the seed's stratified 4:1
split, then predicts its test part: what ``python -m
benchmarks.peers.compare --dataset paper --tune 50 --softening F
--second-group 0.5 --no-peer`` does for our model. "CV-chosen" takes,
in each seed, the factor whose tuning reached the lowest CV score (the
tuning's own objective, sigma_NMAD + 0.1 outlier fraction, on the
training part): no test part takes part in the choice.

Rows: each factor and each CV choice among the first two, three, ...
factors; columns: the mean over the seeds of the best CV score and of
the test sigma_NMAD and outlier fraction, and the pooled test figures
(sigma_NMAD, outlier fraction, median dz) per bin of z_spec from 4 up,
and the median dz of the galaxies with z_phot >= 6 (binned by the
prediction rather than the truth). ``--smoke``: seed 0, 2 trials, factors
0 and 0.5.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
from astropy.table import Table

from benchmarks.peers import metrics
from benchmarks.peers.compare import our_model, paper_dataset, parse_seeds
from photoz_numba.metrics import outlier_fraction, sigma_nmad

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(HERE, "..", "docs", "measured", "softening_choice.ecsv")
#: Bins of z_spec reported (lower edges of the benchmark's bins).
HIGH_BINS = (4.0, 5.0, 6.0)


def run_factor(factor, seeds, tune):
    """Per seed: (best CV score, test z_phot, test z_spec) of the tuned
    and calibrated model with softening ``factor``."""
    data = paper_dataset(seeds, factor)
    runs = {}
    for seed, train, test in data.splits:
        start = time.perf_counter()
        model = our_model(data, train, tune, seed, second_group=0.5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = model.predict(test)
        cv = float(np.min(model.tuning_history_["cv_score"]))
        runs[seed] = (cv, np.asarray(out["z_phot"].filled(np.nan), dtype=float),
                      np.asarray(test[data.z], dtype=float))
        print(f"  softening {factor:g}, seed {seed}: CV score {cv:.5f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    return runs


def figures(name, runs, choice):
    """One row: ``choice`` maps each seed to the factor whose run it takes."""
    seeds = sorted(choice)
    picked = [runs[choice[seed]][seed] for seed in seeds]
    per_seed = []
    for _, z_phot, z_true in picked:
        ok = np.isfinite(z_phot)
        per_seed.append((sigma_nmad(z_phot[ok], z_true[ok]),
                         outlier_fraction(z_phot[ok], z_true[ok])))
    z_phot = np.concatenate([p[1] for p in picked])
    z_true = np.concatenate([p[2] for p in picked])
    ok = np.isfinite(z_phot)
    z_phot, z_true = z_phot[ok], z_true[ok]
    row = {"choice": name,
           "factors": " ".join(f"{choice[seed]:g}" for seed in seeds),
           "cv_score": float(np.mean([p[0] for p in picked])),
           "sigma_nmad": float(np.mean([p[0] for p in per_seed])),
           "outlier_fraction": float(np.mean([p[1] for p in per_seed]))}
    for entry in metrics.per_bin_table(z_phot, z_true):
        if entry["z_low"] in HIGH_BINS:
            tag = f"{entry['z_low']:g}_{entry['z_high']:g}"
            row[f"count_{tag}"] = entry["count"]
            for key in ("sigma_nmad", "outlier_fraction", "median_dz"):
                row[f"{key}_{tag}"] = entry[key]
    top = z_phot >= 6.0
    row["count_zphot_6"] = int(top.sum())
    row["median_dz_zphot_6"] = (float(np.median((z_phot[top] - z_true[top]) / (1 + z_true[top])))
                                if top.any() else np.nan)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].strip())
    parser.add_argument("output", nargs="?", default=DEFAULT_OUTPUT)
    parser.add_argument("--factors", default="0,0.25,0.5,1",
                        help="softening factors, 0 for log magnitudes")
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--tune", type=int, default=50)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    factors = [float(text) for text in args.factors.split(",")]
    seeds, tune = parse_seeds(args.seeds), args.tune
    if args.smoke:
        factors, seeds, tune = [0.0, 0.5], [0], 2
    runs = {factor: run_factor(factor, seeds, tune) for factor in factors}
    rows = [figures(f"softening {factor:g}" if factor else "log magnitudes", runs,
                    dict.fromkeys(seeds, factor)) for factor in factors]
    for n in range(2, len(factors) + 1):
        options = factors[:n]
        choice = {seed: min(options, key=lambda factor: runs[factor][seed][0])
                  for seed in seeds}
        rows.append(figures("CV-chosen among " + ", ".join(f"{f:g}" for f in options),
                            runs, choice))
    table = Table(rows)
    table.meta.update({"seeds": args.seeds if not args.smoke else "0", "tune": tune,
                       "second_group": 0.5, "date": time.strftime("%Y-%m-%d"),
                       "load_average": list(os.getloadavg())})
    for row in table:
        print(f"{row['choice']:<36} CV {row['cv_score']:.5f}  test {row['sigma_nmad']:.5f} / "
              f"{100 * row['outlier_fraction']:.2f} %  " + "  ".join(
                  f"z {low:g}: {row[f'sigma_nmad_{low:g}_{low + 1:g}']:.4f} / "
                  f"{100 * row[f'outlier_fraction_{low:g}_{low + 1:g}']:.1f} % / "
                  f"{row[f'median_dz_{low:g}_{low + 1:g}']:+.4f}"
                  for low in HIGH_BINS if f"sigma_nmad_{low:g}_{low + 1:g}" in row.colnames)
              + f"  z_phot >= 6: {row['median_dz_zphot_6']:+.4f} ({row['count_zphot_6']})")
    table.write(args.output, overwrite=True)
    print(f"written: {os.path.relpath(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
