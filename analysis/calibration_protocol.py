"""
Coverage of z_phot_err before and after recalibration on the paper's protocol:

    python -m analysis.calibration_protocol [--seeds 0-9] [--output DIR]

For each seed: the stratified 4:1 split of the paper's sample, a model with
the default hyper-parameters fitted on the training part, calibrated with
``PhotoZModel.calibrate`` on the training part only (5-fold out-of-fold
predictions, form chosen by CV), and the test part predicted. Printed per
seed, with mean +- std over the seeds: the fraction of test galaxies with
|z_phot - z_spec| < z_phot_err and < 2 z_phot_err before (the raw RMS
residual) and after recalibration; then each calibration form's figures
on the test parts and its CV loss on the training parts.

``--smoke`` runs seed 0 only, to check that it runs.

Needs the catalogue: PHOTOZ_NUMBA_KALNA2024 or network access.
"""

import argparse
import time

import numpy as np
from astropy.table import Table

from photoz_numba import PhotoZModel
from photoz_numba.calibration import (CALIBRATION_FORMS, GAUSSIAN_COVERAGE,
                                      ErrorCalibration, coverage_loss)
from photoz_numba.datasets import KALNA2024_BANDS, load_kalna2024, paper_sample
from photoz_numba.selection import OutOfFold, stratified_split


def within(out, error_column, k):
    ok = ~np.ma.getmaskarray(out["z_phot"])
    residual = np.abs(np.asarray(out["z_phot"][ok]) - np.asarray(out["zspec"][ok]))
    return float(np.mean(residual < k * np.asarray(out[error_column][ok])))


def mean_std(values):
    values = np.asarray(values, dtype=float)
    std = values.std(ddof=1) if values.size > 1 else np.nan
    return f"{100 * values.mean():6.2f} ± {100 * std:4.2f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3")
    parser.add_argument("--output", help="also write the per-seed table (ECSV) here")
    parser.add_argument("--smoke", action="store_true",
                        help="seed 0 only: checks that it runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds = "0"
    first, _, last = args.seeds.partition("-")
    seeds = (list(range(int(first), int(last) + 1)) if last
             else [int(s) for s in args.seeds.split(",")])
    sample = paper_sample(load_kalna2024())
    rows, form_rows = [], []
    start = time.perf_counter()
    print(f"{'seed':>4} {'form':>15} {'before <1err':>12} {'<2err':>6} "
          f"{'after <1err':>11} {'<2err':>6}")
    for seed in seeds:
        train, test = stratified_split(sample, z="zspec", seed=seed)
        model = PhotoZModel(list(KALNA2024_BANDS)).fit(train, z="zspec")
        model.calibrate(train, z="zspec", seed=seed)
        out = model.predict(test)
        row = {"seed": seed, "form": model.calibration_.form,
               "before_1": within(out, "z_phot_err_raw", 1),
               "before_2": within(out, "z_phot_err_raw", 2),
               "after_1": within(out, "z_phot_err", 1),
               "after_2": within(out, "z_phot_err", 2)}
        rows.append(row)
        print(f"{seed:>4} {row['form']:>15} {100 * row['before_1']:11.2f}% "
              f"{100 * row['before_2']:5.2f}% {100 * row['after_1']:10.2f}% "
              f"{100 * row['after_2']:5.2f}%", flush=True)
        # Every form on the same out-of-fold predictions (those calibrate used).
        oof = OutOfFold(model, train, "zspec", n_folds=5, n_bins=14,
                        seed=seed).predict(nearest=True)
        z_phot, z_err, distance = oof.z_phot, oof.z_phot_err, oof.nearest_distance
        ok = np.isfinite(z_phot) & (z_err > 0)
        z_spec = np.asarray(train["zspec"])
        comparison = model.calibration_.comparison
        test_ok = ~np.ma.getmaskarray(out["z_phot"])
        test_distance = model.predict_arrays(test, nearest=True).nearest_distance[test_ok]
        for form in CALIBRATION_FORMS:
            cal = ErrorCalibration.fit(z_phot[ok], z_err[ok], z_spec[ok], form=form,
                                       distance=distance[ok])
            cov = cal.coverage(np.asarray(out["z_phot"][test_ok]),
                               np.asarray(out["z_phot_err_raw"][test_ok]),
                               np.asarray(out["zspec"][test_ok]), test_distance)
            cv = comparison[comparison["form"] == form][0]
            form_rows.append({"seed": seed, "form": form, "scale": cal.scale,
                              "power": cal.power, "slope": cal.slope,
                              "distance_power": cal.distance_power,
                              "cv_1": cv["cv_coverage_1sigma"], "cv_2": cv["cv_coverage_2sigma"],
                              "cv_loss": cv["cv_loss"], "test_1": cov[1], "test_2": cov[2],
                              "test_loss": coverage_loss(cov[1], cov[2])})
    per_seed = Table(rows)
    print("-" * 60)
    print(f"mean ± std over {len(seeds)} seeds (%): before <1err "
          f"{mean_std(per_seed['before_1'])}, <2err {mean_std(per_seed['before_2'])}")
    print(f"{'':>32}after  <1err {mean_std(per_seed['after_1'])}, <2err "
          f"{mean_std(per_seed['after_2'])}")
    print(f"{'':>32}target <1err {100 * GAUSSIAN_COVERAGE[1]:6.2f} ± 3, <2err "
          f"{100 * GAUSSIAN_COVERAGE[2]:6.2f} ± 2")
    print(f"forms chosen: {dict(zip(*np.unique(per_seed['form'], return_counts=True)))}")
    forms = Table(form_rows)
    print("\nEach form, mean ± std over the seeds (%): CV on the training parts, then test")
    print(f"{'form':>15} {'CV <1err':>14} {'CV <2err':>14} {'CV loss':>8} "
          f"{'test <1err':>14} {'test <2err':>14} {'test loss':>9}  power  slope  d_pow")
    for form in CALIBRATION_FORMS:
        f = forms[forms["form"] == form]
        print(f"{form:>15} {mean_std(f['cv_1'])} {mean_std(f['cv_2'])} "
              f"{np.mean(f['cv_loss']):8.2f} {mean_std(f['test_1'])} {mean_std(f['test_2'])} "
              f"{np.mean(f['test_loss']):9.2f}  {np.mean(f['power']):.2f}  "
              f"{np.mean(f['slope']):+.3f}  {np.mean(f['distance_power']):.2f}")
    print(f"{len(seeds)} seeds in {time.perf_counter() - start:.0f} s")
    if args.output:
        per_seed.write(f"{args.output}/calibration_protocol.ecsv", overwrite=True)
        forms.write(f"{args.output}/calibration_forms.ecsv", overwrite=True)


if __name__ == "__main__":
    main()
