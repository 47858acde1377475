# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
From unit-aware Table columns to AB magnitudes and colours.

Units are checked and stripped here, at the entry point, so that the
kernels only ever see plain ``float64`` arrays.
"""

import numpy as np
from astropy import units as u
from astropy.table import Table

__all__ = ["MISSING_SENTINEL", "DEFAULT_SENTINELS", "resolve_sentinels", "STATE_MEASURED",
           "STATE_MISSING", "STATE_NONDETECTION",
           "check_table", "band_magnitudes", "asinh_magnitude", "lupton_softening",
           "adjacent_colours", "colour_names", "check_plausible_fluxes"]

#: Value that catalogues use for "no measurement" (as the paper's does).
MISSING_SENTINEL = -99.0

#: Values that catalogues write instead of a measurement, by kind of band
#: column, and what each stands for: 99 mag is the non-detection value of
#: SExtractor and of many catalogues, -99 (mag or flux, as in the paper's
#: catalogue) no measurement. A flux of 99 is a measurement. Compared with
#: a column's values in its own unit, before any conversion. Override per
#: model with ``PhotoZModel(..., sentinels=...)`` (`resolve_sentinels`).
DEFAULT_SENTINELS = {"magnitude": {99.0: "nondetection", -99.0: "missing"},
                     "flux": {-99.0: "missing"}}
_SENTINEL_STATES = ("missing", "nondetection")

# Zero point of AB magnitudes for fluxes in microjansky: 3631 Jy.
_AB_ZEROPOINT_UJY = 23.9

# Per-band measurement state of each row (`band_magnitudes`).
STATE_MEASURED = 0
STATE_MISSING = 1
STATE_NONDETECTION = 2


def check_table(table):
    """Raise unless ``table`` is an astropy Table with at least one row.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from photoz_numba.photometry import check_table
    >>> check_table(Table({"g": [25.0]}))
    >>> check_table([25.0])
    Traceback (most recent call last):
    ...
    TypeError: expected an astropy Table, not list
    """
    if not isinstance(table, Table):
        raise TypeError(f"expected an astropy Table, not {type(table).__name__}")
    if len(table) == 0:
        raise ValueError("the table has no rows")


def other_case(missing, colnames):
    """"; in another case: g is 'G' (map each band ...)" for the names of
    ``missing`` that ``colnames`` holds in another case (FITS compares
    names ignoring case, the package does not); "" for none."""
    by_case = {name.lower(): name for name in colnames}
    found = {name: by_case[name.lower()] for name in missing if name.lower() in by_case}
    if not found:
        return ""
    return ("; in another case: " + ", ".join(f"{name} is {column!r}"
                                              for name, column in found.items())
            + " (map each band to its column: --band BAND=COLUMN, or columns=)")


#: Said of band columns not found when no other hint fits.
RENAMED_HINT = ("; a band in a column of another name is mapped to it with "
                "--band BAND=COLUMN (columns= in Python)")
#: The same, of columns that may be bands' or their errors'.
RENAMED_OR_ERROR_HINT = (RENAMED_HINT + "; a band's error column is named at fit "
                         "(--error BAND=COLUMN, error_columns= in Python)")


def _missing_band_column(colname, colnames):
    return KeyError(f"band column {colname!r} is not in the table (columns: "
                    f"{', '.join(colnames)})" + (other_case([colname], colnames)
                                                 or RENAMED_HINT))


def _resolve_unit(column, colname, unit):
    """The unit to read ``column`` in: its own, or the stated one for a
    column without one; a stated unit that differs from the column's own
    is an error."""
    own = getattr(column, "unit", None)
    if isinstance(own, u.UnrecognizedUnit):
        raise u.UnitsError(
            f"column {colname!r} has the unit {own.name!r}, which astropy does not "
            f"recognise: correct the column's unit (e.g. 'uJy', 'nJy' or u.ABmag), or "
            f"remove it and state the unit with units={{band: unit}}")
    if unit is None:
        if own is None:
            raise u.UnitsError(
                f"column {colname!r} has no unit; give the column a unit "
                f"(e.g. table[{colname!r}].unit = 'uJy' or u.ABmag) or state it "
                f"with units={{band: unit}}")
        return own
    try:
        stated = u.Unit(unit)
    except (ValueError, TypeError) as exc:
        # Magnitude units such as 'ABmag' are astropy attributes, not
        # parseable unit strings.
        stated = getattr(u, unit, None) if isinstance(unit, str) else None
        if not isinstance(stated, u.FunctionUnitBase):
            raise u.UnitsError(f"unit {unit!r} stated for column {colname!r} is not "
                               f"a valid unit: {exc}") from None
    if own is not None and stated != own:
        raise u.UnitsError(
            f"column {colname!r} has the unit {own}, and {unit} is stated for it "
            f"(units=); a stated unit is for a column without one: drop it, or "
            f"correct the column's unit")
    return stated


#: No galaxy of a photometric-redshift catalogue is brighter than AB
#: magnitude 0 (3631 Jy), in uJy.
_BRIGHTEST_UJY = 3.631e9


def check_plausible_fluxes(mag, measured, columns, units):
    """UnitsError when most of a flux band's measured values are brighter
    than AB magnitude 0, which no galaxy of a photometric-redshift
    catalogue is: the column is not in its unit (typically magnitudes read
    in astropy's 'AB', the flux of the AB zero point). Checked on a
    training table (`~photoz_numba.PhotoZModel.fit`), whole, whose units a
    model file then keeps.

    Parameters
    ----------
    mag : ndarray (n_rows, n_bands)
        AB magnitudes of the bands (`band_magnitudes`).
    measured : ndarray of bool (n_rows, n_bands)
        Where a band is measured.
    columns : list of str
        The band columns.
    units : list of `~astropy.units.UnitBase`
        The unit each column is read in.
    """
    for b, (colname, unit) in enumerate(zip(columns, units)):
        if _is_magnitude(unit):
            continue
        flux = 10.0 ** (-0.4 * (mag[measured[:, b], b] - 23.9))     # uJy
        if flux.size and np.median(flux) > _BRIGHTEST_UJY:
            median = (np.median(flux) * u.uJy).to(unit)
            raise u.UnitsError(
                f"column {colname!r} read in {unit} gives most rows a flux brighter than "
                f"AB magnitude 0 (median {median:.4g}), which no galaxy has: is it in "
                f"another unit? AB magnitudes are 'ABmag' or 'mag(AB)'; astropy's 'AB' "
                f"is the flux of the AB zero point (3631 Jy)")


def _is_magnitude(unit):
    return isinstance(unit, u.FunctionUnitBase)


def _values_and_mask(column, colname):
    """Plain float values and a mask of 'no measurement' entries."""
    mask = np.ma.getmaskarray(column)
    data = column.value if isinstance(column, u.Quantity) else column
    data = np.ma.getdata(data)
    if data.ndim != 1:
        raise ValueError(f"column {colname!r} must be one-dimensional, "
                         f"not of shape {data.shape}")
    try:
        values = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"column {colname!r} must hold numbers, not "
                        f"{data.dtype}") from None
    missing = mask | ~np.isfinite(values)
    return values, missing


def resolve_sentinels(sentinels=None):
    """The sentinel values in force: `DEFAULT_SENTINELS`, with the kinds
    that ``sentinels`` gives replaced.

    Parameters
    ----------
    sentinels : dict or None
        ``{"magnitude": {value: state}, "flux": {value: state}}``, either
        key optional, each state ``"missing"`` or ``"nondetection"``; an
        empty dict for a kind means no sentinels for it.

    Returns
    -------
    sentinels : dict
        Both kinds, values as floats.

    Raises
    ------
    ValueError
        An unknown kind, a value that is not a finite number or a state
        that is not one of the two.

    Examples
    --------
    >>> from photoz_numba.photometry import resolve_sentinels
    >>> resolve_sentinels({"magnitude": {99.99: "nondetection"}})
    {'magnitude': {99.99: 'nondetection'}, 'flux': {-99.0: 'missing'}}
    """
    resolved = {kind: dict(values) for kind, values in DEFAULT_SENTINELS.items()}
    if sentinels is None:
        return resolved
    if not isinstance(sentinels, dict):
        raise TypeError(f"sentinels must be a dict such as {DEFAULT_SENTINELS}, not "
                        f"{type(sentinels).__name__}")
    unknown = sorted(set(sentinels) - set(DEFAULT_SENTINELS))
    if unknown:
        raise ValueError(f"sentinels has unknown kind(s) {unknown}: the kinds are "
                         f"'magnitude' and 'flux'")
    for kind, values in sentinels.items():
        if not isinstance(values, dict):
            raise TypeError(f"sentinels[{kind!r}] must be a dict of value -> state, not "
                            f"{type(values).__name__}")
        resolved[kind] = {}
        for value, state in values.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = np.nan
            if not np.isfinite(number) or isinstance(value, bool):
                raise ValueError(f"sentinels[{kind!r}] has {value!r}, which is not a "
                                 f"finite number")
            if state not in _SENTINEL_STATES:
                raise ValueError(f"sentinels[{kind!r}][{value!r}] must be 'missing' or "
                                 f"'nondetection', not {state!r}")
            resolved[kind][number] = state
    return resolved


def _sentinel_hits(values, unflagged, sentinels):
    """Rows holding a 'missing' and a 'nondetection' sentinel value."""
    missing = np.zeros(values.shape, dtype=bool)
    nondetection = np.zeros(values.shape, dtype=bool)
    for value, state in sentinels.items():
        hit = unflagged & (values == value)
        (missing if state == "missing" else nondetection)[hit] = True
    return missing, nondetection


def asinh_magnitude(flux, softening):
    """Asinh magnitudes (Lupton, Gunn & Szalay 1999) of fluxes in uJy.

    ``m = 23.9 - (2.5 / ln 10) [asinh(f / 2b) + ln b]`` with ``f`` and the
    softening ``b`` in uJy: the AB magnitude where ``f >> b``, and finite
    for faint, zero and negative fluxes, whose information it keeps.

    Examples
    --------
    >>> import numpy as np
    >>> from photoz_numba.photometry import asinh_magnitude
    >>> print(np.round(asinh_magnitude(np.array([1000.0, 0.0, -0.01]), 0.01), 3))
    [16.4   28.9   29.422]
    """
    scaled = np.arcsinh(flux / (2 * softening)) + np.log(softening)
    return _AB_ZEROPOINT_UJY - 2.5 / np.log(10) * scaled


def softening_by_band(softening, bands):
    """A model's ``softening`` (None, one flux density for all bands, or a
    dict keyed by band) as floats in uJy keyed by band ({} for None).

    Raises
    ------
    ValueError
        A key that is not one of ``bands``, or a value that is not one
        finite flux density > 0 (the message names the band).
    """
    if softening is None:
        return {}
    if not isinstance(softening, dict):
        softening = {band: softening for band in bands}
    unknown = set(softening) - set(bands)
    if unknown:
        raise ValueError(f"softening names bands that are not in bands: {sorted(unknown)}")
    values = {}
    for band, value in softening.items():
        try:
            flux = u.Quantity(value).to_value(u.uJy)
        except (TypeError, u.UnitsError):
            raise ValueError(f"softening of band {band!r} must be a flux density "
                             f"(e.g. 1 * u.nJy), not {value!r}") from None
        if not (np.ndim(flux) == 0 and np.isfinite(flux) and flux > 0):
            raise ValueError(f"softening of band {band!r} must be one finite flux "
                             f"density > 0, not {value!r}")
        values[band] = float(flux)
    return values


def lupton_softening(table, columns, errors=None, units=None):
    """Softening of each band's asinh magnitudes from a table's flux errors.

    Lupton, Gunn & Szalay (1999) recommend ``b = 1.042 sigma``, sigma the
    typical flux error: here the median error of each band over the rows
    that have one.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Catalogue with flux columns and their errors (training galaxies,
        typically).
    columns : dict or list of str
        Band name -> flux column; or a list of flux columns, each its own
        band's name (as `~photoz_numba.PhotoZModel`'s ``bands`` without
        ``columns``).
    errors : dict, optional
        Band name -> error column; by default the flux column + ``'_err'``.
    units : unit, str or dict, optional
        Unit of the flux columns without one: one for all bands, or band
        name -> unit (as `~photoz_numba.PhotoZModel`'s ``units``); an
        error column without a unit is in its flux column's.

    Returns
    -------
    softening : dict
        Band name -> softening, a `~astropy.units.Quantity` in uJy, as
        `~photoz_numba.PhotoZModel`'s ``softening`` takes it.

    Raises
    ------
    TypeError
        ``columns`` is neither a dict nor a list of column names.
    KeyError
        A flux or error column is not in the table.
    ValueError
        A band is in magnitudes, or has no usable error (all masked, NaN or
        <= 0).

    Examples
    --------
    >>> from astropy import units as u
    >>> from astropy.table import Table
    >>> from photoz_numba.photometry import lupton_softening
    >>> table = Table({"g": [1.0, 2.0, -0.5] * u.nJy, "g_err": [0.5, 1.0, 2.0] * u.nJy})
    >>> lupton_softening(table, {"g": "g"})["g"].to(u.nJy)
    <Quantity 1.042 nJy>
    """
    if isinstance(columns, (list, tuple)) and all(isinstance(name, str) for name in columns):
        columns = {name: name for name in columns}
    elif not isinstance(columns, dict):
        given = f"str {columns!r}" if isinstance(columns, str) else type(columns).__name__
        raise TypeError(f"columns must be a dict of band -> flux column, or a list of "
                        f"flux columns, not {given}")
    check_table(table)      # (no rows: said as such, not as errors that are not > 0)
    softening = {}
    for band, colname in columns.items():
        name = (errors or {}).get(band, f"{colname}_err")
        if colname not in table.colnames:
            raise _missing_band_column(colname, table.colnames)
        stated = units.get(band) if isinstance(units, dict) else units
        # A band in magnitudes is refused before its error column is looked
        # for; a band without a unit is asked for one after.
        unit = None
        if stated is not None or getattr(table[colname], "unit", None) is not None:
            unit = _resolve_unit(table[colname], colname, stated)
            if _is_magnitude(unit):
                raise ValueError(f"asinh magnitudes (softening) are made from fluxes and "
                                 f"apply only to flux columns: band {band!r} (column "
                                 f"{colname!r}) is in magnitudes ({unit})")
        if name not in table.colnames:
            raise KeyError(f"asinh magnitudes take their softening from the flux "
                           f"errors: the error column {name!r} of band {band!r} is not "
                           f"in the table; name the error columns with "
                           f"errors={{band: column}}")
        if unit is None:
            unit = _resolve_unit(table[colname], colname, stated)   # raises: no unit
        err = _errors(table, {colname: name}, colname, unit, u.uJy)
        if not np.isfinite(err).any():
            raise ValueError(f"error column {name!r} of band {band!r} has no usable "
                             f"error (> 0): no softening can be taken from it")
        softening[band] = 1.042 * np.nanmedian(err) * u.uJy
    return softening


def band_magnitudes(table, columns, units=None, snr_min=None, errors=None,
                    sentinels=None, softening=None):
    """AB magnitudes and measurement states of the band columns of a table.

    Parameters
    ----------
    table : `~astropy.table.Table` or `~astropy.table.QTable`
        The catalogue.
    columns : list of str
        Column names, one per band, in band order.
    units : dict, optional
        Unit to read each column in, keyed by column name; overrides the
        column's own unit and is required for columns without one.
    snr_min : float, optional
        Signal-to-noise ratio below which a measurement counts as a
        non-detection. Needs ``errors``.
    errors : dict, optional
        Error column of each band column (same unit as the band column
        unless it has its own; for magnitudes, an error in magnitudes,
        S/N = 1.0857 / error). Entries without a usable error are kept.
    sentinels : dict, optional
        Values standing for no measurement or no detection, by kind of
        column (see `resolve_sentinels`); default `DEFAULT_SENTINELS`:
        99 mag a non-detection, -99 mag and -99 flux missing.
    softening : dict, optional
        Softening in uJy (a float) of band columns, keyed by column name:
        those get asinh magnitudes (`asinh_magnitude`), and a flux <= 0 is
        a measurement like any other. A magnitude column's magnitudes are
        turned into fluxes, then into the same asinh magnitudes (its
        non-detections, such as 99 mag, hold no flux and stay
        non-detections).

    Returns
    -------
    mag : ndarray of float64, shape (n_rows, n_bands)
        AB magnitudes; NaN where the band has no usable measurement.
    state : ndarray of int8, shape (n_rows, n_bands)
        0 measured, 1 missing (masked, NaN, infinite or a 'missing'
        sentinel such as -99), 2 not detected (flux <= 0, a
        'nondetection' sentinel such as 99 mag, or S/N below ``snr_min``).

    Raises
    ------
    KeyError
        A column is absent from the table, or (with ``snr_min``) its error
        column.
    astropy.units.UnitsError
        A column has no unit and none is stated, or its unit is neither a
        spectral flux density per unit frequency nor an AB magnitude.
    ValueError
        A column is not one-dimensional.
    TypeError
        A column does not hold numbers.

    Examples
    --------
    Fluxes in any spectral flux density unit are converted to AB
    magnitudes (3.631 uJy is 22.5 ABmag); -99 is a missing value and a
    flux <= 0 a non-detection:

    >>> import numpy as np
    >>> from astropy import units as u
    >>> from astropy.table import Table
    >>> from photoz_numba.photometry import band_magnitudes
    >>> table = Table({"f150w": [3.631, 1.0, -99.0] * u.uJy,
    ...                "f444w": [3631.0, -2.0, 10.0] * u.nJy})
    >>> mag, state = band_magnitudes(table, ["f150w", "f444w"])
    >>> print(np.round(mag, 3))
    [[22.5 22.5]
     [23.9  nan]
     [ nan 28.9]]
    >>> print(state)
    [[0 0]
     [0 2]
     [1 0]]
    """
    units = units or {}
    sentinels = resolve_sentinels(sentinels)
    n_rows = len(table)
    mag = np.full((n_rows, len(columns)), np.nan)
    state = np.zeros((n_rows, len(columns)), dtype=np.int8)
    for b, colname in enumerate(columns):
        if colname not in table.colnames:
            raise _missing_band_column(colname, table.colnames)
        column = table[colname]
        unit = _resolve_unit(column, colname, units.get(colname))
        values, missing = _values_and_mask(column, colname)
        soft = (softening or {}).get(colname)
        if _is_magnitude(unit):
            try:
                converted = (values * unit).to_value(u.ABmag)
            except u.UnitsError:
                raise u.UnitsError(
                    f"column {colname!r} is in {unit}, which cannot be "
                    f"converted to AB magnitudes") from None
            absent, undetected = _sentinel_hits(values, ~missing, sentinels["magnitude"])
            missing |= absent
            detected = ~missing & ~undetected
            if snr_min is not None:
                snr = 1.0857 / _errors(table, errors, colname, u.mag, u.mag)
                detected &= ~(snr < snr_min)
            if soft:
                # The same asinh magnitude as the band's flux would give.
                with np.errstate(over="ignore", invalid="ignore"):
                    converted = asinh_magnitude(
                        10.0 ** (-0.4 * (converted - _AB_ZEROPOINT_UJY)), soft)
        else:
            try:
                flux = (values * unit).to_value(u.uJy)
            except u.UnitsError:
                hint = (" (AB magnitudes are 'ABmag' or 'mag(AB)')"
                        if unit == u.mag else "")
                raise u.UnitsError(
                    f"column {colname!r} is in {unit}, which is not a spectral "
                    f"flux density per unit frequency (e.g. uJy, nJy, "
                    f"erg s-1 cm-2 Hz-1) nor an AB magnitude{hint}") from None
            absent, undetected = _sentinel_hits(values, ~missing, sentinels["flux"])
            missing |= absent
            detected = ~missing & ~undetected & (np.isfinite(flux) if soft else flux > 0)
            if snr_min is not None:
                snr = flux / _errors(table, errors, colname, unit, u.uJy)
                detected &= ~(snr < snr_min)   # NaN S/N (no error): kept
            with np.errstate(divide="ignore", invalid="ignore"):
                converted = (asinh_magnitude(flux, soft) if soft
                             else _AB_ZEROPOINT_UJY - 2.5 * np.log10(flux))
        state[~missing & ~detected, b] = STATE_NONDETECTION
        state[missing, b] = STATE_MISSING
        mag[detected, b] = converted[detected]
    return mag, state


def _errors(table, errors, colname, band_unit, to_unit):
    """Errors of a band column in ``to_unit``; NaN where unusable.

    An error column without a unit is taken in its band column's unit.
    """
    name = (errors or {}).get(colname)
    if name is None or name not in table.colnames:
        raise KeyError(f"snr_min needs the error column of {colname!r}: "
                       f"{name!r} is not in the table; name it with errors=...")
    column = table[name]
    unit = getattr(column, "unit", None) or band_unit
    values, missing = _values_and_mask(column, name)
    if _is_magnitude(unit):   # an error in magnitudes is a plain difference
        unit = u.mag
    try:
        err = (values * unit).to_value(to_unit)
    except u.UnitsError:
        raise u.UnitsError(f"error column {name!r} is in {unit}, which does not "
                           f"convert to {to_unit}") from None
    err[missing | ~(err > 0)] = np.nan
    return err


def band_errors(table, errors, units=None):
    """Flux errors of band columns in uJy (magnitude errors for magnitude
    columns), NaN where masked, NaN or <= 0.

    Parameters
    ----------
    table : `~astropy.table.Table`
        The catalogue.
    errors : dict
        Error column of each band column, in band order.
    units : dict, optional
        Stated unit of band columns without one, keyed by column name.

    Returns
    -------
    errors : ndarray of float64, shape (n_rows, n_bands)

    Raises
    ------
    KeyError
        An error column is not in the table (the message names it).
    """
    units = units or {}
    out = np.full((len(table), len(errors)), np.nan)
    for b, (colname, name) in enumerate(errors.items()):
        unit = _resolve_unit(table[colname], colname, units.get(colname))
        if _is_magnitude(unit):
            out[:, b] = _errors(table, errors, colname, u.mag, u.mag)
        else:
            out[:, b] = _errors(table, errors, colname, unit, u.uJy)
    return out


def adjacent_colours(mag):
    """Colours ``mag[:, i] - mag[:, i + 1]`` of adjacent bands.

    Parameters
    ----------
    mag : ndarray, shape (n_rows, n_bands)
        AB magnitudes (plain floats, in mag), bands in wavelength order, as
        returned by `band_magnitudes`.

    Returns
    -------
    colours : ndarray, shape (n_rows, n_bands - 1)
        Colours in mag; NaN where either band is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from photoz_numba.photometry import adjacent_colours
    >>> mag = np.array([[25.0, 24.5, 24.25],
    ...                 [23.0, np.nan, 22.0]])
    >>> print(adjacent_colours(mag))
    [[0.5  0.25]
     [ nan  nan]]
    """
    return mag[:, :-1] - mag[:, 1:]


def colour_names(bands):
    """Names of the adjacent colours, e.g. ``'f435w-f606w'``.

    Parameters
    ----------
    bands : sequence of str
        Band names, in wavelength order.

    Returns
    -------
    names : list of str
        ``'<band i>-<band i+1>'`` for each adjacent pair, in the order of
        the columns of `adjacent_colours`.

    Examples
    --------
    >>> from photoz_numba.photometry import colour_names
    >>> colour_names(["f150w", "f277w", "f444w"])
    ['f150w-f277w', 'f277w-f444w']
    """
    return [f"{a}-{b}" for a, b in zip(bands[:-1], bands[1:])]
