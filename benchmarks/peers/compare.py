"""
photoz_numba against RAIL's FlexZBoost on the same splits, in one run:

    python -m benchmarks.peers.compare [--dataset paper|lsst|both] [--seeds 0-9]
                                       [--quick] [--tune N] [--rail-venv DIR]
                                       [--softening F] [--second-group S] [--no-peer]

``paper``: the 10 stratified 4:1 splits (`photoz_numba.selection.stratified_split`,
seeds ``--seeds``) of the paper's sample (``PHOTOZ_NUMBA_KALNA2024``), 11
bands. ``lsst``: trained on ``lsst_like_train.fits``, judged on
``lsst_like_test.fits`` (``PHOTOZ_NUMBA_LSST_LIKE``: their directory,
default ``../shared/data``), ugrizy fluxes in nJy.

Our model: `PhotoZModel` with its default hyper-parameters (or tuned on
the training part, ``--tune N`` trials), calibrated on the training part
(`PhotoZModel.calibrate`); on the LSST-like (forced) photometry, with
asinh magnitudes softened by the training file's flux errors
(`photoz_numba.photometry.lupton_softening`); ``--softening F``: on the
paper's data too, with F times that softening; ``--second-group S``:
``PhotoZModel(second_group=S)`` (the rule for JWST-like catalogues, docs:
method), on both data sets. Two rows are ours: its
p(z) (``photoz_numba``), and the calibrated Gaussian N(z_phot,
z_phot_err) of the same model without its p(z) (``photoz_numba
Gaussian``), so that the p(z) is judged against the Gaussian it replaces
on the same splits and grid. FlexZBoost: RAIL's informer and estimator with
their defaults, run by ``flexzboost_worker.py`` in RAIL's own virtual
environment (made by ``setup_rail.sh`` when missing), given magnitudes and
magnitude errors, non-detections (flux <= 0) at RAIL's non-detection value,
which RAIL replaces by the band's limiting magnitude (here the training
part's median 1-sigma depth). FlexZBoost tunes its bump and sharpening
parameters on a validation quarter of the training part. Nothing is tuned
on a test part.

Writes ``benchmarks/results/peers_<dataset>.ecsv`` (one row per code),
``peers_<dataset>_per_seed.ecsv`` and ``peers_<dataset>_by_z.ecsv`` (with
``_quick``, ``_tune<N>``, ``_asinh<F>``, ``_second<S>`` and ``_ours`` (``--no-peer``:
FlexZBoost not run) in the names for those runs), and prints them. The
per-bin table gives our ``split_neighbours`` flag too: the fraction
flagged and the outlier fractions of flagged and unflagged galaxies.
``--quick``: the first seed only, and 3000 + 3000 rows of the LSST-like
files, to test the plumbing.
"""

import argparse
import copy
import datetime
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
from astropy import units as u
from astropy.table import Table

from photoz_numba import PhotoZModel
from photoz_numba.datasets import KALNA2024_BANDS, load_kalna2024, paper_sample
from photoz_numba.flags import SPLIT_NEIGHBOURS
from photoz_numba.photometry import lupton_softening
from photoz_numba.selection import stratified_split

from . import metrics
from .._common import parse_seeds

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
DEFAULT_VENV = pathlib.Path.home() / ".cache" / "photoz_numba-peers" / "rail-venv"
LSST_BANDS = list("ugrizy")
PERCENTILES = ("z_phot_160", "z_phot_840", "z_phot_025", "z_phot_975")
#: The rows of the comparison: our p(z), the calibrated Gaussian of the
#: same model (N(z_phot, z_phot_err), what the p(z) replaces) and FlexZBoost.
CODES = ("photoz_numba", "photoz_numba Gaussian", "FlexZBoost")


class Dataset:
    """One data set's bands, columns, redshift grid and splits."""

    def __init__(self, name, bands, columns, errors, z, z_grid, splits, ref_band,
                 forced=False):
        self.name, self.bands, self.columns, self.errors = name, bands, columns, errors
        self.z, self.z_grid, self.splits, self.ref_band = z, z_grid, splits, ref_band
        #: Forced photometry (fluxes <= 0 are measurements): asinh magnitudes.
        self.forced = forced
        #: Factor on the Lupton softening, for asinh magnitudes without
        #: forced photometry (0: log magnitudes).
        self.softening = 0.0


def paper_dataset(seeds, softening=0.0):
    """The paper protocol: a (seed, train, test) per seed; asinh
    magnitudes with ``softening`` times the Lupton softening when > 0."""
    sample = paper_sample(load_kalna2024())
    bands = list(KALNA2024_BANDS)
    splits = [(seed, *stratified_split(sample, z="zspec", seed=seed)) for seed in seeds]
    data = Dataset("paper", bands, {b: b for b in bands}, {b: f"{b}_err" for b in bands},
                   "zspec", np.linspace(0.0, 7.0, 701), splits, ref_band="f150w")
    data.softening = softening
    return data


def lsst_dataset(quick):
    """The LSST-like benchmark: one split, the training and the test file."""
    folder = pathlib.Path(os.environ.get("PHOTOZ_NUMBA_LSST_LIKE", HERE.parents[2] / "shared"
                                         / "data"))
    train = Table.read(folder / "lsst_like_train.fits")
    test = Table.read(folder / "lsst_like_test.fits")
    if quick:
        train, test = train[:3000], test[:3000]
    return Dataset("lsst", LSST_BANDS, {b: f"{b}_flux" for b in LSST_BANDS},
                   {b: f"{b}_flux_err" for b in LSST_BANDS}, "redshift",
                   np.linspace(0.0, 3.0, 301), [(0, train, test)], ref_band="i", forced=True)


# -- photoz_numba -------------------------------------------------------------

def our_model(data, train, tune, seed, second_group=None):
    """PhotoZModel fitted (or tuned) and calibrated on the training part;
    for forced photometry, asinh magnitudes softened by the training part's
    flux errors (the documented rule, docs: method)."""
    softening = None
    if data.forced or data.softening:
        softening = lupton_softening(train, data.columns, data.errors)
        if data.softening:
            softening = {band: data.softening * value for band, value in softening.items()}
    model = PhotoZModel(data.bands, columns=data.columns, softening=softening,
                        second_group=second_group)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if tune:
            model.tune(train, z=data.z, n_iter=tune, random_state=seed)
        else:
            model.fit(train, z=data.z)
        model.calibrate(train, z=data.z)
    return model


def gaussian_of(model):
    """A copy of a calibrated model without its p(z): its ``z_phot_err``
    is then the calibrated Gaussian error and ``z_phot`` the kernel's."""
    gaussian = copy.copy(model)
    gaussian.pz_ = None
    return gaussian


def our_outputs(model, test, z_true, z_grid):
    """Point estimate, 68 % and 95 % intervals, p(z) on the grid and PIT
    of the rows the model predicts (a dict with ``predicted``, the mask of
    those rows, and ``split``, their split_neighbours flag).

    The intervals are the percentile columns of `predict` where it gives
    them, else z_phot +- 1 and 2 z_phot_err; the p(z) and the PIT are
    `PhotoZModel.pdf` and `PhotoZModel.cdf` where the model has a p(z),
    else those of the Gaussian N(z_phot, z_phot_err) on the grid.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.predict(test)
    predicted = ~np.ma.getmaskarray(out["z_phot"])
    z_phot = np.asarray(out["z_phot"].filled(np.nan), dtype=float)[predicted]
    err = np.asarray(out["z_phot_err"].filled(np.nan), dtype=float)[predicted]
    z_true = z_true[predicted]
    if all(name in out.colnames for name in PERCENTILES):
        low68, high68, low95, high95 = (
            np.asarray(out[name].filled(np.nan), dtype=float)[predicted]
            for name in PERCENTILES)
        intervals = "percentiles"
    else:
        low68, high68, low95, high95 = z_phot - err, z_phot + err, z_phot - 2 * err, \
            z_phot + 2 * err
        intervals = "z_phot +- 1, 2 z_phot_err"
    # A row flagged no_error has z_phot but no error and no p(z): it counts
    # in the point figures, not in those of the p(z) (``n_no_pdf`` says how
    # many were left out).
    has_pdf = np.isfinite(err)
    rows = test[predicted][has_pdf]
    if getattr(model, "pz_", None) is not None:
        pdf = metrics.normalise(model.pdf(rows, z_grid), z_grid)
        pit = np.asarray(model.cdf(rows, z_true[has_pdf]), dtype=float)
    else:
        pdf = metrics.gaussian_pdf(z_phot[has_pdf], err[has_pdf], z_grid)
        pit = metrics.pit_from_pdf(pdf, z_grid, z_true[has_pdf])
    split = (np.asarray(out["z_phot_flag"])[predicted] & SPLIT_NEIGHBOURS) != 0
    return {"predicted": predicted, "z_phot": z_phot, "z_true": z_true,
            "intervals": tuple(bound[has_pdf] for bound in (low68, high68, low95, high95)),
            "interval_kind": intervals, "pdf": pdf, "pit": pit, "split": split,
            "has_pdf": has_pdf}


# -- FlexZBoost ---------------------------------------------------------------

def magnitudes(table, data):
    """AB magnitudes and their errors per band ((n, n_bands) each); a flux
    <= 0, masked or not finite (a non-detection) is 99, RAIL's
    non-detection value."""
    mag = np.empty((len(table), len(data.bands)))
    err = np.empty_like(mag)
    for b, band in enumerate(data.bands):
        column = table[data.columns[band]]
        flux = np.ma.filled(u.Quantity(column, column.unit).to_value(u.uJy)
                            if column.unit is not None else np.ma.asarray(column, float),
                            np.nan)
        flux_err = table[data.errors[band]]
        flux_err = np.ma.filled(u.Quantity(flux_err, flux_err.unit).to_value(u.uJy)
                                if flux_err.unit is not None
                                else np.ma.asarray(flux_err, float), np.nan)
        detected = np.isfinite(flux) & (flux > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            mag[:, b] = np.where(detected, 23.9 - 2.5 * np.log10(flux), 99.0)
            err[:, b] = np.where(detected, 2.5 / np.log(10) * flux_err / flux, 99.0)
    return mag, err


def depth(table, data):
    """Each band's limiting magnitude: the median over the rows of the
    magnitude whose flux equals the flux error (1-sigma depth)."""
    limits = []
    for band in data.bands:
        column = table[data.errors[band]]
        flux_err = np.ma.filled(u.Quantity(column, column.unit).to_value(u.uJy)
                                if column.unit is not None
                                else np.ma.asarray(column, float), np.nan)
        good = np.isfinite(flux_err) & (flux_err > 0)
        limits.append(float(np.median(23.9 - 2.5 * np.log10(flux_err[good]))))
    return np.array(limits)


def flexzboost(python, data, train, test, seed, log):
    """FlexZBoost's p(z) on ``data.z_grid`` and its mode for the test rows,
    through the worker in RAIL's venv (a dict of the worker's outputs)."""
    train_mag, train_err = magnitudes(train, data)
    test_mag, test_err = magnitudes(test, data)
    with tempfile.TemporaryDirectory() as scratch:
        inputs, outputs = pathlib.Path(scratch, "in.npz"), pathlib.Path(scratch, "out.npz")
        np.savez(inputs, bands=np.array(data.bands), ref_band=data.ref_band,
                 train_mag=train_mag, train_mag_err=train_err,
                 train_z=np.asarray(train[data.z], dtype=float),
                 test_mag=test_mag, test_mag_err=test_err, mag_limits=depth(train, data),
                 zmin=data.z_grid[0], zmax=data.z_grid[-1], nzbins=len(data.z_grid),
                 seed=seed)
        env = {key: value for key, value in os.environ.items()
               if key not in ("PYTHONPATH", "PYTHONHOME")}
        with open(log, "a") as stream:
            subprocess.run([str(python), str(HERE / "flexzboost_worker.py"), str(inputs),
                            str(outputs)], check=True, stdout=stream, stderr=stream,
                           env=env, cwd=scratch)
        with np.load(outputs) as result:
            out = {name: result[name] for name in result.files}
    if not np.allclose(out["z_grid"], data.z_grid):
        raise RuntimeError("FlexZBoost's grid is not the comparison's grid")
    return out


def flexzboost_outputs(result, z_true, z_grid):
    """The same dict as `our_outputs` for FlexZBoost: its mode, central
    intervals from its p(z), its p(z) and the PIT."""
    pdf = metrics.normalise(result["pdf"], z_grid)
    quantiles = metrics.quantiles_from_pdf(pdf, z_grid, [0.16, 0.84, 0.025, 0.975])
    return {"predicted": np.ones(len(z_true), bool), "z_phot": result["zmode"],
            "z_true": z_true, "intervals": tuple(quantiles.T),
            "interval_kind": "central intervals of p(z)", "pdf": pdf,
            "pit": metrics.pit_from_pdf(pdf, z_grid, z_true)}


# -- the comparison -------------------------------------------------------------

def score(out, z_grid):
    """The per-seed figures of one code's outputs, as a dict."""
    low68, high68, low95, high95 = out["intervals"]
    z_true = out["z_true"]
    has_pdf = out.get("has_pdf", np.ones(z_true.size, dtype=bool))
    z_pdf = z_true[has_pdf]
    return {**metrics.point_metrics(out["z_phot"], z_true),
            "n_no_pdf": int((~has_pdf).sum()),
            "coverage_68": metrics.coverage(z_pdf, low68, high68),
            "coverage_95": metrics.coverage(z_pdf, low95, high95),
            "pit_ks": metrics.ks_uniform(out["pit"]),
            "cde_loss": metrics.cde_loss(out["pdf"], z_grid, z_pdf)}


def run_dataset(data, python, tune, log, second_group=None):
    """Both codes (ours only when ``python`` is None) on every split of
    ``data``: (per-seed table, summary table, per-bin table)."""
    codes = CODES if python is not None else CODES[:2]
    rows, pooled = [], {code: {"z_phot": [], "z_true": [], "pit": []} for code in codes}
    split_flag = []
    for seed, train, test in data.splits:
        z_true = np.asarray(test[data.z], dtype=float)
        start = time.perf_counter()
        model = our_model(data, train, tune, seed, second_group)
        ours = our_outputs(model, test, z_true, data.z_grid)
        ours_seconds = time.perf_counter() - start
        split_flag.append(ours["split"])
        gaussian = our_outputs(gaussian_of(model), test, z_true, data.z_grid)
        runs = [("photoz_numba", ours, ours_seconds),
                ("photoz_numba Gaussian", gaussian, ours_seconds)]
        if python is not None:
            start = time.perf_counter()
            result = flexzboost(python, data, train, test, seed, log)
            theirs = flexzboost_outputs(result, z_true, data.z_grid)
            runs.append(("FlexZBoost", theirs, time.perf_counter() - start))
        for code, out, seconds in runs:
            row = {"seed": seed, "code": code, "n_train": len(train), "n_test": len(test),
                   "n_predicted": int(out["predicted"].sum()), **score(out, data.z_grid),
                   "intervals": out["interval_kind"], "seconds": seconds}
            if code.startswith("photoz_numba"):
                row["params"] = (f"k={model.k} gamma={model.gamma:.4g} lam={model.lam:.4g} "
                                 f"window={model.window} clip_sigma={model.clip_sigma}"
                                 + (" asinh" if model.softening else ""))
            else:
                row["params"] = (f"bump={float(result['bump_threshold']):.4g} "
                                 f"sharpen={float(result['sharpen_alpha']):.4g}")
            rows.append(row)
            for name in pooled[code]:
                pooled[code][name].append(out[name])
        print(f"  {data.name} seed {seed}: "
              + "; ".join(f"{r['code']} {r['sigma_nmad']:.4f} / {100 * r['outlier_fraction']:.2f} %"
                          for r in rows[-len(runs):])
              + f" ({', '.join(f'{run[2]:.0f} s' for run in runs)})", flush=True)
    per_seed = Table(rows)
    summary, by_z = [], []
    split_flag = np.concatenate(split_flag)
    for code in codes:
        mine = per_seed[per_seed["code"] == code]
        z_phot, z_true, pit = (np.concatenate(pooled[code][name])
                               for name in ("z_phot", "z_true", "pit"))
        entry = {"code": code, "n_seeds": len(mine)}
        for name in ("sigma_nmad", "outlier_fraction", "coverage_68", "coverage_95",
                     "cde_loss"):
            entry[name] = float(np.mean(mine[name]))
            entry[f"{name}_std"] = float(np.std(mine[name], ddof=1)) if len(mine) > 1 else 0.0
        entry["pit_ks_pooled"] = metrics.ks_uniform(pit)
        entry["pit_ks_mean"] = float(np.mean(mine["pit_ks"]))
        # What a perfectly calibrated p(z) would score: the mean KS distance
        # of as many uniform draws as a test part has rows.
        entry["pit_ks_mean_if_uniform"] = metrics.ks_uniform_expected(
            int(np.median(mine["n_predicted"])))
        entry["seconds"] = float(np.sum(mine["seconds"]))
        summary.append(entry)
        for row in metrics.per_bin_table(z_phot, z_true):
            if row["count"]:
                by_z.append({"code": code, **row, **split_figures(
                    z_phot, z_true, split_flag if code == "photoz_numba" else None, row)})
    return per_seed, Table(summary), Table(by_z)


def split_figures(z_phot, z_true, flagged, row):
    """In one bin of z_true: the fraction of galaxies with the
    split_neighbours flag and the outlier fractions of flagged and
    unflagged ones (NaN without flags)."""
    if flagged is None:
        return dict.fromkeys(("split_flagged", "outliers_flagged", "outliers_unflagged"),
                             np.nan)
    inside = metrics.in_bin(z_true, row["z_low"], row["z_high"])
    outlier = np.abs(z_phot - z_true) / (1 + z_true) > metrics.OUTLIER
    flag = flagged[inside]
    return {"split_flagged": float(flag.mean()),
            "outliers_flagged": float(outlier[inside][flag].mean()) if flag.any() else np.nan,
            "outliers_unflagged": (float(outlier[inside][~flag].mean()) if (~flag).any()
                                   else np.nan)}


def rail_python(venv):
    """The python of RAIL's venv, made by setup_rail.sh if missing or stale."""
    done = subprocess.run(["bash", str(HERE / "setup_rail.sh"), str(venv)], check=True,
                          stdout=subprocess.PIPE, text=True)
    return pathlib.Path(done.stdout.strip().splitlines()[-1])


def show(title, table):
    """Print a table with 4 significant decimals."""
    table = table.copy()
    for name in table.colnames:
        if table[name].dtype.kind == "f":
            table[name].format = ".4g"
    print(f"\n{title}")
    table.pprint(max_lines=-1, max_width=-1)


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("paper", "lsst", "both"), default="both")
    parser.add_argument("--seeds", default="0-9", help="paper splits' seeds: 0-9 or 0,1,2")
    parser.add_argument("--quick", action="store_true",
                        help="first seed only, 3000 + 3000 LSST-like rows")
    parser.add_argument("--tune", type=int, default=0, metavar="N",
                        help="tune our model with N trials on each training part")
    parser.add_argument("--rail-venv", type=pathlib.Path,
                        default=pathlib.Path(os.environ.get("PHOTOZ_NUMBA_RAIL_VENV",
                                                            DEFAULT_VENV)))
    parser.add_argument("--results", type=pathlib.Path, default=RESULTS)
    parser.add_argument("--softening", type=float, default=0.0, metavar="F",
                        help="paper data: asinh magnitudes, F times the Lupton softening")
    parser.add_argument("--second-group", type=float, default=None, metavar="S",
                        help="our model with second_group=S")
    parser.add_argument("--no-peer", action="store_true",
                        help="our code only: FlexZBoost is not run")
    args = parser.parse_args(argv)
    seeds = parse_seeds(args.seeds)[:1] if args.quick else parse_seeds(args.seeds)
    args.results.mkdir(parents=True, exist_ok=True)
    python, rail = None, []
    if not args.no_peer:
        python = rail_python(args.rail_venv)
        freeze = subprocess.run([str(python), "-m", "pip", "freeze"], check=True,
                                stdout=subprocess.PIPE, text=True).stdout
        rail = [line for line in freeze.splitlines()
                if line.split("==")[0].lower() in ("pz-rail-base", "pz-rail-flexzboost",
                                                   "flexcode", "xgboost", "qp-prob")]
    started = time.perf_counter()
    load = os.getloadavg()
    print(f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, "
          f"{os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"python {sys.version.split()[0]}; RAIL venv: {', '.join(rail)}", flush=True)
    suffix = (("_quick" if args.quick else "") + (f"_tune{args.tune}" if args.tune else "")
              + (f"_asinh{args.softening:g}" if args.softening else "")
              + (f"_second{args.second_group:g}" if args.second_group else "")
              + ("_ours" if args.no_peer else ""))
    log = args.results / f"peers_flexzboost{suffix}.log"
    log.write_text("")
    names = ("paper", "lsst") if args.dataset == "both" else (args.dataset,)
    for name in names:
        data = (paper_dataset(seeds, args.softening) if name == "paper"
                else lsst_dataset(args.quick))
        per_seed, summary, by_z = run_dataset(data, python, args.tune, log,
                                              args.second_group)
        meta = {"dataset": name, "tune": args.tune, "quick": args.quick,
                "softening": args.softening, "second_group": args.second_group,
                "date": f"{datetime.date.today()}", "cpus": os.cpu_count(),
                "load_at_start": list(load), "rail": rail,
                "z_grid": [float(data.z_grid[0]), float(data.z_grid[-1]), len(data.z_grid)]}
        for table, part in ((summary, ""), (per_seed, "_per_seed"), (by_z, "_by_z")):
            table.meta.update(meta)
            table.write(args.results / f"peers_{name}{part}{suffix}.ecsv", overwrite=True)
        show(f"{name}: per seed", per_seed)
        show(f"{name}: mean over {len(data.splits)} split(s) (std over seeds)", summary)
        show(f"{name}: by z_true, pooled over the test parts", by_z)
    load = os.getloadavg()
    print(f"\n{time.perf_counter() - started:.0f} s; load {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}; tables in {args.results}")


if __name__ == "__main__":
    main()
