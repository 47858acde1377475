"""
FITS-to-FITS streaming against in-memory prediction, on a synthetic
catalogue of 5 x 10^6 rows. Not a test: run on demand.

    python -m benchmarks.bench_fits_stream [--rows 5000000] [--workdir DIR]

1. Makes ``DIR/synthetic.fits``: rows drawn at random from the whole
   catalogue (5667 galaxies, with their missing bands), every flux
   perturbed by its error (in magnitudes, capped at 0.5 mag), all
   catalogue columns kept, and a ``row`` column 0..n-1 to check order.
2. Fits the default model on the paper's seed-0 training part.
3. Times in-memory ``PhotoZModel.predict`` on the first 10^6 rows (a
   Table already in memory), on 2 threads.
4. Runs ``photoz-numba predict`` on the whole file under
   ``/usr/bin/time -v``: elapsed time (process start to exit) and peak
   resident memory.
5. Checks the output: as many rows as the input, ``row`` in order, and
   z_phot bit-identical to the in-memory prediction on the first 10^6.
6. Starts the command again and kills it midway with SIGINT, then with
   SIGKILL: nothing may appear under the output name.

Prints the figures and writes ``benchmarks/results/fits_stream.ecsv``.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from photoz_numba import PhotoZModel
from photoz_numba.datasets import load_kalna2024, paper_sample
from photoz_numba.selection import stratified_split

from ._common import BANDS

HERE = os.path.dirname(os.path.abspath(__file__))


def make_catalogue(path, n_rows, seed=0, block=1_000_000):
    """Write the synthetic catalogue block by block (bounded memory)."""
    catalogue = load_kalna2024()
    rng = np.random.default_rng(seed)
    columns = [fits.Column(name="row", format="K")]
    for name in catalogue.colnames:
        kind = "K" if catalogue[name].dtype.kind in "iu" else "D"
        unit = str(catalogue[name].unit) if catalogue[name].unit else None
        columns.append(fits.Column(name=name, format=kind, unit=unit))
    header = fits.BinTableHDU.from_columns(columns, nrows=0).header
    header["NAXIS2"] = n_rows
    dtype = np.dtype([(c.name, ">i8" if c.format == "K" else ">f8") for c in columns])
    with open(path, "wb") as out:
        out.write(fits.PrimaryHDU().header.tostring().encode("ascii"))
        out.write(header.tostring().encode("ascii"))
        for start in range(0, n_rows, block):
            n = min(block, n_rows - start)
            rows = rng.integers(0, len(catalogue), n)
            record = np.empty(n, dtype=dtype)
            record["row"] = np.arange(start, start + n)
            for name in catalogue.colnames:
                record[name] = np.ma.filled(np.ma.asarray(catalogue[name])[rows], -99.0)
            for band in BANDS:
                flux = record[band].astype(float)
                err = record[f"{band}_err"].astype(float)
                ok = (flux > 0) & (err > 0)
                sigma = np.zeros(n)
                sigma[ok] = np.minimum(1.0857 * err[ok] / flux[ok], 0.5)
                record[band] = np.where(ok, flux * 10 ** (-0.4 * rng.normal(0, sigma)),
                                        flux)
            out.write(record.tobytes())
        out.write(b"\0" * (-(n_rows * dtype.itemsize) % 2880))


def run_timed(command):
    """Run under /usr/bin/time -v: (elapsed s, peak RSS MB, stderr)."""
    result = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True,
                            text=True, check=True)
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)",
                           result.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)",
                     result.stderr)
    hours, minutes, seconds = (float(g) if g else 0.0 for g in wall.groups())
    return 3600 * hours + 60 * minutes + seconds, rss_kb / 1024, result.stderr


def kill_midway(command, output, sig, after=8.0):
    if os.path.exists(output):
        os.unlink(output)
    # A shell's background job ignores SIGINT, and children inherit that:
    # give the command the default disposition, as in a terminal.
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                                signal.SIG_DFL))
    time.sleep(after)
    running = process.poll() is None
    process.send_signal(sig)
    process.communicate(timeout=120)
    folder = os.path.dirname(output)
    leftovers = [name for name in os.listdir(folder) if name.endswith(".part.fits")]
    for name in leftovers:   # what SIGKILL leaves: a temporary file, never the output
        os.unlink(os.path.join(folder, name))
    return {"signal": signal.Signals(sig).name, "was_running": running,
            "exit_code": process.returncode, "output_exists": os.path.exists(output),
            "temporary_files_left": len(leftovers)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--workdir", default="/tmp/photoz_numba_bench")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    source = os.path.join(args.workdir, "synthetic.fits")
    output = os.path.join(args.workdir, "synthetic_z.fits")
    model_path = os.path.join(args.workdir, "model.fits")
    if not os.path.exists(source) or fits.getheader(source, 1)["NAXIS2"] != args.rows:
        start = time.perf_counter()
        make_catalogue(source, args.rows)
        print(f"made {source}: {args.rows:,} rows, "
              f"{os.path.getsize(source) / 2**30:.2f} GiB in "
              f"{time.perf_counter() - start:.0f} s", flush=True)

    train, _ = stratified_split(paper_sample(load_kalna2024()), z="zspec", seed=0)
    model = PhotoZModel(BANDS).fit(train)
    model.write(model_path, overwrite=True)

    n_memory = min(1_000_000, args.rows)
    with fits.open(source, memmap=True) as hdus:
        table = Table(hdus[1].data[:n_memory].copy())
    for band in BANDS:
        table[band].unit = u.uJy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.predict(table[:1000])
        start = time.perf_counter()
        in_memory = model.predict(table)
        memory_rate = n_memory / (time.perf_counter() - start)
    print(f"in-memory predict: {memory_rate:,.0f} rows/s on {n_memory:,} rows", flush=True)

    if os.path.exists(output):
        os.unlink(output)
    command = [sys.executable, "-m", "photoz_numba.cli", "predict", model_path,
               source, "-o", output, "--quiet"]
    elapsed, rss_mb, _ = run_timed(command)
    stream_rate = args.rows / elapsed
    print(f"FITS -> FITS: {args.rows:,} rows in {elapsed:.1f} s = {stream_rate:,.0f} "
          f"rows/s ({stream_rate / memory_rate:.0%} of in-memory); peak RSS "
          f"{rss_mb:,.0f} MB", flush=True)

    with fits.open(output, memmap=True) as hdus:
        data = hdus[1].data
        n_out = len(data)
        in_order = bool(np.array_equal(data["row"], np.arange(args.rows)))
        z_stream = np.array(data["z_phot"][:n_memory])
    z_memory = np.ma.filled(in_memory["z_phot"], np.nan)
    identical = bool(np.array_equal(z_stream, z_memory, equal_nan=True))
    print(f"output rows {n_out:,} (input {args.rows:,}), row order kept: {in_order}, "
          f"z_phot identical to in-memory on the first {n_memory:,}: {identical}",
          flush=True)

    kills = [kill_midway(command, output, sig) for sig in (signal.SIGINT, signal.SIGKILL)]
    for kill in kills:
        print(f"{kill['signal']} after 8 s (running: {kill['was_running']}): exit "
              f"{kill['exit_code']}, output exists: {kill['output_exists']}, "
              f"temporary files left: {kill['temporary_files_left']}", flush=True)

    result = Table([{"rows": args.rows, "in_memory_rows_per_s": memory_rate,
                     "stream_rows_per_s": stream_rate,
                     "stream_over_memory": stream_rate / memory_rate,
                     "stream_elapsed_s": elapsed, "peak_rss_mb": rss_mb,
                     "output_rows": n_out, "order_kept": in_order,
                     "identical_to_memory": identical}])
    result.meta["kills"] = kills
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    result.write(os.path.join(HERE, "results", "fits_stream.ecsv"), overwrite=True)


if __name__ == "__main__":
    main()
