"""The Numba kernel against the plain NumPy reference and analytic cases."""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table, vstack

import reference
from photoz_numba.datasets import KALNA2024_BANDS
from photoz_numba import PhotoZModel
from photoz_numba.datasets import stratified_split

BANDS = list(KALNA2024_BANDS)

SETTINGS = [
    # The paper's form: no offset, colours only.
    dict(k=50, gamma=0.1, lam=1e-3, offset="none", magnitude_band=None),
    # The package defaults.
    dict(k=40, gamma=0.1, lam=0.1, offset="median", magnitude_band="f150w"),
    # Few neighbours, wide kernel, mean offset, tighter clipping.
    dict(k=15, gamma=0.5, lam=0.03, offset="mean", magnitude_band="f444w",
         clip_sigma=2.0),
]


def _flux_array(table):
    return np.column_stack([u.Quantity(table[b].filled(np.nan)).to_value(u.uJy) for b in BANDS])


@pytest.fixture(scope="module")
def split(sample):
    return stratified_split(sample, z="zspec", seed=3)


@pytest.mark.parametrize("params", SETTINGS)
def test_matches_numpy_reference_on_paper_data(split, params):
    train, test = split
    model = PhotoZModel(BANDS, **params).fit(train, z="zspec")
    out = model.predict(test)

    mag_index = None if params["magnitude_band"] is None else BANDS.index(params["magnitude_band"])
    x_train, x_test = reference.standardise(
        reference.features_from_fluxes(_flux_array(train), mag_index),
        reference.features_from_fluxes(_flux_array(test), mag_index))
    z_ref, err_ref, used_ref = reference.predict(
        x_train, np.asarray(train["zspec"], dtype=float), x_test,
        params["k"], params["gamma"], params["lam"],
        params.get("clip_sigma", 3.0), params["offset"])

    np.testing.assert_allclose(out["z_phot"], z_ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(out["z_phot_err"], err_ref, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(out["z_phot_nused"], used_ref)
    # The clipping and refit path really ran for some galaxies.
    assert (used_ref < params["k"]).sum() > 10


def test_results_do_not_depend_on_thread_count(split):
    train, test = split
    model = PhotoZModel(BANDS).fit(train)
    one = model.predict(test, n_threads=1)
    two = model.predict(test, n_threads=2)
    for name in ("z_phot", "z_phot_err", "z_phot_flag", "z_phot_nused"):
        np.testing.assert_array_equal(one[name], two[name])


def test_thread_count_is_restored(split):
    import numba
    train, test = split
    before = numba.get_num_threads()
    PhotoZModel(BANDS).fit(train).predict(test[:10], n_threads=1)
    assert numba.get_num_threads() == before


def _toy_table(rng, n, n_bands=4):
    z = rng.uniform(0.2, 4.0, n)
    columns = {f"b{i}": (24 + np.sin(z * (i + 1)) + rng.normal(0, 0.05, n)) * u.ABmag
               for i in range(n_bands)}
    return Table({**columns, "zspec": z})


def test_ties_and_duplicates_match_reference(rng):
    """Exact distance ties (duplicated rows) resolve as the reference does."""
    table = _toy_table(rng, 60)
    doubled = vstack([table] * 3)
    bands = ["b0", "b1", "b2", "b3"]
    model = PhotoZModel(bands, k=10, gamma=0.3, lam=0.05, magnitude_band=None)
    model.fit(doubled)
    out = model.predict(table)
    mags = np.column_stack([doubled[b].value for b in bands])
    q_mags = np.column_stack([table[b].value for b in bands])
    x_train, x_query = reference.standardise(mags[:, :-1] - mags[:, 1:],
                                             q_mags[:, :-1] - q_mags[:, 1:])
    z_ref, err_ref, used_ref = reference.predict(
        x_train, np.asarray(doubled["zspec"]), x_query, 10, 0.3, 0.05)
    np.testing.assert_allclose(out["z_phot"], z_ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(out["z_phot_err"], err_ref, rtol=0, atol=1e-8)
    assert (out["z_phot_flag"] & 4).sum() == 0   # no failed solve


def test_single_neighbour_analytic(rng):
    """k = 1: alpha = (z - c) / (1 + lam), z_phot = c + alpha exp(-gamma d^2)."""
    table = _toy_table(rng, 30)
    bands = ["b0", "b1", "b2", "b3"]
    query = table[:5]
    for offset in ("none", "median"):
        model = PhotoZModel(bands, k=1, gamma=0.7, lam=0.25, offset=offset,
                            magnitude_band=None, clip_sigma=None).fit(table)
        out = model.predict(query)
        z = np.asarray(query["zspec"])
        # Each query is its own nearest neighbour, at distance 0.
        expected = z / 1.25 if offset == "none" else z
        np.testing.assert_allclose(out["z_phot"], expected, rtol=1e-14)
        # The residual of the only neighbour is lam * alpha.
        expected_err = np.abs(z - z / 1.25) if offset == "none" else np.zeros(5)
        np.testing.assert_allclose(out["z_phot_err"], expected_err, atol=1e-14)


def test_clipping_drops_a_planted_outlier():
    """Nineteen neighbours on z = 1 and one on z = 10: the refit ignores it.

    With n neighbours no residual can exceed sqrt(n - 1) times their RMS, so
    k = 20 is needed for one outlier to pass 3 sigma. A 21st galaxy, far
    away in colour, is never a neighbour.
    """
    colour = np.append(np.linspace(0, 0.01, 20), 5.0)
    z = np.ones(21)
    z[4] = 10.0
    mags = {"a": (20 + colour) * u.ABmag, "b": np.full(21, 20.0) * u.ABmag,
            "c": (20 - colour ** 2) * u.ABmag}
    train = Table({**mags, "zspec": z})
    params = dict(k=20, gamma=1e-3, lam=10.0, offset="median", magnitude_band=None)
    out = PhotoZModel(["a", "b", "c"], **params).fit(train).predict(train[:1])
    assert out["z_phot_nused"][0] == 19
    # All kept neighbours sit on the median: the refit is exactly z = 1.
    assert out["z_phot"][0] == 1.0
    assert out["z_phot_err"][0] == 0.0
    no_clip = PhotoZModel(["a", "b", "c"], clip_sigma=None, **params)
    no_clip = no_clip.fit(train).predict(train[:1])
    assert no_clip["z_phot_nused"][0] == 20
    assert no_clip["z_phot"][0] > 1.1
