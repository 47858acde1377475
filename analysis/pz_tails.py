"""
The upper end of p(z): truncated at the training set's highest redshift,
and its wide tail (docs: calibration, "The upper end"):

    python -m analysis.pz_tails [OUTPUT.ecsv] [--seeds 0-9] [--smoke]

The p(z)'s mixture has a wide Gaussian tail (`photoz_numba.pdf.SHAPES`:
weight 0.03 or 0.06, width 20 times the galaxy's error) for catastrophic
outliers, and `PhotoZModel.calibrate` truncates p(z) at the highest
redshift of the training set. For each seed of the paper's protocol
(default hyper-parameters), three ways, each calibrated on the training
part alone (the shape chosen by the CDE loss of the out-of-fold training
galaxies, as `calibrate` does):

- ``untruncated``: no truncation at the top (as before it was made);
- ``truncated``: `calibrate` as it is;
- ``wider``: truncated, the shape chosen from a wider grid that adds tail
  weights 0 and 0.01 and tail widths 5 and 10 to `SHAPES`.

The test part then gives: coverage of the 68 % and 95 % intervals, the
PIT's KS distance, the CDE loss, the summed P(z > 6) of the galaxies at
z <= 6 and of those above it, and the summed P(z > 7). ``--smoke``: seed
0 on 1500 training galaxies.
"""

import argparse
import time
from unittest import mock

import numpy as np
from astropy.table import Table

from photoz_numba import PhotoZModel, pdf
from photoz_numba.datasets import KALNA2024_BANDS, load_kalna2024, paper_sample
from photoz_numba.selection import stratified_split

from benchmarks._common import parse_seeds

from .pdf_acceptance import judge

#: The ways compared: whether p(z) is truncated at the top, and the tails
#: the shape is chosen among ((tail_weight, tail_width) pairs; None:
#: `SHAPES`).
WAYS = {"untruncated": (False, None), "truncated": (True, None),
        "wider": (True, ((0.0, 20.0), (0.01, 20.0), (0.03, 20.0), (0.06, 20.0), (0.03, 5.0),
                         (0.03, 10.0)))}


_FIT_PZ_SHAPE = pdf.fit_pz_shape


def _untruncated(z_hat, scale, pulls, neighbours, z_spec, z_max=None):
    """`fit_pz_shape` as it was before p(z) was truncated at the top."""
    return _FIT_PZ_SHAPE(z_hat, scale, pulls, neighbours, z_spec)


def _shapes(tails):
    if tails is None:
        return pdf.SHAPES
    return tuple((weight, width, tail, tail_width, 1.0, 0.7)
                 for weight in (0.4, 0.6, 0.8) for width in (0.6, 0.8, 1.0)
                 for tail, tail_width in tails)


def one_seed(sample, seed, n_train=None):
    train, test = stratified_split(sample, z="zspec", seed=seed)
    if n_train is not None:
        train = train[:n_train]
    z_spec = np.asarray(test["zspec"], dtype=float)
    rows = []
    for name, (truncated, tails) in WAYS.items():
        model = PhotoZModel(KALNA2024_BANDS).fit(train, z="zspec")
        start = time.perf_counter()
        choose = pdf.fit_pz_shape if truncated else _untruncated
        with mock.patch.object(pdf, "SHAPES", _shapes(tails)), \
                mock.patch.object(pdf, "fit_pz_shape", choose):
            model.calibrate(train, z="zspec")
        seconds = time.perf_counter() - start
        figures, _ = judge(model, test, "zspec")
        above6 = np.asarray(model.probability_above(test, 6.0))
        above7 = np.asarray(model.probability_above(test, 7.0))
        state = model.pz_
        rows.append({"seed": seed, "way": name, "z_max": np.nan if state.z_max is None
                     else state.z_max, "core_weight": state.core_weight,
                     "core_width": state.core_width, "tail_weight": state.tail_weight,
                     "tail_width": state.tail_width, "calibrate_s": seconds,
                     **{key: figures[key] for key in ("c68", "c95", "pit_ks", "cde_loss")},
                     "p6_below": float(above6[z_spec <= 6].sum()),
                     "p6_above": float(above6[z_spec > 6].sum()),
                     "n_above_6": int((z_spec > 6).sum()), "p7": float(above7.sum())})
        print(" ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                       for key, value in rows[-1].items()), flush=True)
    return rows


def main(output="pz_tails.ecsv", seeds=range(10), n_train=None):
    sample = paper_sample(load_kalna2024())
    rows = [row for seed in seeds for row in one_seed(sample, seed, n_train)]
    table = Table(rows)
    table.meta.update(seeds=list(seeds), n_train=n_train)
    table.write(output, overwrite=True)
    print(f"\nmeans over {len(list(seeds))} seeds' test parts")
    print(f"{'way':<12} {'68 %':>6} {'95 %':>6} {'KS':>7} {'CDE':>7} {'P6 z<=6':>8} "
          f"{'P6 z>6':>7} {'(n)':>5} {'P7':>6} {'calibrate':>10}")
    for name in WAYS:
        part = table[table["way"] == name]
        print(f"{name:<12} {part['c68'].mean():6.3f} {part['c95'].mean():6.3f} "
              f"{part['pit_ks'].mean():7.4f} {part['cde_loss'].mean():7.3f} "
              f"{part['p6_below'].mean():8.2f} {part['p6_above'].mean():7.2f} "
              f"{part['n_above_6'].mean():5.1f} {part['p7'].mean():6.2f} "
              f"{part['calibrate_s'].mean():9.0f}s")


def cli(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("output", nargs="?", default="pz_tails.ecsv")
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3")
    parser.add_argument("--smoke", action="store_true",
                        help="seed 0 on 1500 training galaxies: checks that it runs")
    args = parser.parse_args(argv)
    if args.smoke:
        main(args.output, [0], 1500)
        return
    main(args.output, parse_seeds(args.seeds))


if __name__ == "__main__":
    cli()
