"""
The performance suite of issue 8, in one command:

    python -m benchmarks.run [--quick] [--skip SECTION ...]

Needs the paper's catalogue (``PHOTOZ_NUMBA_KALNA2024`` or network).
Every figure is a ratio against a baseline timed in the same run, or a
time measured here; nothing is compared with numbers from another run.
Sections (``--skip`` any of them):

``throughput``
    End-to-end `PhotoZModel.predict` (Table in, Table out) on ``--n``
    galaxies resampled from the catalogue with photometric noise, fitted on
    the 3684 galaxies of the seed-0 training part, for k = 20, 30, 50, 100,
    200 on 1 and 2 Numba threads, and the plain NumPy/SciPy implementation
    of the same maths (scipy cKDTree neighbours, then per-galaxy
    ``scipy.linalg`` Cholesky solves with the same clipping,
    ``tests/reference.py``) on ``--n-baseline`` of them. Plot:
    ``benchmarks/results/throughput_vs_k.png``.
``large``
    Fit on 10^6 training galaxies (the training part resampled with
    noise), predict at k = 50, against the small training set's rate,
    with the exact search and the approximate one (``--search-eps``),
    and the accuracy of each on the seed-0 test part; the neighbour
    search alone with the package's k-d tree, scipy's cKDTree and the
    whole scan.
``startup``
    A fresh process's import + fit + first predict of 1000 galaxies, with
    an empty Numba cache (cold: compiles) and with it warm, medians of
    ``--repeat`` (``benchmarks/bench_startup.py``, which also runs alone).
``memory``
    Peak resident memory (``VmHWM``, reset just before the call) of
    predicting 10^6 galaxies in a fresh process, less the resident memory
    before the call (which holds the input table) and the output table's
    size.
``determinism``
    1 and 2 threads and a repeated run: bit-identical outputs.
``tune``
    `PhotoZModel.tune` with a few trials (5-fold CV each).

Times are wall-clock, best (and median) of ``--repeat`` runs, in one
process, interleaved so that a change of machine load hits every variant
alike. Prints a summary and writes ``benchmarks/results/benchmarks.ecsv``.

Why a script rather than asv or pytest-benchmark: the issue's figures are
ratios between variants (threads, the NumPy baseline, training-set sizes)
in one run, plus fresh-process start-up and memory; pytest-benchmark
reports each test on its own and asv builds an environment per commit,
which on a shared 2-core machine costs more than the benchmarks. The
script uses nothing beyond the test dependencies.
"""

import argparse
import os
import subprocess
import sys
import time
import warnings

import numba
import numpy as np
from astropy.table import Table

from photoz_numba import PhotoZModel
from photoz_numba.datasets import load_kalna2024, paper_sample
from photoz_numba.selection import stratified_split

from ._common import (BANDS, full_pattern, load, numpy_baseline, quiet_fit, rate,
                      resample, resample_training, standardised, timed)
from .bench_startup import measure

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

PUBLISHED_RATE = 380.0     # the published code here: 921 galaxies in 2.4 s


# -- sections ----------------------------------------------------------------

def throughput(train, sample, args, results):
    all_queries = resample(sample, args.n)
    base = all_queries[:args.n_baseline]
    rows = []
    for k in args.k:
        # Fewer galaxies at large k keep each timing at a few seconds.
        n = max(min(args.n, 20_000), int(args.n * min(1.0, 50 / k)))
        queries = all_queries[:n]
        model = quiet_fit(train, k=k)
        model.predict(queries[:1000])            # compile or load outside the timing
        times = timed({1: lambda: model.predict(queries, n_threads=1),
                       2: lambda: model.predict(queries, n_threads=2),
                       "numpy": lambda: numpy_baseline(model, base, k)}, args.repeat)
        one, two = rate(n, times[1]), rate(n, times[2])
        ref = rate(args.n_baseline, times["numpy"])
        agree = np.max(np.abs(numpy_baseline(model, base, k)
                              - model.predict(base)["z_phot"]))
        rows.append({"k": k, "n": n, "rate_1_thread": one[0], "rate_1_thread_median": one[1],
                     "rate_2_threads": two[0], "rate_2_threads_median": two[1],
                     "speedup_2_over_1": two[0] / one[0], "rate_numpy": ref[0],
                     "ratio_1_thread_over_numpy": one[0] / ref[0],
                     "ratio_2_threads_over_numpy": two[0] / ref[0],
                     "ratio_2_threads_over_published": two[0] / PUBLISHED_RATE,
                     "max_abs_dz_vs_numpy": agree})
        print(f"k={k:>3}: 1 thread {one[0]:>8,.0f} gal/s (median {one[1]:,.0f}), "
              f"2 threads {two[0]:>8,.0f} (median {two[1]:,.0f}), x{two[0] / one[0]:.2f}; "
              f"NumPy/cKDTree {ref[0]:>6,.0f} gal/s -> x{one[0] / ref[0]:.1f} (1 thread), "
              f"x{two[0] / ref[0]:.1f} (2); published x{two[0] / PUBLISHED_RATE:.0f} (2); "
              f"max |dz| vs NumPy {agree:.1e}", flush=True)
    table = Table(rows)
    results["throughput"] = table
    plot_throughput(table, os.path.join(RESULTS, "throughput_vs_k.png"))


def _throughput_axes(ax, table, published_rate, prefix=""):
    """Rates against k on log axes: 2 threads, 1 thread, NumPy, and the
    published code's rate as a line."""
    import matplotlib
    ax.plot(table["k"], table["rate_2_threads"], "o-", label=f"{prefix}2 threads")
    ax.plot(table["k"], table["rate_1_thread"], "s-", label=f"{prefix}1 thread")
    ax.plot(table["k"], table["rate_numpy"], "^--", label="NumPy + cKDTree")
    ax.axhline(published_rate, color="grey", ls=":", label="published code (k=50)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(list(table["k"]), [str(k) for k in table["k"]])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("neighbours k")
    ax.set_ylabel("galaxies per second")


def plot_throughput(table, path):
    """Throughput against k of a run's table (also drawn for the docs by
    analysis/make_doc_figures.py from docs/measured/benchmarks.ecsv)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    _throughput_axes(ax, table, PUBLISHED_RATE, "photoz_numba, ")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def plot_overview(table, path):
    """Throughput against k, the cold and warm start and the memory of a
    recorded run, side by side (for the docs' performance page)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    meta = table.meta
    fig, (rate_ax, start_ax, memory_ax) = plt.subplots(
        1, 3, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1.5, 1, 1]})
    _throughput_axes(rate_ax, table, meta.get("published_rate", PUBLISHED_RATE))
    rate_ax.set_title("predict throughput")
    low, high = rate_ax.get_ylim()
    rate_ax.set_ylim(low, high * 4)       # room for the legend above the curves
    rate_ax.legend(fontsize=8, loc="upper right")
    startup = meta.get("startup", {})
    if startup:
        values = [startup["cold_s"], startup["warm_s"]]
        bars = start_ax.bar(["cold cache\n(compiles)", "warm cache\n(loads)"], values,
                            color=["C3", "C2"])
        for bar, value in zip(bars, values):
            start_ax.annotate(f"{value:.2f} s" if value < 2 else f"{value:.1f} s",
                              (bar.get_x() + bar.get_width() / 2, value),
                              ha="center", va="bottom", fontsize=9)
        start_ax.set_ylim(0, 1.2 * max(values))
        n = startup.get("repeat")
        where = ("new environment" if startup.get("environment", "").startswith("new")
                 else "")
        notes = ", ".join(note for note in (f"median of {n}" if n else "", where) if note)
        start_ax.set_title("fresh process: fit + predict 1000"
                           + (f"\n({notes})" if notes else ""), fontsize=10)
    start_ax.set_ylabel("seconds")
    memory = meta.get("memory", {})
    if memory:
        parts = [("input table", memory["input_mb"], "C0"),
                 ("output table", memory["output_mb"], "C1"),
                 ("beyond input and output", memory["extra_mb"], "C3")]
        bottom = memory["rss_before_mb"] - memory["input_mb"]
        memory_ax.bar([0], [bottom], color="lightgrey", label="process before the call")
        for label, value, color in parts:
            memory_ax.bar([0], [value], bottom=[bottom], color=color,
                          label=f"{label}: {value:.0f} MB")
            bottom += value
        memory_ax.set_xticks([0], [f"predict {memory['n']:,}"])
        memory_ax.set_xlim(-0.5, 2.9)
        memory_ax.set_ylim(0, 1.05 * max(bottom, memory["peak_mb"]))
        memory_ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(0.3, 0.5))
        memory_ax.set_title(f"peak resident memory {memory['peak_mb']:.0f} MB", fontsize=10)
    memory_ax.set_ylabel("MB")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def large(train, sample, args, results):
    from scipy.spatial import cKDTree
    from photoz_numba._kernels.search import build_index, nearest_neighbours
    from photoz_numba.metrics import outlier_fraction, sigma_nmad
    big = resample_training(train, args.n_large_train, seed=11)
    start = time.perf_counter()
    model_big = quiet_fit(big, k=50)
    fit_s = time.perf_counter() - start
    model_approx = quiet_fit(big, k=50, search_eps=args.search_eps)
    model_small = quiet_fit(train, k=50)
    queries = resample(sample, args.n_large_queries, seed=12)
    for model in (model_big, model_approx, model_small):
        model.predict(queries[:200])
    times = timed({"small_1": lambda: model_small.predict(queries, n_threads=1),
                   "big_1": lambda: model_big.predict(queries, n_threads=1),
                   "approx_1": lambda: model_approx.predict(queries, n_threads=1),
                   "small_2": lambda: model_small.predict(queries, n_threads=2),
                   "big_2": lambda: model_big.predict(queries, n_threads=2),
                   "approx_2": lambda: model_approx.predict(queries, n_threads=2)},
                  args.repeat)
    n = len(queries)
    r = {name: rate(n, t)[0] for name, t in times.items()}
    # Accuracy on the seed-0 test part: the exact and the approximate search.
    _, test = stratified_split(sample, z="zspec", seed=0)
    z_spec = np.asarray(test["zspec"])
    accuracy = {}
    for name, model in (("exact", model_big), ("approx", model_approx), ("small", model_small)):
        z_phot = np.asarray(model.predict(test)["z_phot"])
        accuracy[name] = (sigma_nmad(z_phot, z_spec), outlier_fraction(z_phot, z_spec))
    # Neighbour search alone, 1 thread for ours (cKDTree.query is serial too).
    x_query, pattern = standardised(model_big, queries)
    x_train = np.ascontiguousarray(pattern["x_train_t"].T)
    index = model_big._pattern(full_pattern(model_big))["index"]
    tree = cKDTree(x_train)
    whole = build_index(pattern["x_train_t"], leaf_size=x_train.shape[0])
    n_nn = min(2000, n)
    n_brute = min(50, n)
    nearest_neighbours(index, x_query[:10], 50)
    nearest_neighbours(whole, x_query[:1], 50)
    numba.set_num_threads(1)
    try:
        nn = timed({"tree": lambda: nearest_neighbours(index, x_query[:n_nn], 50),
                    "ckdtree": lambda: tree.query(x_query[:n_nn], k=50),
                    "brute": lambda: nearest_neighbours(whole, x_query[:n_brute], 50)},
                   max(1, args.repeat - 1))
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    nn_rate = {"tree": rate(n_nn, nn["tree"])[0], "ckdtree": rate(n_nn, nn["ckdtree"])[0],
               "brute": rate(n_brute, nn["brute"])[0]}
    results["large"] = {
        "n_train": args.n_large_train, "fit_s": fit_s,
        "rate_small_1_thread": r["small_1"], "rate_large_1_thread": r["big_1"],
        "rate_small_2_threads": r["small_2"], "rate_large_2_threads": r["big_2"],
        "ratio_large_over_small_1_thread": r["big_1"] / r["small_1"],
        "ratio_large_over_small_2_threads": r["big_2"] / r["small_2"],
        "search_eps": args.search_eps,
        "rate_approx_1_thread": r["approx_1"], "rate_approx_2_threads": r["approx_2"],
        "ratio_approx_over_small_1_thread": r["approx_1"] / r["small_1"],
        "ratio_approx_over_small_2_threads": r["approx_2"] / r["small_2"],
        "test_sigma_nmad_exact": accuracy["exact"][0],
        "test_outliers_exact": accuracy["exact"][1],
        "test_sigma_nmad_approx": accuracy["approx"][0],
        "test_outliers_approx": accuracy["approx"][1],
        "test_sigma_nmad_small": accuracy["small"][0],
        "test_outliers_small": accuracy["small"][1],
        "nn_rate_tree": nn_rate["tree"], "nn_rate_ckdtree": nn_rate["ckdtree"],
        "nn_rate_whole_scan": nn_rate["brute"]}
    print(f"10^6 training: fit {fit_s:.1f} s (n_train={args.n_large_train:,}); predict k=50 "
          f"{r['big_1']:,.0f} gal/s on 1 thread = {r['big_1'] / r['small_1']:.1%} of the "
          f"3684-galaxy model's {r['small_1']:,.0f}; 2 threads {r['big_2']:,.0f} = "
          f"{r['big_2'] / r['small_2']:.1%} of {r['small_2']:,.0f}", flush=True)
    print(f"  approximate search (search_eps={args.search_eps:g}): {r['approx_1']:,.0f} gal/s "
          f"on 1 thread = {r['approx_1'] / r['small_1']:.1%} of the 3684-galaxy model; "
          f"2 threads {r['approx_2']:,.0f} = {r['approx_2'] / r['small_2']:.1%}", flush=True)
    print("  seed-0 test part, sigma_NMAD / outliers: " + ", ".join(
        f"{name} {a[0]:.5f} / {a[1]:.2%}" for name, a in accuracy.items()), flush=True)
    print(f"  neighbour search alone (k=50, 1 thread): k-d tree {nn_rate['tree']:,.0f} "
          f"gal/s, scipy cKDTree {nn_rate['ckdtree']:,.0f} (tree x"
          f"{nn_rate['tree'] / nn_rate['ckdtree']:.1f}), whole scan {nn_rate['brute']:,.0f} "
          f"(tree x{nn_rate['tree'] / nn_rate['brute']:.0f})", flush=True)


def startup(args, results):
    """Cold and warm start, median of ``--repeat`` fresh processes each
    (`benchmarks.bench_startup`)."""
    _, summary = measure(args.repeat)
    results["startup"] = summary
    print(f"fresh process, import + fit + first predict of 1000: cold cache "
          f"{summary['cold_s']:.2f} s (predict {summary['cold_predict_s']:.2f} s), warm "
          f"cache {summary['warm_s']:.2f} s (predict {summary['warm_predict_s']:.3f} s); "
          f"medians of {args.repeat}", flush=True)


MEMORY_CODE = """
import ctypes, gc, sys, warnings
import numpy as np
warnings.simplefilter('ignore')
from benchmarks._common import BANDS, resample
from photoz_numba import PhotoZModel
from photoz_numba.datasets import load_kalna2024, paper_sample
from photoz_numba.selection import stratified_split
s = paper_sample(load_kalna2024()); tr, _ = stratified_split(s, seed=0)
m = PhotoZModel(BANDS, k=50).fit(tr)
q = resample(s, {n})
m.predict(q[:1000])
def status(key):
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))
# Hand freed memory back to the system, then restart the peak (VmHWM) count.
gc.collect()
ctypes.CDLL('libc.so.6').malloc_trim(0)
with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')
before = status('VmRSS:')
out = m.predict(q)
peak = status('VmHWM:')
in_bytes = sum(c.nbytes for c in q.itercols())
out_bytes = sum(np.asarray(c).nbytes + (np.ma.getmaskarray(c).nbytes if hasattr(c, 'mask') else 0)
                for c in out.itercols())
print(before, peak, in_bytes, out_bytes)
"""


def memory(args, results):
    code = MEMORY_CODE.format(n=args.n_memory)
    # Run from the repository root, where the benchmarks package imports.
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd=os.path.dirname(HERE)).stdout.split()
    before, peak, in_bytes, out_bytes = map(int, out)
    extra = peak - before - out_bytes
    results["memory"] = {"n": args.n_memory, "rss_before_mb": before / 2**20,
                         "peak_mb": peak / 2**20, "input_mb": in_bytes / 2**20,
                         "output_mb": out_bytes / 2**20, "extra_mb": extra / 2**20}
    print(f"memory, predict of {args.n_memory:,}: peak RSS {peak / 2**20:.0f} MB, before the "
          f"call {before / 2**20:.0f} MB (input table {in_bytes / 2**20:.0f} MB in it), output "
          f"table {out_bytes / 2**20:.0f} MB -> {extra / 2**20:.0f} MB beyond input and "
          f"output", flush=True)


def determinism(train, sample, args, results):
    model = quiet_fit(train, k=50)
    queries = resample(sample, min(args.n, 100_000), seed=3)
    one = model.predict(queries, n_threads=1)
    two = model.predict(queries, n_threads=2)
    again = model.predict(queries, n_threads=2)
    names = ("z_phot", "z_phot_err", "z_phot_flag", "z_phot_nused")
    same = all(np.array_equal(np.asarray(one[c]), np.asarray(other[c]))
               for other in (two, again) for c in names)
    results["determinism"] = {"n": len(queries), "bit_identical": bool(same)}
    print(f"determinism on {len(queries):,} galaxies: 1 vs 2 threads and a repeat "
          f"bit-identical: {same}", flush=True)


def tune(train, args, results):
    model = PhotoZModel(BANDS)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.tune(train, n_iter=args.tune_trials, random_state=0)
    seconds = time.perf_counter() - start
    results["tune"] = {"n_iter": args.tune_trials, "seconds": seconds,
                       "seconds_per_trial": seconds / args.tune_trials}
    print(f"tune: {args.tune_trials} trials of 5-fold CV on {len(train)} galaxies in "
          f"{seconds:.1f} s ({seconds / args.tune_trials:.2f} s per trial)", flush=True)


SECTIONS = ("throughput", "large", "startup", "memory", "determinism", "tune")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, to check that the suite runs")
    parser.add_argument("--skip", nargs="+", default=[], choices=SECTIONS)
    parser.add_argument("--n", type=int, default=300_000,
                        help="galaxies to predict (at k <= 50; n * 50 / k above)")
    parser.add_argument("--k", type=int, nargs="+", default=[20, 30, 50, 100, 200])
    parser.add_argument("--n-baseline", type=int, default=3000)
    parser.add_argument("--n-large-train", type=int, default=1_000_000)
    parser.add_argument("--n-large-queries", type=int, default=20_000)
    parser.add_argument("--search-eps", type=float, default=3.0,
                        help="PhotoZModel(search_eps=...) of the large section's "
                             "approximate variant")
    parser.add_argument("--n-memory", type=int, default=1_000_000)
    parser.add_argument("--tune-trials", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.n_baseline, args.n_large_train = 20_000, 300, 50_000
        args.n_large_queries, args.n_memory, args.tune_trials = 2000, 50_000, 2
        args.repeat = 2
    os.makedirs(RESULTS, exist_ok=True)
    load()
    sample = paper_sample(load_kalna2024())
    train, _ = stratified_split(sample, z="zspec", seed=0)
    results = {}
    if "throughput" not in args.skip:
        throughput(train, sample, args, results)
    if "large" not in args.skip:
        large(train, sample, args, results)
    if "startup" not in args.skip:
        startup(args, results)
    if "memory" not in args.skip:
        memory(args, results)
    if "determinism" not in args.skip:
        determinism(train, sample, args, results)
    if "tune" not in args.skip:
        tune(train, args, results)
    load()
    table = results.pop("throughput", Table({"k": np.array([], int)}))
    table.meta.update(results)
    table.meta.update({"load_average": list(os.getloadavg()), "cpu_count": os.cpu_count(),
                       "numba": numba.__version__, "published_rate": PUBLISHED_RATE})
    path = os.path.join(RESULTS, "benchmarks.ecsv")
    table.write(path, overwrite=True)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
