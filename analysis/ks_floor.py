"""
How small can the per-seed PIT KS distance be? (docs: calibration,
"Folds"). A simulation of a perfectly calibrated p(z) on the paper's
protocol:

    python -m analysis.ks_floor [OUTPUT.ecsv] [--draws N] [--smoke]

Each draw gives the paper sample's 4605 galaxies a PIT value from a
uniform distribution (what a perfectly calibrated p(z) gives them), splits
them 3684 : 921 at random as a seed's training and test parts, learns the
PIT recalibration from the training part as `PhotoZModel.calibrate` does
(`photoz_numba.pdf.pit_knots` at its levels, or `regional_knots` in 2
regions of a uniform z_hat, each galaxy's knots interpolated in z_hat
between the regions' centres as the kernels do), maps the test part's
PIT through it and measures its KS distance from uniform
(`photoz_numba.pdf.pit_ks`). For comparison: no recalibration at all
(the sampling of 921 values alone) and fewer knots. Printed: the mean
per-seed distance, how often it exceeds 0.03, and how often a mean over
ten seeds does (ten draws at random), at or above the measured 0.034.
"""

import argparse

import numpy as np
from astropy.table import Table

from photoz_numba.pdf import PIT_LEVELS, pit_knots, pit_ks, regional_knots

N_SAMPLE, N_TEST = 4605, 921
#: The protocol's mean per-seed KS distance (docs: calibration).
MEASURED = 0.034


def _mapped(pit, knots, levels):
    return np.interp(pit, knots, levels)


def _regional(z_hat_train, pit_train, z_hat_test, pit_test, n_regions):
    centres, knots = regional_knots(z_hat_train, pit_train, n_regions)
    # Each test galaxy's knots, interpolated level by level in z_hat
    # between the centres (held constant beyond them).
    own = np.array([np.interp(z_hat_test, centres, column) for column in knots.T]).T
    return np.array([np.interp(p, k, PIT_LEVELS) for p, k in zip(pit_test, own)])


def one_draw(rng):
    """Per-seed KS distances of one split, for each recalibration."""
    pit = rng.random(N_SAMPLE)
    z_hat = rng.random(N_SAMPLE)          # regions are drawn on it; unrelated to the PIT
    order = rng.permutation(N_SAMPLE)
    test, train = order[:N_TEST], order[N_TEST:]
    out = {"none": pit_ks(pit[test]),
           "calibrate's knots": pit_ks(_mapped(pit[test], pit_knots(pit[train]),
                                               PIT_LEVELS))}
    for n_knots in (5, 3):
        levels = np.linspace(0.0, 1.0, n_knots)
        knots = np.quantile(pit[train], levels)
        knots[0], knots[-1] = 0.0, 1.0
        out[f"{n_knots} knots"] = pit_ks(_mapped(pit[test], knots, levels))
    out["calibrate's knots in 2 regions"] = pit_ks(_regional(z_hat[train], pit[train],
                                                             z_hat[test], pit[test], 2))
    return out


def main(output="ks_floor.ecsv", draws=3000, seed=0):
    rng = np.random.default_rng(seed)
    results = [one_draw(rng) for _ in range(draws)]
    rows = []
    for name in results[0]:
        ks = np.array([result[name] for result in results])
        means = ks[rng.integers(0, ks.size, (20_000, 10))].mean(axis=1)
        rows.append({"recalibration": name, "mean_ks": ks.mean(),
                     "p_seed_above_0.03": (ks > 0.03).mean(),
                     "p_mean10_above_0.03": (means > 0.03).mean(),
                     f"p_mean10_at_least_{MEASURED}": (means >= MEASURED).mean()})
    table = Table(rows)
    table.meta.update(draws=draws, n_sample=N_SAMPLE, n_test=N_TEST, seed=seed)
    table.write(output, overwrite=True)
    print(f"perfectly calibrated p(z), {draws} splits of {N_SAMPLE} into "
          f"{N_SAMPLE - N_TEST} : {N_TEST}")
    print(f"{'recalibration learnt on the training part':<44} mean KS  P(>0.03)  "
          f"P(mean of 10 > 0.03)  P(mean of 10 >= {MEASURED})")
    for row in table:
        print(f"{row['recalibration']:<44} {row['mean_ks']:.4f}  {row['p_seed_above_0.03']:7.2f}"
              f"  {row['p_mean10_above_0.03']:20.2f}  {row[f'p_mean10_at_least_{MEASURED}']:20.3f}")


def cli(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("output", nargs="?", default="ks_floor.ecsv")
    parser.add_argument("--draws", type=int, default=3000)
    parser.add_argument("--smoke", action="store_true", help="50 draws: checks that it runs")
    args = parser.parse_args(argv)
    main(args.output, 50 if args.smoke else args.draws)


if __name__ == "__main__":
    cli()
