"""
The first hour: how long a fresh process takes to fit and predict 1000
galaxies of the paper's catalogue, with Numba's cache empty (cold: every
kernel compiled) and filled (warm: loaded). Not a test: run on demand.

    python -m benchmarks.bench_startup [--repeat 3] [--record] [--fresh-env]

Each run is a fresh Python process (`STARTUP_CODE`):
import, fit on the seed-0 training part (3684 galaxies), predict 1000
galaxies; the catalogue's reading is not counted. A cold run gets a new
empty ``NUMBA_CACHE_DIR``; the warm runs then share the one the last cold
run filled. Cold and warm runs alternate, so that a change of machine
load hits both alike, and the medians are reported (all runs are in the
results file) with the load average before and after.

By default the processes run this interpreter, in the checkout, so they
import the package as installed for development (with the test extras,
and whatever else that environment holds: Numba, for one, imports
``coverage`` at start-up when it is installed). ``--fresh-env`` measures
what a newcomer gets from the README's first command instead: it makes a
new virtual environment in a temporary folder, runs ``python -m pip
install .`` of this checkout there (from the package index), and runs
the processes with that environment's interpreter, outside the checkout.

Writes ``benchmarks/results/startup.ecsv`` (one row per run); with
``--record`` also puts the medians into ``docs/measured/benchmarks.ecsv``
(its ``startup`` entry, which the docs' performance page draws), leaving
the rest of that recorded run as it is.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

import numba
from astropy.table import Table

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
RECORDED = os.path.join(ROOT, "docs", "measured", "benchmarks.ecsv")

STARTUP_CODE = """
import time; t0 = time.perf_counter()
import warnings; warnings.simplefilter('ignore')
from photoz_numba import PhotoZModel
from photoz_numba.datasets import KALNA2024_BANDS, load_kalna2024, paper_sample
from photoz_numba.selection import stratified_split
t1 = time.perf_counter()
s = paper_sample(load_kalna2024()); tr, te = stratified_split(s, seed=0)
t2 = time.perf_counter()
m = PhotoZModel(list(KALNA2024_BANDS)).fit(tr)
q = __import__('astropy.table', fromlist=['vstack']).vstack([te, te])[:1000]
t3 = time.perf_counter(); m.predict(q); t4 = time.perf_counter()
# import + fit + first predict, not the catalogue's reading
print((t1 - t0) + (t4 - t2), t4 - t3)
"""


def once(cache, python=sys.executable, cwd=ROOT):
    """One fresh process of ``python`` in ``cwd`` with
    ``NUMBA_CACHE_DIR=cache``: (import + fit + predict, predict alone) in
    seconds."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    out = subprocess.run([python, "-c", STARTUP_CODE], env=env, check=True,
                         capture_output=True, text=True, cwd=cwd).stdout.split()
    return float(out[0]), float(out[1])


def fresh_env(folder):
    """A new virtual environment in ``folder`` with this checkout
    installed as the README's first command installs it; its
    interpreter."""
    subprocess.run([sys.executable, "-m", "venv", folder], check=True)
    python = os.path.join(folder, "bin", "python")
    print(f"installing this checkout into a new environment ({folder}) ...", flush=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", ROOT], check=True, cwd=ROOT)
    return python


def measure(repeat=3, fresh=False):
    """``repeat`` cold and ``repeat`` warm runs, alternating: a Table of
    runs (``start``: cold or warm, ``seconds``, ``predict_seconds``) and
    the summary dict (medians, the load average before and after, and the
    environment). ``fresh``: in a new environment (`fresh_env`)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_startup_") as workdir:
        python, cwd = sys.executable, ROOT
        if fresh:
            python, cwd = fresh_env(os.path.join(workdir, "env")), workdir
        load_before = list(os.getloadavg())
        for run in range(repeat):
            cache = os.path.join(workdir, f"cache{run}")
            total, predict = once(cache, python, cwd)
            rows.append({"run": run, "start": "cold", "seconds": total,
                         "predict_seconds": predict})
            total, predict = once(cache, python, cwd)
            rows.append({"run": run, "start": "warm", "seconds": total,
                         "predict_seconds": predict})
            print(f"run {run}: cold {rows[-2]['seconds']:.2f} s, warm {total:.2f} s "
                  f"(load {os.getloadavg()[0]:.2f})", flush=True)
    table = Table(rows)
    summary = {"repeat": repeat, "load_average_before": load_before,
               "load_average_after": list(os.getloadavg()),
               "environment": ("new virtual environment, pip install ." if fresh
                               else "development (this interpreter, in the checkout)")}
    for start in ("cold", "warm"):
        runs = table[table["start"] == start]
        summary[f"{start}_s"] = float(statistics.median(runs["seconds"]))
        summary[f"{start}_predict_s"] = float(statistics.median(runs["predict_seconds"]))
    return table, summary


def record(summary, path=RECORDED):
    """Replace the ``startup`` entry of a recorded benchmark run."""
    table = Table.read(path)
    table.meta["startup"] = {name: value for name, value in summary.items()}
    table.write(path, overwrite=True)
    print(f"recorded in {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].strip())
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--record", action="store_true",
                        help=f"also write the medians into {os.path.relpath(RECORDED, ROOT)}")
    parser.add_argument("--fresh-env", action="store_true",
                        help="run in a new virtual environment with this checkout "
                             "pip-installed, as a newcomer's (needs the package index)")
    args = parser.parse_args(argv)
    table, summary = measure(args.repeat, args.fresh_env)
    print(f"{summary['environment']}: fresh process, import + fit + predict of 1000 "
          f"galaxies, median of {args.repeat}: cold cache {summary['cold_s']:.2f} s (predict "
          f"{summary['cold_predict_s']:.2f} s), warm cache {summary['warm_s']:.2f} s "
          f"(predict {summary['warm_predict_s']:.3f} s); load average "
          f"{summary['load_average_before'][0]:.2f} before, "
          f"{summary['load_average_after'][0]:.2f} after, {os.cpu_count()} CPUs")
    table.meta.update(summary)
    table.meta.update({"cpu_count": os.cpu_count(), "numba": numba.__version__})
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, "startup.ecsv")
    table.write(path, overwrite=True)
    print(f"results: {path}")
    if args.record:
        record(summary)


if __name__ == "__main__":
    main()
