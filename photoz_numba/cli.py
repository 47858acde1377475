# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The ``photoz-numba`` command line.

One entry point with subcommands; errors go to stderr as one line (with
the traceback only under ``--debug``) and the exit code says what
happened: 0 success, 1 error, 2 bad usage (argparse's), 130 interrupted.
"""

import argparse
import os
import sys
import tempfile
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


def _write_atomic(table, path, **kwargs):
    """Write a table to a temporary file beside ``path``, then rename it."""
    directory = os.path.dirname(os.path.abspath(path))
    suffix = os.path.splitext(path)[1]
    handle, tmp = tempfile.mkstemp(dir=directory, suffix=suffix, prefix=".tmp-")
    os.close(handle)
    try:
        table.write(tmp, overwrite=True, **kwargs)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


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
        os.makedirs(args.output, exist_ok=True)
        _write_atomic(per_seed, os.path.join(args.output, "metrics.ecsv"))
        _write_atomic(predictions, os.path.join(args.output, "predictions.ecsv"))
        print(f"wrote metrics.ecsv and predictions.ecsv to {args.output}")
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
    return parser


def main(argv=None):
    """Run the ``photoz-numba`` command; returns the exit code."""
    args = _parser().parse_args(argv)
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
