# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Bit flags of the ``z_phot_flag`` column.

`FLAGS` is the one source of truth: the docstring of this module and of
`decode_z_phot_flags` are built from it.
"""

import warnings

import numpy as np

from .exceptions import PhotoZWarning
from .schema import PERCENTILES

__all__ = ["FLAGS", "MISSING_BAND", "NONDETECTION", "SOLVE_FAILED",
           "EXTRAPOLATION", "TOO_FEW_BANDS", "BAND_IGNORED", "BAD_ERROR", "SPLIT_NEIGHBOURS",
           "NO_ERROR", "TRAINING_TWIN", "UNPREDICTED", "NO_ERROR_COLUMNS",
           "decode_z_phot_flags", "n_extrapolated", "warn_if_mostly_extrapolated"]

MISSING_BAND = 1
NONDETECTION = 2
SOLVE_FAILED = 4
EXTRAPOLATION = 8
TOO_FEW_BANDS = 16
BAND_IGNORED = 32
BAD_ERROR = 64
SPLIT_NEIGHBOURS = 128
NO_ERROR = 256
TRAINING_TWIN = 512

#: (bit value, name, z_phot masked?, description) of every flag bit.
FLAGS = (
    (MISSING_BAND, "missing_band", False,
     "a band has no measurement (masked, NaN, infinite or -99); z_phot is "
     "predicted from the other bands"),
    (NONDETECTION, "nondetection", False,
     "a band has flux <= 0 (without softening) or S/N below snr_min; it is "
     "treated as missing"),
    (SOLVE_FAILED, "solve_failed", True,
     "the Gram matrix K + lam I was not positive definite in floating point"),
    (EXTRAPOLATION, "extrapolation", False,
     "the galaxy lies outside the bounding box of its neighbours in some "
     "feature; z_phot is given but extrapolated"),
    (TOO_FEW_BANDS, "too_few_bands", True,
     "fewer than min_bands usable bands (with at least k + 1 training "
     "galaxies measured in all of them): no prediction"),
    (BAND_IGNORED, "band_ignored", False,
     "a measured band was left out because too few training galaxies "
     "have it together with the galaxy's other bands"),
    (BAD_ERROR, "bad_error", False,
     "snr_min is set and a measured band's flux error is masked, NaN or <= 0: "
     "its S/N cannot be judged, and the band is used as measured"),
    (SPLIT_NEIGHBOURS, "split_neighbours", False,
     "the neighbours disagree: those whose redshift z_j is an outlier's "
     "distance from z_phot (abs(z_phot - z_j) > 0.15 (1 + z_j)) hold at least "
     "a quarter of the k neighbours' rank weight (the n-th nearest weighing "
     "1/n); with the window, these are neighbours it left out. The colours "
     "fit two distant redshifts and z_phot follows one of them (in the "
     "cross-validation of the paper's training parts, 4 % of galaxies are "
     "flagged, and 25 % of them are outliers against 1.5 % of the others)"),
    (NO_ERROR, "no_error", False,
     "fewer than three neighbours in the final fit, or all of them at one "
     "redshift: their spread gives no error (the RMS residual is 0 or nearly). "
     "z_phot is given, but not z_phot_err nor the p(z): those columns are "
     "masked (z_phot_err_raw keeps the RMS residual)"),
    (TRAINING_TWIN, "training_twin", False,
     "a training galaxy has the galaxy's very features (distance 0): most "
     "likely it is that galaxy, its own nearest neighbour, so z_phot, "
     "z_phot_err and the p(z) are not honest estimates of its redshift "
     "(predict the training galaxies out of fold instead: "
     "photoz_numba.validation.cross_val_predict). In a catalogue of rounded "
     "photometry (0.01 mag, say) two galaxies can share their features too"),
)

#: Bits for which ``z_phot`` is masked.
UNPREDICTED = sum(bit for bit, _, masked, _ in FLAGS if masked)
#: Columns masked where `NO_ERROR` is set (as well as where `UNPREDICTED` is).
NO_ERROR_COLUMNS = ("z_phot_err",) + tuple(name for name, _ in PERCENTILES)

__doc__ += "\nBits:\n\n" + "\n".join(
    f"- {bit} ``{name}``: {text}" for bit, name, _, text in FLAGS)


def decode_z_phot_flags(flags):
    """Names of the bits set in each ``z_phot_flag`` value.

    Parameters
    ----------
    flags : int or array-like of int
        Values of the ``z_phot_flag`` column.

    Returns
    -------
    names : list of str, or list of lists of str
        The set bits' names, for a scalar or for each element.

    Raises
    ------
    TypeError
        ``flags`` are not integers.

    Examples
    --------
    >>> from photoz_numba.flags import decode_z_phot_flags
    >>> decode_z_phot_flags(9)
    ['missing_band', 'extrapolation']
    """
    values = np.asarray(flags)
    if values.dtype.kind not in "iu":
        raise TypeError(f"flags must be integers, not {values.dtype}")
    decoded = [[name for bit, name, _, _ in FLAGS if int(v) & bit]
               for v in values.ravel()]
    return decoded[0] if values.ndim == 0 else decoded


def n_extrapolated(z_phot_flag):
    """How many rows are flagged ``extrapolation`` (`EXTRAPOLATION`).

    Parameters
    ----------
    z_phot_flag : array-like of int
        Values of the ``z_phot_flag`` column.

    Returns
    -------
    n : int
        The number of values with the ``extrapolation`` bit set.

    Examples
    --------
    >>> from photoz_numba.flags import n_extrapolated
    >>> n_extrapolated([0, 8, 9, 1])
    2
    """
    return int(((np.asarray(z_phot_flag) & EXTRAPOLATION) != 0).sum())


def mostly_extrapolated(n_extrapolated, n_rows, k, n_features):
    """Whether `warn_if_mostly_extrapolated` warns of these rows."""
    expected = 1.0 - (1.0 - 2.0 / (k + 1)) ** n_features
    return n_rows >= 20 and n_extrapolated > (0.5 + 0.5 * expected) * n_rows


def warn_if_mostly_extrapolated(n_extrapolated, n_rows, k, n_features, part=None,
                                stacklevel=3):
    """Warn (`~photoz_numba.exceptions.PhotoZWarning`) when far more of 20
    or more rows are flagged ``extrapolation`` than galaxies like their
    training neighbours would be: the mark of band columns whose units are
    not what they say. ``part`` names the part of a catalogue whose rows
    these are, when it is judged on its own (``"partition 3"``: "150 of
    150 rows of partition 3 lie beyond ..."); ``stacklevel`` is
    `warnings.warn`'s, counted from here (3: the caller's caller).

    A galaxy drawn like its ``k`` neighbours lies outside their range in one
    of ``n_features`` features with probability about ``e = 1 - (1 - 2 /
    (k + 1)) ** n_features`` (0.30 at k = 40 with 7 features); the warning
    comes above half-way from ``e`` to all rows. The defaults flag 4 % of
    the LSST-like test file and 19 % of the paper's seed-0 test part; read
    in uJy instead of its nJy, the LSST-like file has 96 %."""
    if mostly_extrapolated(n_extrapolated, n_rows, k, n_features):
        rows = "rows" if part is None else f"rows of {part}"
        warnings.warn(f"{n_extrapolated} of {n_rows} {rows} lie beyond their neighbours in some "
                      f"feature (flag extrapolation): are the band columns in the units "
                      f"they say?", PhotoZWarning, stacklevel=stacklevel)
