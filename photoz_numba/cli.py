# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The ``photoz-numba`` command line.

One entry point with subcommands; errors go to stderr as one line (with
the traceback only under ``--debug``) and the exit code says what
happened: 0 success, 1 error, 2 bad usage (argparse's), 130 interrupted by
Ctrl-C, 128 + the signal's number when ended by another signal that ends a
process by default (SIGTERM, SIGHUP, SIGXCPU, SIGUSR1, SIGUSR2: 143 for
SIGTERM), after cleaning up as for Ctrl-C.

A command's results (tables, metrics) are its output on stdout; what it
reports along the way goes through the ``photoz_numba`` logger (`logging`):
information on stdout, warnings and errors on stderr, hidden by
``--quiet``, with details added by ``--verbose``. Errors name options as
they are typed (``--unit``, ``--threads``, ``--catalogue``).
"""

import argparse
import contextlib
import logging
import os
import re
import signal
import sys
import threading
import time
import warnings

__all__ = ["main"]

log = logging.getLogger("photoz_numba")

#: Library advice and the option a command-line user gives instead.
_IN_CLI_TERMS = (
    ("state it with units={band: unit}", "state it with --unit BAND=UNIT"),
    ("pass path=...,", "pass --catalogue PATH,"),
    ("pass overwrite=True (--overwrite)", "pass --overwrite"),
    ("pass invalid='skip'", "pass --skip-invalid"),
    ("give it with output_format=...", "give it with --output-format"),
    ("give it with format=...", "give it with --format"),
    ("(output_format)", "(--output-format)"),
    ("(format)", "(--format)"),
    ("(weights)", "(--weight)"),
    ("call calibrate(train, z=...) on its training table first",
     "fit it with 'photoz-numba fit ... --calibrate'"),
    ("is stated for it (units=)", "is stated for it (--unit)"),
    ("(id_column)", "(--id)"),
    ("hdu is for FITS input", "--hdu is for FITS input"),
    ("asinh magnitudes (softening) are made from fluxes and apply",
     "--asinh (asinh magnitudes from fluxes) applies"),
    ("name the error columns with errors={band: column}",
     "name the error columns with --error BAND=COLUMN"),
    ("units= names band(s)", "--unit names band(s)"),
    ("columns= names band(s)", "--band names band(s)"),
    ("needs a column of its own (columns=)", "needs a column of its own (--band)"),
)


def _in_cli_terms(message):
    for library, cli in _IN_CLI_TERMS:
        message = message.replace(library, cli)
    return message


#: The option that sets each Python parameter of fit and tune, and for
#: those the command line switches off with a number, what it writes for
#: the parameter's None.
_PARAMETER_OPTIONS = {
    "k": ("--k", None),
    "gamma": ("--gamma", None),
    "lam": ("--lam", None),
    "clip_sigma": ("--clip-sigma", "<= 0 for no clipping"),
    "window": ("--window", "<= 0 to fit all k"),
    "second_group": ("--second-group", "0 for the first window always"),
    "search_eps": ("--search-eps", None),
    "offset": ("--offset", None),
    "magnitude_band": ("--magnitude-band", None),
    "n_iter": ("--n-iter", None),
    "n_folds": ("--folds", None),
    "outlier_weight": ("--outlier-weight", None),
}


@contextlib.contextmanager
def _options_for_parameters():
    """A ValueError raised within names the parameters of
    `_PARAMETER_OPTIONS` by their options: at its start ('window must be
    ...' becomes '--window must be ...', with the option's value for None)
    and as 'k=400' ('--k 400') anywhere."""
    try:
        yield
    except ValueError as exc:
        message = str(exc)
        name, space, rest = message.partition(" ")
        if name in _PARAMETER_OPTIONS and space:
            option, none = _PARAMETER_OPTIONS[name]
            if none is not None:
                rest = rest.replace(" or None, not ", f", or {none}, not ")
            message = f"{option} {rest}"
        message = re.sub(r"(?<![\w-])(\w+)=(?=\S)",
                         lambda match: (f"{_PARAMETER_OPTIONS[match[1]][0]} "
                                        if match[1] in _PARAMETER_OPTIONS else match[0]),
                         message)
        if message != str(exc):
            exc.args = (message,)
        raise


class _LogHandler(logging.Handler):
    """Information on stdout, warnings and errors on stderr, looked up when
    emitted (so that redirected streams are honoured)."""

    def emit(self, record):
        try:
            message = self.format(record)
            if record.levelno >= logging.WARNING:
                print(f"photoz-numba: {record.levelname.lower()}: {message}",
                      file=sys.stderr, flush=True)
            else:
                print(message, file=sys.stdout, flush=True)
        except Exception:  # noqa: BLE001 - logging must not raise
            self.handleError(record)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """`warnings.showwarning` while a command runs: a PhotoZWarning as
    the command's other warnings are said; any other warning as Python
    says it (its source is then worth seeing)."""
    from .exceptions import PhotoZWarning
    if issubclass(category, PhotoZWarning):
        print(f"photoz-numba: warning: {message}", file=sys.stderr, flush=True)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _configure_logging(args):
    """The photoz_numba logger at the level --quiet/--verbose ask for;
    returns a function that undoes it."""
    handler = _LogHandler()
    level = (logging.WARNING if getattr(args, "quiet", False)
             else logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)
    previous = (log.level, log.propagate)
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False

    def restore():
        log.removeHandler(handler)
        log.setLevel(previous[0])
        log.propagate = previous[1]
    return restore


def _refuse_inputs(outputs, inputs):
    """Refuse an output that is an input, or two outputs that are one file,
    whatever --overwrite says; outputs and inputs are (option, path)."""
    from .io import same_file
    outputs = [(option, path) for option, path in outputs if path]
    for out_option, out in outputs:
        for in_option, source in inputs:
            if source and same_file(out, source):
                raise ValueError(f"the output {out!r} ({out_option}) is the input "
                                 f"{source!r} ({in_option}): refusing to overwrite it; "
                                 f"write to a new file")
    for i, (option_a, a) in enumerate(outputs):
        for option_b, b in outputs[i + 1:]:
            if same_file(a, b):
                raise ValueError(f"{option_a} and {option_b} name the same file {a!r}: "
                                 f"give each its own")


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


def _refuse_existing(directory, names, overwrite):
    """Refuse, before any work, a directory that already holds any of the
    files ``names`` a command may write into it, unless ``overwrite``."""
    there = [name for name in names if os.path.exists(os.path.join(directory, name))]
    if there and not overwrite:
        raise FileExistsError(f"{directory!r} already holds {', '.join(there)}; "
                              f"pass --overwrite to replace them, or choose another "
                              f"directory")


_REPRODUCE_OUTPUTS = ("hyperparameters.ecsv", "metrics.ecsv", "predictions.ecsv",
                      "predictions.fits", "figure1.png", "figure1.pdf")


def _reproduce(args):
    from ._config import __version__
    from .datasets import load_kalna2024
    from .io import atomic_output
    from .protocol import (PAPER_FIGURES, PUBLISHED_CODE_FIGURES,
                           run_paper_protocol, summarise)

    if args.n_iter is not None and args.n_iter < 1:     # before the catalogue is read
        raise ValueError(f"--n-iter must be >= 1, not {args.n_iter}")
    if args.output:
        # Checked before the run, which takes minutes: nothing is replaced
        # without --overwrite, and the catalogue never.
        paths = [os.path.join(args.output, name) for name in _REPRODUCE_OUTPUTS]
        _refuse_inputs([("-o", path) for path in paths], [("--catalogue", args.catalogue)])
        _refuse_existing(args.output, _REPRODUCE_OUTPUTS, args.overwrite)
    seeds = args.seeds or (list(range(3)) if args.quick else list(range(10)))
    n_iter = args.n_iter if args.n_iter is not None else (15 if args.quick else 50)
    tune = not args.no_tune
    catalogue = load_kalna2024(args.catalogue)
    how = (f"tuned per seed ({n_iter} trials, 5-fold CV on the training part)"
           if tune else "default hyper-parameters")
    log.info(f"photoz_numba {__version__}: Kalná et al. (2024) protocol, stratified "
             f"4:1 split per seed, {how}")
    log.debug(f"catalogue: {catalogue.meta.get('filename')}, {len(catalogue)} rows")
    start = time.perf_counter()
    header = (f"{'seed':>4} {'k':>3} {'gamma':>6} {'lam':>7} {'window':>6} {'clip':>5} "
              f"{'sigma_NMAD':>10} {'outliers':>9} {'bias':>8} {'seconds':>7}")
    print(header)
    print("-" * len(header), flush=True)
    progress = _Progress(not getattr(args, "quiet", False), unit="steps")
    finished = []

    def say(row):
        # Each seed's line as soon as it is done: an interruption keeps them.
        progress.end()
        finished.append(row["seed"])
        print(f"{row['seed']:>4} {row['k']:>3} {row['gamma']:>6.3f} {row['lam']:>7.4f} "
              f"{row['window']:>6.3f} {row['clip_sigma']:>5.2f} {row['sigma_nmad']:>10.5f} "
              f"{100 * row['outlier_fraction']:>8.2f}% "
              f"{row['bias']:>8.5f} {row['seconds']:>7.2f}", flush=True)

    try:
        per_seed, predictions = run_paper_protocol(
            catalogue, seeds=seeds, tune=tune, n_iter=n_iter, progress=progress,
            on_seed=say)
    except KeyboardInterrupt:
        progress.end()
        log.warning(f"interrupted: {len(finished)} of {len(seeds)} seeds done (their "
                    f"lines above); nothing written")
        raise
    print("-" * len(header))
    summary = summarise(per_seed)
    (s_mean, s_std), (f_mean, f_std), (b_mean, b_std) = (
        summary["sigma_nmad"], summary["outlier_fraction"], summary["bias"])
    print(f"{'mean ± std':>23} {s_mean:.5f} ± {s_std:.5f}  "
          f"{100 * f_mean:.2f} ± {100 * f_std:.2f}%  "
          f"bias {b_mean:.5f} ± {b_std:.5f}")
    print(f"{'paper':>23} {PAPER_FIGURES['sigma_nmad']:.5f}            "
          f"{100 * PAPER_FIGURES['outlier_fraction']:.2f}%")
    print(f"{'published code':>23} {PUBLISHED_CODE_FIGURES['sigma_nmad']:.5f}"
          f"            {100 * PUBLISHED_CODE_FIGURES['outlier_fraction']:.2f}%"
          f"  (measured here, 10 seeds)", flush=True)
    log.info(f"{len(per_seed)} seeds in {time.perf_counter() - start:.1f} s")
    if args.output:
        os.makedirs(args.output, exist_ok=True)
        written = []

        def write(name, table):
            with atomic_output(os.path.join(args.output, name),
                               overwrite=args.overwrite) as tmp:
                table.write(tmp, overwrite=True)
            written.append(name)

        write("hyperparameters.ecsv", per_seed["seed", "k", "gamma", "lam", "window",
                                               "clip_sigma", "cv_score"])
        write("metrics.ecsv", per_seed)
        write("predictions.ecsv", predictions)
        write("predictions.fits", predictions)
        try:
            from .plotting import plot_zphot_zspec
            top, _ = plot_zphot_zspec(
                predictions["zspec"], predictions["z_phot"], predictions["z_phot_err"],
                errors="z_phot_err (raw: RMS residual, not calibrated)")
            top.set_title(f"photoz_numba, {len(per_seed)} seeds x {per_seed['n_test'][0]} "
                          f"test galaxies")
            figure = top.figure
            try:
                for name in ("figure1.png", "figure1.pdf"):
                    with atomic_output(os.path.join(args.output, name),
                                       overwrite=args.overwrite) as tmp:
                        figure.savefig(tmp, dpi=150)
                    written.append(name)
            finally:
                from matplotlib import pyplot
                pyplot.close(figure)         # (main may run many times in one process)
        except ImportError as exc:
            log.warning(f"no figure: {exc}")
        log.info(f"wrote {', '.join(written)} to {args.output}")
    return 0


def _band_map(items, option="--band", bands=None):
    """['f444w=F444W_FLUX', ...] -> {'f444w': 'F444W_FLUX'}; each band
    one of ``bands`` when given."""
    mapping = {}
    for item in items or []:
        band, sep, column = item.partition("=")
        if not sep or not band or not column:
            raise ValueError(f"{option} takes BAND=COLUMN, not {item!r}")
        _known_band(option, item, band, bands)
        mapping[band] = column
    return mapping


def _known_band(option, item, band, bands):
    """ValueError naming ``option`` and its ``item`` unless ``band`` is one
    of ``bands`` (None: any band)."""
    if bands is not None and band not in bands:
        raise ValueError(f"{option} {item}: {band!r} is not one of --bands "
                         f"({','.join(bands)})")


def _units(items, bands=None):
    """['uJy'] -> 'uJy'; ['f444w=nJy', ...] -> {'f444w': 'nJy'}; [] -> None;
    each band one of ``bands`` when given."""
    if not items:
        return None
    default = [item for item in items if "=" not in item]
    named = dict(item.split("=", 1) for item in items if "=" in item)
    if len(default) > 1:
        raise ValueError(f"--unit without a band may be given once, not {default}")
    if default and named:
        raise ValueError("give --unit either once for all bands or as BAND=UNIT")
    for band, unit in named.items():
        _known_band("--unit", f"{band}={unit}", band, bands)
    return default[0] if default else named


def _sentinels(args):
    """--mag-sentinel / --flux-sentinel VALUE=STATE (or 'none') -> sentinels."""
    from .photometry import resolve_sentinels
    sentinels = {}
    for option, kind, items in (("--mag-sentinel", "magnitude", args.mag_sentinel),
                                ("--flux-sentinel", "flux", args.flux_sentinel)):
        if not items:
            continue
        values = {}
        for item in items:
            if item.lower() == "none":
                continue
            value, sep, state = item.partition("=")
            try:
                values[float(value)] = state
                resolve_sentinels({kind: {float(value): state}})
            except (TypeError, ValueError):
                raise ValueError(f"{option} takes VALUE=missing, VALUE=nondetection or "
                                 f"'none', not {item!r}") from None
        sentinels[kind] = values
    return sentinels or None


def _read_table(path, what, format=None):
    from .io import read_table, require_file
    require_file(path, what)
    return read_table(path, f"{what} ", format)


def _require_columns(table, path, **options):
    """KeyError naming the option whose column is not in the table read
    from ``path``, and the columns it has."""
    from .io import _require_column
    for option, name in options.items():
        _require_column(name, option, table.colnames, path)


def _fit(args):
    """fit, and tune (which tunes before fitting)."""
    import numpy as np
    from . import PhotoZModel
    from .io import _is_fits
    history = getattr(args, "history", None)
    _refuse_inputs([("-o", args.output), ("--history", history)], [("train", args.train)])
    if not _is_fits(args.output):
        raise ValueError(f"-o {args.output!r}: a model file is FITS; name it .fits (or "
                         f".fits.gz, .fits.bz2, .fits.xz)")
    for option, path in (("-o", args.output), ("--history", history)):
        if path and os.path.exists(path) and not args.overwrite:
            raise FileExistsError(f"{path!r} ({option}) exists; pass --overwrite to "
                                  f"replace it")
    params = {name: getattr(args, name) for name in
              ("k", "gamma", "lam", "clip_sigma", "offset", "magnitude_band", "search_eps",
               "window", "second_group")
              if getattr(args, name, None) is not None}
    for name in ("clip_sigma", "window"):
        if params.get(name, 1) <= 0:
            params[name] = None
    if params.get("second_group") == 0:     # a negative share is a mistake, not "none"
        params["second_group"] = None
    if params.get("magnitude_band") == "none":
        params["magnitude_band"] = None
    bands = [band.strip() for band in args.bands.split(",") if band.strip()]
    columns = _band_map(args.band, "--band", bands) or None
    errors = _band_map(args.error, "--error", bands) or None
    if errors and not args.asinh:
        raise ValueError("--error names the error columns that --asinh takes its softening "
                         "from; without --asinh nothing uses it")
    if args.asinh_scale is not None and not args.asinh:
        raise ValueError("--asinh-scale scales the softening of --asinh; without --asinh "
                         "nothing uses it")
    if args.asinh_scale is not None and not args.asinh_scale > 0:
        raise ValueError(f"--asinh-scale must be > 0, not {args.asinh_scale}")
    units = _units(args.unit, bands)
    with _options_for_parameters():     # checked before the table is read
        model = PhotoZModel(bands, columns=columns, units=units, error_columns=errors,
                            sentinels=_sentinels(args), **params)
        if args.command == "tune":
            from .tuning import _check_outlier_weight
            _check_outlier_weight(args.outlier_weight)
    table = _read_table(args.train, "training table", args.format)
    _require_columns(table, args.train, **{"--z": args.z})
    if args.asinh:
        from .photometry import lupton_softening
        softening = lupton_softening(
            table, {band: (columns or {}).get(band, band) for band in bands}, errors=errors,
            units=units)
        scale = 1.0 if args.asinh_scale is None else args.asinh_scale
        model.set_params(softening={band: scale * value for band, value in softening.items()})
    if args.command == "tune":
        from .tuning import tune
        trials, progress = [], _Progress(not args.quiet, unit="trials")
        try:
            with _options_for_parameters():
                tune(model, table, z=args.z, n_iter=args.n_iter, n_folds=args.folds,
                     random_state=args.seed, progress=progress, trials=trials,
                     outlier_weight=args.outlier_weight)
        except KeyboardInterrupt:       # Ctrl-C, or a signal that ends as it does
            progress.end()
            _keep_trials(args, trials)
            raise
        history = model.tuning_history_
        best = history[np.argmin(history["cv_score"])]
        # The history has a column for each parameter tuned (window and
        # clip_sigma only where not switched off).
        tuned = [name for name in history.colnames
                 if name != "trial" and not name.startswith("cv_")]
        print(f"best of {args.n_iter}: "
              + " ".join(f"{name}={getattr(model, name):.4g}" for name in tuned)
              + f"; CV sigma_NMAD {best['cv_sigma_nmad']:.5f}, "
              f"outliers {100 * best['cv_outlier_fraction']:.2f}%", flush=True)
        if args.history:
            from .io import atomic_output
            with atomic_output(args.history, overwrite=args.overwrite) as tmp:
                model.tuning_history_.write(tmp, overwrite=True)
            log.info(f"wrote the tuning history to {args.history}")
    else:
        with _options_for_parameters():
            model.fit(table, z=args.z)
    if args.calibrate:
        from .metrics import no_redshift_said
        with no_redshift_said():      # rows with no redshift: warned of by the fit above
            model.calibrate(table, z=args.z)
        cal = model.calibration_
        best = cal.comparison[cal.comparison["form"] == cal.form][0]
        log.info(f"calibrated z_phot_err ({cal.form} form): CV fraction within 1 and 2 "
                 f"errors {100 * best['cv_coverage_1sigma']:.1f}% and "
                 f"{100 * best['cv_coverage_2sigma']:.1f}%")
    model.write(args.output, overwrite=args.overwrite)
    log.info(f"fitted on {model.n_train_} of {len(table)} galaxies; wrote {args.output}")
    log.debug(f"model: {model!r}")
    return 0


def _keep_trials(args, trials):
    """The trials an interrupted ``tune`` finished, written to --history
    (whole, or not at all, as every output), and a warning saying how many
    and where; no model is written."""
    said = f"interrupted after {len(trials)} of {args.n_iter} trials"
    if not args.history:
        log.warning(f"{said}; no model written (--history FILE keeps the finished "
                    f"trials of an interrupted run)")
    elif not trials:
        log.warning(f"{said}; no history or model written")
    else:
        from astropy.table import Table

        from .io import atomic_output
        try:
            history = Table(trials)
            history.meta["outlier_weight"] = args.outlier_weight   # as a whole run's
            with atomic_output(args.history, overwrite=args.overwrite) as tmp:
                history.write(tmp, overwrite=True)
        except OSError as exc:
            log.error(f"{said}; the history could not be written: {exc}")
            return
        log.warning(f"{said}; wrote the {len(trials)} finished trials to {args.history} "
                    f"(--history); no model written")


#: Every file ``calibrate`` may write into its directory: the pulls' report
#: and plots, and the p(z) report and plots of a table with percentiles.
_CALIBRATE_OUTPUTS = ("calibration_report.ecsv", "pulls.png", "pit.png", "coverage.png")
_CALIBRATE_PDF_OUTPUTS = ("pdf_report.ecsv", "pdf_pit.png", "pdf_coverage.png")


def _calibrate(args):
    from io import BytesIO

    import numpy as np

    from .calibration import calibration_report
    from .io import atomic_output, same_file
    from .metrics import _say_training_twins, no_redshift
    if args.band and not args.model:
        raise ValueError("--band names the columns the model of --model reads; without "
                         "--model nothing uses it")
    outputs = _CALIBRATE_OUTPUTS + _CALIBRATE_PDF_OUTPUTS
    clash = [name for name in outputs
             if same_file(os.path.join(args.output, name), args.predictions)]
    if clash:
        raise ValueError(f"the output {clash[0]!r} in {args.output!r} would replace the "
                         f"input {args.predictions!r}: choose another directory")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise FileExistsError(f"-o {args.output!r} is a file; -o names the directory the "
                              f"report and plots go into")
    # Before any work: a directory holds one run's files, never a mixture.
    _refuse_existing(args.output, outputs, args.overwrite)
    table = _read_table(args.predictions, "predictions", args.format)
    _require_columns(table, args.predictions, **{"--z": args.z, "--z-phot": args.z_phot,
                                                 "--z-phot-err": args.z_phot_err})
    model = _read_mapped(args, made=table) if args.model else None
    try:
        report = calibration_report(
            table, z_spec=args.z, z_phot=args.z_phot, z_phot_err=args.z_phot_err,
            invalid="skip" if args.skip_invalid else "raise", mixture=not args.no_mixture,
            random_state=args.seed, n_walkers=args.walkers, n_steps=args.steps)
    except ValueError as exc:
        # The library's advice, in the command line's terms.
        raise ValueError(str(exc).replace("pass invalid='skip'", "pass --skip-invalid")
                         ) from None
    # Its columns read as numbers by the report above.
    _say_training_twins(_flags_of(table, ~no_redshift(table[args.z])
                                  & ~np.ma.getmaskarray(table[args.z_phot])),
                        what="rows with a redshift and a z_phot", warn=log.warning)
    pdf = _calibrate_pdf(args, table, model)
    print(report)
    if pdf is not None:
        print(pdf)
    plots = []
    try:
        from .plotting import (plot_coverage, plot_interval_coverage, plot_pdf_pit, plot_pit,
                               plot_pulls)
        label = args.label or args.z_phot_err
        plots = [("pulls.png", lambda: plot_pulls(report, errors=label)),
                 ("pit.png", lambda: plot_pit(report, errors=label)),
                 ("coverage.png", lambda: plot_coverage(report, labels=[label]))]
        if pdf is not None:
            plots += [("pdf_pit.png", lambda: plot_pdf_pit(pdf)),
                      ("pdf_coverage.png", lambda: plot_interval_coverage(pdf))]
    except ImportError as exc:
        log.warning(f"no plots: {exc}")
    # Every plot drawn before the directory is touched: one that fails
    # leaves an earlier run's files as they were.
    images = []
    for name, plot in plots:
        try:
            figure = plot().figure
        except ImportError as exc:
            # Without matplotlib the tables are still written.
            log.warning(f"no plots: {exc}")
            images = []
            break
        image = BytesIO()
        try:
            figure.savefig(image, dpi=120, format="png", bbox_inches="tight")
        finally:
            from matplotlib import pyplot
            pyplot.close(figure)
        images.append((name, image.getvalue()))
    os.makedirs(args.output, exist_ok=True)
    # With --overwrite, the earlier run's files go before any of this run's
    # is written, so the directory never holds files of both.
    earlier = [name for name in outputs if os.path.exists(os.path.join(args.output, name))]
    for name in earlier:
        os.remove(os.path.join(args.output, name))
    # Each table says which run it is from.
    source = {"predictions": os.path.abspath(args.predictions), "column_z_spec": args.z}
    written = []

    def write(name, writer):
        with atomic_output(os.path.join(args.output, name), overwrite=args.overwrite) as tmp:
            writer(tmp)
        written.append(name)

    def write_table(name, result):
        out = result.to_table()
        out.meta.update(source)
        write(name, lambda tmp: out.write(tmp, format="ascii.ecsv", overwrite=True))

    def write_bytes(name, data):
        def writer(tmp):
            with open(tmp, "wb") as file:
                file.write(data)
        write(name, writer)

    write_table("calibration_report.ecsv", report)
    if pdf is not None:
        write_table("pdf_report.ecsv", pdf)
    for name, data in images:
        write_bytes(name, data)
    stale = [name for name in earlier if name not in written]
    log.info(f"wrote {', '.join(written)} to {args.output}"
             + (f"; removed {', '.join(stale)}, of an earlier run" if stale else ""))
    return 0


def _calibrate_pdf(args, table, model=None):
    """The p(z) part of ``calibrate``, None for a predictions file without
    the percentile columns: the PIT histogram, the coverage at every level
    and, with ``--model`` (read as ``model``), the exact PIT and the CDE
    loss."""
    from .calibration import pdf_report, pit_from_percentiles
    from .metrics import no_redshift_said, redshift_values
    from .schema import PERCENTILES
    if not all(name in table.colnames for name, _ in PERCENTILES):
        if args.model:
            raise ValueError(f"--model is for a predictions file with the percentile "
                             f"columns ({', '.join(name for name, _ in PERCENTILES)}); "
                             f"{args.predictions!r} has none")
        return None
    if model is not None:
        source = table.copy()
        source.remove_columns([column.name for column in model.output_schema()
                               if column.name in source.colnames])
        # NaN where a row has no redshift (a sentinel such as 99): no PIT, and
        # left out of the loss; the pulls' report has warned of those rows.
        truth = redshift_values(table[args.z])
        with no_redshift_said():
            return pdf_report(model.cdf(source, truth), cde_loss=model.cde_loss(source, truth))
    return pdf_report(pit_from_percentiles(table, args.z), approximate=True)


class _Progress:
    """Progress line with rate and ETA on stderr, only on a terminal."""

    def __init__(self, enabled, unit="rows"):
        self.enabled = enabled and sys.stderr.isatty()
        self.unit = unit
        self.start = time.perf_counter()
        self.open = False        # a line shown and not ended

    def end(self):
        """End a line left open (by an interruption), so that what is
        printed next starts a line of its own."""
        if self.open:
            print(file=sys.stderr, flush=True)
            self.open = False

    def __call__(self, done, total):
        if done == 0:
            # The work starts now (kernels compiled): rates count from here.
            self.start = time.perf_counter()
            return
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        width = 30
        filled = int(width * done / max(total, 1))
        print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} {self.unit} "
              f"{rate:,.1f} {self.unit}/s ETA {eta:4.0f} s", end="", file=sys.stderr,
              flush=True)
        self.open = True
        if done >= total:
            self.end()


def _check_threads(threads):
    from .model import _check_threads     # one rule, named as typed here
    _check_threads(threads, "--threads")


def _catalogue_columns(model, items, path):
    """--band of predict, stack and pdf: ['g=G_FLUX', ...] -> {'g':
    'G_FLUX'}, each key a band of the model read from ``path``, or the
    column the model reads it from."""
    by_column = dict(zip(model.band_columns, model.bands))
    mapping = {}
    for item in items or []:
        key, sep, column = item.partition("=")
        if not sep or not key or not column:
            raise ValueError(f"--band takes BAND=COLUMN, not {item!r}")
        band = key if key in model.bands else by_column.get(key)
        if band is None:
            named = ("" if model.band_columns == model.bands else
                     f"; their columns {', '.join(model.band_columns)}")
            raise ValueError(f"--band {item}: {key!r} is not a band of the model {path!r} "
                             f"(bands {', '.join(model.bands)}{named})")
        mapping[band] = column
    return mapping


def _predict(args):
    from . import PhotoZModel
    from .io import check_output_format, predict_file
    _check_threads(args.threads)
    if args.chunk_size < 1:
        raise ValueError(f"--chunk-size must be at least 1, not {args.chunk_size}")
    _refuse_inputs([("-o", args.output)], [("input", args.input), ("model", args.model)])
    check_output_format(args.input, args.output, args.format, args.output_format)
    model = PhotoZModel.read(args.model)
    columns = _catalogue_columns(model, args.band, args.model)
    log.debug(f"model {args.model}: {model!r}")
    model.warm_up()     # compiled or loaded before the clock starts
    start = time.perf_counter()
    nrows = predict_file(model, args.input, args.output, chunk_size=args.chunk_size,
                         units=_units(args.unit), overwrite=args.overwrite,
                         n_threads=args.threads, hdu=args.hdu, format=args.format,
                         output_format=args.output_format, columns=columns,
                         progress=_Progress(not getattr(args, "quiet", False)))
    elapsed = time.perf_counter() - start
    log.info(f"wrote {nrows} rows to {args.output} in {elapsed:.1f} s "
             f"({nrows / max(elapsed, 1e-9):,.0f} rows/s)")
    return 0


def _flags_of(table, rows):
    """The ``z_phot_flag`` of a predictions table's ``rows`` (None
    without the column)."""
    if "z_phot_flag" not in table.colnames:
        return None
    return table["z_phot_flag"][rows]


def _evaluate(args):
    import numpy as np
    from .metrics import _read_redshifts, _say_training_twins, evaluate
    table = _read_table(args.predictions, "predictions", args.format)
    _require_columns(table, args.predictions, **{"--z": args.z, "--z-phot": args.z_phot})
    try:
        z_spec = _read_redshifts(table[args.z], args.z, warn=log.warning)
    except TypeError:
        raise TypeError(f"column {args.z!r} (--z) must hold numbers") from None
    missing = np.isnan(z_spec)
    try:
        z_phot = np.asarray(np.ma.getdata(table[args.z_phot]), dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"column {args.z_phot!r} (--z-phot) must hold numbers") from None
    # Masked, or NaN as Dask, CSV and Parquet write a row with no z_phot.
    unpredicted = (np.ma.getmaskarray(table[args.z_phot]) | np.isnan(z_phot)) & ~missing
    usable = ~(unpredicted | missing)
    bad = np.flatnonzero(usable & ~np.isfinite(z_phot))
    if bad.size:
        raise ValueError(f"{args.z_phot} is infinite in {bad.size} row(s) of "
                         f"{args.predictions!r} (first at row {bad[0]})")
    if not usable.any():
        raise ValueError(f"no row of the {len(table)} in {args.predictions!r} has both "
                         f"{args.z_phot} and a redshift in {args.z} ({int(missing.sum())} "
                         f"with no redshift, {int(unpredicted.sum())} with masked or NaN "
                         f"{args.z_phot})")
    _say_training_twins(_flags_of(table, usable), warn=log.warning)
    z_phot = z_phot[usable]
    z_spec = z_spec[usable]
    metrics = evaluate(z_phot, z_spec, threshold=args.threshold)
    print(f"rows {len(table)}, evaluated {metrics['n']} (skipped {int(unpredicted.sum())} "
          f"with masked or NaN {args.z_phot}, {int(missing.sum())} with no redshift in "
          f"{args.z})")
    print(f"sigma_NMAD {metrics['sigma_nmad']:.5f}  outliers (|dz| > {args.threshold}) "
          f"{100 * metrics['outlier_fraction']:.2f}%  bias {metrics['bias']:.5f}")
    if args.by_z or args.bins is not None:
        from .metrics import evaluate_by_z
        rows = evaluate_by_z(z_phot, z_spec, edges=args.bins, threshold=args.threshold)
        print(f"by {args.z}:")
        print(f"{'bin':>11s} {'n':>6s} {'sigma_NMAD':>10s} {'outliers':>8s} "
              f"{'median dz':>9s}")
        for row in rows:
            bin_name = f"{row['z_low']:g}-{row['z_high']:g}"
            if row["n"]:
                print(f"{bin_name:>11s} {row['n']:6d} {row['sigma_nmad']:10.4f} "
                      f"{100 * row['outlier_fraction']:7.1f}% {row['median_dz']:+9.3f}")
            else:
                print(f"{bin_name:>11s} {0:6d} {'-':>10s} {'-':>8s} {'-':>9s}")
        outside = int(metrics["n"] - sum(row["n"] for row in rows))
        if outside:
            print(f"{outside} of the {metrics['n']} rows evaluated have {args.z} outside "
                  f"{rows['z_low'][0]:g}-{rows['z_high'][-1]:g} and are in no bin")
    return 0


def _stack(args):
    from .io import atomic_output, require_file, stack_file
    from .pdf import quiet, stack_outside
    _refuse_inputs([("-o", args.output)], [("input", args.input), ("model", args.model)])
    _check_threads(args.threads)
    if not args.output.lower().endswith(".ecsv"):
        raise ValueError(f"-o {args.output!r}: the n(z) is written as ECSV; name a file "
                         f"ending in .ecsv")
    # An existing output, or one in no directory, is refused now.
    output = atomic_output(args.output, overwrite=args.overwrite)
    require_file(args.input)
    model = _read_mapped(args)
    model.check_pz()
    grid = args.grid if args.grid is not None else _default_grid(model)
    # The summary below says how many rows had no p(z), in place of the warning.
    stacked = quiet(stack_file, model, args.input, grid, weights=args.weight, hdu=args.hdu,
                    format=args.format, units=_units(args.unit), n_threads=args.threads,
                    progress=_Progress(not args.quiet))
    # Wrong units are warned of as by predict (quiet above silenced it).
    model.warn_if_mostly_extrapolated(stacked.meta["n_extrapolated"], stacked.meta["n_rows"])
    stacked["z"].description = "redshift grid"
    stacked["n_z"].description = ("sum over the rows of " + (f"{args.weight} x " if args.weight
                                  else "") + "p(z), per unit redshift")
    stacked.meta.update(model=os.path.basename(args.model),
                        catalogue=os.path.basename(args.input))
    with output as tmp:
        stacked.write(tmp, format="ascii.ecsv", overwrite=True)
    meta = stacked.meta
    outside, off = stack_outside(stacked["z"], stacked["n_z"], meta["weight_sum"])
    within = meta["weight_sum"] - outside
    without = meta["n_rows"] - meta["n_stacked"]
    left_out = (f" ({without} have none and are left out: no z_phot, or no error to give "
                f"it a width, flag no_error)" if without else "")
    log.log(logging.WARNING if without or off else logging.INFO,
            f"stacked the p(z) of {meta['n_stacked']} of {meta['n_rows']} rows{left_out}; "
            f"{within:,.6g} of their weight {meta['weight_sum']:,.6g} lies within "
            f"{grid[0]:g} to {grid[-1]:g}; wrote {args.output}")
    return 0


def _pdf(args):
    from .io import pdf_file, require_file
    _refuse_inputs([("-o", args.output)], [("input", args.input), ("model", args.model)])
    _check_threads(args.threads)
    require_file(args.input)
    model = _read_mapped(args)
    grid = args.grid if args.grid is not None else _default_grid(model)
    pdf_file(model, args.input, args.output, grid, id_column=args.id, units=_units(args.unit),
             overwrite=args.overwrite, n_threads=args.threads,
             progress=_Progress(not args.quiet), hdu=args.hdu,
             format=args.format)        # its summary goes through the logger
    return 0


def _read_mapped(args, made=None):
    """The model of --model, reading the columns of --band (stack, pdf and
    calibrate). With ``made``, the predictions of ``calibrate``: the model
    is refused if they record (as ``predict`` does) that another model
    made them; files without the record are taken on trust."""
    from . import PhotoZModel
    from .io import MODEL_KEYWORD, model_digest, reading_columns
    model = PhotoZModel.read(args.model)
    recorded = None if made is None else made.meta.get(MODEL_KEYWORD)
    if recorded is not None:
        recorded, digest = str(recorded), model_digest(model)
        if recorded != digest:
            raise ValueError(f"{args.predictions!r} was not made by the model "
                             f"{args.model!r} (--model): it records the model "
                             f"{recorded[:12]}... ({MODEL_KEYWORD}), and {args.model!r} "
                             f"is {digest[:12]}...; give the model file that made the "
                             f"predictions")
    # As predict reads a catalogue: --band, the digest still the file's.
    return reading_columns(model, _catalogue_columns(model, args.band, args.model))


def _default_grid(model):
    """0 to the training set's highest redshift plus 0.5, rounded up, in
    steps of 0.01."""
    import numpy as np
    top = np.ceil(float(np.max(model.train_redshifts_)) + 0.5)
    return _grid(f"0:{top:g}:0.01")


#: The most points a --grid may have.
_MAX_GRID = 1_000_000


def _grid(text):
    """'START:STOP:STEP' as a grid from START to STOP inclusive."""
    import numpy as np
    try:
        start, stop, step = (float(value) for value in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"the grid must be START:STOP:STEP, e.g. "
                                         f"0:7:0.01, not {text!r}") from None
    if start < 0:
        raise argparse.ArgumentTypeError(f"the grid {text!r} starts below 0, where p(z) is 0 "
                                         f"(it is truncated at z = 0): start at 0 or above")
    count = (stop - start) / step if step > 0 else float("nan")
    if not (np.isfinite(count) and count >= 1 and abs(count - round(count)) < 1e-9 * count):
        raise argparse.ArgumentTypeError(f"the grid {text!r} must have STOP > START and a "
                                         f"STEP > 0 that divides STOP - START")
    points = int(round(count)) + 1
    if points > _MAX_GRID:
        raise argparse.ArgumentTypeError(f"the grid {text!r} has {points:,} points; at most "
                                         f"{_MAX_GRID:,}")
    # Rounded, so that 0:1:0.1 writes 0.3, not 0.30000000000000004.
    return np.round(start + step * np.arange(points), 12)


def _bin_edges(text):
    """'0,1,2,3' as increasing edges."""
    try:
        edges = [float(value) for value in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bin edges must be numbers separated by commas, "
                                         f"not {text!r}") from None
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise argparse.ArgumentTypeError(f"bin edges must be at least two increasing "
                                         f"numbers, not {text!r}")
    return edges


def _unknown_arguments(command, unknown):
    """Exit (2) with ``command``'s usage, not the top level's, naming the
    arguments it does not take and the option nearest each mistyped one."""
    import difflib
    options = [name for name in command._option_string_actions if name.startswith("--")]
    # Arguments given without an option ('predict MODEL INPUT'), by name.
    positional = {action.dest.replace("_", "-"): action.metavar or action.dest
                  for action in command._actions if not action.option_strings}
    nearest = []
    for given in unknown:
        name = given.split("=")[0]
        if name.lstrip("-") in positional and name.startswith("-"):
            nearest.append(f"{given}: {positional[name.lstrip('-')]} is given without an "
                           f"option, in its place in the usage")
        elif name.startswith("-") and (close := difflib.get_close_matches(name, options, n=1,
                                                                          cutoff=0.7)):
            nearest.append(f"{given}: did you mean {close[0]}?")
    command.error(f"unrecognized arguments: {' '.join(unknown)}"
                  + (f" ({'; '.join(nearest)})" if nearest else ""))


def _parser():
    parser = argparse.ArgumentParser(
        prog="photoz-numba",
        description="Fast photometric redshifts by kernelised local linear "
                    "regression (Kalná, Begley & Donnan 2024).")
    from ._config import __version__
    parser.add_argument("--version", action="version",
                        version=f"photoz-numba {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error")
    _verbosity_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     required=True)

    reproduce = commands.add_parser(
        "reproduce", help="run the paper's protocol on its catalogue",
        description="Tune, fit and evaluate the model on the paper's "
                    "stratified 4:1 splits, one per seed (tuning on the "
                    "training part only), and print sigma_NMAD, outlier "
                    "fraction and bias per seed with their mean ± std.")
    reproduce.add_argument("--seeds", type=_parse_seeds, default=None,
                           help="seeds of the splits, e.g. 0-9 (default) or 0,3")
    reproduce.add_argument("--quick", action="store_true",
                           help="seeds 0-2 and 15 tuning trials (unless given)")
    reproduce.add_argument("--n-iter", type=int, default=None,
                           help="tuning trials per seed (default 50)")
    reproduce.add_argument("--no-tune", action="store_true",
                           help="use the default hyper-parameters, no tuning")
    reproduce.add_argument("--catalogue", "--catalog", default=None,
                           metavar="PATH",
                           help="local copy of the catalogue (default: "
                                "$PHOTOZ_NUMBA_KALNA2024, the config item, "
                                "or a download into astropy's cache)")
    reproduce.add_argument("--output", "-o", metavar="DIR", default=None,
                           help="also write into DIR the hyper-parameters and "
                                "metrics per seed (ECSV), the predictions (FITS, "
                                "ECSV) and the z_phot-z_spec figure (PNG, PDF)")
    reproduce.add_argument("--overwrite", action="store_true",
                           help="replace those files if DIR already holds them")
    _verbosity_options(reproduce)
    reproduce.set_defaults(run=_reproduce)

    fit = commands.add_parser(
        "fit", help="fit a model on a table with redshifts and write it",
        description="Fit a PhotoZModel on a training table (any format astropy "
                    "reads) and write it as a FITS model file.")
    _model_options(fit)
    _verbosity_options(fit)
    fit.set_defaults(run=_fit)

    tune = commands.add_parser(
        "tune", help="tune k, gamma, lam, window and clip_sigma by cross-validation, "
                     "fit, and write",
        description="Tune k, gamma, lam, window and clip_sigma by Bayesian optimisation "
                    "with "
                    "stratified k-fold cross-validation on a training table, "
                    "fit on all of it and write the model file.")
    _model_options(tune)
    tune.add_argument("--n-iter", type=int, default=50,
                      help="settings tried (default 50)")
    tune.add_argument("--folds", type=int, default=5,
                      help="cross-validation folds (default 5)")
    tune.add_argument("--seed", type=int, default=0,
                      help="seeds the folds and the optimiser (default 0)")
    tune.add_argument("--outlier-weight", type=float, default=0.1, metavar="W",
                      help="the objective is sigma_NMAD + W x outlier fraction (default "
                           "0.1); a larger W trades a wider core for fewer outliers")
    tune.add_argument("--history", metavar="FILE",
                      help="also write every trial's parameters and CV figures (if "
                           "interrupted, those of the trials finished)")
    _verbosity_options(tune)
    tune.set_defaults(run=_fit)

    predict = commands.add_parser(
        "predict", help="add z_phot columns to a catalogue file",
        description="Predict every row of a catalogue into a new file with "
                    "z_phot, z_phot_err, z_phot_flag and z_phot_nused added "
                    "(a calibrated model adds z_phot_err_raw and the p(z)'s "
                    "percentiles z_phot_025 to z_phot_975). "
                    "FITS to FITS streams in chunks; other formats are read "
                    "into memory. The output appears only when complete.")
    predict.add_argument("model", help="model file written by 'fit'")
    predict.add_argument("input", help="catalogue to predict")
    predict.add_argument("-o", "--output", required=True, help="file to write")
    predict.add_argument("--format", metavar="FORMAT",
                         help="astropy format of the input (ascii, ascii.ecsv, fits, ...), "
                              "where its name does not tell")
    predict.add_argument("--output-format", metavar="FORMAT",
                         help="astropy format of the output, where its name does not tell")
    predict.add_argument("--chunk-size", type=int, default=100_000,
                         help="rows per chunk when streaming FITS (default 100000)")
    _file_run_options(predict)
    predict.set_defaults(run=_predict)

    stack = commands.add_parser(
        "stack", help="sum the p(z) of a catalogue's rows: its n(z)",
        description="Sum the p(z) of every row of a catalogue on a redshift grid "
                    "(the sample's n(z)) with a calibrated model, and write the grid and "
                    "the sum, per unit redshift, as ECSV. A FITS file is read in "
                    "chunks, as predict streams it, so its size does not matter. "
                    "Rows without a p(z) are counted and left out.")
    _pz_file_arguments(stack, "ECSV file to write")
    stack.add_argument("--weight", metavar="COLUMN",
                       help="weigh each row by this column (finite, >= 0)")
    _format_option(stack)
    _file_run_options(stack)
    stack.set_defaults(run=_stack)

    pdf = commands.add_parser(
        "pdf", help="write each row's p(z) on a grid (FITS, as EAZY does)",
        description="Write each row's p(z), per unit redshift, on a redshift grid into a "
                    "new FITS file: HDU PZ has a row per input row, in order (with the "
                    "--id column, if given, and pdf, float32), HDU ZGRID the grid. A FITS "
                    "input is read in chunks, as predict streams it; the output appears "
                    "only when complete. 4 bytes per galaxy and grid point.")
    _pz_file_arguments(pdf, "FITS file to write (.fits; .fits.gz to compress it)")
    pdf.add_argument("--id", metavar="COLUMN", help="a column to copy into each row")
    _format_option(pdf)
    _file_run_options(pdf)
    pdf.set_defaults(run=_pdf)

    evaluate = commands.add_parser(
        "evaluate", help="sigma_NMAD, outlier fraction and bias of predictions",
        description="Metrics of a table with photometric and spectroscopic "
                    "redshifts; rows with a masked z_phot, or no redshift (masked, not "
                    "finite or outside -0.01 to 20, as the sentinels 99 and -99), are "
                    "skipped and counted.")
    evaluate.add_argument("predictions", help="table with z_phot and z_spec columns")
    _format_option(evaluate)
    evaluate.add_argument("--z", default="zspec", help="spectroscopic redshift column")
    evaluate.add_argument("--z-phot", default="z_phot", help="photometric redshift column")
    evaluate.add_argument("--by-z", action="store_true",
                          help="also the figures in bins of the spectroscopic redshift: "
                               "unit bins from 0 to the highest z_spec rounded up (at most "
                               "7), or those of --bins")
    evaluate.add_argument("--bins", type=_bin_edges, metavar="EDGES",
                          help="the bin edges of --by-z (implies it), e.g. 0,1,2,4,7")
    evaluate.add_argument("--threshold", type=float, default=0.15,
                          help="outlier threshold on |dz| (default 0.15)")
    _verbosity_options(evaluate)
    evaluate.set_defaults(run=_evaluate)

    calibrate = commands.add_parser(
        "calibrate", help="is z_phot_err a 1-sigma error? pulls against N(0, 1)",
        description="Compare the pulls (z_phot - z_spec) / z_phot_err of a table of "
                    "predictions with a unit Gaussian: moments, coverage, KS and "
                    "Anderson-Darling tests, PIT, and an MCMC fit of a Gaussian core "
                    "plus outliers. Prints the report and writes it (ECSV) with the "
                    "pull, PIT and coverage plots (PNG) into DIR, which must not hold "
                    "an earlier run's files unless --overwrite. Rows with a masked "
                    "z_phot or no redshift (as for evaluate) are skipped and counted.")
    calibrate.add_argument("predictions", help="table with z_phot, z_phot_err and z_spec")
    _format_option(calibrate)
    calibrate.add_argument("--z", default="zspec", help="spectroscopic redshift column")
    calibrate.add_argument("--z-phot", default="z_phot", help="photometric redshift column")
    calibrate.add_argument("--z-phot-err", default="z_phot_err", help="error column")
    calibrate.add_argument("--label", metavar="TEXT",
                           help="how the plots name the errors, e.g. 'z_phot_err "
                                "(calibrated)' (default: the error column's name)")
    calibrate.add_argument("-o", "--output", required=True, metavar="DIR",
                           help="directory for calibration_report.ecsv, pulls.png, "
                                "pit.png and coverage.png (replaced if there), and "
                                "pdf_report.ecsv, pdf_pit.png and pdf_coverage.png for "
                                "a table with percentile columns")
    calibrate.add_argument("--skip-invalid", action="store_true",
                           help="skip (and count) rows with z_phot_err <= 0 or NaN "
                                "instead of stopping")
    calibrate.add_argument("--no-mixture", action="store_true",
                           help="no MCMC mixture fit")
    calibrate.add_argument("--walkers", type=int, default=32,
                           help="MCMC walkers (default 32)")
    calibrate.add_argument("--steps", type=int, default=4000,
                           help="MCMC steps per walker (default 4000)")
    calibrate.add_argument("--seed", type=int, default=0, help="seeds the MCMC (default 0)")
    calibrate.add_argument("--model", metavar="MODEL",
                           help="the model file that made the predictions: exact PIT and "
                                "the CDE loss of its p(z) (without it, a file with "
                                "percentile columns gets PIT values from them); refused "
                                "if the predictions record another model (PZMODEL)")
    calibrate.add_argument("--band", action="append", metavar="BAND=COLUMN",
                           help="with --model: the column of a model band whose column is "
                                "named otherwise, as given to predict (repeatable)")
    calibrate.add_argument("--overwrite", action="store_true",
                           help="replace an earlier run's files in DIR: all of them "
                                "are removed before this run's are written")
    _verbosity_options(calibrate)
    calibrate.set_defaults(run=_calibrate)
    # No abbreviations: '--weigh w' for '--weight w' hides a typo, and a
    # later option could make an abbreviation mean another.
    for each in (parser, *commands.choices.values()):
        each.allow_abbrev = False
    parser.commands = commands.choices      # each command's parser, by name
    return parser


def _pz_file_arguments(parser, output):
    """The model, input, -o and --grid of the commands that take a p(z)
    over a catalogue file (stack, pdf)."""
    parser.add_argument("model", help="model file written by 'fit --calibrate' (with a p(z))")
    parser.add_argument("input", help="catalogue")
    parser.add_argument("-o", "--output", required=True, help=output)
    parser.add_argument("--grid", type=_grid, metavar="START:STOP:STEP",
                        help="redshift grid, STOP included, e.g. 0:7:0.01: START >= 0 (p(z) "
                             "is 0 below z = 0), at most 1,000,000 points (default: 0 to "
                             "the training set's highest redshift plus 0.5, rounded up, in "
                             "steps of 0.01)")


def _file_run_options(parser):
    """--hdu, --band, --threads, --unit, --overwrite and the verbosity
    options of the commands that go through a catalogue file (predict,
    stack, pdf)."""
    parser.add_argument("--hdu", default=None, type=lambda v: int(v) if v.isdigit() else v,
                        help="FITS table HDU, number or name (default: the first "
                             "binary table)")
    parser.add_argument("--band", action="append", metavar="BAND=COLUMN",
                        help="the catalogue's column of a model band whose column is named "
                             "otherwise; BAND is the band or its column in the model "
                             "(repeatable)")
    parser.add_argument("--threads", type=int, default=None,
                        help="Numba threads (default: all cores)")
    _unit_option(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output file (never the input)")
    _verbosity_options(parser)


def _verbosity_options(parser):
    """--quiet and --verbose, before or after the command: not set unless
    given (SUPPRESS), so that a subcommand's default does not undo the
    main parser's."""
    parser.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS,
                        help="only warnings and errors (no progress bar or summary)")
    parser.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS,
                        help="also report details (model, files, timings)")


def _model_options(parser):
    """Options shared by fit and tune."""
    parser.add_argument("train", help="training table (FITS, ECSV, ...)")
    _format_option(parser)
    parser.add_argument("--bands", required=True,
                        help="comma-separated band names, in wavelength order")
    parser.add_argument("--z", default="zspec", help="redshift column (default zspec)")
    parser.add_argument("-o", "--output", required=True, metavar="MODEL.fits",
                        help="model file to write")
    # Hyper-parameters default to PhotoZModel's own defaults (None: not given).
    parser.add_argument("--k", type=int, help="neighbours per galaxy")
    parser.add_argument("--gamma", type=float, help="RBF kernel width")
    parser.add_argument("--lam", type=float, help="ridge regularisation")
    parser.add_argument("--clip-sigma", type=float,
                        help="clipping threshold in RMS residuals; <= 0 disables")
    parser.add_argument("--window", type=float,
                        help="redshift window, in units of 1 + z, that the fitted "
                             "neighbours must share (default 0.15); <= 0 fits all k")
    parser.add_argument("--second-group", type=float,
                        help="share of the window's rank weight, above 0 and at most 1, "
                             "at which the nearer group of the neighbours it left out is "
                             "fitted instead (0.5 for JWST-like catalogues; default: the "
                             "window's group always, as with 0)")
    parser.add_argument("--asinh", action="store_true",
                        help="asinh magnitudes for flux bands, softened by 1.042 times "
                             "each band's median training flux error (forced photometry)")
    parser.add_argument("--asinh-scale", type=float, metavar="F",
                        help="with --asinh: F times that softening (0.5 in the JWST rule: "
                             "with --second-group 0.5; default 1)")
    parser.add_argument("--search-eps", type=float,
                        help="0 (default): exact neighbours; > 0: approximate search "
                             "(within 1 + eps of the true distances) for large training sets")
    parser.add_argument("--offset", choices=["median", "mean", "none"],
                        help="fit around the neighbours' median, mean, or 0")
    parser.add_argument("--magnitude-band",
                        help="band whose magnitude is a feature: a band, 'auto' "
                             "(the middle band) or 'none'")
    _column_options(parser)
    parser.add_argument("--mag-sentinel", action="append", metavar="VALUE=STATE",
                        help="a magnitude that stands for no measurement (STATE "
                             "'missing') or no detection ('nondetection'); repeatable, "
                             "replaces the defaults 99=nondetection and -99=missing; "
                             "'none': no magnitude sentinels")
    parser.add_argument("--flux-sentinel", action="append", metavar="VALUE=STATE",
                        help="the same for flux columns (default -99=missing)")
    parser.add_argument("--calibrate", action="store_true",
                        help="also learn a correction of z_phot_err and a p(z) from "
                             "20-fold out-of-fold predictions on the training table")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing model file")


def _column_options(parser):
    parser.add_argument("--band", action="append", metavar="BAND=COLUMN",
                        help="column of a band whose name differs (repeatable)")
    parser.add_argument("--error", action="append", metavar="BAND=COLUMN",
                        help="error column of a band, where it is not the band's "
                             "column + '_err' (repeatable; used by --asinh)")
    _unit_option(parser)


def _format_option(parser):
    parser.add_argument("--format", metavar="FORMAT",
                        help="astropy format of the input table (ascii, ascii.ecsv, fits, "
                             "...), where its name does not tell")


def _unit_option(parser):
    parser.add_argument("--unit", action="append", metavar="[BAND=]UNIT",
                        help="unit of band columns without one: once for all "
                             "bands, or BAND=UNIT (repeatable)")


#: Signals that end a process by default and that a command ends on as on
#: Ctrl-C, cleaning up (no partial output, no temporary file): a polite
#: kill, a dropped terminal or session, a batch system's CPU limit or
#: warning.
_ENDING_SIGNALS = tuple(getattr(signal, name) for name in
                        ("SIGTERM", "SIGHUP", "SIGXCPU", "SIGUSR1", "SIGUSR2")
                        if hasattr(signal, name))


class _Ended(KeyboardInterrupt):
    """Raised by `_interrupt` for a signal of `_ENDING_SIGNALS`."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _interrupt(signum, frame):
    raise _Ended(signum)


def _published_before(published):
    """'; written whole before it: 'out.fits'' for outputs published before
    an interruption (one that came once the output was in place), else ''."""
    if not published:
        return ""
    return "; written whole before it: " + ", ".join(repr(path) for path in published)


def main(argv=None):
    """Run the ``photoz-numba`` command; returns the exit code.

    The ``photoz-numba`` script calls this; it can also be called from
    Python. An error is printed to stderr as one line, ``photoz-numba
    COMMAND: error: MESSAGE`` (with the traceback raised instead under
    ``--debug``); SIGTERM is handled like Ctrl-C.

    Parameters
    ----------
    argv : list of str, optional
        The command line after the program name, e.g. ``["evaluate",
        "predictions.fits"]`` (default: ``sys.argv[1:]``).

    Returns
    -------
    exit_code : int
        0 success, 1 error, 130 interrupted by Ctrl-C, 128 + the signal's
        number when ended by SIGTERM (143), SIGHUP, SIGXCPU, SIGUSR1 or
        SIGUSR2.

    Raises
    ------
    SystemExit
        From argparse: code 2 for bad usage (after printing the usage and
        the error to stderr), 0 for ``--help``.

    Examples
    --------
    Metrics of a small table of predictions, written as FITS:

    >>> import contextlib, io, os, tempfile
    >>> from astropy.table import Table
    >>> from photoz_numba.cli import main
    >>> path = os.path.join(tempfile.mkdtemp(), "predictions.fits")
    >>> Table({"zspec": [0.5, 1.0, 2.0, 3.0],
    ...        "z_phot": [0.52, 1.05, 1.97, 4.0]}).write(path)
    >>> main(["evaluate", path])
    rows 4, evaluated 4 (skipped 0 with masked or NaN z_phot, 0 with no redshift in zspec)
    sigma_NMAD 0.02595  outliers (|dz| > 0.15) 25.00%  bias 0.01917
    0

    An error is one line on stderr and exit code 1:

    >>> stderr = io.StringIO()
    >>> with contextlib.redirect_stderr(stderr):
    ...     code = main(["evaluate", path, "--z-phot", "zp"])
    >>> code
    1
    >>> print(stderr.getvalue(), end="")  # doctest: +ELLIPSIS
    photoz-numba evaluate: error: column 'zp' (--z-phot) is not in '...' (columns: ...)

    Bad usage exits with argparse's code 2:

    >>> with contextlib.redirect_stderr(io.StringIO()):
    ...     try:
    ...         main(["evaluate"])
    ...     except SystemExit as exc:
    ...         print(f"exit code {exc.code}")
    exit code 2
    """
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        _unknown_arguments(parser.commands[args.command], unknown)
    args.quiet = getattr(args, "quiet", False)
    args.verbose = getattr(args, "verbose", False)
    if args.quiet and args.verbose:
        _parser().error("--quiet and --verbose exclude each other")
    restore_logging = _configure_logging(args)
    # The package's warnings said as the command's own ("photoz-numba:
    # warning: ..."), where astropy's logger would say them in its form; a
    # caller that records warnings (catch_warnings) keeps them.
    from astropy import log as astropy_log
    show_warning = warnings.showwarning
    if getattr(show_warning, "__self__", None) is astropy_log:
        warnings.showwarning = _show_warning
    # A polite kill (SIGTERM) and the other ending signals clean up like
    # Ctrl-C: no partial output. Only the main thread may set handlers; the
    # caller's are restored afterwards.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = ({sig: signal.signal(sig, _interrupt) for sig in _ENDING_SIGNALS}
                if in_main_thread else {})
    from . import io as io_module
    io_module._published = published = []
    try:
        return args.run(args)
    except _Ended as ended:
        print(f"photoz-numba: interrupted ({signal.Signals(ended.signum).name})"
              + _published_before(published), file=sys.stderr)
        return 128 + ended.signum
    except KeyboardInterrupt:
        print("photoz-numba: interrupted" + _published_before(published), file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI reports, --debug shows
        if args.debug:
            raise
        # A KeyError's str() is the repr of its message: print the message.
        message = (exc.args[0] if isinstance(exc, KeyError) and len(exc.args) == 1
                   and isinstance(exc.args[0], str) else str(exc))
        print(f"photoz-numba {args.command}: error: {_in_cli_terms(message)}",
              file=sys.stderr)
        return 1
    finally:
        io_module._published = None
        warnings.showwarning = show_warning
        restore_logging()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
