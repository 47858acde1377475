"""Unit-aware photometry: every flux density unit and AB magnitudes agree.

Reference tests compare with AB magnitudes computed from the definition
(Oke & Gunn 1983) or by hand; the others are contracts (errors naming the
column, states of missing and undetected bands).
"""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import MaskedColumn, QTable, Table

from photoz_numba.photometry import (STATE_MEASURED, STATE_MISSING, STATE_NONDETECTION,
                                     adjacent_colours, band_magnitudes)

FLUX_UJY = np.array([1.0, 3631e6, 0.25, 10.0])
# AB magnitudes of those fluxes from the definition (Oke & Gunn 1983):
# m = -2.5 log10(f / (erg s-1 cm-2 Hz-1)) - 48.60, with 1 uJy = 1e-29 cgs.
EXPECTED_MAG = -2.5 * np.log10(FLUX_UJY * 1e-29) - 48.60


@pytest.mark.parametrize("unit", [u.uJy, u.nJy, u.Jy, u.mJy,
                                  u.erg / u.s / u.cm ** 2 / u.Hz,
                                  u.W / u.m ** 2 / u.Hz])
@pytest.mark.reference
def test_flux_units_give_ab_magnitudes(unit):
    """Reference: analytic AB magnitudes from the definition (Oke & Gunn 1983)."""
    table = Table({"f": (FLUX_UJY * u.uJy).to(unit)})
    mag, state = band_magnitudes(table, ["f"])
    np.testing.assert_allclose(mag[:, 0], EXPECTED_MAG, rtol=0, atol=1e-10)
    assert (state == STATE_MEASURED).all()


@pytest.mark.reference
def test_ab_magnitude_columns_are_taken_as_they_are():
    """Reference: analytic AB magnitudes from the definition (Oke & Gunn 1983)."""
    table = QTable({"m": EXPECTED_MAG * u.ABmag})
    mag, state = band_magnitudes(table, ["m"])
    np.testing.assert_allclose(mag[:, 0], EXPECTED_MAG, rtol=0, atol=1e-12)
    table = Table({"m": EXPECTED_MAG})
    table["m"].unit = u.ABmag
    np.testing.assert_allclose(band_magnitudes(table, ["m"])[0][:, 0], EXPECTED_MAG)


def test_qtable_and_table_agree():
    qtable = QTable({"f": FLUX_UJY * u.nJy})
    table = Table({"f": FLUX_UJY})
    table["f"].unit = "nJy"
    np.testing.assert_array_equal(band_magnitudes(qtable, ["f"])[0],
                                  band_magnitudes(table, ["f"])[0])


def test_unitless_column_is_an_error_naming_it():
    table = Table({"F444W_FLUX": FLUX_UJY})
    with pytest.raises(u.UnitsError, match="'F444W_FLUX' has no unit"):
        band_magnitudes(table, ["F444W_FLUX"])


@pytest.mark.reference
def test_stated_unit_for_a_unitless_column():
    """Reference: analytic AB magnitudes from the definition (Oke & Gunn 1983)."""
    table = Table({"f": FLUX_UJY * 1000})
    mag, _ = band_magnitudes(table, ["f"], units={"f": "nJy"})
    np.testing.assert_allclose(mag[:, 0], EXPECTED_MAG, atol=1e-10)


@pytest.mark.parametrize("unit", [u.erg / u.s / u.cm ** 2 / u.AA, u.m, u.mag])
def test_wrong_units_are_errors_naming_column(unit):
    table = QTable({"band_x": np.ones(3) * unit})
    with pytest.raises(u.UnitsError, match="band_x"):
        band_magnitudes(table, ["band_x"])


def test_invalid_stated_unit_names_column():
    table = Table({"f": FLUX_UJY})
    with pytest.raises(u.UnitsError, match="'f'"):
        band_magnitudes(table, ["f"], units={"f": "not-a-unit"})


def test_missing_and_nondetections():
    values = np.array([1.0, np.nan, -99.0, 0.0, -0.5, 2.0, np.inf])
    column = MaskedColumn(values, unit=u.uJy, mask=[0, 0, 0, 0, 0, 1, 0])
    mag, state = band_magnitudes(Table({"f": column}), ["f"])
    np.testing.assert_array_equal(
        state[:, 0], [STATE_MEASURED, STATE_MISSING, STATE_MISSING, STATE_NONDETECTION,
                      STATE_NONDETECTION, STATE_MISSING, STATE_MISSING])
    assert mag[0, 0] == pytest.approx(23.9)
    assert np.isnan(mag[1:, 0]).all()


def test_missing_sentinel_in_magnitudes():
    table = Table({"m": [-99.0, 25.0]})
    mag, state = band_magnitudes(table, ["m"], units={"m": u.ABmag})
    np.testing.assert_array_equal(state[:, 0], [STATE_MISSING, STATE_MEASURED])


def test_absent_column_is_named():
    with pytest.raises(KeyError, match="'f999w'"):
        band_magnitudes(Table({"f": FLUX_UJY * u.uJy}), ["f999w"])


def test_non_numeric_column_is_named():
    table = Table({"f": ["a", "b"]})
    with pytest.raises(TypeError, match="'f'"):
        band_magnitudes(table, ["f"], units={"f": u.uJy})


@pytest.mark.reference
def test_adjacent_colours():
    """Reference: analytic, colours computed by hand."""
    mag = np.array([[20.0, 21.0, 23.0]])
    np.testing.assert_array_equal(adjacent_colours(mag), [[-1.0, -2.0]])


@pytest.mark.parametrize("name", ["ABmag", "mag(AB)"])
def test_magnitude_unit_by_name(name):
    """Contract: a magnitude unit given by name is taken as AB magnitudes."""
    table = Table({"m": EXPECTED_MAG})
    mag, _ = band_magnitudes(table, ["m"], units={"m": name})
    np.testing.assert_allclose(mag[:, 0], EXPECTED_MAG)


def test_snr_threshold_makes_nondetections():
    table = Table({"f": [10.0, 10.0, 10.0, 10.0], "f_err": [1.0, 4.0, np.nan, -1.0]})
    table["f"].unit = u.nJy                 # the unitless error is in nJy too
    mag, state = band_magnitudes(table, ["f"], snr_min=3, errors={"f": "f_err"})
    # S/N 10 kept, 2.5 dropped; no usable error (NaN, <= 0): kept.
    np.testing.assert_array_equal(state[:, 0], [STATE_MEASURED, STATE_NONDETECTION,
                                                STATE_MEASURED, STATE_MEASURED])
    assert np.isnan(mag[1, 0]) and np.isfinite(mag[0, 0])
    table["f_err"].unit = u.uJy             # an error column's own unit wins
    _, state = band_magnitudes(table, ["f"], snr_min=3, errors={"f": "f_err"})
    np.testing.assert_array_equal(state[:, 0], [STATE_NONDETECTION, STATE_NONDETECTION,
                                                STATE_MEASURED, STATE_MEASURED])


@pytest.mark.reference
def test_snr_threshold_for_magnitudes():
    """Reference: analytic, S/N = 2.5 / ln(10) / sigma_m = 1.0857 / sigma_m."""
    table = QTable({"m": [24.0, 24.0] * u.ABmag, "m_err": [0.1, 0.5] * u.mag})
    _, state = band_magnitudes(table, ["m"], snr_min=3, errors={"m": "m_err"})
    # S/N = 1.0857 / err: 10.9 and 2.2.
    np.testing.assert_array_equal(state[:, 0], [STATE_MEASURED, STATE_NONDETECTION])


def test_snr_threshold_needs_the_error_column():
    table = Table({"f": [1.0] * u.uJy})
    with pytest.raises(KeyError, match="'f_err' is not in the table"):
        band_magnitudes(table, ["f"], snr_min=3, errors={"f": "f_err"})


@pytest.mark.reference
def test_asinh_magnitudes_follow_lupton_1999():
    """Reference: Lupton, Gunn & Szalay (1999), eq. 2 with m0 the AB zero
    point: m = -(2.5 / ln 10) [asinh((f / f0) / 2b') + ln b'], b' = b / f0,
    f0 the flux of magnitude 0 (10^(-48.60 / 2.5) erg s-1 cm-2 Hz-1, Oke &
    Gunn 1983); for f >> b it is the AB magnitude."""
    flux = np.array([-3.0, -0.01, 0.0, 0.02, 1.0, 10 ** (23.9 / 2.5)])   # uJy
    soft = 0.05
    f0 = 10 ** (48.60 / -2.5) / 1e-29     # uJy
    expected = -2.5 / np.log(10) * (np.arcsinh((flux / f0) / (2 * soft / f0))
                                    + np.log(soft / f0))
    table = Table({"f": flux * u.uJy})
    mag, state = band_magnitudes(table, ["f"], softening={"f": soft})
    np.testing.assert_allclose(mag[:, 0], expected, rtol=0, atol=1e-10)
    assert (state == STATE_MEASURED).all()      # flux <= 0 is a measurement now
    assert abs(mag[-1, 0] - 0.0) < 1e-9         # 3631 Jy: AB magnitude 0 (f >> b)
    # The same fluxes as log magnitudes: the non-positive ones undetected.
    _, log_state = band_magnitudes(table, ["f"])
    assert (log_state[:3, 0] == STATE_NONDETECTION).all()


def test_lupton_softening_is_1042_times_the_median_error():
    """Reference: Lupton et al. (1999), b = 1.042 sigma; rows without a
    usable error are left out of the median."""
    from photoz_numba.photometry import lupton_softening
    table = Table({"g": [1.0, 2.0, -0.5, 3.0] * u.nJy,
                   "g_err": [0.5, 1.0, 3.0, -1.0] * u.nJy,
                   "r": [1.0, 2.0, 3.0, 4.0] * u.uJy, "r_e": [0.1, 0.2, 0.4, np.nan] * u.uJy})
    soft = lupton_softening(table, {"g": "g", "r": "r"}, errors={"r": "r_e"})
    assert abs(soft["g"].to_value(u.nJy) - 1.042 * 1.0) < 1e-12
    assert abs(soft["r"].to_value(u.uJy) - 1.042 * 0.2) < 1e-12
    table["g_err"] = [0.0, -1.0, np.nan, 0.0] * u.nJy
    with pytest.raises(ValueError, match="'g_err' of band 'g'"):
        lupton_softening(table, {"g": "g"})
    # An empty table is said to be one (not a band without usable errors).
    with pytest.raises(ValueError, match="the table has no rows"):
        lupton_softening(table[:0], {"g": "g"})


def test_lupton_softening_takes_a_list_of_band_columns():
    """A list of flux columns, each its own band's name (as PhotoZModel's
    bands without columns=); anything else is a TypeError saying what it
    takes (a list raised "'list' object has no attribute 'items'")."""
    from photoz_numba.photometry import lupton_softening
    table = Table({"g_flux": [1.0, 2.0, 3.0] * u.nJy, "g_flux_err": [0.5, 1.0, 2.0] * u.nJy,
                   "r_flux": [1.0, 2.0, 3.0] * u.nJy, "r_flux_err": [1.0, 2.0, 4.0] * u.nJy})
    soft = lupton_softening(table, ["g_flux", "r_flux"])
    assert soft == lupton_softening(table, {"g_flux": "g_flux", "r_flux": "r_flux"})
    assert abs(soft["r_flux"].to_value(u.nJy) - 1.042 * 2.0) < 1e-12
    with pytest.raises(TypeError, match="columns must be a dict of band -> flux column, "
                                        "or a list of flux columns, not str 'g_flux'"):
        lupton_softening(table, "g_flux")


def test_magnitudes_read_as_fluxes_are_refused():
    """Magnitudes stated in astropy's 'AB' (the AB zero point's flux,
    3631 Jy) read as fluxes brighter than AB magnitude 0 for most rows:
    fit refuses them, naming the column and pointing to ABmag, whatever
    the chunking of later tables. The bound is AB magnitude 0: 3000 Jy
    passes, 4000 Jy does not (the median of the band's measured fluxes)."""
    from photoz_numba import PhotoZModel
    from photoz_numba.photometry import check_plausible_fluxes
    rng = np.random.default_rng(1)
    z = rng.uniform(0.1, 2.0, 60)
    table = Table({"g": 25 + z, "r": 24.5 + 0.5 * z, "zspec": z})
    with pytest.raises(u.UnitsError, match="column 'g' read in AB gives most rows a flux "
                                           "brighter than AB magnitude 0"):
        PhotoZModel(["g", "r"], k=10, units="AB").fit(table)
    PhotoZModel(["g", "r"], k=10, units=u.ABmag).fit(table)
    measured = np.ones((3, 1), dtype=bool)
    for fluxes, bad in (([3000.0, 3000.0, 1e-3], False), ([4000.0, 4000.0, 1e-3], True)):
        mag = (23.9 - 2.5 * np.log10(np.array(fluxes) * 1e6))[:, None]
        if bad:
            with pytest.raises(u.UnitsError, match="median 4000 Jy"):
                check_plausible_fluxes(mag, measured, ["f150w"], [u.Jy])
        else:
            check_plausible_fluxes(mag, measured, ["f150w"], [u.Jy])
    check_plausible_fluxes(np.full((3, 1), -30.0), measured, ["f150w"], [u.ABmag])  # magnitudes
    with pytest.raises(u.UnitsError, match=r"\(AB magnitudes are 'ABmag' or 'mag\(AB\)'\)"):
        band_magnitudes(Table({"f150w": [22.0, 23.0]}), ["f150w"], units={"f150w": "mag"})


def test_asinh_magnitudes_of_a_band_given_in_magnitudes():
    """A softened band given as AB magnitudes gets the asinh magnitudes of
    the fluxes they stand for (Lupton et al. 1999, with f = 10^(-0.4 (m -
    23.9)) uJy), not its log magnitudes (the same before, silently); a
    99 mag non-detection holds no flux and stays one."""
    flux = np.array([0.02, 0.3, 1.0, 25.0])      # uJy
    soft = 0.05
    expected = 23.9 - 2.5 / np.log(10) * (np.arcsinh(flux / (2 * soft)) + np.log(soft))
    ab = 23.9 - 2.5 * np.log10(flux)
    table = Table({"f": flux * u.uJy, "m": ab * u.ABmag,
                   "m99": np.append(ab[:3], 99.0) * u.ABmag})
    mag, state = band_magnitudes(table, ["f", "m", "m99"],
                                 softening={"f": soft, "m": soft, "m99": soft})
    np.testing.assert_allclose(mag[:, 0], expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(mag[:, 1], expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(mag[:3, 2], expected[:3], rtol=0, atol=1e-10)
    assert np.isnan(mag[3, 2]) and state[3, 2] == STATE_NONDETECTION
    assert abs(mag[0, 1] - ab[0]) > 0.1          # the faint flux is softened


def test_a_softened_model_predicts_the_same_from_magnitudes_and_fluxes():
    """A model with asinh magnitudes predicts the same z_phot whether a
    catalogue gives its bands as fluxes or as the AB magnitudes of those
    fluxes (it used the magnitudes' log form: a different z_phot for a
    third of the LSST-like test galaxies, silently)."""
    from photoz_numba import PhotoZModel
    from photoz_numba.datasets import toy_catalogue
    table = toy_catalogue(700, seed=5)
    model = PhotoZModel(["g", "r", "i"], k=20, softening=0.05 * u.uJy).fit(table[:500])
    survey = table[500:]
    as_mag = survey.copy()
    for band in ("g", "r", "i"):
        as_mag[band] = survey[band].quantity.to(u.ABmag)
    assert (np.asarray(survey["g"]) > 0).all()
    np.testing.assert_allclose(np.asarray(model.predict(as_mag)["z_phot"]),
                               np.asarray(model.predict(survey)["z_phot"]), rtol=0, atol=1e-10)


def test_lupton_softening_refuses_a_magnitude_band():
    """Asinh magnitudes are made from fluxes: a band in magnitudes (its own
    unit or a stated one) is named, before its error column is looked for."""
    from photoz_numba.photometry import lupton_softening
    table = Table({"g": [1.0, 2.0] * u.uJy, "g_err": [0.1, 0.2] * u.uJy,
                   "r": [24.0, 25.0] * u.ABmag, "R_MAGERR": [0.1, 0.2] * u.mag, "i": [24.0, 25.0]})
    with pytest.raises(ValueError) as exc:
        lupton_softening(table, {"g": "g", "r": "r"}, errors={"r": "R_MAGERR"})
    assert str(exc.value) == ("asinh magnitudes (softening) are made from fluxes and apply "
                              "only to flux columns: band 'r' (column 'r') is in magnitudes "
                              "(mag(AB))")
    with pytest.raises(ValueError, match=r"band 'i' \(column 'i'\) is in magnitudes"):
        lupton_softening(table, {"i": "i"}, units={"i": "ABmag"})
