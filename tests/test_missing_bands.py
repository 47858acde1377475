"""Galaxies with missing bands, against the plain NumPy reference.

Reference tests: tests/reference.py (NumPy) refitted on the bands a galaxy
has, and the issue's accuracy floors; the others are contracts (flags,
masked outputs, model files).
"""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Column, MaskedColumn, Table

import reference
from photoz_numba import PhotoZModel
from photoz_numba.datasets import KALNA2024_BANDS
from photoz_numba.selection import stratified_split
from photoz_numba.metrics import evaluate
from photoz_numba.flags import (BAND_IGNORED, MISSING_BAND, TOO_FEW_BANDS,
                                decode_z_phot_flags)

BANDS = list(KALNA2024_BANDS)


@pytest.fixture(scope="module")
def split(sample):
    return stratified_split(sample, z="zspec", seed=5)


def _flux(table, bands):
    return np.column_stack([u.Quantity(table[b].filled(np.nan)).to_value(u.uJy)
                            for b in bands])


@pytest.mark.reference
@pytest.mark.parametrize("missing, magnitude_band", [
    (["f435w"], "f150w"),             # the magnitude band is still there
    (["f150w"], "f150w"),             # it is not: its nearest band, f115w, stands in
    (["f606w", "f356w"], "f150w"),
    (["f435w", "f606w", "f814w"], None),
])
def test_masked_bands_match_numpy_reference(split, missing, magnitude_band):
    """Reference: tests/reference.py (NumPy) on the remaining bands."""
    train, test = split
    params = dict(k=35, gamma=0.2, lam=0.05, magnitude_band=magnitude_band)
    model = PhotoZModel(BANDS, **params).fit(train)
    query = test[:150].copy()
    for band in missing:
        query[band].mask = True
    out = model.predict(query)
    assert (out["z_phot_flag"] & MISSING_BAND).all()

    kept = [b for b in BANDS if b not in missing]
    if magnitude_band is None:
        mag_index = None
    else:
        target = BANDS.index(magnitude_band)
        nearest = min((BANDS.index(b) for b in kept), key=lambda i: (abs(i - target), i))
        mag_index = kept.index(BANDS[nearest])
    x_train, x_query = reference.standardise(
        reference.features_from_fluxes(_flux(train, kept), mag_index),
        reference.features_from_fluxes(_flux(query, kept), mag_index))
    z_ref, err_ref, used_ref = reference.predict(
        x_train, np.asarray(train["zspec"], float), x_query, 35, 0.2, 0.05, window=0.15)
    np.testing.assert_allclose(out["z_phot"], z_ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(out["z_phot_err"], err_ref, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(out["z_phot_nused"], used_ref)


def test_training_galaxies_with_missing_bands_are_used(catalogue):
    """Contract: training rows lacking bands are kept and every test row is
    predicted (5611: the catalogue's rows with z_spec <= 7, counted from
    the file; docs/missing_bands.rst)."""
    full = catalogue[~np.ma.getmaskarray(catalogue["zspec"])]
    full = full[np.asarray(full["zspec"]) <= 7]
    assert len(full) == 5611
    train, test = stratified_split(full, z="zspec", seed=0)
    model = PhotoZModel(BANDS).fit(train)
    assert model.n_train_ == len(train)         # none dropped
    out = model.predict(test)
    assert not np.ma.getmaskarray(out["z_phot"]).any()
    assert np.isfinite(out["z_phot_err"]).all()


def toy(n=120, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.1, 3.0, n)
    table = Table({b: Column((24 + np.cos(z * (i + 1)) + rng.normal(0, 0.02, n)),
                             unit=u.ABmag) for i, b in enumerate("grizy")})
    table["zspec"] = z
    return table


def test_single_usable_band_and_all_missing_rows():
    model = PhotoZModel(list("grizy"), k=10).fit(toy())
    query = toy(4, seed=1)
    for band in "rizy":
        query[band] = MaskedColumn(query[band], mask=[1, 1, 0, 0])
    query["g"] = MaskedColumn(query["g"], mask=[0, 1, 0, 0])
    out = model.predict(query)
    assert len(out) == 4
    masked = np.ma.getmaskarray(out["z_phot"])
    np.testing.assert_array_equal(masked, [True, True, False, False])
    assert decode_z_phot_flags(int(out["z_phot_flag"][0])) == ["missing_band", "too_few_bands"]
    assert out["z_phot_flag"][1] & TOO_FEW_BANDS
    assert not out["z_phot_flag"][2] & TOO_FEW_BANDS


def test_min_bands():
    model = PhotoZModel(list("grizy"), k=10, min_bands=4).fit(toy())
    query = toy(2, seed=1)
    query["y"] = MaskedColumn(query["y"], mask=[1, 0])
    query["z"] = MaskedColumn(query["z"], mask=[1, 0])
    out = model.predict(query)
    np.testing.assert_array_equal(np.ma.getmaskarray(out["z_phot"]), [True, False])
    with pytest.raises(ValueError, match="min_bands"):
        PhotoZModel(list("grizy"), min_bands=1)


def test_band_that_no_training_galaxy_has():
    train = toy()
    train["y"] = MaskedColumn(train["y"], mask=np.ones(len(train), bool))
    model = PhotoZModel(list("grizy"), k=10, magnitude_band="i").fit(train)
    query = toy(5, seed=2)
    out = model.predict(query)
    assert not np.ma.getmaskarray(out["z_phot"]).any()
    assert (out["z_phot_flag"] & BAND_IGNORED).all()
    # The same as a model that never had the band.
    four = PhotoZModel(list("griz"), k=10, magnitude_band="i").fit(train)
    np.testing.assert_array_equal(out["z_phot"], four.predict(query)["z_phot"])


def test_model_file_keeps_missing_band_training(catalogue, tmp_path):
    full = catalogue[~np.ma.getmaskarray(catalogue["zspec"])]
    train, test = stratified_split(full[np.asarray(full["zspec"]) <= 7], seed=1)
    model = PhotoZModel(BANDS, min_bands=3, snr_min=1.5,
                        error_columns={"f444w": "f444w_err"}).fit(train)
    model.write(tmp_path / "m.fits")
    again = PhotoZModel.read(tmp_path / "m.fits")
    assert again.get_params() == model.get_params()
    a, b = model.predict(test), again.predict(test)
    for name in ("z_phot", "z_phot_err", "z_phot_flag", "z_phot_nused"):
        np.testing.assert_array_equal(np.ma.filled(a[name], -1), np.ma.filled(b[name], -1))


@pytest.mark.slow
@pytest.mark.reference
def test_missing_band_accuracy_floor(sample):
    """Issue floors with one and two bands removed at random (scripts/missing_bands.py).

    Reference: the issue's acceptance floors, fixed targets (not measured from
    this package): sigma_NMAD <= 0.0185 and outliers <= 4.6 % with one band
    removed, <= 0.0205 and <= 5.0 % with two (against Kalná et al. 2024's
    all-band 0.018 and 3.5 %).
    """
    rng = np.random.default_rng(0)
    figures = {1: [], 2: []}
    for seed in range(10):
        train, test = stratified_split(sample, z="zspec", seed=seed)
        model = PhotoZModel(BANDS).fit(train)
        for n_remove in (1, 2):
            query = test.copy()
            drop = np.argsort(rng.random((len(query), len(BANDS))), axis=1)[:, :n_remove]
            for b, band in enumerate(BANDS):
                query[band].mask = (drop == b).any(axis=1)
            out = model.predict(query)
            metrics = evaluate(out["z_phot"], out["zspec"])
            figures[n_remove].append((metrics["sigma_nmad"], metrics["outlier_fraction"]))
    one, two = np.mean(figures[1], axis=0), np.mean(figures[2], axis=0)
    assert one[0] <= 0.0185 and one[1] <= 0.046
    assert two[0] <= 0.0205 and two[1] <= 0.050


def test_snr_min_treats_faint_bands_as_missing(split):
    train, test = split
    query = test[:50].copy()
    query["f435w_err"][:10] = query["f435w"][:10]        # S/N = 1
    model = PhotoZModel(BANDS, snr_min=2).fit(train)
    out = model.predict(query)
    assert not np.ma.getmaskarray(out["z_phot"]).any()
    assert (out["z_phot_flag"][:10] & 2).all()
    masked = query.copy()
    masked["f435w"].mask[:10] = True
    np.testing.assert_array_equal(out["z_phot"], model.predict(masked)["z_phot"])
    with pytest.raises(ValueError, match="snr_min"):
        PhotoZModel(BANDS, snr_min=-1)


def test_an_unusable_error_is_flagged_where_snr_min_needs_it(split):
    """Contract (bad input): with snr_min, a measured band whose error is
    NaN, <= 0 or masked gets the bad_error flag on that row only; the band
    is used as measured (the same z_phot as with a good, high-S/N error)."""
    from photoz_numba.flags import BAD_ERROR
    train, test = split
    model = PhotoZModel(BANDS, snr_min=2).fit(train)
    query = test[:20].copy()
    good = model.predict(query)
    query["f444w_err"][0] = np.nan
    query["f444w_err"][1] = 0.0
    query["f444w_err"][2] = -1.0
    query["f444w_err"].mask[3] = True
    out = model.predict(query)
    flagged = (np.asarray(out["z_phot_flag"]) & BAD_ERROR) != 0
    np.testing.assert_array_equal(flagged, np.arange(20) < 4)
    assert not (np.asarray(good["z_phot_flag"]) & BAD_ERROR).any()
    np.testing.assert_array_equal(out["z_phot"], good["z_phot"])
    # No snr_min: the errors are not read, and nothing is flagged.
    plain = PhotoZModel(BANDS).fit(train).predict(query)
    assert not (np.asarray(plain["z_phot_flag"]) & BAD_ERROR).any()
    # A missing error column is an error naming it.
    with pytest.raises(KeyError, match="f444w_err"):
        model.predict(query[[c for c in query.colnames if c != "f444w_err"]])
