"""PhotoZModel: the Table layer, bad input and row bookkeeping.

Contract tests (the numbers themselves are checked against
tests/reference.py in test_kernels and test_missing_bands).
"""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Column, MaskedColumn, QTable, Table, vstack

from photoz_numba import PhotoZModel
from photoz_numba.datasets import KALNA2024_BANDS
from photoz_numba.selection import stratified_split
from photoz_numba.exceptions import NotFittedError, PhotoZWarning
from photoz_numba.flags import (EXTRAPOLATION, MISSING_BAND, NONDETECTION,
                                SOLVE_FAILED)

BANDS = list(KALNA2024_BANDS)


@pytest.fixture(scope="module")
def split(sample):
    return stratified_split(sample, z="zspec", seed=0)


@pytest.fixture(scope="module")
def fitted(split):
    return PhotoZModel(BANDS).fit(split[0], z="zspec")


def toy(n=200, seed=0, bands=("g", "r", "i", "z")):
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.1, 3.0, n)
    table = Table({b: (24 + np.cos(z * (i + 1)) + rng.normal(0, 0.02, n)) * u.ABmag
                   for i, b in enumerate(bands)})
    table["zspec"] = z
    return table


def test_issue_example_output_columns(split, fitted):
    train, test = split
    assert fitted.fit(train, z="zspec") is fitted
    out = fitted.predict(test)
    assert type(out) is type(test)
    assert out.colnames == test.colnames + ["z_phot", "z_phot_err", "z_phot_flag",
                                            "z_phot_nused"]
    assert len(out) == len(test) == 921
    np.testing.assert_array_equal(out["ID"], test["ID"])
    assert not np.ma.getmaskarray(out["z_phot"]).any()
    assert (out["z_phot_err"] > 0).all()
    assert "z_phot" not in test.colnames  # the input is untouched


def test_missing_band_at_predict_is_flagged_not_dropped(split, fitted):
    train, test = split
    test = test[:20].copy()
    test["f435w"].mask[3] = True
    test["f606w"][5] = -99.0
    test["f814w"][7] = np.nan
    test["f090w"][9] = 0.0          # not detected
    test["f444w"][9] = -1.0
    out = fitted.predict(test)
    assert len(out) == 20
    # Every row is predicted, from the bands it has, and flagged.
    assert not np.ma.getmaskarray(out["z_phot"]).any()
    for row in (3, 5, 7):
        assert out["z_phot_flag"][row] & MISSING_BAND
    assert out["z_phot_flag"][9] & NONDETECTION
    assert not out["z_phot_flag"][9] & MISSING_BAND
    # A galaxy without f435w is predicted as by a model of the other ten
    # bands (same magnitude feature), fitted on the same galaxies.
    ten = PhotoZModel(BANDS[1:], magnitude_band="f150w").fit(train)
    assert out["z_phot"][3] == ten.predict(test[[3]])["z_phot"][0]
    # Other rows are predicted as if alone.
    alone = fitted.predict(test[[0, 1, 2]])
    np.testing.assert_array_equal(out["z_phot"][:3], alone["z_phot"])


def test_columns_mapping_and_units(split):
    train, test = split
    renamed = train.copy()
    renamed.rename_column("f444w", "F444W_FLUX")
    renamed["F444W_FLUX"].unit = None
    model = PhotoZModel(BANDS, columns={"f444w": "F444W_FLUX"},
                        units={"f444w": "uJy"}).fit(renamed)
    reference = PhotoZModel(BANDS).fit(train)
    query = test.copy()
    query.rename_column("f444w", "F444W_FLUX")
    query["F444W_FLUX"] = query["F444W_FLUX"].to(u.nJy)   # other unit at predict
    np.testing.assert_allclose(model.predict(query, units={"f444w": u.nJy})["z_phot"],
                               reference.predict(test)["z_phot"], rtol=1e-12)


def test_a_columns_own_unit_is_never_overridden(split):
    """A stated unit is for a column without one. At predict the
    constructor's (kept in model files) gives way to a column's own unit;
    one stated for the call, and at fit any, must agree with it, or it is
    an error naming the column. The
    reference: the same galaxies in uJy, unit-less, read in the stated uJy."""
    train, test = split
    bare = train.copy()
    for band in BANDS:
        bare[band].unit = None
    model = PhotoZModel(BANDS, units="uJy").fit(bare)
    expected = model.predict(test)["z_phot"]
    in_njy = test.copy()
    for band in BANDS:
        in_njy[band] = in_njy[band].to(u.nJy)            # its own unit: nJy
    np.testing.assert_allclose(model.predict(in_njy)["z_phot"], expected, rtol=1e-12)
    np.testing.assert_allclose(model.predict(in_njy, units="nJy")["z_phot"], expected,
                               rtol=1e-12)
    with pytest.raises(u.UnitsError, match="column 'f435w' has the unit nJy, and uJy is "
                                           "stated for it"):
        model.predict(in_njy, units="uJy")
    # At fit, a stated unit must agree with the training columns' own, the
    # constructor's too: a model file keeps them for unit-less tables.
    for where in ("constructor", "call"):
        model = PhotoZModel(BANDS, units="nJy" if where == "constructor" else None)
        with pytest.raises(u.UnitsError, match="column 'f435w' has the unit uJy, and nJy "
                                               "is stated for it"):
            model.fit(train, units="nJy" if where == "call" else None)
    PhotoZModel(BANDS, units="uJy").fit(train)                  # agreeing: fine


def test_magnitude_and_flux_tables_give_the_same_redshifts(split, fitted):
    test = split[1]
    as_mag = QTable({b: u.Quantity(test[b]).to(u.ABmag) for b in BANDS})
    np.testing.assert_allclose(fitted.predict(as_mag)["z_phot"],
                               fitted.predict(test)["z_phot"], rtol=0, atol=1e-9)


def test_band_absent_from_table():
    model = PhotoZModel(["g", "r", "i", "y"], k=5)
    with pytest.raises(KeyError, match="'y'"):
        model.fit(toy())


def test_too_few_usable_training_galaxies():
    table = toy(30)
    # Rows 10-29 keep one band: fewer than min_bands=2.
    for band in ("r", "i", "z"):
        table[band] = MaskedColumn(table[band], mask=np.arange(30) >= 10)
    model = PhotoZModel(["g", "r", "i", "z"], k=10)
    with pytest.warns(PhotoZWarning, match="20 of 30 training rows"):
        with pytest.raises(ValueError, match="only 10 training galaxies.*k=10"):
            model.fit(table)


@pytest.mark.parametrize("bad", [np.nan, -1.0, -3.0, 99.0, "masked"])
def test_bad_redshifts_are_named(bad):
    """A redshift that is no redshift is skipped, with a warning naming
    the column, the count and the row."""
    table = toy(50)
    z = MaskedColumn(table["zspec"])
    if bad == "masked":
        z.mask[17] = True
    else:
        z[17] = bad
    table["zspec"] = z
    shown = "--" if bad == "masked" else bad
    with pytest.warns(PhotoZWarning) as caught:
        model = PhotoZModel(["g", "r", "i", "z"], k=5).fit(table, z="zspec")
    assert [str(w.message) for w in caught] == [
        f"1 of 50 rows have no redshift in 'zspec' (masked, not finite or outside -0.01 to "
        f"20, as the sentinels 99 and -99; first at row 17: {shown}) and are skipped"]
    assert model.n_train_ == 49


def test_redshift_column_absent():
    """Named, with the columns the table has (as on the command line)."""
    with pytest.raises(KeyError, match=r"'z_spec' is not in the table \(columns: g, r, i, "
                                       r"z, zspec\)"):
        PhotoZModel(["g", "r", "i", "z"], k=5).fit(toy(), z="z_spec")


def test_empty_table():
    """Fitting needs rows; predicting none gives none, with the output
    columns (as FITS streaming and Dask do), and still names a missing
    band column."""
    model = PhotoZModel(["g", "r", "i", "z"], k=5)
    with pytest.raises(ValueError, match="no rows"):
        model.fit(toy()[:0])
    model.fit(toy())
    out = model.predict(toy()[:0])
    assert len(out) == 0
    assert out.colnames == toy().colnames + [c.name for c in model.output_schema()]
    assert [out[c.name].dtype for c in model.output_schema()] == \
        [c.dtype for c in model.output_schema()]
    with pytest.raises(KeyError, match="'z'"):
        model.predict(toy()[:0]["g", "r", "i"])


def test_duplicated_training_rows_stay_solvable():
    table = toy(40)
    doubled = vstack([table] * 5)
    for lam in (0.1, 1e-8):
        model = PhotoZModel(["g", "r", "i", "z"], k=25, lam=lam).fit(doubled)
        out = model.predict(table)
        assert not (out["z_phot_flag"] & SOLVE_FAILED).any()
        assert np.isfinite(out["z_phot"]).all()


def test_constant_colour_is_named():
    table = toy()
    table["r"] = Column(table["g"].value - 0.3, unit=u.ABmag)   # g - r constant
    with pytest.raises(ValueError, match=r"\['g-r'\] are constant"):
        PhotoZModel(["g", "r", "i", "z"], k=5).fit(table)


def test_predict_before_fit():
    with pytest.raises(NotFittedError, match="fit"):
        PhotoZModel(["g", "r", "i", "z"]).predict(toy())


def test_output_columns_already_present():
    model = PhotoZModel(["g", "r", "i", "z"], k=5).fit(toy())
    table = toy(5)
    table["z_phot"] = 1.0
    with pytest.raises(ValueError, match="z_phot"):
        model.predict(table)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(bands="griz"), TypeError, "bands"),
    (dict(bands=["g"]), ValueError, "at least 2 bands"),
    (dict(bands=["g", "g"]), ValueError, "duplicates"),
    (dict(k="5"), ValueError, "k must be"),
    (dict(k=0), ValueError, "k must be"),
    (dict(k=2.5), ValueError, "k must be"),
    (dict(gamma=-1.0), ValueError, "gamma"),
    (dict(lam=0), ValueError, "lam"),
    (dict(lam=np.nan), ValueError, "lam"),
    (dict(clip_sigma=0), ValueError, "clip_sigma"),
    (dict(offset="mode"), ValueError, "offset"),
    (dict(magnitude_band="u"), ValueError, "magnitude_band 'u'"),
    (dict(columns=["g"]), TypeError, "columns"),
    (dict(columns={"u": "U"}), ValueError, "columns"),
    (dict(search_eps=-0.5), ValueError, "search_eps"),
    (dict(search_eps=np.inf), ValueError, "search_eps"),
    (dict(window=0), ValueError, "window"),
    (dict(window=1.0), ValueError, "window"),
    (dict(window=np.nan), ValueError, "window"),
    (dict(window=True), ValueError, "window"),
    (dict(second_group=0), ValueError, "second_group .* > 0 and <= 1 or None, not 0$"),
    (dict(second_group=-3.0), ValueError, "second_group .*, not -3.0$"),
    (dict(second_group=1.5), ValueError, "second_group .* <= 1 or None, not 1.5$"),
    (dict(second_group=np.nan), ValueError, "second_group .*, not nan$"),
    (dict(softening=1.0), ValueError, "softening of band 'g'"),
    (dict(softening=-1 * u.nJy), ValueError, "softening of band 'g'"),
    (dict(softening={"u": 1 * u.nJy}), ValueError, "softening names bands"),
    (dict(softening={"g": 1 * u.mag}), ValueError, "softening of band 'g'"),
])
def test_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        PhotoZModel(**{"bands": ["g", "r", "i", "z"], **kwargs})


def test_second_group_of_one_is_the_largest_share():
    """A share of 1 is met when the second window weighs as much as the
    first (a tie), so it is accepted; anything above is refused (above)."""
    model = PhotoZModel(["g", "r", "i", "z"], second_group=1)
    assert model.second_group == 1
    assert model.set_params(second_group=0.25).second_group == 0.25
    with pytest.raises(ValueError, match="not 1.0001$"):
        model.set_params(second_group=1.0001)


def test_wrong_table_types():
    model = PhotoZModel(["g", "r", "i", "z"], k=5)
    with pytest.raises(TypeError, match="astropy Table"):
        model.fit(np.zeros((10, 5)))
    with pytest.raises(TypeError, match="column name"):
        model.fit(toy(), z=3)
    # A column given for its name: its type and name, not its 200 values.
    table = toy()
    with pytest.raises(TypeError, match=r"^z must be a column name \(str\), not Column: "
                                        r"pass z='zspec'$"):
        model.fit(table, z=table["zspec"])
    model.fit(toy())
    with pytest.raises(TypeError, match="astropy Table"):
        model.predict({"g": [1.0]})


@pytest.mark.parametrize("n_threads", [0, -1, 10_000, 1.5, True])
def test_bad_n_threads_names_the_parameter_and_its_range(n_threads):
    """One rule with the command line's --threads (Numba said "The number
    of threads must be between 1 and 2", naming no parameter)."""
    import numba
    model = PhotoZModel(["g", "r", "i", "z"], k=5).fit(toy())
    most = numba.config.NUMBA_NUM_THREADS
    with pytest.raises(ValueError, match=rf"^n_threads must be from 1 to {most} \(the cores "
                                         rf"Numba may use here\), not {n_threads!r}$"):
        model.predict(toy(5), n_threads=n_threads)
    assert len(model.predict(toy(5), n_threads=1)) == 5


def test_k_beyond_training_set_after_set_params():
    model = PhotoZModel(["g", "r", "i", "z"], k=5).fit(toy(50))
    model.set_params(k=60)
    with pytest.raises(ValueError, match="k=60"):
        model.predict(toy(5))


def test_get_and_set_params():
    model = PhotoZModel(["g", "r", "i", "z"], k=7)
    params = model.get_params()
    assert params["k"] == 7 and params["clip_sigma"] == 3.0
    clone = PhotoZModel(**params)
    assert clone.get_params() == params
    assert model.set_params(gamma=0.5) is model and model.gamma == 0.5
    with pytest.raises(ValueError, match="'kk' is not a parameter"):
        model.set_params(kk=3)
    assert "k=7" in repr(model)


def test_extrapolation_flag():
    model = PhotoZModel(["g", "r", "i", "z"], k=5).fit(toy())
    far = toy(3)
    far["g"] = Column(far["g"].value + 5, unit=u.ABmag)
    flags = model.predict(far)["z_phot_flag"]
    assert (flags & EXTRAPOLATION).all()
    assert not np.ma.getmaskarray(model.predict(far)["z_phot"]).any()


def test_search_eps_applies_after_fit():
    """search_eps set after the fit takes effect at the next predict (the
    cached neighbour index is rebuilt). Tuning predicts through the same
    models (test_tuning: a trial scores what cross_validate scores)."""
    from photoz_numba.datasets import toy_catalogue
    from photoz_numba.neighbours import SCAN_ROWS
    table = toy_catalogue(SCAN_ROWS + 3000)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table)
    exact = model.predict(table[:300])
    full = tuple(range(3))
    assert model._pattern(full)["index"].shrink == 1.0
    model.set_params(search_eps=3.0)
    approx = model.predict(table[:300])
    assert model._pattern(full)["index"].shrink == 1 / 16
    assert not np.array_equal(approx["z_phot"], exact["z_phot"])
    model.set_params(search_eps=0.0)
    np.testing.assert_array_equal(model.predict(table[:300])["z_phot"], exact["z_phot"])


@pytest.mark.reference
def test_softening_predicts_faint_and_negative_fluxes_as_asinh_magnitudes():
    from photoz_numba import flags as photoz_flags
    """With ``softening``, fluxes <= 0 are measurements, and the model is the
    one given the asinh magnitudes themselves as magnitude columns.
    Reference: asinh magnitudes from Lupton et al. (1999)'s formula in
    NumPy, fed as ABmag columns."""
    rng = np.random.default_rng(4)
    n = 800
    zs = rng.uniform(0.1, 2, n)
    soft = {"g": 0.02, "r": 0.03, "i": 0.05}     # uJy
    flux = {band: np.exp(-zs * (i + 1) / 2) * 0.1 + rng.normal(0, soft[band], n)
            for i, band in enumerate("gri")}
    fluxes = Table({band: value * u.uJy for band, value in flux.items()})
    fluxes["zspec"] = zs
    asinh = Table({band: (23.9 - 2.5 / np.log(10) * (np.arcsinh(value / (2 * soft[band]))
                                                     + np.log(soft[band]))) * u.ABmag
                   for band, value in flux.items()})
    asinh["zspec"] = zs
    assert (np.column_stack(list(flux.values())) <= 0).any(axis=1).mean() > 0.2
    model = PhotoZModel(list("gri"), k=20, softening={b: v * u.uJy for b, v in soft.items()})
    out = model.fit(fluxes[:600]).predict(fluxes[600:])
    ref = PhotoZModel(list("gri"), k=20).fit(asinh[:600]).predict(asinh[600:])
    assert not np.ma.getmaskarray(out["z_phot"]).any()
    lost = photoz_flags.NONDETECTION | photoz_flags.MISSING_BAND | photoz_flags.BAND_IGNORED
    assert (np.asarray(out["z_phot_flag"]) & lost == 0).all()
    np.testing.assert_allclose(out["z_phot"], ref["z_phot"], rtol=0, atol=1e-10)
    # Without softening, those rows lose a band (non-detections).
    with pytest.warns(PhotoZWarning, match="fewer than min_bands"):
        plain = PhotoZModel(list("gri"), k=20).fit(fluxes[:600])
    plain = plain.predict(fluxes[600:])
    assert (np.asarray(plain["z_phot_flag"]) & photoz_flags.NONDETECTION != 0).sum() > 20


def test_training_galaxies_predicted_again_are_flagged_twins():
    """A row with a training galaxy's very photometry is its own nearest
    neighbour: flagged ``training_twin``. Reference: which rows are copies
    of training rows, by construction (a copy nudged by one part in 10^9
    in one band is not one)."""
    from photoz_numba.datasets import toy_catalogue
    from photoz_numba.flags import TRAINING_TWIN
    table = toy_catalogue(700, seed=5)
    train, survey = table[:500], table[500:].copy()
    model = PhotoZModel(["g", "r", "i"], k=20).fit(train)
    survey[:10] = train[:10]                                  # ten copies
    survey["g"][5] *= 1 + 1e-9                                # one of them nudged
    twin = (model.predict(survey)["z_phot_flag"] & TRAINING_TWIN) != 0
    np.testing.assert_array_equal(np.flatnonzero(twin), [0, 1, 2, 3, 4, 6, 7, 8, 9])
    assert ((model.predict(train)["z_phot_flag"] & TRAINING_TWIN) != 0).all()


# -- true redshifts that are no redshift in cdf and cde_loss ---------------------

_NO_REDSHIFT = "masked, not finite or outside -0.01 to 20, as the sentinels 99 and -99"


@pytest.fixture(scope="module")
def toy_pz():
    """A toy model with a p(z), and 200 galaxies it did not learn from."""
    from photoz_numba.datasets import toy_catalogue
    table = toy_catalogue(1200, seed=3)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:1000]).calibrate(table[:1000])
    return model, table[1000:]


def test_pit_and_cde_loss_skip_rows_with_no_redshift(toy_pz):
    """cdf(table, column) and cde_loss read true redshifts: 20 rows at
    z = 99 and one at -99 get a NaN PIT and are left out of the loss (99
    had a PIT of 1, and 20 such rows of 200 moved the loss from -102 to
    -87), with one warning
    each naming the count and first row. Reference: the same calls on the
    other rows, kept by hand."""
    import warnings
    model, test = toy_pz
    good = np.ones(len(test), bool)
    good[5:25] = good[30] = False
    bad = test.copy()
    bad["zspec"][5:25] = 99.0
    bad["zspec"][30] = -99.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pit = model.cdf(bad, "zspec")
        loss = model.cde_loss(bad, "zspec")
        array_loss = model.cde_loss(bad, np.asarray(bad["zspec"]))
    head = f"21 of 200 rows have no redshift in '{{}}' ({_NO_REDSHIFT}; first at row 5: 99.0)"
    assert [(w.category, str(w.message)) for w in caught] == [
        (PhotoZWarning, head.format("zspec") + " and get a NaN PIT"),
        (PhotoZWarning, head.format("zspec") + " and are left out"),
        (PhotoZWarning, head.format("z") + " and are left out")]
    assert np.isnan(pit[~good]).all()
    np.testing.assert_array_equal(pit[good], model.cdf(test[good], "zspec"))
    reference = model.cde_loss(test[good], "zspec")
    assert loss == array_loss == pytest.approx(reference, rel=1e-12)
    bad["zspec"] = 99.0
    with pytest.raises(ValueError, match=r"^200 of 200 rows have no redshift in 'zspec' "
                                         r"\(.*; first at row 0: 99.0\): nothing to score$"):
        model.cde_loss(bad, "zspec")


def test_cdf_at_query_redshifts_takes_any_value(toy_pz):
    """An array (or one value) is redshifts to ask at, not true ones: 99
    is above every p(z) (CDF 1), -99 below (0), NaN gives NaN, and nothing
    is warned of; probability_above's column of thresholds likewise."""
    model, test = toy_pz
    rows = test[:20]
    np.testing.assert_array_equal(model.cdf(rows, np.full(20, 99.0)), np.ones(20))
    np.testing.assert_array_equal(model.cdf(rows, -99.0), np.zeros(20))
    assert np.isnan(model.cdf(rows, np.full(20, np.nan))).all()
    thresholds = rows.copy()
    thresholds["z0"] = np.r_[np.full(10, 25.0), np.full(10, 1.0)]
    np.testing.assert_array_equal(model.probability_above(thresholds, "z0"),
                                  1 - model.cdf(rows, np.asarray(thresholds["z0"])))
    assert (model.probability_above(thresholds, "z0")[:10] == 0).all()
