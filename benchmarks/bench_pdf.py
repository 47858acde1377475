"""
Throughput of PhotoZModel.predict_arrays with p(z) (the five percentiles)
against the point-only path, timed in the same process, interleaved:

    python -m benchmarks.bench_pdf [--n 100000] [--k 50] [--threads 1] [--repeat 5]

Both models are fitted on the seed-0 training part of the paper's
catalogue (3684 galaxies) and calibrated on it, the point-only one without
a p(z) (``calibrate(pz=False)``); ``--n`` galaxies resampled from the
catalogue with photometric noise are predicted. Prints the median and best
rate of each and the ratio of the medians.
"""

import argparse
import time
import warnings

import numba
import numpy as np

from benchmarks._common import BANDS, resample
from photoz_numba import PhotoZModel
from photoz_numba.datasets import load_kalna2024, paper_sample
from photoz_numba.selection import stratified_split


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    numba.set_num_threads(args.threads)
    sample = paper_sample(load_kalna2024())
    train, _ = stratified_split(sample, z="zspec", seed=0)
    queries = resample(sample, args.n, seed=12)
    models = {"point only": PhotoZModel(BANDS, k=args.k).fit(train).calibrate(train, pz=False),
              "with p(z)": PhotoZModel(BANDS, k=args.k).fit(train).calibrate(train)}
    for model in models.values():
        model.warm_up()
        model.predict_arrays(queries[:1000])
    times = {name: [] for name in models}
    for _ in range(args.repeat):
        for name, model in models.items():
            start = time.perf_counter()
            model.predict_arrays(queries)
            times[name].append(time.perf_counter() - start)
    for name, spent in times.items():
        print(f"{name:>10}: median {args.n / np.median(spent):,.0f} gal/s, "
              f"best {args.n / min(spent):,.0f} ({args.threads} thread(s), k = {args.k})")
    print(f"ratio, p(z) / point only (medians): "
          f"{np.median(times['point only']) / np.median(times['with p(z)']):.3f}")


if __name__ == "__main__":
    main()
