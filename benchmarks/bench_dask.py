"""
Dask against the single-process streaming path, on the same 5 x 10^6
synthetic rows (``python -m benchmarks.bench_fits_stream`` makes them). Not a test: run on
demand.

    python -m benchmarks.bench_dask [--workdir DIR]

- single process: ``photoz_numba.io.predict_fits`` FITS -> FITS on 2 Numba
  threads;
- Dask: a LocalCluster of 2 worker processes x 1 thread (1 Numba thread
  per task), ``read_parquet`` -> ``photoz_numba.dask.predict`` ->
  ``to_parquet``, from a Parquet copy of the same rows in 50 files
  (made first, not timed).

Prints both rates, their ratio and the peak resident memory of each
worker; writes ``benchmarks/results/dask.ecsv``.
"""

import argparse
import os
import resource
import shutil
import time
import warnings

import numpy as np
from astropy.io import fits
from astropy.table import Table

from photoz_numba import PhotoZModel
from photoz_numba.io import predict_fits

HERE = os.path.dirname(os.path.abspath(__file__))


def to_parquet(source, folder, n_files=50):
    import pandas as pd
    os.makedirs(folder, exist_ok=True)
    with fits.open(source, memmap=True) as hdus:
        data = hdus[1].data
        edges = np.linspace(0, len(data), n_files + 1).astype(int)
        for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
            chunk = data[a:b]
            frame = pd.DataFrame({name: np.asarray(chunk[name]).astype(
                chunk[name].dtype.newbyteorder("=")) for name in data.names})
            frame.to_parquet(os.path.join(folder, f"part-{i:03d}.parquet"))


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    import dask.dataframe as dd
    import distributed
    from photoz_numba.dask import predict

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="/tmp/photoz_numba_bench")
    args = parser.parse_args()
    source = os.path.join(args.workdir, "synthetic.fits")
    model = PhotoZModel.read(os.path.join(args.workdir, "model.fits"))
    n_rows = fits.getheader(source, 1)["NAXIS2"]
    parquet_in = os.path.join(args.workdir, "synthetic_parquet")
    parquet_out = os.path.join(args.workdir, "synthetic_z_parquet")
    if not os.path.isdir(parquet_in):
        to_parquet(source, parquet_in)

    out_fits = os.path.join(args.workdir, "dask_bench_stream.fits")
    if os.path.exists(out_fits):
        os.unlink(out_fits)
    start = time.perf_counter()
    predict_fits(model, source, out_fits, n_threads=2)
    stream_rate = n_rows / (time.perf_counter() - start)
    os.unlink(out_fits)
    print(f"single process, FITS -> FITS: {stream_rate:,.0f} rows/s", flush=True)

    shutil.rmtree(parquet_out, ignore_errors=True)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.run(lambda: __import__("photoz_numba._kernels.predict"))   # load the JIT cache
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            predict(model, dd.read_parquet(parquet_in)).to_parquet(parquet_out)
        dask_rate = n_rows / (time.perf_counter() - start)
        worker_rss = list(client.run(peak_rss_mb).values())
    n_out = len(dd.read_parquet(parquet_out, columns=["row"]))
    print(f"Dask LocalCluster (2 x 1), Parquet -> Parquet: {dask_rate:,.0f} rows/s = "
          f"{dask_rate / stream_rate:.2f} x the single process; {n_out:,} rows out; "
          f"peak RSS per worker {', '.join(f'{r:,.0f}' for r in worker_rss)} MB",
          flush=True)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    Table([{"rows": n_rows, "stream_rows_per_s": stream_rate, "dask_rows_per_s": dask_rate,
            "dask_over_stream": dask_rate / stream_rate, "rows_out": n_out,
            "worker_peak_rss_mb": max(worker_rss)}]).write(
        os.path.join(HERE, "results", "dask.ecsv"), overwrite=True)


if __name__ == "__main__":
    main()
