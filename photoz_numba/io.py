# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Model files and FITS catalogues.

A fitted `~photoz_numba.PhotoZModel` is saved as a FITS file, no pickle:

- primary header: ``ORIGIN = 'photoz_numba'``, the file format version
  ``PZFORMAT``, the package version that wrote it, the hyper-parameters
  (floats exactly: one that astropy's 20 characters would round is
  written in the FITS free format, to its 17 significant digits),
  the sentinels if stated (``SENTMAG``, ``SENTFLX``),
  ``PZHASH``, the SHA-256 of every array in the file, and ``PZSTATE``, the
  SHA-256 of ``PZHASH``, of every header value that affects predictions
  and of the ``BANDS`` table; with the FITS ``DATASUM`` of every HDU,
  checked on reading, a file altered after writing is refused;
- ``BANDS`` table: band name, column name, error column name (if stated),
  the unit the user stated for it (empty if none: the column's own unit
  is used) and the unit the column was read in at fit time;
- ``TRAINING`` table: the AB magnitude of every training galaxy in every
  band (NaN where it has none) and its redshift; the standardised
  features of each band pattern are derived from them;
- ``PDF`` and ``PDFSHAPE`` tables, only for a model with a p(z)
  (`~photoz_numba.PhotoZModel.calibrate`): each training galaxy's
  out-of-fold pull, the mixture's shape and its PIT recalibration
  (`photoz_numba.pdf`: ``pit_knots``, one row per region of the
  prediction when ``pit_centres`` gives the regions' centres), all part
  of ``PZHASH``; ``PZPDF`` in the primary
  header names the statistic ``z_phot`` is;
- ``CALIBRATION`` table, only for a calibrated model
  (`~photoz_numba.PhotoZModel.calibrate`): the form and float64
  coefficients of its `~photoz_numba.calibration.ErrorCalibration`,
  whose values are then part of ``PZHASH``; ``PZCALIB`` in the primary
  header names the form. Its ``comparison`` of the forms, a diagnostic
  of the `~photoz_numba.PhotoZModel.calibrate` that chose it, is not
  stored: a model read has None there.

The file holds a model's `~photoz_numba.schema.FittedState`
(`~photoz_numba.PhotoZModel.fitted_state`); `read_model_state` gives it
back, and `~photoz_numba.PhotoZModel.read` a model that predicts
bit-identically to the one written. Format 3 added the calibration; files
of format 2 (no calibration) are still read.

FITS catalogues are predicted chunk by chunk (`predict_fits`), with the
columns of `~photoz_numba.PhotoZModel.output_schema`. A predictions file
written here records the model that made it: its `model_digest` (the
``PZSTATE`` of its model file) under the keyword ``PZMODEL`` of the FITS
header or the table's metadata.
"""

import contextlib
import errno
import gzip
import hashlib
import logging
import os
import re
import sys
import tempfile
import warnings

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Column, MaskedColumn, Table

from ._config import __version__
from .exceptions import PhotoZWarning
from .photometry import softening_by_band
from .schema import FittedState, check_no_output_columns

__all__ = ["MODEL_FORMAT", "MODEL_KEYWORD", "write_model", "read_model_state",
           "model_digest", "reading_columns", "atomic_output",
           "predict_fits", "predict_file", "stack_fits", "stack_file", "pdf_file"]

#: Version of the model file layout; bumped when the layout changes. The
#: optional keywords ``SENTMAG``, ``SENTFLX`` (stated sentinels) and
#: ``PZSTATE`` were added within format 3: versions before them ignore
#: them (and so read a model with stated sentinels with their defaults).
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
    OSError
        Writing failed (a full disk, or an error about the temporary
        file): raised again as the same type, with the same errno, naming
        ``path`` as given ("cannot write 'out.fits': No space left on
        device").

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
        self.given = os.fspath(path)
        self.path = os.path.abspath(self.given)
        self.overwrite = overwrite
        if os.path.exists(self.path) and not overwrite:
            raise FileExistsError(f"{self.given!r} exists; pass overwrite=True "
                                  f"(--overwrite) to replace it")
        self._check_directory()
        self.tmp = None

    def _check_directory(self):
        if not os.path.isdir(os.path.dirname(self.path)):
            raise FileNotFoundError(f"cannot write {self.given!r}: the directory "
                                    f"{os.path.dirname(self.given) or '.'!r} does not exist")

    def __enter__(self):
        directory, name = os.path.split(self.path)
        self._check_directory()           # again: it may have gone since
        try:
            # Keep the extension last (and a compression suffix after it), so
            # that writers can infer the format.
            handle, self.tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.",
                                                suffix=f".part{_suffix(name)}")
        except OSError as exc:
            raise type(exc)(exc.errno, f"cannot write {self.given!r}: "
                                       f"{exc.strerror}") from None
        os.close(handle)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)
            if isinstance(exc, OSError) and self._in_writing(exc):
                # Under the output's name (the same type and errno), not
                # the temporary file's or none: "No space left on device".
                raise type(exc)(exc.errno, f"cannot write {self.given!r}: "
                                           f"{exc.strerror or exc}") from None
            return False
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)   # mkstemp makes it private
            if self.overwrite:
                os.replace(self.tmp, self.path)
            else:
                _publish_exclusively(self.tmp, self.path, self.given)
            # What is written while an interruption is handled (tune's
            # finished trials) is said by whoever writes it.
            if _published is not None and not isinstance(sys.exc_info()[1],
                                                         KeyboardInterrupt):
                _published.append(self.given)
        finally:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)
        return False

    def _in_writing(self, exc):
        """Whether ``exc`` is the output's: an error only writing raises (a
        full disk or quota, a file too large), or one about the temporary
        file (or a file beside it of the same stem, as written before
        compressing), never one about an input read in the block."""
        if exc.errno in _WRITING_ERRNOS:
            return True
        stem = self.tmp[:self.tmp.rindex(".part") + len(".part")]
        return isinstance(exc.filename, (str, bytes, os.PathLike)) and \
            os.fsdecode(exc.filename).startswith(stem)


#: The outputs published whole, in order, while the command line runs a
#: command (a list it sets, and None again after): an interruption after
#: one was published says so. None outside a command: nothing is kept.
_published = None

#: Errors that only writing a file raises.
_WRITING_ERRNOS = tuple(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG")
                        if hasattr(errno, name))

#: Compression suffixes kept after a file's extension (``.fits.gz``).
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz")


def _suffix(name):
    """A file's extension, with its compression suffix: '.fits', '.fits.gz'."""
    stem, ext = os.path.splitext(name)
    if ext.lower() in _COMPRESSION_SUFFIXES:
        return os.path.splitext(stem)[1] + ext
    return ext


def _publish_exclusively(tmp, path, given):
    """Give the complete ``tmp`` the name ``path`` unless a file of that
    name appeared meanwhile (another run): a hard link is created
    exclusively, so of two writers the second fails instead of replacing
    the first's file."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{given!r} appeared while it was being written (another "
                              f"run?); it was kept and this output discarded: pass "
                              f"overwrite=True (--overwrite) to replace it") from None
    except OSError:
        # No hard links on this file system: claim the name exclusively,
        # then move the complete file onto it.
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            raise FileExistsError(f"{given!r} appeared while it was being written "
                                  f"(another run?); it was kept and this output "
                                  f"discarded: pass overwrite=True (--overwrite) to "
                                  f"replace it") from None
        os.replace(tmp, path)


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


_PZ_SHAPE = ("core_weight", "core_width", "tail_weight", "tail_width", "pull_scale",
             "pull_width")


def _model_arrays(magnitudes, redshifts, calibration, pz=None):
    """The arrays PZHASH covers; an uncalibrated model's hash is format 2's."""
    arrays = [magnitudes, redshifts]
    if calibration is not None:
        arrays.append(np.frombuffer(calibration.form.encode("ascii"), dtype=np.uint8))
        arrays.append(np.array([getattr(calibration, name) for name in
                                calibration._FIELDS], dtype=np.float64))
    if pz is not None:
        arrays.append(np.frombuffer(pz.point.encode("ascii"), dtype=np.uint8))
        arrays.append(np.asarray(pz.pulls, dtype=np.float64))
        arrays.append(np.array([getattr(pz, name) for name in _PZ_SHAPE], dtype=np.float64))
        arrays.append(np.asarray(pz.pit_knots, dtype=np.float64))
        if pz.pit_centres is not None:
            arrays.append(np.asarray(pz.pit_centres, dtype=np.float64))
        if pz.z_max is not None:
            arrays.append(np.array([pz.z_max], dtype=np.float64))
    return arrays


def write_model(model, path, overwrite=False):
    """Write a fitted model to a FITS file (see the module docstring).

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel` or `~photoz_numba.schema.FittedState`
        A fitted model, or its fitted state (whose arrays, of any float
        type or byte order, are written as native float64, as a model
        holds them).
    path : str or path-like
        The file to write, a FITS name: ``.fits`` (or ``.fit``, ``.fts``),
        or ``.fits.gz``, ``.fits.bz2``, ``.fits.xz`` to compress it;
        written to a temporary name and renamed when complete.
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
    ValueError
        ``path`` is not a FITS name (``model.ecsv``).

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
    if not _is_fits(os.fspath(path)):
        raise ValueError(f"a model file is FITS: name it .fits (or .fits.gz, .fits.bz2, "
                         f".fits.xz), not {os.fspath(path)!r}")
    hdus = _model_hdus(model if isinstance(model, FittedState) else model.fitted_state())
    # Compressed as the name says, in any case ('.fits.GZ' too: astropy
    # compresses '.gz' only), recording no temporary file name in gzip.
    with atomic_output(path, overwrite=overwrite) as tmp, \
            _open_stream(tmp, "wb", _output_compression(os.fspath(path))) as sink:
        hdus.writeto(sink, checksum=True)


def _model_hdus(state):
    """The HDUs of the model file of a `~photoz_numba.schema.FittedState`."""
    params = state.params
    # As read back and as a model holds them: native float64, so that the
    # hash of a state's big-endian or float32 arrays (from a FITS table)
    # is that of the values written.
    magnitudes = np.asarray(state.train_magnitudes, dtype=np.float64)
    redshifts = np.ascontiguousarray(state.train_redshifts, dtype=np.float64)
    header = fits.Header()
    header["ORIGIN"] = (_ORIGIN, "written by photoz_numba")
    header["PZFORMAT"] = (MODEL_FORMAT, "photoz_numba model file format")
    header["PZVERS"] = (__version__, "photoz_numba version that wrote it")
    header["K"] = (int(params["k"]), "neighbours per galaxy")
    _set_float(header, "GAMMA", params["gamma"], "RBF kernel width")
    _set_float(header, "LAM", params["lam"], "ridge regularisation")
    _set_float(header, "CLIPSIG", params["clip_sigma"] if params["clip_sigma"] is not None
               else -1.0, "clipping threshold (-1: no clipping)")
    header["OFFSET"] = (params["offset"], "ridge fitted around this offset")
    header["MAGBAND"] = (params["magnitude_band"] or "", "magnitude feature band")
    header["NTRAIN"] = (int(redshifts.size), "training galaxies")
    header["MINBANDS"] = (int(params["min_bands"]), "fewest usable bands predicted")
    _set_float(header, "SNRMIN", params["snr_min"] if params["snr_min"] is not None else -1.0,
               "S/N below which a band is missing (-1: none)")
    _set_float(header, "SRCHEPS", params["search_eps"],
               "neighbour search: 0 exact, else 1+eps approx")
    if params.get("window") is not None:
        _set_float(header, "WINDOW", params["window"], "neighbours in densest z window")
    if params.get("second_group") is not None:
        _set_float(header, "SECONDGR", params["second_group"],
                   "share for the window's second group")
    sentinels = params.get("sentinels")
    for kind, keyword in _SENTINEL_KEYWORDS.items():
        if sentinels is not None and kind in sentinels:
            header[keyword] = (_format_sentinels(sentinels[kind]), f"{kind} sentinels")
    calibration, pz = state.calibration, state.pz
    if calibration is not None:
        header["PZCALIB"] = (calibration.form, "z_phot_err calibration form")
    if pz is not None:
        header["PZPDF"] = (pz.point, "p(z) stored; z_phot is this statistic of it")
    # SHA-256 of the model arrays (64 characters: no room for a comment).
    header["PZHASH"] = _digest(_model_arrays(magnitudes, redshifts, calibration, pz))
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
    if params.get("softening") is not None:
        softening = softening_by_band(params["softening"], band_names)
        bands["softening"] = [softening.get(band, np.nan) for band in band_names]
        bands["softening"].unit = "uJy"
    training = Table({band: magnitudes[:, i] for i, band in enumerate(band_names)})
    # The redshifts' column is "z", unless a band has that name (ugrizy).
    z_column = "z"
    while z_column in band_names:
        z_column += "_"
    if z_column != "z":
        header["ZCOLUMN"] = (z_column, "TRAINING column of the redshifts")
    training[z_column] = redshifts
    # SHA-256 of every value that affects predictions, as the file holds it.
    header["PZSTATE"] = _state_digest(fits.Header.fromstring(header.tostring()), bands)
    hdus = fits.HDUList([fits.PrimaryHDU(header=header)])
    tables = [("BANDS", bands), ("TRAINING", training)]
    if calibration is not None:
        tables.append(("CALIBRATION", calibration.to_table()))
    if pz is not None:
        tables.append(("PDF", Table({"pull": np.asarray(pz.pulls, dtype=np.float64)})))
        # A 2-d pit_knots cell (one row per region of z_hat) has its centres.
        regions = ({} if pz.pit_centres is None
                   else {"pit_centres": [np.asarray(pz.pit_centres, float)]})
        if pz.z_max is not None:
            regions["z_max"] = [float(pz.z_max)]
        tables.append(("PDFSHAPE", Table({**{name: [float(getattr(pz, name))]
                                             for name in _PZ_SHAPE},
                                          "pit_knots": [np.asarray(pz.pit_knots, float)],
                                          **regions})))
    for name, table in tables:
        hdu = fits.table_to_hdu(table)
        hdu.name = name
        hdus.append(hdu)
    return hdus


#: The keyword (FITS header, table metadata) by which a predictions file
#: records the model that made it: the model's ``PZSTATE``.
MODEL_KEYWORD = "PZMODEL"


def model_digest(model):
    """The identifier of a fitted model that predictions files record.

    It is the ``PZSTATE`` its model file has (or would have): the SHA-256
    of everything that affects its predictions (hyper-parameters, bands,
    units, training set, calibration and p(z)), the same for a model and
    for the model read back from its file. `predict_file` and
    `predict_fits` record it in their output, under `MODEL_KEYWORD`
    (``PZMODEL``), and ``photoz-numba calibrate --model`` refuses a model
    whose identifier is not the one recorded.

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel` or `~photoz_numba.schema.FittedState`
        A fitted model, or its fitted state.

    Returns
    -------
    digest : str
        64 hexadecimal digits.

    Raises
    ------
    photoz_numba.exceptions.NotFittedError
        The model is not fitted.

    Examples
    --------
    >>> from photoz_numba import PhotoZModel
    >>> from photoz_numba.datasets import toy_catalogue
    >>> from photoz_numba.io import model_digest
    >>> table = toy_catalogue(600)    # g, r, i in uJy, and zspec
    >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500])
    >>> len(model_digest(model))
    64
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "model.fits")
    >>> model.write(path)
    >>> model_digest(PhotoZModel.read(path)) == model_digest(model)
    True
    >>> other = PhotoZModel(["g", "r", "i"], k=21).fit(table[:500])
    >>> model_digest(other) == model_digest(model)
    False
    """
    state = model if isinstance(model, FittedState) else model.fitted_state()
    return _model_hdus(state)[0].header["PZSTATE"]


def reading_columns(model, columns):
    """A fitted model that reads some bands from other columns.

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel`
        A fitted model; it is not changed.
    columns : dict or None
        The column of each band to read from another column than the
        model's (``{band: column}``); None or empty: ``model`` itself.

    Returns
    -------
    model : `~photoz_numba.PhotoZModel`
        A shallow copy of ``model`` whose ``columns`` are updated: it
        predicts as ``model`` does, from the columns named. Its error
        columns, where not stated, follow (the column + ``_err``).

    Raises
    ------
    ValueError
        ``columns`` names a band the model does not have.

    Examples
    --------
    >>> from photoz_numba import PhotoZModel
    >>> from photoz_numba.datasets import toy_catalogue
    >>> from photoz_numba.io import reading_columns
    >>> table = toy_catalogue(600)    # g, r, i in uJy, and zspec
    >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500])
    >>> reading_columns(model, {"g": "g_flux"}).band_columns
    ['g_flux', 'r', 'i']
    >>> reading_columns(model, {"u": "u_flux"})
    Traceback (most recent call last):
    ...
    ValueError: 'u' is not a band of the model (bands: g, r, i)
    """
    if not columns:
        return model
    unknown = [band for band in columns if band not in model.bands]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a band of the model (bands: "
                         f"{', '.join(model.bands)})")
    import copy
    mapped = copy.copy(model)
    mapped.set_params(columns={**(model.columns or {}), **columns})
    return mapped


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
    require_file(path, "model file")
    with open(path, "rb") as file:
        start = file.read(6)
    # FITS, or FITS compressed as fit may write it (`_MAGIC`, zip aside).
    if start != b"SIMPLE" and not start.startswith(tuple(magic for magic, name in _MAGIC
                                                         if name != "zip")):
        raise ValueError(f"{path!r} is not a FITS file, so not a photoz_numba model file "
                         f"(those are FITS, written by fit); is it a catalogue or a "
                         f"predictions file in the model's place?")
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
            checksums = _verify_checksums(path, hdus)
            bands = Table.read(hdus["BANDS"])
            training = Table.read(hdus["TRAINING"])
            calibration_table = (Table.read(hdus["CALIBRATION"]) if "PZCALIB" in header
                                 else None)
            pz_tables = ((Table.read(hdus["PDF"]), Table.read(hdus["PDFSHAPE"]))
                         if "PZPDF" in header else None)
    except ValueError:
        raise
    except (OSError, KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"{path!r} is not a readable photoz_numba model file "
                         f"(truncated or corrupt?): {exc}") from None

    def keyword(name, kind):
        return _keyword(header, name, kind, path)

    for name in ("band", "column", "error_column", "stated_unit", "fit_unit"):
        if name not in bands.colnames:
            raise ValueError(f"{path!r}: the BANDS table lacks its column {name!r}")
    band_names = [str(b) for b in bands["band"]]
    columns = {band: str(col) for band, col in zip(band_names, bands["column"])
               if str(col) != band}
    clip = keyword("CLIPSIG", float)
    snr_min = keyword("SNRMIN", float)
    params = dict(bands=band_names, k=keyword("K", int), gamma=keyword("GAMMA", float),
                  lam=keyword("LAM", float), clip_sigma=None if clip < 0 else clip,
                  offset=keyword("OFFSET", str), magnitude_band=keyword("MAGBAND", str) or None,
                  columns=columns or None,
                  units={band: str(unit) for band, unit in
                         zip(band_names, bands["stated_unit"]) if str(unit)} or None,
                  min_bands=keyword("MINBANDS", int),
                  snr_min=None if snr_min < 0 else snr_min,
                  error_columns={band: str(col) for band, col in
                                 zip(band_names, bands["error_column"])
                                 if str(col)} or None,
                  # Files written before search_eps existed: exact.
                  search_eps=keyword("SRCHEPS", float) if "SRCHEPS" in header else 0.0,
                  sentinels=_read_sentinels(header, path),
                  softening=({band: float(value) * u.uJy
                              for band, value in zip(band_names, bands["softening"])
                              if np.isfinite(value)} or None)
                  if "softening" in bands.colnames else None,
                  # No WINDOW: all k neighbours are fitted.
                  window=keyword("WINDOW", float) if "WINDOW" in header else None,
                  # No SECONDGR (files before it, or None): the first window.
                  second_group=keyword("SECONDGR", float) if "SECONDGR" in header else None)
    n_train = keyword("NTRAIN", int)
    stored_hash = keyword("PZHASH", str)
    if "PZSTATE" in header:
        if _state_digest(header, bands) != keyword("PZSTATE", str):
            raise ValueError(f"{path!r} was altered after it was written: its header "
                             f"values or BANDS table do not match PZSTATE")
    elif checksums["header"]:
        # Written before PZSTATE: the FITS checksum is all that covers the header.
        raise ValueError(f"{path!r} was altered after it was written: the FITS checksum "
                         f"(CHECKSUM) of HDU {checksums['header'][0]!r} does not match")
    try:
        magnitudes = np.column_stack([np.ma.filled(training[band], np.nan).astype(np.float64)
                                      for band in band_names])
        redshifts = np.ascontiguousarray(np.asarray(training[header.get("ZCOLUMN", "z")],
                                                    dtype=np.float64))
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
    pz = None
    if pz_tables is not None:
        from .pdf import check_recalibration
        from .schema import PzState
        try:
            shape = {name: float(pz_tables[1][name][0]) for name in _PZ_SHAPE}
            centres = (np.asarray(pz_tables[1]["pit_centres"][0], dtype=np.float64)
                       if "pit_centres" in pz_tables[1].colnames else None)
            knots = np.asarray(pz_tables[1]["pit_knots"][0], dtype=np.float64)
            check_recalibration(knots, centres)
            z_max = (float(pz_tables[1]["z_max"][0]) if "z_max" in pz_tables[1].colnames
                     else None)
            pz = PzState(pulls=np.asarray(pz_tables[0]["pull"], dtype=np.float64),
                         pit_knots=knots, point=str(header["PZPDF"]), pit_centres=centres,
                         z_max=z_max, **shape)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"{path!r}: unreadable PDF tables ({exc})") from None
    if _digest(_model_arrays(magnitudes, redshifts, calibration, pz)) != stored_hash:
        raise ValueError(f"{path!r} was altered after it was written: its arrays "
                         f"do not match PZHASH")
    if redshifts.size != n_train:
        raise ValueError(f"{path!r} is inconsistent: {redshifts.size} training rows, "
                         f"the header says {n_train}")
    return FittedState(params=params, band_units=[str(unit) for unit in bands["fit_unit"]],
                       train_magnitudes=magnitudes, train_redshifts=redshifts,
                       calibration=calibration, pz=pz)


#: Model-file keywords of the sentinels, by kind of column.
_SENTINEL_KEYWORDS = {"magnitude": "SENTMAG", "flux": "SENTFLX"}
#: Header keywords whose values affect predictions (PZSTATE covers them).
_STATE_KEYWORDS = ("PZHASH", "K", "GAMMA", "LAM", "CLIPSIG", "OFFSET", "MAGBAND", "NTRAIN",
                   "MINBANDS", "SNRMIN", "SRCHEPS", "PZCALIB", "SENTMAG", "SENTFLX", "PZPDF")
#: Keywords added later: in the digest only when present, so that older
#: files still verify.
_LATER_KEYWORDS = ("WINDOW", "ZCOLUMN", "SECONDGR")
_BAND_FIELDS = ("band", "column", "error_column", "stated_unit", "fit_unit")
#: BANDS columns added later, in the digest only when present.
_LATER_BAND_FIELDS = ("softening",)


def _digest_text(value):
    """A BANDS value as the digest reads it: numbers by their repr (NaN
    however the file masks it), text stripped of FITS padding."""
    if isinstance(value, (float, np.floating)) or value is np.ma.masked:
        return repr(float(np.ma.filled(value, np.nan)))
    return str(value).rstrip()


def _state_digest(header, bands):
    """SHA-256 of the header values that affect predictions (PZHASH, which
    covers the arrays, among them) and of the BANDS table."""
    digest = hashlib.sha256()
    for name in _STATE_KEYWORDS:
        digest.update(f"{name}={header.get(name)!r};".encode())
    for name in _LATER_KEYWORDS:
        if name in header:
            digest.update(f"{name}={header[name]!r};".encode())
    fields = _BAND_FIELDS + tuple(name for name in _LATER_BAND_FIELDS
                                  if name in bands.colnames)
    for row in bands:
        digest.update(repr([_digest_text(row[name]) for name in fields]).encode())
    return digest.hexdigest()


def _verify_checksums(path, hdus):
    """Refuse a model file whose data fail their FITS DATASUM; return the
    HDUs whose header CHECKSUM fails ({'header': [names]})."""
    headers = []
    for index, hdu in enumerate(hdus):
        name = hdu.name or str(index)
        hdu.data      # the sums are computed over the data read
        if "DATASUM" in hdu.header and hdu.verify_datasum() == 0:
            raise ValueError(f"{path!r} was altered after it was written, or is corrupt: "
                             f"the FITS checksum (DATASUM) of HDU {name!r} does not match")
        if "CHECKSUM" in hdu.header and hdu.verify_checksum() == 0:
            headers.append(name)
    return {"header": headers}


def _set_float(header, name, value, comment):
    """Set header keyword ``name`` to the float ``value``, exactly.

    astropy writes a float in at most 20 characters, 16 significant
    digits, which changes some (a ``lam`` of 1.2345678901234568e-05 was
    read back as 1.23456789012345e-05). Such a value is written in the
    FITS standard's free format, which may run to column 80, as the
    shortest text that reads back as it (Python's `repr`); the keyword
    stays a number, so every reader of the file, earlier versions of this
    package among them, reads the value written."""
    value = float(value)
    card = fits.Card(name, value, comment)
    if fits.Card.fromstring(card.image).value != value:
        mantissa, _, exponent = repr(value).upper().partition("E")
        if "." not in mantissa:
            mantissa += ".0"
        text = mantissa + ("E" + exponent if exponent else "")
        card = fits.Card.fromstring(f"{name:8}= {text:>20} / {comment}"[:fits.Card.length])
    header.append(card)


_KINDS = {int: "an integer", float: "a number", str: "a string"}


def _keyword(header, name, kind, path):
    """A header keyword's value, checked: a clear error if absent or malformed."""
    if name not in header:
        raise ValueError(f"{path!r} is not a complete photoz_numba model file: its header "
                         f"keyword {name} is missing")
    value = header[name]
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind) and not isinstance(value, bool)
    if not ok:
        raise ValueError(f"{path!r}: header keyword {name} = {value!r} is not "
                         f"{_KINDS[kind]}")
    return float(value) if kind is float else value


def _format_sentinels(mapping):
    """{99.0: 'nondetection'} -> '99.0:nondetection' (exact floats)."""
    return ",".join(f"{float(value)!r}:{state}" for value, state in mapping.items())


def _read_sentinels(header, path):
    sentinels = {}
    for kind, name in _SENTINEL_KEYWORDS.items():
        if name not in header:
            continue
        text = _keyword(header, name, str, path)
        try:
            sentinels[kind] = {float(value): state for value, state in
                               (item.split(":") for item in text.split(",") if item)}
        except ValueError:
            raise ValueError(f"{path!r}: header keyword {name} = {text!r} is not a list "
                             f"of VALUE:STATE") from None
    return sentinels or None


# -- catalogues ------------------------------------------------------------------

_FITS_SUFFIXES = (".fits", ".fit", ".fts")


def _output_fits_columns(model):
    """The appended columns, in the model's order: (name, TFORM, big-endian
    dtype, unit, description), from `~photoz_numba.PhotoZModel.output_schema`."""
    return tuple((column.name, column.fits_format, column.dtype.newbyteorder(">"),
                  column.unit, column.description) for column in model.output_schema())


#: What a compressed file starts with, and the module that reads it.
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "lzma"),
          (b"PK\x03\x04", "zip"))
_BY_SUFFIX = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}


def _input_compression(path):
    """'gzip', 'bz2', 'lzma' or None, from the file's first bytes (not its
    name); a zip archive is refused."""
    with open(path, "rb") as handle:
        start = handle.read(6)
    compression = next((name for magic, name in _MAGIC if start.startswith(magic)), None)
    if compression == "zip":
        raise ValueError(f"{path!r} is a zip archive, which cannot be streamed: unzip it "
                         f"(gzip, bzip2 and xz compressed files are read as they are)")
    return compression


_FORMATS = "an astropy format: ascii, ascii.ecsv, fits, votable, ..."
_GIVE_FORMAT = f"give it with format=... ({_FORMATS})"


def _streams(input_path, output_path, format=None, output_format=None):
    """Whether `predict_file` streams: FITS to FITS, by name or as stated."""
    return (format in (None, "fits") and output_format in (None, "fits")
            and _is_fits(input_path) and _is_fits(output_path))


def check_output_format(input_path, output_path, format=None, output_format=None):
    """ValueError unless astropy can read ``format`` and write
    ``output_format`` (when given) and `predict_file` can tell how to write
    ``output_path`` (from ``output_format``, or else from its name), before
    any work is done."""
    from astropy.io import registry
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    _check_format(format, "read", "format")
    _check_format(output_format, "write", "output_format")
    if output_format is not None or _streams(input_path, output_path, format):
        return
    compression = _output_compression(output_path)
    named = os.path.splitext(output_path)[0] if compression else output_path
    if not registry.identify_format("write", Table, named, None, [], {}):
        raise ValueError(f"the format of the output {output_path!r} cannot be told from "
                         f"its name; give it with output_format=... ({_FORMATS})")


def _write_options(path, output_format):
    """Options for astropy's writer of ``path``: HDF5 keeps the columns'
    units, descriptions and masks only with ``serialize_meta`` (without,
    the output could not be predicted again: its band units lost)."""
    from astropy.io import registry
    formats = ([output_format] if output_format is not None
               else registry.identify_format("write", Table, path, None, [], {}))
    # The table's path in the file ("data": astropy warns of its default).
    return {"serialize_meta": True, "path": "data"} if "hdf5" in formats else {}


def _check_format(given, mode, option):
    """ValueError unless astropy can ``mode`` ('read' or 'write') tables in
    the format ``given`` (None: nothing to check); ``option`` names it."""
    if given is None:
        return
    from astropy.io import registry
    try:
        (registry.get_reader if mode == "read" else registry.get_writer)(given, Table)
    except registry.IORegistryError:
        raise ValueError(f"astropy cannot {mode} tables as {given!r} ({option}); "
                         f"{_FORMATS}") from None


def _compressed_format(path):
    """The format of a compressed table that astropy reads compressed but
    tells only by its plain name ('x.ecsv.gz': 'ascii.ecsv'), from the name
    before the compression suffix; None for any other name."""
    from astropy.io import registry
    stem, suffix = os.path.splitext(os.fspath(path))
    if suffix.lower() not in _BY_SUFFIX:
        return None
    # Told as for an output's name: by name alone (some readers' checks
    # open the file, and the plain one does not exist).
    formats = registry.identify_format("write", Table, stem, None, [], {})
    if len(formats) == 1 and (formats[0].startswith("ascii.") or formats[0] == "fits"):
        return formats[0]
    return None


def read_table(path, what="", format=None, **options):
    """``Table.read(path, format=format, **options)``, with one clear
    ValueError for a format astropy cannot read, a file it cannot tell the
    format of, or a file it cannot read (``what`` names the file in it,
    e.g. "training table "). A compressed text or FITS table is read in the
    format its name tells without the compression suffix ('.ecsv.gz')."""
    _check_format(format, "read", "format")
    if isinstance(path, (str, os.PathLike)):
        refuse_model_file(path, what.strip() or "table")
    if format is None and isinstance(path, (str, os.PathLike)):
        format = _compressed_format(path)
    try:
        table = Table.read(path, format=format, **options)
    except Exception as exc:  # astropy raises many types for unreadable files
        message = str(exc)
        if format is None and "Format could not be identified" in message:
            message = f"its format could not be identified from its name or content; " \
                      f"{_GIVE_FORMAT}"
        raise ValueError(f"cannot read {what}{path!r} as a table: {message}") from None
    if isinstance(path, (str, os.PathLike)) and (format == "fits" or (
            format is None and _is_fits(os.fspath(path)))):
        _mask_scaled_nulls(table, path, options.get("hdu"))
    return table


def _mask_scaled_nulls(table, path, hdu):
    """Mask the nulls (``TNULLn``) of scaled integer columns (``TSCALn``,
    ``TZEROn``) of a FITS table read by astropy, which masks them only in
    unscaled columns: a null read as its scaled value (-21474836.48 nJy for
    -2147483648 at TSCAL 0.01) would be taken for a measurement. Streaming
    reads (`_chunk_table`) mask them the same way."""
    with fits.open(path, memmap=True) as hdus:
        if hdu is None:
            # Astropy's rule (the first table with rows), from the headers
            # alone: no data are read here.
            table_hdu = next((each for each in hdus
                              if isinstance(each, (fits.BinTableHDU, fits.TableHDU))
                              and each.header.get("NAXIS2", 0) > 0), None)
        else:
            try:
                table_hdu = hdus[hdu]
            except (IndexError, KeyError):
                return
        if not isinstance(table_hdu, (fits.BinTableHDU, fits.TableHDU)):
            return
        for column in table_hdu.columns:
            scaled = column.bscale not in (None, 1) or column.bzero not in (None, 0)
            if column.null is None or not scaled or column.name not in table.colnames:
                continue
            try:
                null = int(column.null) * (column.bscale or 1.0) + (column.bzero or 0.0)
            except (TypeError, ValueError):     # an ASCII table's null is a string
                continue
            values = table[column.name]
            hits = np.asarray(values) == null
            if hits.any():
                masked = MaskedColumn(values, mask=np.ma.getmaskarray(values) | hits,
                                      copy=False)
                table.replace_column(column.name, masked)


def _output_compression(path):
    """The compression an output's name asks for ('out.fits.gz': gzip)."""
    return _BY_SUFFIX.get(os.path.splitext(path)[1].lower())


def _open_stream(path, mode, compression):
    if compression is None:
        return open(path, mode)
    import importlib
    module = importlib.import_module(compression)
    if compression == "gzip" and "w" in mode:
        return _GzipWriter(path)
    return module.open(path, mode)


class _GzipWriter(gzip.GzipFile):
    """A gzip file that records no file name: written under a temporary
    name, it would record that one, and ``gunzip -N`` restore it."""

    def __init__(self, path):
        self._raw = open(path, "wb")
        super().__init__(filename="", mode="wb", fileobj=self._raw, compresslevel=6)

    def close(self):
        try:
            super().close()
        finally:
            self._raw.close()


def _is_fits(path):
    """A FITS file name, compressed or not: .fits, .fit, .fts (+ .gz, .bz2, .xz)."""
    name = path.lower()
    stem, ext = os.path.splitext(name)
    if ext in _BY_SUFFIX:
        name = stem
    return name.endswith(_FITS_SUFFIXES)


def _parse_unit(text):
    if not text:
        return None
    for fmt in (None, "fits", "cds"):
        try:
            return u.Unit(text, format=fmt)
        except ValueError:
            continue
    named = getattr(u, text, None)
    if isinstance(named, (u.UnitBase, u.FunctionUnitBase)):
        return named
    # Kept as astropy's Table.read keeps it, for the same error.
    return u.Unit(text, parse_strict="silent")


#: Column keywords (TSCALn, TUNITn, iCTYPn, ...): those numbered above
#: TFIELDS are stale in an input header and must not reach new columns.
#: Those of the FITS standard and its WCS papers, and the common TCOMMn,
#: TUCDn and TDESCn, only: a user's keyword such as TEMP10 is kept.
_COLUMN_KEYWORD = re.compile(
    r"^(?:T(?:TYPE|FORM|UNIT|SCAL|ZERO|NULL|DISP|DIM|BCOL|DMIN|DMAX|LMIN|LMAX|COMM|UCD|DESC"
    r"|CTYP|CUNI|CRVL|CDLT|CRPX|CROT|CNA|CRD|CSY|WCS)"
    r"|[1-9][0-9]?(?:CTYP|CUNI|CRVL|CDLT|CRPX|CROT|CNA|CRD|CSY|WCSN|CDE|CRDE|CSYE))"
    r"([0-9]+)[A-Z]?$")


def _output_header(table_hdu, columns):
    """Header of the output table: the input's, plus the z_phot columns.

    Built from the input header card by card (BinTableHDU.from_columns
    would read the whole table into memory). Column keywords numbered
    above the input's TFIELDS are dropped (they would describe the new
    columns); each new column has its TTYPE (its description as the
    card's comment), TFORM and, unless dimensionless, TUNIT.
    """
    header = table_hdu.header.copy()
    for key in ("CHECKSUM", "DATASUM"):
        header.remove(key, ignore_missing=True)
    n_fields = header["TFIELDS"]
    stale = [card.keyword for card in header.cards
             if (match := _COLUMN_KEYWORD.match(card.keyword))
             and int(match.group(1)) > n_fields]
    for key in stale:
        header.remove(key, ignore_missing=True, remove_all=True)
    for offset, (name, fmt, dtype, unit, description) in enumerate(columns, start=1):
        index = n_fields + offset
        header[f"TTYPE{index}"] = _described(f"TTYPE{index}", name, description)
        header[f"TFORM{index}"] = fmt
        if unit:
            header[f"TUNIT{index}"] = unit
        header["NAXIS1"] += np.dtype(dtype).itemsize
    header["TFIELDS"] = n_fields + len(columns)
    header.add_history(f"photoz_numba {__version__}: added "
                       f"{', '.join(column[0] for column in columns)}")
    return header


def _described(keyword, name, description):
    """(name, description) for a TTYPE card, the description cut to fit
    the card's 80 characters.

    The description goes in the TTYPE card's comment, where FITS readers
    show it, and not in a TCOMM keyword: astropy keeps TCOMM keywords as
    table metadata and writes them back by number, on whatever column then
    holds it (a column removed, each description shifts by one).
    """
    value = max(len(name) + 2 + name.count("'"), 20)        # quoted, padded
    room = 80 - max(len(keyword), 8) - 2 - value - 3
    return name, description if len(description) <= room else description[:room]


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


def _refuse_model_header(header, path, what):
    """ValueError if ``header`` (a primary header) is a model file's: a
    model file given where a table (``what``) goes, as when two arguments
    are swapped."""
    if header.get("ORIGIN") == _ORIGIN and "PZFORMAT" in header:
        raise ValueError(f"{path!r} is a photoz_numba model file, given as the {what}: "
                         f"were two arguments swapped?")


def refuse_model_file(path, what):
    """`_refuse_model_header` of a file's primary header, when it is FITS
    (judged by its first bytes)."""
    try:
        with open(path, "rb") as file:
            if file.read(6) != b"SIMPLE":
                return
        header = fits.getheader(path, 0)
    except (OSError, ValueError):
        return              # (what reads it says what is wrong)
    _refuse_model_header(header, path, what)


def _missing_hints(missing, table_hdu, hdus, chosen):
    """What may be meant by columns ``missing`` from ``table_hdu``: the
    same names in another case (FITS names ignore case; the package's do
    not), and, when the HDU was the first table by default, the other
    table HDUs that hold them all."""
    from .photometry import RENAMED_OR_ERROR_HINT, other_case
    hints = other_case(missing, table_hdu.columns.names)
    if chosen:
        holding = [each.name or str(index) for index, each in enumerate(hdus)
                   if isinstance(each, fits.BinTableHDU) and each is not table_hdu
                   and set(missing) <= set(each.columns.names)]
        if holding:
            hints += (f"; the first table HDU was read; HDU {holding[0]!r} holds them "
                      f"(--hdu, or hdu=)")
    return hints or RENAMED_OR_ERROR_HINT


class _FitsTableReader:
    """One binary table HDU of a FITS file, checked from its headers and
    read chunk by chunk by byte offset (no memory map: resident memory stays
    bounded by a chunk; a compressed file is decompressed as it is read)."""

    def __init__(self, path, hdus, hdu, names):
        self.path, self.names = path, list(names)
        self.compression = _input_compression(path)
        _refuse_model_header(hdus[0].header, path, "catalogue")
        chosen = hdu is None
        if hdu is None:
            hdu = next((index for index, each in enumerate(hdus)
                        if isinstance(each, fits.BinTableHDU)), None)
            if hdu is None:
                raise ValueError(f"{path!r} has no binary table HDU")
        try:
            self.table_hdu = table_hdu = hdus[hdu]
        except (IndexError, KeyError):
            raise ValueError(f"{path!r} has no HDU {hdu!r}") from None
        if not isinstance(table_hdu, fits.BinTableHDU):
            raise ValueError(f"HDU {hdu!r} of {path!r} is not a binary table")
        header = table_hdu.header
        if header.get("PCOUNT", 0):
            arrays = [column.name for column in table_hdu.columns
                      if re.match(r"\d*[PQ]", str(column.format))]
            named = f" {arrays}" if arrays else ""     # else a heap of nothing
            raise ValueError(f"{path!r} has variable-length array columns{named}, which "
                             f"cannot be streamed: read it into memory instead (in Python, "
                             f"Table.read it and give the table to the model; on the "
                             f"command line, predict with a non-FITS output, -o OUT.ecsv, "
                             f"reads it so, and stack and pdf read a non-FITS copy such "
                             f"as that output)")
        missing = [name for name in self.names if name not in table_hdu.columns.names]
        if missing:
            raise KeyError(f"column(s) {missing} are not in {path!r} "
                           f"(columns: {', '.join(table_hdu.columns.names)})"
                           + _missing_hints(missing, table_hdu, hdus, chosen))
        self.nrows, self.rowsize = header["NAXIS2"], header["NAXIS1"]
        # Offsets are in the decompressed stream for a compressed file.
        self.info = table_hdu.fileinfo()
        # FITS data are big-endian; ColDefs.dtype is in native order.
        self.raw_dtype = np.dtype(table_hdu.columns.dtype).newbyteorder(">")
        if self.raw_dtype.itemsize != self.rowsize:
            raise ValueError(f"{path!r}: row size {self.rowsize} does not match "
                             f"its columns ({self.raw_dtype.itemsize} bytes)")
        # A compressed file's length says nothing: a short read shows truncation.
        self.size = None if self.compression else os.path.getsize(path)
        needed = self.info["datLoc"] + self.nrows * self.rowsize
        if self.size is not None and self.size < needed:
            raise ValueError(f"{path!r} is truncated: {self.size} bytes, the table "
                             f"needs {needed}")

    def open(self):
        """The file as a (decompressed) byte stream."""
        return _open_stream(self.path, "rb", self.compression)

    def chunks(self, source, chunk_size):
        """(first row, raw bytes, Table of ``names``) per chunk of rows."""
        source.seek(self.info["datLoc"])
        for start in range(0, self.nrows, chunk_size):
            n = min(chunk_size, self.nrows - start)
            buffer = source.read(n * self.rowsize)
            if len(buffer) < n * self.rowsize:
                raise ValueError(f"{self.path!r} is truncated: its table ends "
                                 f"before row {start + len(buffer) // self.rowsize + 1} "
                                 f"of {self.nrows}")
            raw = np.frombuffer(buffer, dtype=self.raw_dtype)
            yield start, buffer, _chunk_table(raw, self.table_hdu, self.names)


@contextlib.contextmanager
def _fits_table(path, hdu, names):
    """A `_FitsTableReader` of ``path``'s table ``hdu`` (None: the first
    binary table), its headers open while it is used."""
    with _open_fits(path, "FITS file") as hdus:
        yield _FitsTableReader(path, hdus, hdu, names)


def require_file(path, what="input"):
    """FileNotFoundError naming ``path`` as ``what`` unless it exists."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist")


def same_file(a, b):
    """Whether paths ``a`` and ``b`` name one file (existing or not:
    through links, by their real paths)."""
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def _check_paths(input_path, output_path):
    require_file(input_path)
    if same_file(input_path, output_path):
        raise ValueError(f"the output {output_path!r} is the input: refusing to "
                         f"overwrite it; write to a new file")


def predict_fits(model, input_path, output_path, hdu=None, chunk_size=100_000,
                 units=None, overwrite=False, n_threads=None, progress=None, columns=None):
    """Add z_phot columns to a FITS table, chunk by chunk.

    The input table's rows are read in chunks of ``chunk_size`` by byte
    offset (no memory map, so resident memory stays bounded by the chunk),
    copied verbatim and extended with ``z_phot``, ``z_phot_err``,
    ``z_phot_flag`` and ``z_phot_nused`` (masked values as NaN), and
    ``z_phot_err_raw`` after ``z_phot_err`` for a calibrated model. Every
    input column, unit and header keyword is kept, and so are the other
    HDUs of the file; the header keyword ``PZMODEL`` records the model
    (`model_digest`). The output is written to a temporary file beside
    ``output_path`` and renamed only when complete.

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel`
        A fitted model.
    input_path, output_path : str or path-like
        FITS files; the output must not be the input. The input may be
        compressed (gzip, bzip2 or xz, whatever its name: it is recognised
        by its first bytes; a zip archive is refused), and the output is
        compressed when its name ends in ``.gz``, ``.bz2`` or ``.xz``.
    hdu : int or str, optional
        The binary table HDU to predict, by number or name (default: the
        first binary table, after any image HDU).
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
    columns : dict, optional
        The catalogue's column of a band whose column is not named as the
        model's (``{band: column}``); the output still records the model
        as it is (`model_digest`).

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
        z_phot columns; the file is truncated or corrupt; ``columns``
        names a band the model does not have.

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
    digest = model_digest(model)
    model = reading_columns(model, columns)
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    _check_paths(input_path, output_path)
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, not {chunk_size!r}")
    output_columns = _output_fits_columns(model)
    with _fits_table(input_path, hdu, model.input_columns) as reader:
        check_no_output_columns(reader.table_hdu.columns.names, model.output_schema(),
                                repr(input_path))
        nrows, rowsize, info = reader.nrows, reader.rowsize, reader.info
        out_header = _output_header(reader.table_hdu, output_columns)
        out_header[MODEL_KEYWORD] = digest      # 64 digits: no room for a comment
        out_dtype = np.dtype([("row", f"V{rowsize}")] +
                             [(column[0], column[2]) for column in output_columns])
        with atomic_output(output_path, overwrite=overwrite) as tmp, \
                reader.open() as source, \
                _open_stream(tmp, "wb", _output_compression(output_path)) as sink:
            _copy_bytes(source, sink, 0, info["hdrLoc"])       # HDUs before
            sink.write(out_header.tostring().encode("ascii"))
            counts = np.zeros_like(_flag_counts(np.zeros(0, dtype=np.int16)))
            for start, buffer, chunk in reader.chunks(source, chunk_size):
                prediction = model.predict_arrays(chunk, units, n_threads)
                record = np.empty(len(chunk), dtype=out_dtype)
                record["row"] = np.frombuffer(buffer, dtype=f"V{rowsize}")
                for column in model.output_schema():
                    record[column.name] = prediction.filled(column)
                sink.write(record.tobytes())
                counts += _flag_counts(prediction.z_phot_flag)
                if progress is not None:
                    progress(start + len(chunk), nrows)
            written = nrows * out_dtype.itemsize
            sink.write(b"\0" * (-written % 2880))
            _copy_bytes(source, sink, info["datLoc"] + info["datSpan"],
                        reader.size)                                # HDUs after
    _log_flag_counts(output_path, nrows, counts, model)
    return nrows


def stack_fits(model, input_path, z_grid, weights=None, hdu=None, chunk_size=100_000,
               units=None, n_threads=None, progress=None):
    """`~photoz_numba.PhotoZModel.stack_pdf` of a FITS table, chunk by chunk.

    The rows are read as `predict_fits` reads them (by byte offset,
    compressed or not), so memory stays bounded by a chunk whatever the
    file's size.

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel`
        A model with a p(z).
    input_path : str or path-like
        A FITS file.
    z_grid : array-like
        Redshifts, strictly increasing.
    weights : str, optional
        A column of weights, finite and >= 0; None weighs every row 1.
    hdu, chunk_size, units, n_threads, progress
        As for `predict_fits`.

    Returns
    -------
    stacked : `~astropy.table.Table`
        As from `~photoz_numba.PhotoZModel.stack_pdf`, over all the rows.

    Raises
    ------
    photoz_numba.exceptions.NotFittedError
        The model has no p(z).
    KeyError
        A band column or the ``weights`` column is not in the table.
    ValueError
        As for `predict_fits`, or a bad grid or weight.
    """
    from .pdf import check_grid, combine_stacks, quiet, row_weights
    model.check_pz()
    grid = check_grid(z_grid)
    input_path = os.fspath(input_path)
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, not {chunk_size!r}")
    total = combine_stacks(grid, [])
    with _fits_table(input_path, hdu, model.input_columns) as reader, \
            reader.open() as source:
        _add_column(reader, weights, "weights")
        for start, _, chunk in reader.chunks(source, chunk_size):
            # Checked here so that a bad weight is named by its row in the file.
            chunk_weights = row_weights(chunk, weights, first_row=start)
            part = quiet(model.stack_pdf, chunk, grid, chunk_weights, units, n_threads)
            total = quiet(combine_stacks, grid, [total, part])
            if progress is not None:
                progress(start + len(chunk), reader.nrows)
    stacked = combine_stacks(grid, [total])     # says how many rows had no p(z)
    # Judged on the whole file, as predict_fits judges it.
    model.warn_if_mostly_extrapolated(stacked.meta["n_extrapolated"], stacked.meta["n_rows"])
    return stacked


def _require_column(name, option, columns, path):
    """KeyError naming column ``name`` (None: nothing to check) and
    ``option`` unless it is in ``columns``, those of the file ``path``."""
    if name is not None and name not in columns:
        columns = list(columns)
        shown = ", ".join(columns[:20]) + (", ..." if len(columns) > 20 else "")
        raise KeyError(f"column {name!r} ({option}) is not in {path!r} (columns: {shown})")


def _add_column(reader, name, option):
    """Have ``reader`` read column ``name`` (None: nothing) too, or
    KeyError naming it and ``option``."""
    _require_column(name, option, reader.table_hdu.columns.names, reader.path)
    if name is not None and name not in reader.names:
        reader.names.append(name)


def _fits_input(path, format, hdu):
    """Whether ``path`` is read as FITS (by ``format``, else by its name),
    and so streamed; ``hdu`` given for another input is a ValueError."""
    fits_input = format == "fits" or (format is None and _is_fits(path))
    if hdu is not None and not fits_input:
        raise ValueError(f"hdu is for FITS input, and {path!r} is not read as FITS")
    return fits_input


def stack_file(model, input_path, z_grid, weights=None, hdu=None, format=None, units=None,
               n_threads=None, progress=None):
    """`~photoz_numba.PhotoZModel.stack_pdf` of a catalogue file: a FITS
    file streamed by `stack_fits`, any other format read into memory.

    Parameters
    ----------
    model, input_path, z_grid, weights, hdu, units, n_threads, progress
        As for `stack_fits`.
    format : str, optional
        The input's astropy format, where its name does not tell.

    Returns
    -------
    stacked : `~astropy.table.Table`
        As from `~photoz_numba.PhotoZModel.stack_pdf`.
    """
    input_path = os.fspath(input_path)
    require_file(input_path)
    if _fits_input(input_path, format, hdu):
        return stack_fits(model, input_path, z_grid, weights=weights, hdu=hdu, units=units,
                          n_threads=n_threads, progress=progress)
    table = read_table(input_path, "input ", format)
    for band, name in zip(model.bands, model.band_columns):
        _require_column(name, f"band {band}", table.colnames, input_path)
    _require_column(weights, "weights", table.colnames, input_path)
    stacked = model.stack_pdf(table, z_grid, weights=weights, units=units, n_threads=n_threads)
    if progress is not None:
        progress(len(table), len(table))
    return stacked


def _fits_column(values, name):
    """The FITS column definition of a Table column, and its values as
    stored (big-endian), as astropy writes them: text as ASCII, unsigned
    integers with their offset, masked integers with a null (``TNULL``),
    masked floats as NaN; ValueError naming the column for text FITS
    cannot hold."""
    try:
        hdu = fits.table_to_hdu(Table([values], names=[name]))
    except UnicodeEncodeError as error:
        raise ValueError(f"column {name!r} holds text that FITS cannot store "
                         f"(ASCII only): {error}") from None
    stored = hdu.data.view(np.ndarray)[name]
    return hdu.columns[name].copy(), stored.astype(stored.dtype.newbyteorder(">"))


def pdf_file(model, input_path, output_path, z_grid, id_column=None, units=None,
             overwrite=False, n_threads=None, progress=None, hdu=None, format=None):
    """Each row's p(z) on a grid, into a new FITS file, as EAZY writes its
    p(z): HDU ``PZ`` has a row per input row, in order, with ``id_column``
    (when given) and ``pdf``, the p(z) per unit redshift on the grid
    (float32; as `~photoz_numba.PhotoZModel.pdf` gives it, NaN where no
    prediction could be made); HDU ``ZGRID`` has the grid, column ``z``.

    A FITS input is read chunk by chunk as `predict_fits` reads it, and
    the output written as it goes (under a temporary name, renamed when
    complete), so memory does not grow with the catalogue; other formats
    are read into memory. The file holds 4 bytes per galaxy and grid point;
    its rows, redshifts and size in bytes go to the ``photoz_numba`` logger
    before it is written, its summary after.

    Parameters
    ----------
    model : `~photoz_numba.PhotoZModel`
        A model with a p(z).
    input_path : str or path-like
        The catalogue.
    output_path : str or path-like
        A FITS file (``.fits``, or ``.fits.gz`` etc. to compress it); not
        the input.
    z_grid : array-like
        Redshifts, strictly increasing.
    id_column : str, optional
        A column of the input to copy into each row (an identifier).
    units, overwrite, n_threads, progress, hdu
        As for `predict_fits`.
    format : str, optional
        The input's astropy format, where its name does not tell.

    Returns
    -------
    nrows : int
        Rows written (always all the input rows).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from photoz_numba import PhotoZModel
    >>> from photoz_numba.datasets import toy_catalogue
    >>> from photoz_numba.io import pdf_file
    >>> table = toy_catalogue(1200, seed=3)
    >>> model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:1000])
    >>> model = model.calibrate(table[:1000])
    >>> directory = tempfile.mkdtemp()
    >>> survey = os.path.join(directory, "survey.fits")
    >>> table[1000:].write(survey)
    >>> pz = os.path.join(directory, "survey_pz.fits")
    >>> pdf_file(model, survey, pz, np.linspace(0, 4, 401))
    200
    >>> pdf, grid = Table.read(pz, hdu="PZ")["pdf"], Table.read(pz, hdu="ZGRID")["z"]
    >>> pdf.shape, round(float(np.trapezoid(pdf[0], grid)), 5)
    ((200, 401), 1.0)
    """
    from .flags import n_extrapolated
    from .pdf import GRID_LOSS, check_grid, grid_chunk_rows, off_grid, quiet, warn_off_grid
    model.check_pz()
    grid = check_grid(z_grid)
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    _check_paths(input_path, output_path)
    if not _is_fits(output_path):
        raise ValueError(f"the p(z) file {output_path!r} is FITS: name it .fits (or "
                         f".fits.gz, .fits.bz2, .fits.xz)")
    _check_format(format, "read", "format")
    rows_per_chunk = grid_chunk_rows(grid.size + 1)        # the CDF at the cells' edges
    with contextlib.ExitStack() as stack:
        if _fits_input(input_path, format, hdu):
            reader = stack.enter_context(_fits_table(input_path, hdu, model.input_columns))
            _add_column(reader, id_column, "id_column")
            source = stack.enter_context(reader.open())
            nrows = reader.nrows
            # The identifier is copied as stored, with its scaling and null.
            id_column_def = (None if id_column is None
                             else reader.table_hdu.columns[id_column].copy())
            chunks = ((chunk, None if id_column is None
                       else np.frombuffer(buffer, reader.raw_dtype)[id_column])
                      for _, buffer, chunk in reader.chunks(source, rows_per_chunk))
        else:
            table = read_table(input_path, "input ", format)
            _require_column(id_column, "id_column", table.colnames, input_path)
            nrows = len(table)
            id_column_def, stored = (None, None) if id_column is None else \
                _fits_column(table[id_column], id_column)
            chunks = ((table[start:start + rows_per_chunk],
                       None if stored is None else stored[start:start + rows_per_chunk])
                      for start in range(0, nrows, rows_per_chunk))
        columns = [fits.Column(name="pdf", format=f"{grid.size}E")]
        if id_column_def is not None:
            columns.insert(0, id_column_def)
        header = fits.BinTableHDU.from_columns(columns, nrows=0).header
        header["NAXIS2"] = nrows
        header["EXTNAME"] = "PZ"
        index = len(columns)
        header[f"TTYPE{index}"] = _described(f"TTYPE{index}", "pdf",
                                             "p(z) per unit redshift on the grid of HDU ZGRID")
        header.add_history(f"photoz_numba {__version__}: p(z) of {os.path.basename(input_path)}")
        grid_hdu = fits.table_to_hdu(Table({"z": grid}))
        grid_hdu.header["EXTNAME"] = "ZGRID"
        # FITS data are big-endian; ColDefs.dtype is in native order.
        record_dtype = np.dtype(fits.ColDefs(columns).dtype).newbyteorder(">")
        # Rows without a p(z), rows, rows off the grid, rows extrapolated.
        counts = np.zeros(4, dtype=np.int64)
        lowest = 1.0
        compression = _output_compression(output_path)
        # Said before the work: a large grid makes a large file.
        size = (len(fits.PrimaryHDU().header.tostring()) + len(header.tostring())
                + _fits_padded(nrows * record_dtype.itemsize)
                + len(grid_hdu.header.tostring()) + _fits_padded(grid.size * 8))
        with atomic_output(output_path, overwrite=overwrite) as tmp, \
                _open_stream(tmp, "wb", compression) as sink:
            # Said once the output is open (an existing one refused first).
            logging.getLogger("photoz_numba").info(
                f"{output_path}: writing the p(z) of {nrows:,} rows on {grid.size:,} "
                f"redshifts (float32, 4 bytes each): {size:,} bytes ({_in_bytes(size)})"
                + (" before compression" if compression else ""))
            sink.write(fits.PrimaryHDU().header.tostring().encode("ascii"))
            sink.write(header.tostring().encode("ascii"))
            done = 0
            for chunk, ids in chunks:
                record = np.empty(len(chunk), dtype=record_dtype)
                density, flag = quiet(model.pdf, chunk, grid, units, n_threads,
                                      return_flags=True)        # said once, below
                record["pdf"] = density
                if ids is not None:
                    record[id_column] = ids
                sink.write(record.tobytes())
                short, least = off_grid(np.trapezoid(density, grid, axis=1))
                counts += [np.isnan(density[:, 0]).sum(), len(chunk), short,
                           n_extrapolated(flag)]
                lowest = min(lowest, least)
                done += len(chunk)
                if progress is not None:
                    progress(done, nrows)
            sink.write(b"\0" * (-(nrows * record_dtype.itemsize) % 2880))
            data = grid.astype(">f8").tobytes()
            sink.write(grid_hdu.header.tostring().encode("ascii") + data
                       + b"\0" * (-len(data) % 2880))
    logging.getLogger("photoz_numba").info(
        f"{output_path}: p(z) of {nrows} rows on {grid.size} redshifts, {counts[0]} rows "
        f"without one (NaN), {counts[2]} with more than {GRID_LOSS:.1%} of it off the grid")
    warn_off_grid(int(counts[2]), lowest, nrows, grid)
    model.warn_if_mostly_extrapolated(int(counts[3]), nrows)
    return nrows


def _fits_padded(nbytes):
    """``nbytes`` of FITS data with the padding to a whole 2880-byte block."""
    return nbytes + (-nbytes % 2880)


def _in_bytes(nbytes):
    """A size for people: '6.8 GB', '120.3 kB', '512 bytes'."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


def _flag_counts(z_phot_flag):
    """Rows without a z_phot, other rows with a flag, then the rows with
    each flag of `photoz_numba.flags.FLAGS`, of a z_phot_flag array."""
    from .flags import FLAGS, UNPREDICTED
    flag = np.asarray(z_phot_flag)
    unpredicted = (flag & UNPREDICTED) != 0
    return np.array([unpredicted.sum(), ((flag != 0) & ~unpredicted).sum()]
                    + [((flag & bit) != 0).sum() for bit, *_ in FLAGS])


def _log_flag_counts(path, nrows, counts, model):
    """Say, through the ``photoz_numba`` logger, how many rows written to
    ``path`` have no z_phot, how many more carry a flag, and how many
    carry each flag (`_flag_counts`); warn if too many are extrapolated."""
    from .flags import FLAGS
    per_flag = dict(zip((name for _, name, *_ in FLAGS), (int(n) for n in counts[2:])))
    model.warn_if_mostly_extrapolated(per_flag["extrapolation"], int(nrows))
    which = ", ".join(f"{name} {n}" for name, n in per_flag.items() if n)
    logging.getLogger("photoz_numba").info(
        f"{path}: {counts[0]} of {nrows} rows without a z_phot, {counts[1]} more with a "
        f"flag" + (f" (rows with each: {which}; photoz_numba.flags says what each means)"
                   if which else ""))


def _copy_bytes(source, sink, start, stop, block=1 << 24):
    """Copy bytes start:stop of source to sink; stop None: to the end."""
    source.seek(start)
    remaining = None if stop is None else stop - start
    while remaining is None or remaining > 0:
        data = source.read(block if remaining is None else min(block, remaining))
        if not data:
            if remaining is None:
                return
            raise ValueError("input file ended early (truncated?)")
        sink.write(data)
        if remaining is not None:
            remaining -= len(data)


def predict_file(model, input_path, output_path, chunk_size=100_000, units=None,
                 overwrite=False, n_threads=None, progress=None, hdu=None, format=None,
                 output_format=None, columns=None):
    """Predict a catalogue file into a new file.

    FITS to FITS (either compressed or not) streams in chunks
    (`predict_fits`); any other format that `astropy.table.Table.read`
    and ``write`` know (ECSV, HDF5, VOTable, ...) is read into memory,
    predicted and written, compressed if the output's name ends in
    ``.gz``, ``.bz2`` or ``.xz``. In
    both cases the output appears under its name only when complete, and
    records the model (`model_digest`) as ``PZMODEL``: in the FITS header,
    or in the table's metadata where the format keeps it (ECSV, HDF5).

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
        The binary table HDU to predict of a FITS input (default: the first
        binary table).
    format, output_format : str, optional
        Astropy's name of the format of the input and of the output
        (``ascii``, ``ascii.ecsv``, ``fits``, ...), for files whose names do
        not tell; by default each is told from the file (the output's from
        its name). FITS to FITS streams; other pairs go through memory.
    columns : dict, optional
        The catalogue's column of a band whose column is not named as the
        model's (``{band: column}``, `reading_columns`); the output still
        records the model as it is.

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

    A catalogue whose band columns are named otherwise, mapped band by band:

    >>> other = table[500:]
    >>> other.rename_column("g", "g_flux")
    >>> other.write(os.path.join(directory, "other.fits"))
    >>> predict_file(model, os.path.join(directory, "other.fits"),
    ...              os.path.join(directory, "other_photoz.fits"), columns={"g": "g_flux"})
    100
    >>> out = Table.read(os.path.join(directory, "other_photoz.fits"))
    >>> print(" ".join(f"{value:.3f}" for value in out["z_phot"][:3]))
    1.320 0.174 0.581
    """
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    if _streams(input_path, output_path, format, output_format):
        return predict_fits(model, input_path, output_path, hdu=hdu,
                            chunk_size=chunk_size, units=units, overwrite=overwrite,
                            n_threads=n_threads, progress=progress, columns=columns)
    _check_paths(input_path, output_path)
    check_output_format(input_path, output_path, format, output_format)
    compression = _output_compression(output_path)
    options = {"hdu": hdu} if _fits_input(input_path, format, hdu) and hdu is not None else {}
    output = atomic_output(output_path, overwrite=overwrite)     # refused before the work
    model.check_fitted()
    digest = model_digest(model)
    model = reading_columns(model, columns)
    table = read_table(input_path, "", format, **options)
    out = model.predict(table, units=units, n_threads=n_threads)
    out.meta[MODEL_KEYWORD] = digest
    with output as tmp:
        if compression is None:
            out.write(tmp, overwrite=True, format=output_format,
                      **_write_options(tmp, output_format))
        else:
            # Written plain (its format inferred from the extension before
            # the compression suffix), then compressed.
            plain = os.path.splitext(tmp)[0]
            try:
                out.write(plain, overwrite=True, format=output_format,
                          **_write_options(plain, output_format))
                with open(plain, "rb") as source, _open_stream(tmp, "wb", compression) as sink:
                    _copy_bytes(source, sink, 0, None)
            finally:
                if os.path.exists(plain):
                    os.unlink(plain)
    if progress is not None:
        progress(len(out), len(out))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PhotoZWarning)     # model.predict has warned
        _log_flag_counts(output_path, len(out), _flag_counts(out["z_phot_flag"]), model)
    return len(out)
