# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The data a `~photoz_numba.PhotoZModel` hands to the rest of the package:

- the columns `~photoz_numba.PhotoZModel.predict` adds (`OUTPUT_COLUMNS`):
  one table of name, dtype, unit, description and FITS format that
  in-memory prediction, FITS streaming (`photoz_numba.io`) and Dask
  (`photoz_numba.dask`) all read;
- a fit's state (`FittedState`), which model files store and from which
  `~photoz_numba.PhotoZModel.from_fitted_state` rebuilds the model.
"""

from collections import namedtuple

import numpy as np

__all__ = ["OutputColumn", "OUTPUT_COLUMNS", "PERCENTILES", "output_columns", "FittedState",
           "PzState"]

#: One output column: its ``name``, NumPy ``dtype``, ``unit`` (a string,
#: empty for a dimensionless quantity), ``description``, binary-table
#: ``fits_format`` (TFORM) and whether it is ``masked`` where no
#: prediction could be made (NaN in files and DataFrames); the error and
#: percentile columns are masked on ``no_error`` rows too
#: (`photoz_numba.flags.NO_ERROR_COLUMNS`).
OutputColumn = namedtuple("OutputColumn", ["name", "dtype", "unit", "description",
                                           "fits_format", "masked"])

_RMS = "RMS residual of the neighbours in the final fit"

#: Percentiles of p(z) a calibrated model adds, as (column name,
#: probability): EAZY's names, 2.5, 16, 50, 84 and 97.5 %.
PERCENTILES = (("z_phot_025", 0.025), ("z_phot_160", 0.16), ("z_phot_500", 0.5),
               ("z_phot_840", 0.84), ("z_phot_975", 0.975))

#: Every column a prediction can add, in output order; ``z_phot_err_raw``
#: and the percentiles only for a calibrated model (see `output_columns`).
OUTPUT_COLUMNS = (
    OutputColumn("z_phot", np.dtype(np.float64), "", "photometric redshift", "D", True),
    OutputColumn("z_phot_err", np.dtype(np.float64), "", _RMS, "D", True),
    OutputColumn("z_phot_err_raw", np.dtype(np.float64), "", _RMS, "D", True),
    OutputColumn("z_phot_flag", np.dtype(np.int16), "", "bit flags, see photoz_numba.flags",
                 "I", False),
    OutputColumn("z_phot_nused", np.dtype(np.int32), "", "neighbours used in the final fit",
                 "J", False),
) + tuple(OutputColumn(name, np.dtype(np.float64), "",
                       f"{100 * probability:g} percentile of p(z)", "D", True)
          for name, probability in PERCENTILES)

_PERCENTILE_NAMES = tuple(name for name, _ in PERCENTILES)


def output_columns(calibration_form=None, pz=False):
    """The columns a model's prediction adds, in order.

    Parameters
    ----------
    calibration_form : str or None, optional
        The form of the model's `~photoz_numba.calibration.ErrorCalibration`
        (``model.calibration_.form``), None for an uncalibrated model.
    pz : bool, optional
        Whether the model has a p(z) (`PzState`): then the percentile
        columns of `PERCENTILES` follow, and ``z_phot_err`` is half the
        central 68 % interval of p(z).

    Returns
    -------
    columns : tuple of `OutputColumn`
        Without a calibration, ``z_phot``, ``z_phot_err`` (the RMS
        residual), ``z_phot_flag`` and ``z_phot_nused``; with one,
        ``z_phot_err`` is the calibrated error and ``z_phot_err_raw`` the
        RMS residual, after it.

    Examples
    --------
    >>> from photoz_numba.schema import output_columns
    >>> [column.name for column in output_columns()]
    ['z_phot', 'z_phot_err', 'z_phot_flag', 'z_phot_nused']
    >>> for column in output_columns("scale")[1:3]:
    ...     print(f"{column.name}: {column.description}")
    z_phot_err: calibrated 1-sigma error (scale form)
    z_phot_err_raw: RMS residual of the neighbours in the final fit
    """
    if calibration_form is None:
        return tuple(column for column in OUTPUT_COLUMNS
                     if column.name != "z_phot_err_raw" and column.name not in _PERCENTILE_NAMES)
    error = ("half the central 68 % interval of p(z)" if pz
             else f"calibrated 1-sigma error ({calibration_form} form)")
    return tuple(column._replace(description=error) if column.name == "z_phot_err" else column
                 for column in OUTPUT_COLUMNS
                 if pz or column.name not in _PERCENTILE_NAMES)


def check_no_output_columns(colnames, columns, holder, advice=""):
    """Refuse a catalogue that already has one of the output ``columns``
    (`OutputColumn`), its name compared ignoring case, as FITS compares
    names: a ``Z_PHOT`` beside the new ``z_phot`` is the same column to
    CFITSIO, which would read the old one.

    Parameters
    ----------
    colnames : iterable
        The catalogue's column names (names that are not strings are no
        output column).
    columns : iterable of `OutputColumn`
        The columns a prediction would add (`output_columns`).
    holder : str
        The catalogue, as the message names it (``"the table"``).
    advice : str, optional
        Said after the names found.

    Raises
    ------
    ValueError
        The catalogue has an output column, in any case; the message names
        them as the catalogue spells them.

    Examples
    --------
    >>> from photoz_numba.schema import check_no_output_columns, output_columns
    >>> check_no_output_columns(["g", "r", "Z_PHOT"], output_columns(), "the table")
    Traceback (most recent call last):
    ...
    ValueError: the table already has column(s) ['Z_PHOT'] (output column names are ...)
    """
    named = {name.lower(): name for name in colnames if isinstance(name, str)}
    present = [named[column.name.lower()] for column in columns
               if column.name.lower() in named]
    if present:
        raise ValueError(f"{holder} already has column(s) {present}{advice} (output column "
                         f"names are compared ignoring case, as FITS compares them)")


#: What a fit learnt (`~photoz_numba.PhotoZModel.fitted_state`): the
#: constructor's ``params`` (a dict), the ``band_units`` the band columns
#: were read in at fit time (strings, in band order), the
#: ``train_magnitudes`` (n_train, n_bands; NaN where a galaxy has no
#: measurement) and ``train_redshifts`` (n_train,), and the
#: ``calibration`` (an `~photoz_numba.calibration.ErrorCalibration`, or
#: None) and the ``pz`` (a `PzState`, or None). Everything else a fitted
#: model holds (standardisation, neighbour indices) is derived from these,
#: deterministically.
FittedState = namedtuple("FittedState", ["params", "band_units", "train_magnitudes",
                                         "train_redshifts", "calibration", "pz"])
FittedState.__new__.__defaults__ = (None,)

#: A model's p(z) (`~photoz_numba.PhotoZModel.calibrate`): the
#: out-of-fold ``pulls`` of the training galaxies (float64, in training
#: order; NaN where a galaxy had no out-of-fold prediction), the mixture's
#: ``core_weight``, ``core_width``, ``tail_weight``, ``tail_width``,
#: ``pull_scale`` and ``pull_width``, the ``pit_knots`` of its
#: recalibration (see `photoz_numba.pdf`), ``point``, the statistic of
#: p(z) that ``z_phot`` is: ``'kernel'`` (the kernel-ridge prediction, p(z)'s core)
#: or ``'median'``, ``pit_centres``: None for one recalibration of all
#: galaxies (``pit_knots`` 1-d), or the increasing centres in ``z_hat`` of
#: the regions whose recalibrations are the rows of a 2-d ``pit_knots``,
#: and ``z_max``: the redshift p(z) is truncated at (the training set's
#: highest), or None for none (models calibrated before it).
PzState = namedtuple("PzState", ["pulls", "core_weight", "core_width", "tail_weight",
                                 "tail_width", "pull_scale", "pull_width", "pit_knots",
                                 "point", "pit_centres", "z_max"], defaults=(None, None))
