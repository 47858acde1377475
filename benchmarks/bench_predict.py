"""
Predict throughput of PhotoZModel, against a plain NumPy baseline timed in
the same run. Not a test: run on demand.

    python -m benchmarks.bench_predict [--n 1000000] [--k 30 50 100]

What it measures, on the paper's seed-0 training set (3684 galaxies):

- end-to-end ``PhotoZModel.predict`` (Table in, Table out: unit
  conversion, colours, neighbour scoring, Gram, Cholesky, clipping,
  refit) on ``--n`` galaxies resampled from the catalogue with
  photometric noise, for each k on 1 and 2 Numba threads;
- the plain NumPy/SciPy baseline: scipy cKDTree neighbours for all
  galaxies at once, then per-galaxy Gram + Cholesky solves with the
  same clipping (``tests/reference.py``), on a subsample;
- JIT warm-up: a fresh process's import + first predict, with an empty
  Numba cache (compile) and with the cache warm;
- missing bands at k = 50: the same galaxies with one and with two bands
  removed at random per galaxy, against all bands, on 2 threads.

Prints a table and writes ``benchmarks/results/predict.ecsv``.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numba
import numpy as np
from astropy import units as u
from astropy.table import Table

from photoz_numba import PhotoZModel
from photoz_numba.datasets import load_kalna2024, paper_sample
from photoz_numba.selection import stratified_split

from ._common import BANDS, numpy_baseline, resample

HERE = os.path.dirname(os.path.abspath(__file__))


def missing_band_rates(train, queries, k=50, seed=1):
    """Throughput with 0, 1 and 2 bands removed at random per galaxy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = PhotoZModel(BANDS, k=k).fit(train)
    rng = np.random.default_rng(seed)
    rates = {}
    for n_remove in (0, 1, 2):
        table = queries.copy()
        order = np.argsort(rng.random((len(table), len(BANDS))), axis=1)[:, :n_remove]
        for b, band in enumerate(BANDS):
            table[band] = np.where((order == b).any(axis=1), np.nan, table[band].value) * u.uJy
        model.predict(table[:2000], n_threads=2)   # patterns cached, kernel loaded
        start = time.perf_counter()
        model.predict(table, n_threads=2)
        rates[n_remove] = len(table) / (time.perf_counter() - start)
    print(f"missing bands, k={k}, 2 threads: all bands {rates[0]:,.0f} gal/s, one removed "
          f"{rates[1]:,.0f} (x{rates[1] / rates[0]:.2f}), two removed {rates[2]:,.0f} "
          f"(x{rates[2] / rates[0]:.2f})", flush=True)
    return {f"rate_{n}_removed": r for n, r in rates.items()}


def warmup_seconds(cache_dir):
    """A fresh process's import + first predict on 1000 galaxies."""
    code = (
        "import time; t0 = time.perf_counter()\n"
        "import warnings; warnings.simplefilter('ignore')\n"
        "from photoz_numba import PhotoZModel\n"
        "from photoz_numba.datasets import *\n"
        "from photoz_numba.selection import stratified_split\n"
        "s = paper_sample(load_kalna2024()); tr, te = stratified_split(s, seed=0)\n"
        "m = PhotoZModel(list(KALNA2024_BANDS)).fit(tr)\n"
        "t1 = time.perf_counter(); m.predict(te); t2 = time.perf_counter()\n"
        "print(t2 - t0, t2 - t1)\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, nargs="+", default=[30, 50, 100])
    parser.add_argument("--n-baseline", type=int, default=3000)
    parser.add_argument("--missing-only", action="store_true",
                        help="only the missing-band throughput")
    args = parser.parse_args()

    sample = paper_sample(load_kalna2024())
    train, _ = stratified_split(sample, z="zspec", seed=0)
    queries = resample(sample, args.n)
    if args.missing_only:
        missing_band_rates(train, queries)
        return
    with tempfile.TemporaryDirectory() as cache:
        cold = warmup_seconds(cache)
        warm = warmup_seconds(cache)
    print(f"fresh process, import + first predict of 921: cold cache {cold[0]:.2f} s "
          f"(predict {cold[1]:.2f} s), warm cache {warm[0]:.2f} s "
          f"(predict {warm[1]:.3f} s)")

    rows = []
    for k in args.k:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = PhotoZModel(BANDS, k=k).fit(train)
        model.predict(queries[:1000])          # compile / load outside the timing
        rate = {}
        for threads in (1, 2):
            start = time.perf_counter()
            out = model.predict(queries, n_threads=threads)
            rate[threads] = args.n / (time.perf_counter() - start)
        base = queries[:args.n_baseline]
        start = time.perf_counter()
        z_base = numpy_baseline(model, base, k)
        rate_base = args.n_baseline / (time.perf_counter() - start)
        agree = np.max(np.abs(z_base - out["z_phot"][:args.n_baseline]))
        rows.append({"k": k, "n": args.n, "rate_1_thread": rate[1],
                     "rate_2_threads": rate[2], "speedup_2_over_1": rate[2] / rate[1],
                     "rate_numpy_baseline": rate_base,
                     "ratio_1_thread_over_numpy": rate[1] / rate_base,
                     "ratio_2_threads_over_numpy": rate[2] / rate_base,
                     "max_abs_diff_vs_numpy": agree})
        print(f"k={k:>3}: {rate[1]:>9.0f} gal/s on 1 thread, {rate[2]:>9.0f} on 2 "
              f"(x{rate[2] / rate[1]:.2f}); NumPy baseline {rate_base:>6.0f} gal/s -> "
              f"x{rate[1] / rate_base:.1f} (1 thread), x{rate[2] / rate_base:.1f} "
              f"(2 threads); max |dz_phot| vs baseline {agree:.1e}", flush=True)
    missing = missing_band_rates(train, queries)
    table = Table(rows)
    table.meta.update({"missing_bands": missing})
    table.meta.update({"cold_start_s": cold[0], "warm_start_s": warm[0],
                       "numba": numba.__version__, "cpu_count": os.cpu_count()})
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    table.write(os.path.join(HERE, "results", "predict.ecsv"), overwrite=True)


if __name__ == "__main__":
    main()
