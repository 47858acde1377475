"""
Where the knots of the p(z)'s PIT recalibration go (docs: calibration,
"Knots at the percentiles"), judged on training galaxies alone:

    python -m analysis.pit_knots [OUTPUT.ecsv] [--dataset paper|lsst|both]
                                 [--seeds 0-2] [--repeats 5] [--smoke]

For each data set a model with the default hyper-parameters is fitted
and calibrated on the training galaxies (the paper's: the training parts
of the stratified 4:1 splits of ``--seeds``; the LSST-like benchmark's:
its training file, asinh magnitudes), and the out-of-fold inputs of its
p(z) are kept (what `PhotoZModel.calibrate` hands to
`photoz_numba.pdf.fit_pz_shape`). Those galaxies are then split in two
halves at random, ``--repeats`` times: the p(z)'s shape and
recalibration are learnt on one half (`fit_pz_shape`, with each set of
knot levels below) and judged on the other, both ways round. Printed
and written, as means over the halves (and seeds): the share of the
held-out galaxies below ``z_phot_025`` and above ``z_phot_975`` (their
recalibrated PIT below 0.025 and above 0.975; 2.5 % each if
calibrated), the share within [z_phot_160, z_phot_840], the CDE loss and
the PIT's KS distance. No test galaxy is used.

Knot levels: every 0.05 (21 knots, ``calibrate``'s before 2026-12-07),
every 0.025 (41), and ``calibrate``'s (`photoz_numba.pdf.PIT_LEARN_LEVELS`:
every 0.05 and the percentile columns' levels 0.025, 0.16, 0.84 and
0.975). ``--smoke``: seed 0 of the paper on 1500 training galaxies and
2000 of the LSST-like file, one repeat.
"""

import argparse
import os
import time
from unittest import mock

import numpy as np
from astropy.table import Table

from photoz_numba import PhotoZModel, pdf
from photoz_numba.datasets import KALNA2024_BANDS, load_kalna2024, paper_sample
from photoz_numba.photometry import lupton_softening
from photoz_numba.selection import stratified_split

from benchmarks._common import parse_seeds

LSST_BANDS = ["u", "g", "r", "i", "z", "y"]
EVERY_005, EVERY_0025 = np.linspace(0.0, 1.0, 21), np.linspace(0.0, 1.0, 41)
#: Each set of knots: (stored levels, learnt levels), as `photoz_numba.pdf`
#: holds them in PIT_LEVELS and PIT_LEARN_LEVELS.
KNOTS = {"every 0.05 (21)": (EVERY_005, EVERY_005),
         "every 0.025 (41)": (EVERY_0025, EVERY_0025),
         "every 0.05 + percentiles (calibrate's)": (pdf.PIT_LEVELS, pdf.PIT_LEARN_LEVELS)}


def pz_inputs(model, table, z):
    """``calibrate`` the model on its training ``table`` and return what
    it handed to `fit_pz_shape`: z_hat, scale, pulls, neighbours, z_spec
    and z_max of the out-of-fold training galaxies."""
    kept = []
    learn = pdf.fit_pz_shape

    def keep(*args):
        kept.append(args)
        return learn(*args)

    with mock.patch.object(pdf, "fit_pz_shape", keep):
        model.calibrate(table, z=z)
    return kept[0]


def held_out(inputs, levels, repeats):
    """The figures of the held-out halves, learnt with knots at ``levels``
    (stored, learnt), averaged over the halves."""
    z_hat, scale, pulls, neighbours, z_spec, z_max = inputs
    ok = np.isfinite(z_hat) & np.isfinite(scale) & (scale > 0) & np.isfinite(z_spec)
    figures = []
    with mock.patch.object(pdf, "PIT_LEVELS", levels[0]), \
            mock.patch.object(pdf, "PIT_LEARN_LEVELS", levels[1]):
        for repeat in range(repeats):
            half = np.random.default_rng(100 + repeat).permutation(z_hat.size) % 2 == 0
            for learn in (half, ~half):
                on, off = learn & ok, ~learn & ok
                state = pdf.fit_pz_shape(z_hat[on], scale[on], pulls, neighbours[on],
                                         z_spec[on], z_max)
                scores = pdf.pz_scores(state, z_hat[off], scale[off], neighbours[off],
                                       z_spec[off])
                pit = scores[:, 2]
                figures.append([np.mean(pit < 0.025), np.mean(pit > 0.975),
                                np.mean((pit > 0.16) & (pit < 0.84)),
                                pdf.cde_from_scores(scores), pdf.pit_ks(pit)])
    return np.mean(figures, axis=0)


def training_sets(dataset, seeds, smoke):
    """(name, model, training table, redshift column) of each training set."""
    if dataset in ("paper", "both"):
        sample = paper_sample(load_kalna2024())
        for seed in seeds:
            train, _ = stratified_split(sample, z="zspec", seed=seed)
            if smoke:
                train = train[:1500]
            yield f"paper, seed {seed}", PhotoZModel(list(KALNA2024_BANDS)).fit(train), \
                train, "zspec"
    if dataset in ("lsst", "both"):
        where = os.environ.get("PHOTOZ_NUMBA_LSST_LIKE",
                               os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                            "data"))
        train = Table.read(os.path.join(where, "lsst_like_train.fits"))
        if smoke:
            train = train[:2000]
        columns = {band: f"{band}_flux" for band in LSST_BANDS}
        model = PhotoZModel(LSST_BANDS, columns=columns,
                            softening=lupton_softening(train, columns))
        yield "LSST-like", model.fit(train, z="redshift"), train, "redshift"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", nargs="?", default="pit_knots.ecsv")
    parser.add_argument("--dataset", choices=("paper", "lsst", "both"), default="both")
    parser.add_argument("--seeds", default="0-2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    seeds = [0] if args.smoke else parse_seeds(args.seeds)
    repeats = 1 if args.smoke else args.repeats
    start = time.perf_counter()
    inputs = {}
    for name, model, train, z in training_sets(args.dataset, seeds, args.smoke):
        data = "paper" if name.startswith("paper") else "LSST-like"
        inputs.setdefault(data, []).append(pz_inputs(model, train, z))
    rows = []
    for data, sets in inputs.items():
        for knots, levels in KNOTS.items():
            below, above, c68, cde, ks = np.mean([held_out(one, levels, repeats)
                                                  for one in sets], axis=0)
            rows.append({"data": data, "knots": knots, "below_025": below,
                         "above_975": above, "c95": 1.0 - below - above, "c68": c68,
                         "cde_loss": cde, "pit_ks": ks})
    table = Table(rows)
    for column in ("below_025", "above_975", "c95", "c68", "cde_loss", "pit_ks"):
        table[column].format = ".4f"
    table.meta.update(seeds=[int(seed) for seed in seeds], repeats=repeats,
                      smoke=bool(args.smoke))
    table.write(args.output, overwrite=True)
    print("\n".join(table.pformat(max_width=-1, max_lines=-1)))
    print(f"\n{time.perf_counter() - start:.0f} s; written to {args.output}")
    return table


if __name__ == "__main__":
    main()
