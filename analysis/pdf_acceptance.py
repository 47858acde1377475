"""
Calibration and sharpness of the p(z) (docs: calibration, "Redshift
probability distributions"):

    python -m analysis.pdf_acceptance [--dataset paper|lsst|both] [--seeds 0-9]
                                      [--folds N] [--knots M]

Paper protocol: for each seed, the stratified 4:1 split of the paper's
sample, a model with the default hyper-parameters fitted and calibrated
(`PhotoZModel.calibrate`, p(z) included) on the training part only, and
the test part predicted. LSST-like benchmark: trained and calibrated on
its training file, judged on its test file (``PHOTOZ_NUMBA_LSST_LIKE``,
default ``../shared/data``). Printed per seed and as mean ± std: coverage
of [z_phot_160, z_phot_840] and [z_phot_025, z_phot_975] (and the share
of galaxies below and above the latter), the PIT's
Kolmogorov-Smirnov distance from uniform (per seed and pooled, and pooled
in regions of z_phot), the number of regions of the p(z)'s PIT
recalibration (`photoz_numba.pdf.pit_regions`), the CDE
loss (Izbicki & Lee 2017), sigma_NMAD and outlier fraction of z_phot.

``--folds N``: the folds of `PhotoZModel.calibrate` (its default when
not given), to see how the fold models' share of the training set
changes the calibration. ``--knots M``: M + 1 knots of the p(z)'s PIT
recalibration, evenly spaced, instead of those of
`photoz_numba.pdf.PIT_LEARN_LEVELS`.
``--regions 1``: one PIT recalibration for all galaxies, as before it was
learnt region by region (``--regions 1,2,4`` to choose among those; one
region is taken when the training set allows none of those given).
``--smoke`` runs seed 0 of the paper on 1500
training galaxies, and the LSST-like set on 2000 training and 1000 test
galaxies. For the LSST-like test file it also prints its n(z) from the
stacked p(z) (`PhotoZModel.stack_pdf`) against the true redshifts: mean,
median and galaxies per 0.1 in z.
"""

import argparse
import os
import time

import numpy as np
from astropy.table import Table

from photoz_numba import PhotoZModel
from photoz_numba.datasets import KALNA2024_BANDS, load_kalna2024, paper_sample
from photoz_numba.metrics import outlier_fraction, sigma_nmad
from photoz_numba import pdf
from photoz_numba.pdf import pit_ks, pz_scores
from photoz_numba.photometry import lupton_softening
from photoz_numba.selection import stratified_split

from benchmarks._common import parse_seeds

LSST_BANDS = ["u", "g", "r", "i", "z", "y"]
#: Edges of the z_phot regions of the pooled PIT's KS distance.
REGIONS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 8.0)


def judge(model, test, z):
    """The figures of one test set (rows that could be predicted)."""
    out = model.predict(test)
    z_spec = np.asarray(test[z], dtype=float)
    ok = ~np.ma.getmaskarray(out["z_phot"])
    inside = {name: (z_spec >= np.ma.filled(out[low], np.inf))
              & (z_spec <= np.ma.filled(out[high], -np.inf))
              for name, low, high in (("c68", "z_phot_160", "z_phot_840"),
                                      ("c95", "z_phot_025", "z_phot_975"))}
    z_hat, scale, neighbours, _ = model._pz_inputs(test, None, None)
    scores = pz_scores(model.pz_, z_hat, scale, neighbours, z_spec)[ok]
    pit = model.cdf(test, z)[ok]
    z_phot = np.asarray(out["z_phot"][ok])
    return {"n": int(ok.sum()), "c68": float(inside["c68"][ok].mean()),
            "c95": float(inside["c95"][ok].mean()), "pit_ks": pit_ks(pit),
            "cde_loss": pdf.cde_from_scores(scores),
            "sigma_nmad": float(sigma_nmad(z_phot, z_spec[ok])),
            "outlier_fraction": float(outlier_fraction(z_phot, z_spec[ok])),
            "point": model.pz_.point,
            "pit_regions": 1 if model.pz_.pit_centres is None else len(model.pz_.pit_centres),
            # The 95 % interval's misses, each side (2.5 % each, nominally).
            "below_025": float((z_spec < np.ma.filled(out["z_phot_025"], -np.inf))[ok].mean()),
            "above_975": float((z_spec > np.ma.filled(out["z_phot_975"], np.inf))[ok].mean()),
            }, (pit, z_phot)


def report(name, rows, pits):
    table = Table(rows)
    for column in ("c68", "c95", "pit_ks", "cde_loss", "sigma_nmad", "outlier_fraction",
                   "below_025", "above_975"):
        table[column].format = ".4f"
    print(f"\n{name}")
    print("\n".join(table.pformat(max_width=-1, max_lines=-1)))
    if len(table) > 1:
        print("mean ± std: " + ", ".join(
            f"{column} {np.mean(table[column]):.4f} ± {np.std(table[column], ddof=1):.4f}"
            for column in ("c68", "c95", "pit_ks", "cde_loss", "sigma_nmad",
                           "outlier_fraction")))
    pit = np.concatenate([p for p, _ in pits])
    z_phot = np.concatenate([z for _, z in pits])
    print(f"pooled PIT KS distance: {pit_ks(pit):.4f}")
    regions = []
    for low, high in zip(REGIONS[:-1], REGIONS[1:]):
        inside = (z_phot >= low) & (z_phot < high)
        if inside.any():
            regions.append(f"{low}-{high}: {pit_ks(pit[inside]):.3f} ({inside.sum()})")
    print("pooled PIT KS distance by z_phot (galaxies): " + ", ".join(regions))
    return table


def nz_report(model, test, z, width=0.1, top=3.0):
    """The test set's n(z) from its stacked p(z) (`PhotoZModel.stack_pdf`)
    against its true redshifts: mean and median, and the galaxies in each
    bin of ``width`` (the stack integrated over the bin by the trapezoid
    rule on a grid of 0.01)."""
    z_true = np.asarray(test[z], dtype=float)
    grid = np.round(np.arange(0, int(round(100 * top)) + 1) * 0.01, 10)
    stacked = model.stack_pdf(test, grid)
    n_z = np.asarray(stacked["n_z"])
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (n_z[1:] + n_z[:-1]) * np.diff(grid))])
    mean = np.trapezoid(grid * n_z, grid) / cumulative[-1]
    median = np.interp(0.5 * cumulative[-1], cumulative, grid)
    print(f"\nn(z) of the test file from the stacked p(z) (grid 0 to {top:g} by 0.01): "
          f"mean {mean:.4f} (true {z_true.mean():.4f}), median {median:.4f} (true "
          f"{np.median(z_true):.4f}); {cumulative[-1]:.1f} of {stacked.meta['n_stacked']} "
          f"galaxies within the grid")
    edges = np.round(np.arange(0, top + width / 2, width), 10)
    at = np.searchsorted(grid, edges)
    stacked_counts = np.diff(cumulative[at])
    true_counts = np.histogram(z_true, edges)[0]
    rows = Table({"z_low": edges[:-1], "z_high": edges[1:], "true": true_counts,
                  "stacked": np.round(stacked_counts, 1)})
    print("\n".join(rows.pformat(max_width=-1, max_lines=-1)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("paper", "lsst", "both"), default="both")
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--folds", type=int, default=None,
                        help="calibrate's n_folds (default: calibrate's own)")
    parser.add_argument("--knots", type=int, default=None,
                        help="M: the PIT map's knots at levels 0, 1/M, ..., 1")
    parser.add_argument("--regions", default=None,
                        help="numbers of regions of the PIT recalibration to choose among, "
                             "comma-separated (default: photoz_numba.pdf.PIT_REGIONS); 1 for "
                             "one recalibration of all galaxies")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    folds = {} if args.folds is None else {"n_folds": args.folds}
    if args.knots is not None:
        pdf.PIT_LEVELS = pdf.PIT_LEARN_LEVELS = np.linspace(0.0, 1.0, args.knots + 1)
    if args.regions is not None:
        pdf.PIT_REGIONS = tuple(int(r) for r in args.regions.split(","))
    seeds = [0] if args.smoke else parse_seeds(args.seeds)
    start = time.perf_counter()
    if args.dataset in ("paper", "both"):
        sample = paper_sample(load_kalna2024())
        rows, pits = [], []
        for seed in seeds:
            train, test = stratified_split(sample, z="zspec", seed=seed)
            if args.smoke:
                train = train[:1500]
            model = PhotoZModel(list(KALNA2024_BANDS)).fit(train).calibrate(train, **folds)
            figures, pit = judge(model, test, "zspec")
            rows.append({"seed": seed, **figures})
            pits.append(pit)
        report("paper protocol, default hyper-parameters, test parts", rows, pits)
    if args.dataset in ("lsst", "both"):
        where = os.environ.get("PHOTOZ_NUMBA_LSST_LIKE",
                               os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                            "data"))
        train = Table.read(os.path.join(where, "lsst_like_train.fits"))
        test = Table.read(os.path.join(where, "lsst_like_test.fits"))
        if args.smoke:
            train, test = train[:2000], test[:1000]
        # Forced photometry: asinh magnitudes (the rule of the method page).
        columns = {band: f"{band}_flux" for band in LSST_BANDS}
        model = PhotoZModel(LSST_BANDS, columns=columns,
                            softening=lupton_softening(train, columns))
        model.fit(train, z="redshift").calibrate(train, z="redshift", **folds)
        figures, pit = judge(model, test, "redshift")
        report("LSST-like benchmark, default hyper-parameters, test file",
               [{"seed": 0, **figures}], [pit])
        nz_report(model, test, "redshift")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
