"""
Make the figures the docs embed (run by `tox -e build_docs` before Sphinx):

    python scripts/make_doc_figures.py [DOCS_DIR]

- ``_generated/reproduce/``: ``photoz-numba reproduce --output`` (10 seeds,
  tuned), whose ``figure1.png`` the "Reproducing the paper" page shows.
- ``_generated/calibration/``: the test predictions of the 10 seeds
  (default hyper-parameters) before and after ``PhotoZModel.calibrate``,
  each through ``photoz-numba calibrate`` (report and plots), and their
  coverage curves together, for the "Calibration" page.
- ``_generated/performance/throughput_vs_k.png``: the benchmark suite's
  recorded run (``docs/measured/benchmarks.ecsv``) for the "Performance"
  page.

Needs the catalogue: PHOTOZ_NUMBA_KALNA2024 or network access.
"""

import os
import sys

from photoz_numba.cli import main


def make_calibration(target):
    """Test predictions of the 10 seeds before and after recalibration."""
    import matplotlib
    matplotlib.use("Agg")
    from astropy.table import vstack

    from photoz_numba import PhotoZModel
    from photoz_numba.calibration import calibration_report
    from photoz_numba.datasets import (KALNA2024_BANDS, load_kalna2024, paper_sample,
                                       stratified_split)
    from photoz_numba.plotting import plot_coverage

    sample = paper_sample(load_kalna2024())
    outputs = []
    for seed in range(10):
        train, test = stratified_split(sample, z="zspec", seed=seed)
        model = PhotoZModel(list(KALNA2024_BANDS)).fit(train).calibrate(train, seed=seed)
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
    figure = plot_coverage(reports, labels=["before (z_phot_err_raw)",
                                            "after (z_phot_err)"],
                           title="10 seeds x 921 test galaxies")
    figure.savefig(os.path.join(target, "coverage.png"), dpi=120)


def make_performance(docs):
    """Throughput against k, from the suite's recorded run
    (``docs/measured/benchmarks.ecsv``, written by benchmarks/run.py)."""
    import importlib.util
    import matplotlib
    matplotlib.use("Agg")
    from astropy.table import Table

    spec = importlib.util.spec_from_file_location(
        "benchmarks_run", os.path.join(os.path.dirname(__file__), "..", "benchmarks", "run.py"))
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    target = os.path.join(docs, "_generated", "performance")
    os.makedirs(target, exist_ok=True)
    table = Table.read(os.path.join(docs, "measured", "benchmarks.ecsv"))
    run.plot_throughput(table, os.path.join(target, "throughput_vs_k.png"))


def make(docs):
    make_performance(docs)
    target = os.path.join(docs, "_generated", "reproduce")
    if main(["reproduce", "--output", target]) != 0:
        raise SystemExit("reproduce failed")
    make_calibration(os.path.join(docs, "_generated", "calibration"))


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(__file__), "..", "docs")
    make(sys.argv[1] if len(sys.argv) > 1 else default)
