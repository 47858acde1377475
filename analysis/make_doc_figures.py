"""
Make the figures the docs embed (run by `tox -e build_docs` before Sphinx):

    python -m analysis.make_doc_figures [DOCS_DIR] [--rerun] [--smoke]

Every figure is drawn from a run recorded in ``DOCS_DIR/measured/``, so
that building the docs runs no analysis:

- ``_generated/reproduce/figure1.png`` (the "Reproducing the paper"
  page): the test predictions of ``photoz-numba reproduce`` (10 seeds,
  tuned), recorded in ``measured/reproduce_predictions.ecsv``;
- ``_generated/calibration/``: the test predictions of the 10 seeds
  (default hyper-parameters) before and after ``PhotoZModel.calibrate``
  (``measured/calibration_predictions.ecsv``), each through
  ``photoz-numba calibrate`` (report and plots), and their coverage
  curves together, for the "Calibration" page;
- ``_generated/performance/``: the benchmark suite's recorded run
  (``measured/benchmarks.ecsv``, written by ``python -m benchmarks.run``
  and ``python -m benchmarks.bench_startup --record``) for the
  "Performance" page: throughput against k, and throughput, start-up and
  memory in one figure.

``--rerun`` (needs the catalogue: PHOTOZ_NUMBA_KALNA2024 or network)
runs the protocol and the calibration again and records them first, a
few minutes on 2 cores. ``--smoke`` reruns them from seed 0 only (2
tuning trials) into DOCS_DIR (give a temporary directory), with the
repository's recorded benchmark run, to check that it runs.
"""

import argparse
import os
import shutil

import numpy as np

from photoz_numba.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = range(10)
REPRODUCE = "reproduce_predictions.ecsv"
CALIBRATION = "calibration_predictions.ecsv"
BENCHMARKS = "benchmarks.ecsv"


def _compact(table, names):
    """The columns ``names`` of a predictions table, floats as float32
    (ample for a figure, half the file), without masks (NaN instead)."""
    from astropy.table import Table
    out = Table()
    for name in names:
        column = table[name]
        if column.dtype.kind == "f":
            out[name] = np.ma.filled(np.ma.asarray(column, dtype=float), np.nan).astype(
                np.float32)
        else:
            out[name] = np.ma.getdata(column)
        out[name].description = getattr(column, "description", None)
    return out


def record_reproduce(measured, seeds=SEEDS, n_iter=None):
    """``photoz-numba reproduce`` (tuned per seed), its test predictions
    recorded in ``measured``."""
    import tempfile

    from astropy.table import Table
    with tempfile.TemporaryDirectory() as target:
        options = ["--seeds", ",".join(str(s) for s in seeds)]
        options += ["--n-iter", str(n_iter)] if n_iter else []
        if main(["--quiet", "reproduce", "--output", target, *options]) != 0:
            raise SystemExit("reproduce failed")
        predictions = Table.read(os.path.join(target, "predictions.ecsv"))
    out = _compact(predictions, ["seed", "zspec", "z_phot", "z_phot_err"])
    out.meta["comment"] = [f"photoz-numba reproduce {' '.join(options)}: test predictions"]
    out.write(os.path.join(measured, REPRODUCE), overwrite=True)


def record_calibration(measured, seeds=SEEDS):
    """Test predictions of the seeds, default hyper-parameters, before and
    after recalibration on each training part, recorded in ``measured``."""
    from astropy.table import vstack

    from photoz_numba import PhotoZModel
    from photoz_numba.datasets import KALNA2024_BANDS, load_kalna2024, paper_sample
    from photoz_numba.selection import stratified_split

    sample = paper_sample(load_kalna2024())
    outputs = []
    for seed in seeds:
        train, test = stratified_split(sample, z="zspec", seed=seed)
        # The Gaussian error alone (the page's p(z) section has its own figures).
        model = PhotoZModel(list(KALNA2024_BANDS)).fit(train)
        model.calibrate(train, seed=seed, pz=False)
        out = model.predict(test)
        out["seed"] = np.full(len(out), seed)
        outputs.append(out)
    out = _compact(vstack(outputs), ["seed", "zspec", "z_phot", "z_phot_err_raw",
                                     "z_phot_err"])
    out.meta["comment"] = ["default model, PhotoZModel.calibrate(train, pz=False) per seed: "
                           "test predictions"]
    out.write(os.path.join(measured, CALIBRATION), overwrite=True)


def make_reproduce(docs, measured):
    """figure1.png from the recorded protocol's test predictions."""
    from astropy.table import Table

    from photoz_numba.plotting import plot_zphot_zspec
    table = Table.read(os.path.join(measured, REPRODUCE))
    n_seeds = len(np.unique(table["seed"]))
    top, _ = plot_zphot_zspec(table["zspec"], table["z_phot"], table["z_phot_err"],
                              errors="z_phot_err (raw: RMS residual, not calibrated)")
    top.set_title(f"photoz_numba tuned per seed, {n_seeds} seeds x "
                  f"{len(table) // n_seeds} test galaxies")
    target = os.path.join(docs, "_generated", "reproduce")
    os.makedirs(target, exist_ok=True)
    top.figure.savefig(os.path.join(target, "figure1.png"), dpi=150)


def make_calibration(docs, measured):
    """The recorded test predictions before and after recalibration, each
    through ``photoz-numba calibrate``, and both coverage curves."""
    from astropy.table import Table

    from photoz_numba.calibration import calibration_report
    from photoz_numba.plotting import plot_coverage

    target = os.path.join(docs, "_generated", "calibration")
    os.makedirs(target, exist_ok=True)
    path = os.path.join(target, "predictions.ecsv")
    shutil.copyfile(os.path.join(measured, CALIBRATION), path)
    for name, column, label in (("before", "z_phot_err_raw", "z_phot_err_raw (raw)"),
                                ("after", "z_phot_err", "z_phot_err (calibrated)")):
        # 1200 MCMC steps of the pull mixture rather than 4000: 900 kept,
        # over 50 of its autocorrelation times (about 16 steps), as the
        # mixture fit asks, and ample for the medians drawn, in a third
        # of the build time.
        if main(["--quiet", "calibrate", path, "--z", "zspec", "--z-phot-err", column,
                 "--label", label, "--steps", "1200",
                 "-o", os.path.join(target, name)]) != 0:
            raise SystemExit(f"calibrate ({name}) failed")
    out = Table.read(path)
    n_seeds = len(np.unique(out["seed"]))
    reports = [calibration_report(out, z_phot_err=column, mixture=False)
               for column in ("z_phot_err_raw", "z_phot_err")]
    ax = plot_coverage(reports, labels=["before: raw error (z_phot_err_raw)",
                                        "after: calibrated error (z_phot_err)"])
    ax.set_title(f"{n_seeds} seeds x {len(out) // n_seeds} test galaxies")
    ax.figure.savefig(os.path.join(target, "coverage.png"), dpi=120, bbox_inches="tight")


def make_performance(docs, measured):
    """Throughput against k, and throughput, start-up and memory together,
    from the suite's recorded run."""
    from astropy.table import Table

    from benchmarks.run import plot_overview, plot_throughput

    target = os.path.join(docs, "_generated", "performance")
    os.makedirs(target, exist_ok=True)
    table = Table.read(os.path.join(measured, BENCHMARKS))
    plot_throughput(table, os.path.join(target, "throughput_vs_k.png"))
    plot_overview(table, os.path.join(target, "overview.png"))


def make(docs, rerun=False, smoke=False):
    """Every figure into ``docs/_generated`` from ``docs/measured``;
    ``rerun``: run the protocol and the calibration again first and record
    them there; ``smoke``: rerun from seed 0 only, with the repository's
    recorded benchmark run."""
    import matplotlib
    matplotlib.use("Agg")
    measured = os.path.join(docs, "measured")
    os.makedirs(measured, exist_ok=True)
    if smoke:
        shutil.copyfile(os.path.join(ROOT, "docs", "measured", BENCHMARKS),
                        os.path.join(measured, BENCHMARKS))
    if rerun or smoke:
        seeds = range(1) if smoke else SEEDS
        record_reproduce(measured, seeds, n_iter=2 if smoke else None)
        record_calibration(measured, seeds)
    make_performance(docs, measured)
    make_reproduce(docs, measured)
    make_calibration(docs, measured)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("docs", nargs="?", default=os.path.join(ROOT, "docs"),
                        help="the docs directory (default: the repository's)")
    parser.add_argument("--rerun", action="store_true",
                        help="run the protocol and the calibration again and record "
                             "them in DOCS/measured (needs the catalogue)")
    parser.add_argument("--smoke", action="store_true",
                        help="rerun from seed 0 only, into DOCS (a temporary directory): "
                             "checks that it runs")
    args = parser.parse_args()
    make(args.docs, rerun=args.rerun, smoke=args.smoke)
