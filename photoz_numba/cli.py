# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The ``photoz-numba`` command line.

One entry point with subcommands; errors go to stderr as one line (with
the traceback only under ``--debug``) and the exit code says what
happened: 0 success, 1 error, 2 bad usage (argparse's), 130 interrupted.
"""

import argparse
import os
import signal
import sys
import time

__all__ = ["main"]


def _parse_seeds(text):
    """'0-9', '0,3,5' or '2' -> list of ints."""
    seeds = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                first, last = part.split("-", 1)
                seeds.extend(range(int(first), int(last) + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"seeds must look like '0-9', '0,3,5' or '2', not {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError(f"no seeds in {text!r}")
    return seeds


def _reproduce(args):
    from . import __version__
    from .datasets import load_kalna2024
    from .protocol import (PAPER_FIGURES, PUBLISHED_CODE_FIGURES,
                           run_paper_protocol, summarise)

    catalogue = load_kalna2024(args.catalogue)
    print(f"photoz_numba {__version__}: Kalná et al. (2024) protocol, "
          f"stratified 4:1 split per seed, default hyper-parameters")
    header = (f"{'seed':>4} {'n_train':>7} {'n_test':>6} {'sigma_NMAD':>10} "
              f"{'outliers':>9} {'bias':>8} {'seconds':>7}")
    print(header)
    print("-" * len(header))

    start = time.perf_counter()
    per_seed, predictions = run_paper_protocol(catalogue, seeds=args.seeds)
    for row in per_seed:
        print(f"{row['seed']:>4} {row['n_train']:>7} {row['n_test']:>6} "
              f"{row['sigma_nmad']:>10.5f} {100 * row['outlier_fraction']:>8.2f}% "
              f"{row['bias']:>8.5f} {row['seconds']:>7.2f}")
    print("-" * len(header))
    summary = summarise(per_seed)
    (s_mean, s_std), (f_mean, f_std), (b_mean, b_std) = (
        summary["sigma_nmad"], summary["outlier_fraction"], summary["bias"])
    print(f"{'mean ± std':>19} {s_mean:.5f} ± {s_std:.5f}  "
          f"{100 * f_mean:.2f} ± {100 * f_std:.2f}%  "
          f"bias {b_mean:.5f} ± {b_std:.5f}")
    print(f"{'paper':>19} {PAPER_FIGURES['sigma_nmad']:.5f}            "
          f"{100 * PAPER_FIGURES['outlier_fraction']:.2f}%")
    print(f"{'published code':>19} {PUBLISHED_CODE_FIGURES['sigma_nmad']:.5f}"
          f"            {100 * PUBLISHED_CODE_FIGURES['outlier_fraction']:.2f}%"
          f"  (measured here, 10 seeds)")
    print(f"{len(per_seed)} seeds in {time.perf_counter() - start:.1f} s")
    if args.output:
        from .io import atomic_output
        os.makedirs(args.output, exist_ok=True)
        for name, table in (("metrics.ecsv", per_seed),
                            ("predictions.ecsv", predictions)):
            with atomic_output(os.path.join(args.output, name), overwrite=True) as tmp:
                table.write(tmp, overwrite=True)
        print(f"wrote metrics.ecsv and predictions.ecsv to {args.output}")
    return 0


def _band_map(items):
    """['f444w=F444W_FLUX', ...] -> {'f444w': 'F444W_FLUX'}."""
    mapping = {}
    for item in items or []:
        band, sep, column = item.partition("=")
        if not sep or not band or not column:
            raise ValueError(f"--band takes BAND=COLUMN, not {item!r}")
        mapping[band] = column
    return mapping


def _units(items):
    """['uJy'] -> 'uJy'; ['f444w=nJy', ...] -> {'f444w': 'nJy'}; [] -> None."""
    if not items:
        return None
    default = [item for item in items if "=" not in item]
    named = dict(item.split("=", 1) for item in items if "=" in item)
    if len(default) > 1:
        raise ValueError(f"--unit without a band may be given once, not {default}")
    if default and named:
        raise ValueError("give --unit either once for all bands or as BAND=UNIT")
    return default[0] if default else named


def _read_table(path, what):
    from astropy.table import Table
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist")
    try:
        return Table.read(path)
    except Exception as exc:  # astropy raises many types for unreadable files
        raise ValueError(f"cannot read {what} {path!r} as a table: {exc}") from None


def _fit(args):
    from . import PhotoZModel
    if os.path.exists(args.output) and not args.overwrite:
        raise FileExistsError(f"{args.output!r} exists; pass --overwrite to replace it")
    table = _read_table(args.train, "training table")
    params = {name: getattr(args, name) for name in
              ("k", "gamma", "lam", "clip_sigma", "offset", "magnitude_band")
              if getattr(args, name) is not None}
    if params.get("clip_sigma", 1) <= 0:
        params["clip_sigma"] = None
    if params.get("magnitude_band") == "none":
        params["magnitude_band"] = None
    model = PhotoZModel(
        [band.strip() for band in args.bands.split(",") if band.strip()],
        columns=_band_map(args.band) or None, units=_units(args.unit), **params)
    model.fit(table, z=args.z)
    model.write(args.output, overwrite=args.overwrite)
    print(f"fitted on {model.n_train_} of {len(table)} galaxies; wrote {args.output}")
    return 0


class _Progress:
    """Progress line with rate and ETA on stderr, only on a terminal."""

    def __init__(self, enabled):
        self.enabled = enabled and sys.stderr.isatty()
        self.start = time.perf_counter()

    def __call__(self, done, total):
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        width = 30
        filled = int(width * done / max(total, 1))
        print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} rows "
              f"{rate:,.0f} rows/s ETA {eta:4.0f} s", end="", file=sys.stderr,
              flush=True)
        if done >= total:
            print(file=sys.stderr)


def _predict(args):
    from . import PhotoZModel
    from .io import predict_file
    model = PhotoZModel.read(args.model)
    start = time.perf_counter()
    nrows = predict_file(model, args.input, args.output, chunk_size=args.chunk_size,
                         units=_units(args.unit), overwrite=args.overwrite,
                         n_threads=args.threads, hdu=args.hdu,
                         progress=_Progress(not args.quiet))
    if not args.quiet:
        elapsed = time.perf_counter() - start
        print(f"wrote {nrows} rows to {args.output} in {elapsed:.1f} s "
              f"({nrows / max(elapsed, 1e-9):,.0f} rows/s)")
    return 0


def _evaluate(args):
    import numpy as np
    from .metrics import evaluate
    table = _read_table(args.predictions, "predictions")
    for name in (args.z, args.z_phot):
        if name not in table.colnames:
            raise KeyError(f"column {name!r} is not in {args.predictions!r}")
    usable = ~(np.ma.getmaskarray(table[args.z_phot]) | np.ma.getmaskarray(table[args.z]))
    z_phot = np.ma.getdata(table[args.z_phot])[usable]
    z_spec = np.ma.getdata(table[args.z])[usable]
    metrics = evaluate(z_phot, z_spec, threshold=args.threshold)
    print(f"rows {len(table)}, evaluated {metrics['n']} (skipped {int((~usable).sum())} "
          f"with masked {args.z_phot} or {args.z})")
    print(f"sigma_NMAD {metrics['sigma_nmad']:.5f}  outliers (|dz| > {args.threshold}) "
          f"{100 * metrics['outlier_fraction']:.2f}%  bias {metrics['bias']:.5f}")
    return 0


def _parser():
    parser = argparse.ArgumentParser(
        prog="photoz-numba",
        description="Fast photometric redshifts by kernelised local linear "
                    "regression (Kalná, Begley & Donnan 2024).")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     required=True)

    reproduce = commands.add_parser(
        "reproduce", help="run the paper's protocol on its catalogue",
        description="Fit and evaluate the default model on the paper's "
                    "stratified 4:1 splits, one per seed, and print "
                    "sigma_NMAD, outlier fraction and bias per seed with "
                    "their mean ± std.")
    reproduce.add_argument("--seeds", type=_parse_seeds, default=list(range(10)),
                           help="seeds of the splits, e.g. 0-9 (default) or 0,3")
    reproduce.add_argument("--catalogue", "--catalog", default=None,
                           metavar="PATH",
                           help="local copy of the catalogue (default: "
                                "$PHOTOZ_NUMBA_KALNA2024, the config item, "
                                "or a download into astropy's cache)")
    reproduce.add_argument("--output", "-o", metavar="DIR", default=None,
                           help="also write per-seed metrics and predictions "
                                "(ECSV) into DIR")
    reproduce.set_defaults(run=_reproduce)

    fit = commands.add_parser(
        "fit", help="fit a model on a table with redshifts and write it",
        description="Fit a PhotoZModel on a training table (any format astropy "
                    "reads) and write it as a FITS model file.")
    fit.add_argument("train", help="training table (FITS, ECSV, ...)")
    fit.add_argument("--bands", required=True,
                     help="comma-separated band names, in wavelength order")
    fit.add_argument("--z", default="zspec", help="redshift column (default zspec)")
    fit.add_argument("-o", "--output", required=True, metavar="MODEL.fits",
                     help="model file to write")
    # Hyper-parameters default to PhotoZModel's own defaults (None: not given).
    fit.add_argument("--k", type=int, help="neighbours per galaxy")
    fit.add_argument("--gamma", type=float, help="RBF kernel width")
    fit.add_argument("--lam", type=float, help="ridge regularisation")
    fit.add_argument("--clip-sigma", type=float,
                     help="clipping threshold in RMS residuals; <= 0 disables")
    fit.add_argument("--offset", choices=["median", "mean", "none"],
                     help="fit around the neighbours' median, mean, or 0")
    fit.add_argument("--magnitude-band",
                     help="band whose magnitude is a feature: a band, 'auto' "
                          "(the middle band) or 'none'")
    _column_options(fit)
    fit.add_argument("--overwrite", action="store_true",
                     help="replace an existing model file")
    fit.set_defaults(run=_fit)

    predict = commands.add_parser(
        "predict", help="add z_phot columns to a catalogue file",
        description="Predict every row of a catalogue into a new file with "
                    "z_phot, z_phot_err, z_phot_flag and z_phot_nused added. "
                    "FITS to FITS streams in chunks; other formats are read "
                    "into memory. The output appears only when complete.")
    predict.add_argument("model", help="model file written by 'fit'")
    predict.add_argument("input", help="catalogue to predict")
    predict.add_argument("-o", "--output", required=True, help="file to write")
    predict.add_argument("--chunk-size", type=int, default=100_000,
                         help="rows per chunk when streaming FITS (default 100000)")
    predict.add_argument("--hdu", default=1,
                         type=lambda v: int(v) if v.isdigit() else v,
                         help="FITS table HDU, number or name (default 1)")
    predict.add_argument("--threads", type=int, default=None,
                         help="Numba threads (default: all cores)")
    _unit_option(predict)
    predict.add_argument("--overwrite", action="store_true",
                         help="replace an existing output file (never the input)")
    predict.add_argument("--quiet", "-q", action="store_true",
                         help="no progress bar or summary")
    predict.set_defaults(run=_predict)

    evaluate = commands.add_parser(
        "evaluate", help="sigma_NMAD, outlier fraction and bias of predictions",
        description="Metrics of a table with photometric and spectroscopic "
                    "redshifts; rows with either masked are skipped and counted.")
    evaluate.add_argument("predictions", help="table with z_phot and z_spec columns")
    evaluate.add_argument("--z", default="zspec", help="spectroscopic redshift column")
    evaluate.add_argument("--z-phot", default="z_phot", help="photometric redshift column")
    evaluate.add_argument("--threshold", type=float, default=0.15,
                          help="outlier threshold on |dz| (default 0.15)")
    evaluate.set_defaults(run=_evaluate)
    return parser


def _column_options(parser):
    parser.add_argument("--band", action="append", metavar="BAND=COLUMN",
                        help="column of a band whose name differs (repeatable)")
    _unit_option(parser)


def _unit_option(parser):
    parser.add_argument("--unit", action="append", metavar="[BAND=]UNIT",
                        help="unit of band columns without one: once for all "
                             "bands, or BAND=UNIT (repeatable)")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    """Run the ``photoz-numba`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    # A polite kill (SIGTERM) cleans up like Ctrl-C: no partial output.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("photoz-numba: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI reports, --debug shows
        if args.debug:
            raise
        print(f"photoz-numba {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
