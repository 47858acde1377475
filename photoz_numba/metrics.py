# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Accuracy metrics of photometric redshifts, as defined in the paper.

``dz = (z_phot - z_spec) / (1 + z_spec)``; sigma_NMAD is 1.4826 times the
median absolute deviation of dz from its median; an outlier has
``|dz| > 0.15``; the bias is the median of dz.

A spectroscopic redshift that is masked, not finite or outside
`Z_SPEC_RANGE` is *no redshift* (`no_redshift`): catalogues write 99, 999,
-1 or -99 where a galaxy has no spectrum. Every path that reads true
redshifts (fitting, tuning, calibration, cross-validation, `evaluate`,
`evaluate_by_z`, the PIT and CDE loss, the command line) skips such rows
and warns once how many, and the first; `dz` and the metrics of single
arrays refuse them. `redshift_values` reads them as NaN.
"""

import contextlib
import warnings

import numpy as np

from .exceptions import PhotoZWarning

__all__ = ["dz", "sigma_nmad", "outlier_fraction", "bias", "evaluate", "Z_BINS", "evaluate_by_z",
           "OUTLIER", "Z_SPEC_RANGE", "no_redshift", "redshift_values"]

#: The spectroscopic redshifts a galaxy can have. Nearby galaxies that
#: approach us have slightly negative ones (-0.001), none below -0.01
#: (3000 km/s); no spectroscopic redshift is above 20. Values outside
#: are sentinels for "no redshift".
Z_SPEC_RANGE = (-0.01, 20.0)

#: How a message describes a value that is no redshift.
NO_REDSHIFT = (f"masked, not finite or outside {Z_SPEC_RANGE[0]:g} to "
               f"{Z_SPEC_RANGE[1]:g}, as the sentinels 99 and -99")

#: The paper's outlier threshold on ``|dz|``.
OUTLIER = 0.15

# Scales the median absolute deviation to a Gaussian's standard deviation.
NMAD_SCALE = 1.4826


def _as_finite(values, name):
    values = np.ma.asarray(values)
    if np.ma.getmaskarray(values).any():
        raise ValueError(f"{name} has masked values; select the rows with a "
                         f"value first")
    values = np.asarray(np.ma.getdata(values), dtype=np.float64)
    if values.size == 0:
        raise ValueError(f"{name} is empty")
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"{name} has {bad.sum()} non-finite values "
                         f"(first at index {np.flatnonzero(bad)[0]})")
    return values


def no_redshift(z_spec):
    """Where a spectroscopic redshift is "no redshift": masked, not finite
    or outside `Z_SPEC_RANGE`.

    Parameters
    ----------
    z_spec : array-like
        Spectroscopic redshifts (dimensionless), masked or not.

    Returns
    -------
    missing : ndarray of bool

    Raises
    ------
    TypeError
        The values are not numbers.

    Examples
    --------
    >>> from photoz_numba.metrics import no_redshift
    >>> no_redshift([0.5, -0.001, 99.0, -99.0, -1.0, float("nan")]).tolist()
    [False, False, True, True, True, True]
    """
    return np.isnan(redshift_values(z_spec))


def _spec_values(z_spec):
    """Float64 values of spectroscopic redshifts (masked ones as NaN)."""
    values = getattr(z_spec, "value", z_spec)     # a dimensionless Quantity
    try:
        return np.asarray(np.ma.filled(np.ma.asarray(values, dtype=np.float64), np.nan),
                          dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("spectroscopic redshifts must be numbers") from None


def redshift_values(z_spec):
    """Spectroscopic redshifts as float64, NaN where there is none
    (`no_redshift`).

    Parameters
    ----------
    z_spec : array-like
        Spectroscopic redshifts (dimensionless), masked or not.

    Returns
    -------
    values : ndarray of float64

    Raises
    ------
    TypeError
        The values are not numbers.

    Examples
    --------
    >>> from photoz_numba.metrics import redshift_values
    >>> redshift_values([0.5, -0.001, 99.0, -1.0]).tolist()
    [0.5, -0.001, nan, nan]
    """
    values = _spec_values(z_spec)
    with np.errstate(invalid="ignore"):
        inside = (values >= Z_SPEC_RANGE[0]) & (values <= Z_SPEC_RANGE[1])
    inside &= ~np.ma.getmaskarray(np.ma.asarray(z_spec))
    return np.where(inside, values, np.nan)


def _no_redshift_message(missing, z_spec, name, at="row"):
    """'3 of 50 rows have no redshift in 'zspec' (...; first at row 7: 99.0)'."""
    rows = np.flatnonzero(missing)
    first = z_spec[rows[0]]
    return (f"{rows.size} of {missing.size} rows have no redshift in {name!r} "
            f"({NO_REDSHIFT}; first at {at} {rows[0]}: {first})")


def _say_no_redshift(missing, z_spec, name, at="row", warn=True, stacklevel=3,
                     then="are skipped"):
    """Say how many rows have no redshift (``missing``) and the first, if
    any, and what ``then`` happens to them: a `PhotoZWarning`
    (``stacklevel`` counted from the caller), or through ``warn`` when it
    is a function (the command line's logger), or not at all when it is
    False."""
    if not missing.any() or warn is False:
        return
    message = _no_redshift_message(missing, z_spec, name, at) + f" and {then}"
    if callable(warn):
        warn(message)
    else:
        warnings.warn(message, PhotoZWarning, stacklevel=stacklevel + 1)


@contextlib.contextmanager
def no_redshift_said():
    """Within, the `PhotoZWarning` of rows with no redshift is not given:
    for a caller that has given it once for the table (a refit after
    tuning, a calibration after a fit)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\d+ of \d+ rows have no redshift in ",
                                category=PhotoZWarning)
        yield


def _read_redshifts(z_spec, name, at="row", warn=True, stacklevel=3, then="are skipped",
                    nothing=None):
    """`redshift_values` of ``z_spec`` (``name`` in messages), saying how
    many rows have no redshift and the first (`_say_no_redshift`, whose
    ``warn``, ``stacklevel`` and ``then`` these are); when none has one and
    ``nothing`` is given, a ValueError ending in it instead."""
    values = redshift_values(z_spec)
    missing = np.isnan(values)
    if nothing is not None and missing.size and missing.all():
        raise ValueError(_no_redshift_message(missing, z_spec, name, at) + f": {nothing}")
    _say_no_redshift(missing, z_spec, name, at, warn=warn, stacklevel=stacklevel, then=then)
    return values


def dz(z_phot, z_spec):
    """Normalised redshift error ``(z_phot - z_spec) / (1 + z_spec)``.

    Parameters
    ----------
    z_phot, z_spec : array-like
        Photometric and spectroscopic redshifts, finite and unmasked.

    Returns
    -------
    dz : ndarray of float64
        Dimensionless, one per galaxy.

    Raises
    ------
    ValueError
        An input is empty, masked or non-finite, the two differ in shape,
        or ``z_spec`` has values that are no redshift (`no_redshift`;
        `evaluate` skips those rows).

    Examples
    --------
    >>> from photoz_numba.metrics import dz
    >>> dz([1.1, 2.0], [1.0, 2.0])
    array([0.05, 0.  ])
    """
    z_phot = _as_finite(z_phot, "z_phot")
    missing = no_redshift(z_spec)
    z_spec = _spec_values(z_spec)
    if z_phot.shape != z_spec.shape:
        raise ValueError(f"z_phot and z_spec differ in shape: {z_phot.shape} "
                         f"and {z_spec.shape}")
    if missing.any():
        raise ValueError(_no_redshift_message(missing, z_spec, "z_spec", "index")
                         + ": select the rows with one first (evaluate skips them)")
    return (z_phot - z_spec) / (1.0 + z_spec)


def sigma_nmad(z_phot, z_spec):
    """Normalised median absolute deviation of dz: ``1.4826 median(|dz - median(dz)|)``.

    Parameters
    ----------
    z_phot, z_spec : array-like
        Photometric and spectroscopic redshifts (dimensionless), finite,
        unmasked and of the same shape.

    Returns
    -------
    sigma_nmad : float
        Dimensionless; the standard deviation of dz for Gaussian errors.

    Raises
    ------
    ValueError
        As for `dz`: an input is empty, masked or non-finite, or the two
        differ in shape.

    Examples
    --------
    >>> from photoz_numba.metrics import sigma_nmad
    >>> round(float(sigma_nmad([1.0, 2.1, 3.0], [1.0, 2.0, 3.1])), 5)
    0.03616
    """
    d = dz(z_phot, z_spec)
    return NMAD_SCALE * np.median(np.abs(d - np.median(d)))


def outlier_fraction(z_phot, z_spec, threshold=OUTLIER):
    """Fraction of galaxies with ``|dz| > threshold`` (0.15 by default).

    Parameters
    ----------
    z_phot, z_spec : array-like
        Photometric and spectroscopic redshifts (dimensionless), finite,
        unmasked and of the same shape.
    threshold : float, optional
        Outlier bound on ``|dz|``; > 0.

    Returns
    -------
    outlier_fraction : float
        Between 0 and 1.

    Raises
    ------
    ValueError
        ``threshold`` is not > 0, or as for `dz`: an input is empty, masked
        or non-finite, or the two differ in shape.

    Examples
    --------
    >>> from photoz_numba.metrics import outlier_fraction
    >>> float(outlier_fraction([1.0, 3.0], [1.0, 2.0]))
    0.5
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, not {threshold!r}")
    return np.mean(np.abs(dz(z_phot, z_spec)) > threshold)


def bias(z_phot, z_spec):
    """Median of dz.

    Parameters
    ----------
    z_phot, z_spec : array-like
        Photometric and spectroscopic redshifts (dimensionless), finite,
        unmasked and of the same shape.

    Returns
    -------
    bias : float
        Dimensionless; > 0 when z_phot overestimates.

    Raises
    ------
    ValueError
        As for `dz`: an input is empty, masked or non-finite, or the two
        differ in shape.

    Examples
    --------
    >>> from photoz_numba.metrics import bias
    >>> float(bias([1.1, 2.0, 3.0], [1.0, 2.0, 3.0]))
    0.0
    """
    return np.median(dz(z_phot, z_spec))


def _z_phot_flags(z_phot, z_phot_flag):
    """The rows' z_phot_flag: as given, else the ``z_phot_flag`` column of
    the Table whose column ``z_phot`` is (``out["z_phot"]``); None when
    neither."""
    if z_phot_flag is None:
        table = getattr(getattr(z_phot, "info", None), "parent_table", None)
        if (table is None or "z_phot_flag" not in table.colnames
                or len(table) != np.size(z_phot)):
            return None
        z_phot_flag = table["z_phot_flag"]
    flags = np.ma.filled(np.ma.asarray(z_phot_flag), 0)
    if flags.dtype.kind not in "iu" or flags.shape != np.shape(z_phot):
        raise ValueError(f"z_phot_flag must hold one integer flag per row of z_phot "
                         f"({np.size(z_phot)}), not {flags.dtype} of shape {flags.shape}")
    return flags


def _say_training_twins(z_phot_flag, what="rows evaluated", warn=True, stacklevel=3):
    """Say how many of the rows of ``z_phot_flag`` (``what`` they are) are
    flagged ``training_twin``, if any: their figures are those of the
    training set. A `PhotoZWarning` (``stacklevel`` counted from the
    caller), or through ``warn`` when it is a function (the command
    line's logger)."""
    from .flags import TRAINING_TWIN
    if z_phot_flag is None:
        return
    twins = int(((np.asarray(z_phot_flag) & TRAINING_TWIN) != 0).sum())
    if not twins:
        return
    message = (f"{twins} of the {np.size(z_phot_flag)} {what} are flagged training_twin "
               f"(512): training galaxies predicted from themselves, each its own nearest "
               f"neighbour, so their figures are those of the training set, not of new "
               f"galaxies (predict the training galaxies out of fold: "
               f"photoz_numba.validation.cross_val_predict)")
    if callable(warn):
        warn(message)
    else:
        warnings.warn(message, PhotoZWarning, stacklevel=stacklevel + 1)


def _with_redshift(z_phot, z_spec, z_phot_flag=None):
    """The pairs whose z_spec is a redshift; warns of the others, and of
    the training twins among them (`_z_phot_flags`)."""
    flags = _z_phot_flags(z_phot, z_phot_flag)
    z_phot = np.ma.asarray(z_phot)
    if np.shape(z_phot) != np.shape(z_spec):
        raise ValueError(f"z_phot and z_spec differ in shape: {np.shape(z_phot)} and "
                         f"{np.shape(z_spec)}")
    values = _read_redshifts(_spec_values(z_spec), "z_spec", "index", stacklevel=4,
                             nothing="nothing to evaluate")
    has_z = ~np.isnan(values)
    _say_training_twins(None if flags is None else flags[has_z], stacklevel=3)
    return z_phot[has_z], values[has_z]


def evaluate(z_phot, z_spec, threshold=OUTLIER, z_phot_flag=None):
    """All three metrics and the count, as a dict.

    Rows whose ``z_spec`` is no redshift (`no_redshift`: masked, not
    finite, or a sentinel such as 99) are skipped, with a `PhotoZWarning`
    that says how many and the first. Rows evaluated that are flagged
    ``training_twin`` (`photoz_numba.flags`: training galaxies predicted
    from themselves) are counted in another: their figures are those of
    the training set.

    Parameters
    ----------
    z_phot, z_spec : array-like
        Photometric and spectroscopic redshifts (dimensionless) of the
        same shape; ``z_phot`` finite and unmasked.
    threshold : float, optional
        Outlier bound on ``|dz|`` for the outlier fraction; > 0.
    z_phot_flag : array-like of int, optional
        The rows' ``z_phot_flag``; by default, when ``z_phot`` is a column
        of a Table that has one (``out["z_phot"]`` of
        `~photoz_numba.PhotoZModel.predict`), that column.

    Returns
    -------
    metrics : dict
        ``n`` (the rows evaluated), ``sigma_nmad``, ``outlier_fraction``
        and ``bias``.

    Raises
    ------
    ValueError
        As for `outlier_fraction`.

    Examples
    --------
    >>> from photoz_numba.metrics import evaluate
    >>> evaluate([1.0, 3.0], [1.0, 2.0])["outlier_fraction"]
    0.5
    >>> metrics = evaluate([1.02, 2.1, 2.9, 4.0], [1.0, 2.0, 3.0, 3.1])
    >>> print(", ".join(f"{name} = {value:.4g}" for name, value in metrics.items()))
    n = 4, sigma_nmad = 0.04324, outlier_fraction = 0.25, bias = 0.02167
    """
    z_phot, z_spec = _with_redshift(z_phot, z_spec, z_phot_flag)
    return {"n": int(np.size(z_phot)),
            "sigma_nmad": float(sigma_nmad(z_phot, z_spec)),
            "outlier_fraction": float(outlier_fraction(z_phot, z_spec, threshold)),
            "bias": float(bias(z_phot, z_spec))}


#: The paper's redshift bins: unit bins from 0 to 7, where its sample ends
#: (`evaluate_by_z`'s default bins end at the highest z_spec, 7 at most).
Z_BINS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0)


def evaluate_by_z(z_phot, z_spec, edges=None, threshold=OUTLIER, z_phot_flag=None):
    """`evaluate` in bins of the spectroscopic redshift.

    Global figures hide the high-redshift end, where few galaxies lie:
    these give each bin its own.

    Parameters
    ----------
    z_phot, z_spec : array-like
        As for `evaluate`.
    edges : sequence of float, optional
        Increasing bin edges; galaxies with ``edges[i] <= z_spec <
        edges[i + 1]`` are in bin i (the last bin includes its upper edge).
        Galaxies outside every bin are left out. By default, unit bins
        from 0 to the highest ``z_spec`` rounded up, at most `Z_BINS` (0
        to 7, on the paper's catalogue; 0 to 3 on the LSST-like one).
        Rows whose ``z_spec`` is no redshift are skipped, as by
        `evaluate`.
    threshold : float, optional
        Outlier bound on ``|dz|``.
    z_phot_flag : array-like of int, optional
        As for `evaluate`: training twins are warned of once, not per bin.

    Returns
    -------
    rows : `~astropy.table.Table`
        One row per bin: ``z_low``, ``z_high``, ``n``, ``sigma_nmad``,
        ``outlier_fraction`` and ``median_dz``, the median of dz (what
        `evaluate` calls ``bias``; NaN in an empty bin).

    Raises
    ------
    ValueError
        Edges that are not increasing, or as for `evaluate`.

    Examples
    --------
    >>> from photoz_numba.metrics import evaluate_by_z
    >>> rows = evaluate_by_z([0.5, 0.52, 1.5, 3.0], [0.5, 0.5, 1.6, 1.2], edges=[0, 1, 2])
    >>> print([int(n) for n in rows["n"]], [float(f) for f in rows["outlier_fraction"]])
    [2, 2] [0.0, 0.5]
    """
    from astropy.table import Table
    z_phot, z_spec = _with_redshift(z_phot, z_spec, z_phot_flag)
    z_phot = _as_finite(z_phot, "z_phot")
    if edges is None:
        top = np.clip(np.ceil(z_spec.max()), 1.0, Z_BINS[-1]) if z_spec.size else 1.0
        edges = np.arange(0.0, top + 1.0)
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
        raise ValueError(f"edges must be at least two increasing numbers, not {edges}")
    rows = []
    for i, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        last = i == edges.size - 2
        inside = (z_spec >= low) & ((z_spec <= high) if last else (z_spec < high))
        n = int(inside.sum())
        if n:
            figures = evaluate(z_phot[inside], z_spec[inside], threshold)
            figures["median_dz"] = figures.pop("bias")
        else:
            figures = dict.fromkeys(("sigma_nmad", "outlier_fraction", "median_dz"), np.nan)
        rows.append({"z_low": low, "z_high": high, "n": n,
                     **{name: figures[name] for name in ("sigma_nmad", "outlier_fraction",
                                                         "median_dz")}})
    return Table(rows=rows, names=("z_low", "z_high", "n", "sigma_nmad", "outlier_fraction",
                                   "median_dz"))
