"""
Accuracy with missing bands, on the paper's protocol (docs: missing bands).

    python -m analysis.missing_bands [OUTPUT.ecsv] [--smoke]

Seeds 0-9, stratified 4:1 split, default hyper-parameters, fit on each
training part. On the 4605-galaxy sample, the test galaxies are predicted

- with all bands (the core's figures);
- with one band removed at random per galaxy (seeded by the split seed);
- with two bands removed at random per galaxy;
- with the three HST bands (f435w, f606w, f814w) removed.

Then on the full sample of 5611 galaxies with zspec <= 7 (any bands), the
same 4:1 split; the model trains on every training galaxy, and the
metrics are for the test galaxies that really lack a band (about 200 per
seed), and for the complete ones. ``--smoke`` runs seed 0 only, to
check that it runs.
"""

import argparse
import warnings

import numpy as np
from astropy.table import Table

from photoz_numba import PhotoZModel
from photoz_numba.datasets import KALNA2024_BANDS, load_kalna2024, paper_sample
from photoz_numba.metrics import evaluate
from photoz_numba.selection import stratified_split

BANDS = list(KALNA2024_BANDS)
HST = ["f435w", "f606w", "f814w"]


def remove_bands(table, n_remove, seed):
    """A copy of table with n_remove random bands masked in every row."""
    rng = np.random.default_rng(seed)
    out = table.copy()
    drop = np.argsort(rng.random((len(out), len(BANDS))), axis=1)[:, :n_remove]
    for b, band in enumerate(BANDS):
        rows = (drop == b).any(axis=1)
        out[band].mask = np.ma.getmaskarray(out[band]) | rows
    return out


def without(table, bands):
    out = table.copy()
    for band in bands:
        out[band].mask = True
    return out


def metrics(out):
    ok = ~np.ma.getmaskarray(out["z_phot"])
    m = evaluate(out["z_phot"][ok], out["zspec"][ok])
    m["n_unpredicted"] = int((~ok).sum())
    return m


def main(output="missing_bands.ecsv", seeds=range(10)):
    warnings.simplefilter("ignore")
    catalogue = load_kalna2024()
    sample = paper_sample(catalogue)
    full = catalogue[~np.ma.getmaskarray(catalogue["zspec"])]
    full = full[np.asarray(full["zspec"]) <= 7]
    rows = []
    for seed in seeds:
        train, test = stratified_split(sample, z="zspec", seed=seed)
        model = PhotoZModel(BANDS).fit(train)
        cases = {"all bands": test, "one band removed": remove_bands(test, 1, seed),
                 "two bands removed": remove_bands(test, 2, seed),
                 "HST bands removed": without(test, HST)}
        for case, table in cases.items():
            rows.append({"case": case, "seed": seed, **metrics(model.predict(table))})
        train, test = stratified_split(full, z="zspec", seed=seed)
        model = PhotoZModel(BANDS).fit(train)
        out = model.predict(test)
        lacking = (out["z_phot_flag"] & 3) > 0
        rows.append({"case": "full sample: lacking a band", "seed": seed,
                     **metrics(out[lacking])})
        rows.append({"case": "full sample: all bands", "seed": seed,
                     **metrics(out[~lacking])})
    table = Table(rows)
    table.meta["n_full_sample"] = len(full)
    table.write(output, overwrite=True)
    print(f"full sample (zspec <= 7): {len(full)} galaxies")
    for case in dict.fromkeys(table["case"]):
        part = table[table["case"] == case]
        spread = {name: np.std(part[name], ddof=1) if len(part) > 1 else np.nan
                  for name in ("sigma_nmad", "outlier_fraction")}
        print(f"{case:<30} n/seed {np.mean(part['n']):6.0f}  sigma_NMAD "
              f"{np.mean(part['sigma_nmad']):.5f} ± {spread['sigma_nmad']:.5f}"
              f"  outliers {100 * np.mean(part['outlier_fraction']):.2f} ± "
              f"{100 * spread['outlier_fraction']:.2f}%  unpredicted "
              f"{int(np.sum(part['n_unpredicted']))}")


def cli(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("output", nargs="?", default="missing_bands.ecsv")
    parser.add_argument("--smoke", action="store_true",
                        help="seed 0 only: checks that it runs")
    args = parser.parse_args(argv)
    main(args.output, range(1) if args.smoke else range(10))


if __name__ == "__main__":
    cli()
