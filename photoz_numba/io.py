# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Model files and FITS catalogues.

A fitted `~photoz_numba.PhotoZModel` is saved as a FITS file, no pickle:

- primary header: ``ORIGIN = 'photoz_numba'``, the file format version
  ``PZFORMAT``, the package version that wrote it, the hyper-parameters,
  and ``PZHASH``, the SHA-256 of every array in the file (so an altered
  file is refused);
- ``BANDS`` table: band name, column name, error column name (if stated),
  the unit the user stated for it (empty if none: the column's own unit
  is used) and the unit the column was read in at fit time;
- ``TRAINING`` table: the AB magnitude of every training galaxy in every
  band (NaN where it has none) and its redshift; the standardised
  features of each band pattern are derived from them;
- ``CALIBRATION`` table, only for a calibrated model
  (`~photoz_numba.PhotoZModel.calibrate`): the form and float64
  coefficients of its `~photoz_numba.calibration.ErrorCalibration`,
  whose values are then part of ``PZHASH``; ``PZCALIB`` in the primary
  header names the form.

The file holds a model's `~photoz_numba.schema.FittedState`
(`~photoz_numba.PhotoZModel.fitted_state`); `read_model_state` gives it
back, and `~photoz_numba.PhotoZModel.read` a model that predicts
bit-identically to the one written. Format 3 added the calibration; files
of format 2 (no calibration) are still read.

FITS catalogues are predicted chunk by chunk (`predict_fits`), with the
columns of `~photoz_numba.PhotoZModel.output_schema`.
"""

import hashlib
import os
import tempfile
import warnings

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Column, MaskedColumn, Table

from ._config import __version__
from .schema import FittedState

__all__ = ["MODEL_FORMAT", "write_model", "read_model_state", "atomic_output",
           "predict_fits", "predict_file"]

#: Version of the model file layout; bumped when the layout changes.
MODEL_FORMAT = 3
#: Formats `read_model_state` reads: 2 is 3 without the CALIBRATION table.
READABLE_FORMATS = (2, 3)
_ORIGIN = "photoz_numba"


class atomic_output:
    """Context manager giving a temporary path beside ``path``; on success
    the temporary file is renamed to ``path``, on any error it is removed,
    so nothing half-written is ever left under ``path``.

    Parameters
    ----------
    path : str or path-like
        The final output file.
    overwrite : bool, optional
        Replace ``path`` if it exists (otherwise `FileExistsError`).

    Returns
    -------
    tmp : str
        On entering the ``with`` block: the temporary file to write, in the
        same directory as ``path`` and with its extension (so that writers
        can infer the format).

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> import os, tempfile
    >>> from photoz_numba.io import atomic_output
    >>> directory = tempfile.mkdtemp()
    >>> path = os.path.join(directory, "notes.txt")
    >>> with atomic_output(path) as tmp:
    ...     with open(tmp, "w") as handle:
    ...         _ = handle.write("complete\\n")
    ...     print(os.path.exists(path), tmp.endswith(".txt"))
    False True
    >>> with open(path) as handle:
    ...     print(handle.read(), end="")
    complete

    On an error nothing is left behind:

    >>> failed = os.path.join(directory, "failed.txt")
    >>> try:
    ...     with atomic_output(failed) as tmp:
    ...         with open(tmp, "w") as handle:
    ...             _ = handle.write("half")
    ...         raise RuntimeError("writer failed")
    ... except RuntimeError:
    ...     pass
    >>> sorted(os.listdir(directory))
    ['notes.txt']
    """

    def __init__(self, path, overwrite=False):
        self.path = os.path.abspath(os.fspath(path))
        if os.path.exists(self.path) and not overwrite:
            raise FileExistsError(f"{path!r} exists; pass overwrite=True "
                                  f"(--overwrite) to replace it")
        self.tmp = None

    def __enter__(self):
        directory, name = os.path.split(self.path)
        # Keep the extension last, so that writers can infer the format.
        handle, self.tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.",
                                            suffix=f".part{os.path.splitext(name)[1]}")
        os.close(handle)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)   # mkstemp makes it private
            os.replace(self.tmp, self.path)
        elif os.path.exists(self.tmp):
            os.unlink(self.tmp)
        return False


def _open_fits(path, what):
    """fits.open, with astropy's 'may have been truncated' warning an error."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hdus = fits.open(path, memmap=False)
            len(hdus)   # reads every header (not the data): truncation shows here
        except (OSError, ValueError, IndexError, TypeError) as exc:
            raise ValueError(f"{path!r} is not a readable {what} "
                             f"(truncated or corrupt?): {exc}") from None
    for warning in caught:
        if "truncated" in str(warning.message):
            hdus.close()
            raise ValueError(f"{path!r} is not a readable {what}: it is truncated "
                             f"({warning.message})")
        warnings.warn_explicit(warning.message, warning.category,
                               warning.filename, warning.lineno)
    return hdus


def _digest(arrays):
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _model_arrays(magnitudes, redshifts, calibration):
    """The arrays PZHASH covers; an uncalibrated model's hash is format 2's."""
    arrays = [magnitudes, redshifts]
    if calibration is not None:
        arrays.append(np.frombuffer(calibration.form.encode("ascii"), dtype=np.uint8))
        arrays.append(np.array([getattr(calibration, name) for name in
                                calibration._FIELDS], dtype=np.float64))
    return arrays


def write_model(model, path, overwrite=False):
    """Write a fitted model to a FITS file (see the module docstring).

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel` or `~photoz_numba.schema.FittedState`
        A fitted model, or its fitted state.
    path : str or path-like
        The file to write; written to a temporary name and renamed when
        complete.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    None

    Raises
    ------
    photoz_numba.exceptions.NotFittedError
        The model is not fitted.
    FileExistsError
        ``path`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> from photoz_numba import PhotoZModel
    >>> from photoz_numba.datasets import toy_catalogue
    >>> table = toy_catalogue(600)    # g, r, i in uJy, and zspec
    >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500])
    >>> import os, tempfile
    >>> from photoz_numba.io import write_model
    >>> path = os.path.join(tempfile.mkdtemp(), "model.fits")
    >>> write_model(model, path)
    >>> os.listdir(os.path.dirname(path))
    ['model.fits']
    >>> try:
    ...     write_model(model, path)
    ... except FileExistsError:
    ...     print("exists: pass overwrite=True")
    exists: pass overwrite=True
    >>> write_model(model, path, overwrite=True)
    """
    state = model if isinstance(model, FittedState) else model.fitted_state()
    params = state.params
    header = fits.Header()
    header["ORIGIN"] = (_ORIGIN, "written by photoz_numba")
    header["PZFORMAT"] = (MODEL_FORMAT, "photoz_numba model file format")
    header["PZVERS"] = (__version__, "photoz_numba version that wrote it")
    header["K"] = (int(params["k"]), "neighbours per galaxy")
    header["GAMMA"] = (float(params["gamma"]), "RBF kernel width")
    header["LAM"] = (float(params["lam"]), "ridge regularisation")
    header["CLIPSIG"] = (float(params["clip_sigma"]) if params["clip_sigma"] is not None
                         else -1.0, "clipping threshold (-1: no clipping)")
    header["OFFSET"] = (params["offset"], "ridge fitted around this offset")
    header["MAGBAND"] = (params["magnitude_band"] or "", "magnitude feature band")
    header["NTRAIN"] = (int(state.train_redshifts.size), "training galaxies")
    header["MINBANDS"] = (int(params["min_bands"]), "fewest usable bands predicted")
    header["SNRMIN"] = (float(params["snr_min"]) if params["snr_min"] is not None else -1.0,
                        "S/N below which a band is missing (-1: none)")
    header["SRCHEPS"] = (float(params["search_eps"]),
                         "neighbour search: 0 exact, else 1+eps approx")
    calibration = state.calibration
    if calibration is not None:
        header["PZCALIB"] = (calibration.form, "z_phot_err calibration form")
    # SHA-256 of the model arrays (64 characters: no room for a comment).
    header["PZHASH"] = _digest(_model_arrays(state.train_magnitudes,
                                             state.train_redshifts, calibration))
    band_names = params["bands"]
    columns = [(params["columns"] or {}).get(band, band) for band in band_names]
    units = params["units"]
    stated = ({} if units is None else dict(units) if isinstance(units, dict)
              else {band: units for band in band_names})
    error_columns = params["error_columns"] or {}
    bands = Table({"band": band_names, "column": columns,
                   "error_column": [error_columns.get(band, "") for band in band_names],
                   "stated_unit": [str(stated.get(band, "")) for band in band_names],
                   "fit_unit": [str(unit) for unit in state.band_units]})
    training = Table({band: state.train_magnitudes[:, i]
                      for i, band in enumerate(band_names)})
    training["z"] = state.train_redshifts
    hdus = fits.HDUList([fits.PrimaryHDU(header=header)])
    tables = [("BANDS", bands), ("TRAINING", training)]
    if calibration is not None:
        tables.append(("CALIBRATION", calibration.to_table()))
    for name, table in tables:
        hdu = fits.table_to_hdu(table)
        hdu.name = name
        hdus.append(hdu)
    with atomic_output(path, overwrite=overwrite) as tmp:
        hdus.writeto(tmp, overwrite=True, checksum=True)


def read_model_state(path):
    """Read the fitted state in a model file written by `write_model`.

    `~photoz_numba.PhotoZModel.read` makes a model of it.

    Parameters
    ----------
    path : str or path-like
        A model file.

    Returns
    -------
    state : `~photoz_numba.schema.FittedState`
        The hyper-parameters, band columns, units, training set and
        calibration of the model written;
        `~photoz_numba.PhotoZModel.from_fitted_state` makes a model of it
        that predicts bit-identically to it.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is not a FITS file, not a photoz_numba model, from an
        incompatible format version, truncated, or altered.

    Examples
    --------
    >>> import numpy as np
    >>> from photoz_numba import PhotoZModel
    >>> from photoz_numba.datasets import toy_catalogue
    >>> table = toy_catalogue(600)    # g, r, i in uJy, and zspec
    >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500])
    >>> import os, tempfile
    >>> from photoz_numba.io import read_model_state, write_model
    >>> path = os.path.join(tempfile.mkdtemp(), "model.fits")
    >>> write_model(model, path)
    >>> state = read_model_state(path)
    >>> state.params["k"], state.params["bands"], state.train_redshifts.size
    (20, ['g', 'r', 'i'], 500)
    >>> back = PhotoZModel.from_fitted_state(state)     # as PhotoZModel.read(path)
    >>> bool(np.array_equal(back.predict(table[500:])["z_phot"],
    ...                     model.predict(table[500:])["z_phot"]))
    True

    A FITS file that is not a model is refused:

    >>> catalogue = os.path.join(os.path.dirname(path), "catalogue.fits")
    >>> table.write(catalogue)
    >>> try:
    ...     read_model_state(catalogue)
    ... except ValueError as exc:
    ...     print(exc)  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    '...catalogue.fits' is a FITS file but not a photoz_numba model file
    (no ORIGIN = 'photoz_numba' / PZFORMAT)
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    try:
        with _open_fits(path, "photoz_numba model file") as hdus:
            header = hdus[0].header
            if header.get("ORIGIN") != _ORIGIN or "PZFORMAT" not in header:
                raise ValueError(f"{path!r} is a FITS file but not a photoz_numba "
                                 f"model file (no ORIGIN = '{_ORIGIN}' / PZFORMAT)")
            if header["PZFORMAT"] not in READABLE_FORMATS:
                raise ValueError(
                    f"{path!r} has model file format {header['PZFORMAT']} (written "
                    f"by photoz_numba {header.get('PZVERS', '?')}); photoz_numba "
                    f"{__version__} reads format {' and '.join(map(str, READABLE_FORMATS))}")
            bands = Table.read(hdus["BANDS"])
            training = Table.read(hdus["TRAINING"])
            calibration_table = (Table.read(hdus["CALIBRATION"]) if "PZCALIB" in header
                                 else None)
    except ValueError:
        raise
    except (OSError, KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"{path!r} is not a readable photoz_numba model file "
                         f"(truncated or corrupt?): {exc}") from None

    band_names = [str(b) for b in bands["band"]]
    columns = {band: str(col) for band, col in zip(band_names, bands["column"])
               if str(col) != band}
    clip = header["CLIPSIG"]
    params = dict(bands=band_names, k=int(header["K"]), gamma=float(header["GAMMA"]),
                  lam=float(header["LAM"]), clip_sigma=None if clip < 0 else clip,
                  offset=header["OFFSET"], magnitude_band=header["MAGBAND"] or None,
                  columns=columns or None,
                  units={band: str(unit) for band, unit in
                         zip(band_names, bands["stated_unit"]) if str(unit)} or None,
                  min_bands=int(header["MINBANDS"]),
                  snr_min=None if header["SNRMIN"] < 0 else float(header["SNRMIN"]),
                  error_columns={band: str(col) for band, col in
                                 zip(band_names, bands["error_column"])
                                 if str(col)} or None,
                  # Files written before search_eps existed: exact.
                  search_eps=float(header.get("SRCHEPS", 0.0)))
    try:
        magnitudes = np.column_stack([np.ma.filled(training[band], np.nan).astype(np.float64)
                                      for band in band_names])
        redshifts = np.ascontiguousarray(np.asarray(training["z"], dtype=np.float64))
    except KeyError as exc:
        raise ValueError(f"{path!r}: TRAINING table lacks column {exc}") from None
    calibration = None
    if calibration_table is not None:
        from .calibration import ErrorCalibration
        try:
            calibration = ErrorCalibration.from_table(calibration_table)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"{path!r}: unreadable CALIBRATION table ({exc})") from None
        if calibration.form != header["PZCALIB"]:
            raise ValueError(f"{path!r} is inconsistent: calibration form "
                             f"{calibration.form!r}, the header says {header['PZCALIB']!r}")
    if _digest(_model_arrays(magnitudes, redshifts, calibration)) != header["PZHASH"]:
        raise ValueError(f"{path!r} was altered after it was written: its arrays "
                         f"do not match PZHASH")
    if redshifts.size != header["NTRAIN"]:
        raise ValueError(f"{path!r} is inconsistent: {redshifts.size} training rows, "
                         f"the header says {header['NTRAIN']}")
    return FittedState(params=params, band_units=[str(unit) for unit in bands["fit_unit"]],
                       train_magnitudes=magnitudes, train_redshifts=redshifts,
                       calibration=calibration)


# -- catalogues ------------------------------------------------------------------

_FITS_SUFFIXES = (".fits", ".fit", ".fts")


def _output_fits_columns(model):
    """The appended columns, in the model's order: (name, TFORM, big-endian
    dtype), from `~photoz_numba.PhotoZModel.output_schema`."""
    return tuple((column.name, column.fits_format, column.dtype.newbyteorder(">"))
                 for column in model.output_schema())


def _parse_unit(text):
    if not text:
        return None
    for fmt in (None, "fits", "cds"):
        try:
            return u.Unit(text, format=fmt)
        except ValueError:
            continue
    named = getattr(u, text, None)
    return named if isinstance(named, (u.UnitBase, u.FunctionUnitBase)) else None


def _output_header(table_hdu, columns):
    """Header of the output table: the input's, plus the z_phot columns.

    Built from the input header card by card (BinTableHDU.from_columns
    would read the whole table into memory).
    """
    header = table_hdu.header.copy()
    for key in ("CHECKSUM", "DATASUM"):
        header.remove(key, ignore_missing=True)
    n_fields = header["TFIELDS"]
    for offset, (name, fmt, dtype) in enumerate(columns, start=1):
        header[f"TTYPE{n_fields + offset}"] = name
        header[f"TFORM{n_fields + offset}"] = fmt
        header["NAXIS1"] += np.dtype(dtype).itemsize
    header["TFIELDS"] = n_fields + len(columns)
    header.add_history(f"photoz_numba {__version__}: added "
                       f"{', '.join(name for name, _, _ in columns)}")
    return header


def _chunk_table(raw, table_hdu, names):
    """The band columns of raw FITS rows, with units, scaling and nulls."""
    columns = {}
    for name in names:
        column = table_hdu.columns[name]
        values = raw[name]
        mask = None
        if column.null is not None and values.dtype.kind in "iu":
            mask = values == column.null
        if column.bscale not in (None, 1) or column.bzero not in (None, 0):
            values = values * (column.bscale or 1.0) + (column.bzero or 0.0)
        values = np.asarray(values).astype(values.dtype.newbyteorder("="))
        unit = _parse_unit(column.unit)
        columns[name] = (MaskedColumn(values, mask=mask, unit=unit) if mask is not None
                         else Column(values, unit=unit))
    return Table(columns)


def _check_paths(input_path, output_path):
    if not os.path.exists(input_path):
        raise FileNotFoundError(f"input {input_path!r} does not exist")
    if os.path.exists(output_path) and os.path.samefile(input_path, output_path):
        raise ValueError(f"the output {output_path!r} is the input: refusing to "
                         f"overwrite it; write to a new file")


def predict_fits(model, input_path, output_path, hdu=1, chunk_size=100_000,
                 units=None, overwrite=False, n_threads=None, progress=None):
    """Add z_phot columns to a FITS table, chunk by chunk.

    The input table's rows are read in chunks of ``chunk_size`` by byte
    offset (no memory map, so resident memory stays bounded by the chunk),
    copied verbatim and extended with ``z_phot``, ``z_phot_err``,
    ``z_phot_flag`` and ``z_phot_nused`` (masked values as NaN), and
    ``z_phot_err_raw`` after ``z_phot_err`` for a calibrated model. Every
    input column, unit and header keyword is kept, and so are the other
    HDUs of the file. The output is written to a temporary file beside
    ``output_path`` and renamed only when complete.

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel`
        A fitted model.
    input_path, output_path : str or path-like
        Uncompressed FITS files; the output must not be the input.
    hdu : int or str, optional
        The binary table HDU to predict (default: the first extension).
    chunk_size : int, optional
        Rows per chunk.
    units : dict or unit, optional
        Units for band columns without a (recognised) TUNIT.
    overwrite : bool, optional
        Replace an existing output file.
    n_threads : int, optional
        Numba threads.
    progress : callable, optional
        Called as ``progress(rows_done, rows_total)`` after each chunk.

    Returns
    -------
    nrows : int
        Rows written (always all the input rows).

    Raises
    ------
    photoz_numba.exceptions.NotFittedError
        The model is not fitted.
    FileNotFoundError
        The input does not exist.
    FileExistsError
        The output exists and ``overwrite`` is False.
    KeyError
        A band column of the model is not in the table.
    ValueError
        The output is the input; ``chunk_size`` < 1; the HDU is absent or
        not a binary table, has variable-length columns or already has
        z_phot columns; the file is truncated or corrupt.

    Examples
    --------
    100 galaxies predicted in chunks of 40 rows:

    >>> from astropy.table import Table
    >>> from photoz_numba import PhotoZModel
    >>> from photoz_numba.datasets import toy_catalogue
    >>> table = toy_catalogue(600)    # g, r, i in uJy, and zspec
    >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500])
    >>> import os, tempfile
    >>> from photoz_numba.io import predict_fits
    >>> directory = tempfile.mkdtemp()
    >>> survey = os.path.join(directory, "survey.fits")
    >>> table[500:].write(survey)
    >>> output = os.path.join(directory, "survey_photoz.fits")
    >>> predict_fits(model, survey, output, chunk_size=40,
    ...              progress=lambda done, total: print(f"{done}/{total} rows"))
    40/100 rows
    80/100 rows
    100/100 rows
    100
    >>> out = Table.read(output)
    >>> out.colnames
    ['g', 'r', 'i', 'zspec', 'z_phot', 'z_phot_err', 'z_phot_flag', 'z_phot_nused']
    >>> for row in out[:3]:
    ...     print(f"z_phot = {row['z_phot']:.3f}, zspec = {row['zspec']:.3f}")
    z_phot = 1.320, zspec = 1.323
    z_phot = 0.174, zspec = 0.174
    z_phot = 0.581, zspec = 0.587
    """
    model.check_fitted()
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    _check_paths(input_path, output_path)
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, not {chunk_size!r}")
    # Headers only: the data are read chunk by chunk below.
    with _open_fits(input_path, "FITS file") as hdus:
        try:
            table_hdu = hdus[hdu]
        except (IndexError, KeyError):
            raise ValueError(f"{input_path!r} has no HDU {hdu!r}") from None
        if not isinstance(table_hdu, fits.BinTableHDU):
            raise ValueError(f"HDU {hdu!r} of {input_path!r} is not a binary table")
        header = table_hdu.header
        if header.get("PCOUNT", 0):
            raise ValueError(f"{input_path!r} has variable-length columns, which "
                             f"cannot be streamed; read it into a Table instead")
        output_columns = _output_fits_columns(model)
        present = [name for name, _, _ in output_columns
                   if name in table_hdu.columns.names]
        if present:
            raise ValueError(f"{input_path!r} already has column(s) {present}")
        input_columns = model.input_columns
        missing = [name for name in input_columns if name not in table_hdu.columns.names]
        if missing:
            raise KeyError(f"column(s) {missing} are not in {input_path!r} "
                           f"(columns: {', '.join(table_hdu.columns.names)})")
        nrows, rowsize = header["NAXIS2"], header["NAXIS1"]
        info = table_hdu.fileinfo()
        data_start, data_span = info["datLoc"], info["datSpan"]
        # FITS data are big-endian; ColDefs.dtype is in native order.
        raw_dtype = np.dtype(table_hdu.columns.dtype).newbyteorder(">")
        if raw_dtype.itemsize != rowsize:
            raise ValueError(f"{input_path!r}: row size {rowsize} does not match "
                             f"its columns ({raw_dtype.itemsize} bytes)")
        size = os.path.getsize(input_path)
        if size < data_start + nrows * rowsize:
            raise ValueError(f"{input_path!r} is truncated: {size} bytes, the table "
                             f"needs {data_start + nrows * rowsize}")
        out_header = _output_header(table_hdu, output_columns)
        out_dtype = np.dtype([("row", f"V{rowsize}")] +
                             [(name, dt) for name, _, dt in output_columns])
        with atomic_output(output_path, overwrite=overwrite) as tmp, \
                open(input_path, "rb") as source, open(tmp, "wb") as sink:
            _copy_bytes(source, sink, 0, info["hdrLoc"])       # HDUs before
            sink.write(out_header.tostring().encode("ascii"))
            source.seek(data_start)
            for start in range(0, nrows, chunk_size):
                n = min(chunk_size, nrows - start)
                buffer = source.read(n * rowsize)
                raw = np.frombuffer(buffer, dtype=raw_dtype)
                prediction = model.predict_arrays(
                    _chunk_table(raw, table_hdu, input_columns), units, n_threads)
                record = np.empty(n, dtype=out_dtype)
                record["row"] = np.frombuffer(buffer, dtype=f"V{rowsize}")
                for column in model.output_schema():
                    record[column.name] = prediction.filled(column)
                sink.write(record.tobytes())
                if progress is not None:
                    progress(start + n, nrows)
            written = nrows * out_dtype.itemsize
            sink.write(b"\0" * (-written % 2880))
            _copy_bytes(source, sink, data_start + data_span, size)   # HDUs after
    return nrows


def _copy_bytes(source, sink, start, stop, block=1 << 24):
    source.seek(start)
    remaining = stop - start
    while remaining > 0:
        data = source.read(min(block, remaining))
        if not data:
            raise ValueError("input file ended early (truncated?)")
        sink.write(data)
        remaining -= len(data)


def predict_file(model, input_path, output_path, chunk_size=100_000, units=None,
                 overwrite=False, n_threads=None, progress=None, hdu=1):
    """Predict a catalogue file into a new file.

    FITS to FITS streams in chunks (`predict_fits`); any other format that
    `astropy.table.Table.read` and ``write`` know (ECSV, HDF5, VOTable,
    compressed FITS, ...) is read into memory, predicted and written. In
    both cases the output appears under its name only when complete.

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel`
        A fitted model.
    input_path, output_path : str or path-like
        The catalogue and the file to write; the format of each is inferred
        from its extension. The output must not be the input.
    chunk_size : int, optional
        Rows per chunk (FITS to FITS only).
    units : dict or unit, optional
        Units for band columns without one, one for all bands or a dict
        keyed by band.
    overwrite : bool, optional
        Replace an existing output file.
    n_threads : int, optional
        Numba threads.
    progress : callable, optional
        Called as ``progress(rows_done, rows_total)``: after each chunk
        (FITS to FITS), else once at the end.
    hdu : int or str, optional
        The binary table HDU to predict, FITS to FITS (default: the first
        extension).

    Returns
    -------
    nrows : int
        Rows written.

    Raises
    ------
    photoz_numba.exceptions.NotFittedError
        The model is not fitted.
    FileNotFoundError
        The input does not exist.
    FileExistsError
        The output exists and ``overwrite`` is False.
    KeyError
        A band column of the model is not in the table.
    ValueError
        The output is the input, the input cannot be read as a table, or
        as for `predict_fits`.

    Examples
    --------
    ECSV to ECSV, through memory:

    >>> from astropy.table import Table
    >>> from photoz_numba import PhotoZModel
    >>> from photoz_numba.datasets import toy_catalogue
    >>> table = toy_catalogue(600)    # g, r, i in uJy, and zspec
    >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500])
    >>> import os, tempfile
    >>> from photoz_numba.io import predict_file
    >>> directory = tempfile.mkdtemp()
    >>> survey = os.path.join(directory, "survey.ecsv")
    >>> table[500:].write(survey)
    >>> predict_file(model, survey, os.path.join(directory, "survey_photoz.ecsv"))
    100
    >>> out = Table.read(os.path.join(directory, "survey_photoz.ecsv"))
    >>> print(" ".join(f"{value:.3f}" for value in out["z_phot"][:3]))
    1.320 0.174 0.581
    """
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    if (input_path.lower().endswith(_FITS_SUFFIXES)
            and output_path.lower().endswith(_FITS_SUFFIXES)):
        return predict_fits(model, input_path, output_path, hdu=hdu,
                            chunk_size=chunk_size, units=units, overwrite=overwrite,
                            n_threads=n_threads, progress=progress)
    _check_paths(input_path, output_path)
    try:
        table = Table.read(input_path)
    except Exception as exc:  # astropy raises many types for unreadable files
        raise ValueError(f"cannot read {input_path!r} as a table: {exc}") from None
    out = model.predict(table, units=units, n_threads=n_threads)
    with atomic_output(output_path, overwrite=overwrite) as tmp:
        out.write(tmp, overwrite=True)
    if progress is not None:
        progress(len(out), len(out))
    return len(out)
