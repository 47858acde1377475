"""
Make the figures the docs embed (run by `tox -e build_docs` before Sphinx):

    python -m analysis.make_doc_figures [DOCS_DIR] [--smoke]

- ``_generated/reproduce/``: ``photoz-numba reproduce --output`` (10 seeds,
  tuned), whose ``figure1.png`` the "Reproducing the paper" page shows.
- ``_generated/calibration/``: the test predictions of the 10 seeds
  (default hyper-parameters) before and after ``PhotoZModel.calibrate``,
  each through ``photoz-numba calibrate`` (report and plots), and their
  coverage curves together, for the "Calibration" page.
- ``_generated/performance/throughput_vs_k.png``: the benchmark suite's
  recorded run (``docs/measured/benchmarks.ecsv``) for the "Performance"
  page.

``--smoke`` makes every figure from seed 0 only (2 tuning trials), into
DOCS_DIR (give a temporary directory) with the repository's recorded
benchmark run, to check that it runs.

Needs the catalogue: PHOTOZ_NUMBA_KALNA2024 or network access.
"""

import argparse
import os

from photoz_numba.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = range(10)


def make_calibration(target, seeds=SEEDS):
    """Test predictions of the 10 seeds before and after recalibration."""
    import matplotlib
    matplotlib.use("Agg")
    from astropy.table import vstack

    from photoz_numba import PhotoZModel
    from photoz_numba.calibration import calibration_report
    from photoz_numba.datasets import KALNA2024_BANDS, load_kalna2024, paper_sample
    from photoz_numba.plotting import plot_coverage
    from photoz_numba.selection import stratified_split

    sample = paper_sample(load_kalna2024())
    outputs = []
    for seed in seeds:
        train, test = stratified_split(sample, z="zspec", seed=seed)
        # The Gaussian error alone (the page's p(z) section has its own figures).
        model = PhotoZModel(list(KALNA2024_BANDS)).fit(train)
        model.calibrate(train, seed=seed, pz=False)
        outputs.append(model.predict(test))
    out = vstack(outputs)
    os.makedirs(target, exist_ok=True)
    path = os.path.join(target, "predictions.fits")
    out.write(path, overwrite=True)
    for name, column in (("before", "z_phot_err_raw"), ("after", "z_phot_err")):
        if main(["calibrate", path, "--z", "zspec", "--z-phot-err", column,
                 "-o", os.path.join(target, name)]) != 0:
            raise SystemExit(f"calibrate ({name}) failed")
    reports = [calibration_report(out, z_phot_err=column)
               for column in ("z_phot_err_raw", "z_phot_err")]
    ax = plot_coverage(reports, labels=["before: raw error (z_phot_err_raw)",
                                        "after: calibrated error (z_phot_err)"])
    ax.set_title(f"{len(outputs)} seeds x {len(out) // len(outputs)} test galaxies")
    ax.figure.savefig(os.path.join(target, "coverage.png"), dpi=120, bbox_inches="tight")


def make_performance(docs, measured=None):
    """Throughput against k, from the suite's recorded run
    (``docs/measured/benchmarks.ecsv``, written by ``python -m benchmarks.run``)."""
    import matplotlib
    matplotlib.use("Agg")
    from astropy.table import Table

    from benchmarks.run import plot_throughput

    target = os.path.join(docs, "_generated", "performance")
    os.makedirs(target, exist_ok=True)
    table = Table.read(measured or os.path.join(docs, "measured", "benchmarks.ecsv"))
    plot_throughput(table, os.path.join(target, "throughput_vs_k.png"))


def make(docs, smoke=False):
    """Every figure into ``docs/_generated``; ``smoke``: from seed 0 only,
    with the repository's recorded benchmark run."""
    measured = os.path.join(ROOT, "docs", "measured", "benchmarks.ecsv") if smoke else None
    make_performance(docs, measured)
    target = os.path.join(docs, "_generated", "reproduce")
    options = ["--seeds", "0", "--n-iter", "2"] if smoke else []
    if main(["reproduce", "--output", target, *options]) != 0:
        raise SystemExit("reproduce failed")
    make_calibration(os.path.join(docs, "_generated", "calibration"),
                     range(1) if smoke else SEEDS)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("docs", nargs="?", default=os.path.join(ROOT, "docs"),
                        help="the docs directory (default: the repository's)")
    parser.add_argument("--smoke", action="store_true",
                        help="seed 0 only, into DOCS (a temporary directory): checks "
                             "that it runs")
    args = parser.parse_args()
    make(args.docs, args.smoke)
