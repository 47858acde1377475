"""
Two or more versions of ``photoz_numba/kernels.py`` timed against each
other in one process, interleaved: how each kernel change on the
performance page was measured.

    git show 583778c:photoz_numba/kernels.py > /tmp/old_kernels.py
    python benchmarks/compare_kernels.py /tmp/old_kernels.py photoz_numba/kernels.py
    python benchmarks/compare_kernels.py --large /tmp/old_kernels.py photoz_numba/kernels.py

Each file is compiled as a module of its own (Numba's cache off), its
neighbour index built from the seed-0 training part of the paper's
catalogue (``PHOTOZ_NUMBA_KALNA2024``), and ``predict_kernel`` run on
``--n`` resampled galaxies with the default settings at ``--k``, on one
thread unless ``--threads``. With ``--large`` the training set is
resampled to 10^6 galaxies with an approximate search (``--search-eps``),
and the small training set is timed beside it (the ratio of issue 8,
point 2), and the search alone too. Prints the best and median rate of
each version and the largest difference of its z_phot from the first's.
"""

import argparse
import os
import sys
import time
import types
import warnings

import numba
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_predict import BANDS, resample  # noqa: E402
from run import resample_training  # noqa: E402

from photoz_numba import PhotoZModel  # noqa: E402
from photoz_numba.datasets import load_kalna2024, paper_sample, stratified_split  # noqa: E402
from photoz_numba.kernels import OFFSET_MODES  # noqa: E402


def load_version(path, number):
    """A kernels.py file as a module, compiled without the on-disk cache."""
    with open(path) as f:
        source = f.read().replace("cache=True", "cache=False")
    module = types.ModuleType(f"kernels_version_{number}")
    exec(compile(source, path, "exec"), module.__dict__)
    return module


def standardised(model, table):
    """The table's features in the model's all-bands pattern, and that pattern."""
    bands = tuple(range(len(BANDS)))
    pattern = model._pattern(bands)
    magnitudes, _ = model._magnitudes(table, None)
    features = model._pattern_features(magnitudes, bands)
    return np.ascontiguousarray((features - pattern["mean"]) / pattern["std"]), pattern


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="kernels.py versions, the first the reference")
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--n", type=int, default=None,
                        help="galaxies predicted (100,000; 20,000 with --large)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--search-eps", type=float, default=3.0)
    args = parser.parse_args(argv)
    n = args.n or (20_000 if args.large else 100_000)
    warnings.simplefilter("ignore")
    numba.set_num_threads(args.threads)
    sample = paper_sample(load_kalna2024())
    train, _ = stratified_split(sample, z="zspec", seed=0)
    queries = resample(sample, n, seed=12)
    small = PhotoZModel(BANDS, k=args.k).fit(train)
    sets = {"small": standardised(small, queries) + (0.0,)}
    if args.large:
        big = PhotoZModel(BANDS, k=args.k).fit(resample_training(train, 1_000_000, seed=11))
        sets["large"] = standardised(big, queries) + (args.search_eps,)
    params = (args.k, float(small.gamma), float(small.lam), float(small.clip_sigma),
              OFFSET_MODES[small.offset])

    versions = []
    for number, path in enumerate(args.files):
        module = load_version(path, number)
        runs = {}
        for name, (x_query, pattern, eps) in sets.items():
            index = module.build_neighbour_index(pattern["x_train_t"], eps=eps)
            out = (np.empty(n), np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64))

            def predict(module=module, index=index, pattern=pattern, x_query=x_query, out=out):
                module.predict_kernel(*index, pattern["z"], x_query, np.ones(len(x_query), bool),
                                      *params, *out)
            predict()                                    # compile outside the timing
            runs[name] = (predict, out)
            if name == "large":
                def search(module=module, index=index, x_query=x_query):
                    module.nearest_neighbours(index, x_query, args.k)
                search()
                runs["large search"] = (search, None)
        versions.append((path, runs))

    times = {(path, name): [] for path, runs in versions for name in runs}
    for _ in range(args.repeat):
        for path, runs in versions:
            for name, (run, _) in runs.items():
                start = time.perf_counter()
                run()
                times[path, name].append(time.perf_counter() - start)
    reference = versions[0][1]
    for path, runs in versions:
        line = [f"{path}:"]
        for name, (_, out) in runs.items():
            best, median = n / min(times[path, name]), n / np.median(times[path, name])
            line.append(f"{name} {best:,.0f} gal/s (median {median:,.0f})")
            if out is not None:
                line[-1] += f", max |dz| {np.nanmax(np.abs(out[0] - reference[name][1][0])):.1e}"
        if args.large:
            ratio = min(times[path, "small"]) / min(times[path, "large"])
            line.append(f"large / small {ratio:.1%}")
        print("  ".join(line), flush=True)


if __name__ == "__main__":
    main()
