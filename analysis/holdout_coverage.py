"""
Do the p(z)'s intervals hold on galaxies the model has not seen, judged on
the LSST-like training file alone? (docs: calibration, "The LSST-like test
file's 68 % interval"):

    python -m analysis.holdout_coverage [OUTPUT.ecsv] [--repeats R] [--hold H]

Each repeat holds out H random galaxies of the training file (default
2000 of its 10,000; seed 100 + the repeat's number), fits and calibrates
the default survey model (asinh magnitudes with the Lupton softening of
the galaxies it is fitted on, `PhotoZModel.calibrate` with p(z)) on the
rest, and measures on the held-out galaxies the coverage of
[z_phot_160, z_phot_840], of [z_phot_025, z_phot_975] and of
z_phot +- z_phot_err. No test-file galaxy is used, unless
``--test-file`` asks for each repeat's model's coverage of the test file
too (``test_c68`` ...), to tell whether a test-file figure far from the
held-out galaxies' is the model's or the file's; nothing is chosen on it.

Printed and written per repeat, then the mean, its standard error, the
spread over the repeats, the spread a binomial draw of H galaxies alone
would give, and what is left of the spread once that is taken out: the
spread of the fitted and calibrated model itself, which a single test
file's figure carries on top of its own binomial spread. ``--smoke``: two
repeats holding out 200 of the training file's first 1000 galaxies.
"""

import argparse
import time

import numpy as np
from astropy.table import Table

from photoz_numba import PhotoZModel
from photoz_numba.photometry import lupton_softening

from .survey_ideas import BANDS, COLUMNS, load

LEVELS = {"c68": 0.6827, "c95": 0.9545, "gauss68": 0.6827}


def coverage(model, table, prefix=""):
    """The three coverages of ``table``'s galaxies."""
    out = model.predict(table)
    z = np.asarray(table["redshift"], dtype=float)

    def share(inside):
        return float(np.mean(np.ma.filled(inside, False)))

    return {f"{prefix}c68": share((z >= out["z_phot_160"]) & (z <= out["z_phot_840"])),
            f"{prefix}c95": share((z >= out["z_phot_025"]) & (z <= out["z_phot_975"])),
            f"{prefix}gauss68": share(np.abs(z - out["z_phot"]) <= out["z_phot_err"])}


def one_repeat(train, n_hold, seed, test=None):
    order = np.random.default_rng(seed).permutation(len(train))
    held, fit = train[order[:n_hold]], train[order[n_hold:]]
    model = PhotoZModel(BANDS, columns=COLUMNS, softening=lupton_softening(fit, COLUMNS))
    model.fit(fit, z="redshift").calibrate(fit, z="redshift")
    row = {"seed": seed, **coverage(model, held)}
    if test is not None:
        row.update(coverage(model, test, "test_"))
    return row


def summary(table, n_hold):
    """Per figure: mean, its standard error, spread over the repeats, a
    binomial draw's spread and the spread left (the model's own)."""
    lines = []
    for name, level in LEVELS.items():
        values = np.asarray(table[name])
        spread = values.std(ddof=1) if values.size > 1 else np.nan
        binomial = np.sqrt(level * (1 - level) / n_hold)
        own = np.sqrt(max(spread ** 2 - binomial ** 2, 0.0))
        lines.append(f"{name}: mean {100 * values.mean():.2f} % ± "
                     f"{100 * spread / np.sqrt(values.size):.2f} (nominal {100 * level:.2f}); "
                     f"spread {100 * spread:.2f}, binomial of {n_hold} {100 * binomial:.2f}, "
                     f"the model's own {100 * own:.2f}")
        if f"test_{name}" in table.colnames:
            on_test = np.asarray(table[f"test_{name}"])
            lines.append(f"  the same models on the test file: mean {100 * on_test.mean():.2f} "
                         f"%, from {100 * on_test.min():.2f} to {100 * on_test.max():.2f}")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", nargs="?", default=None)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--hold", type=int, default=2000)
    parser.add_argument("--test-file", action="store_true",
                        help="also each repeat's model's coverage of the test file: a "
                             "diagnostic, nothing is chosen on it")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    train, test = load(False)
    repeats, n_hold = args.repeats, args.hold
    if args.smoke:
        train, test, repeats, n_hold = train[:1000], test[:500], 2, 200
    start = time.perf_counter()
    rows = []
    for repeat in range(repeats):
        rows.append(one_repeat(train, n_hold, 100 + repeat, test if args.test_file else None))
        print(", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in rows[-1].items()), flush=True)
    table = Table(rows)
    table.meta["hold"] = n_hold
    table.meta["fitted_on"] = len(train) - n_hold
    for line in summary(table, n_hold):
        print(line)
    if args.output:
        table.write(args.output, overwrite=True)
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
