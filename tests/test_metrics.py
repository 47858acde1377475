"""Metrics against hand-computed values and scipy.stats (reference tests),
and their input checks (contract tests)."""

import numpy as np
import pytest
from scipy import stats

from photoz_numba.exceptions import PhotoZWarning
from photoz_numba.metrics import bias, dz, evaluate, outlier_fraction, sigma_nmad


@pytest.mark.reference
def test_against_scipy_median_abs_deviation(rng):
    """Reference: scipy.stats.median_abs_deviation (scale="normal"), NumPy's
    median, and the generating scatter 0.03."""
    z_spec = rng.uniform(0, 6, 2000)
    z_phot = z_spec + (1 + z_spec) * rng.normal(0.01, 0.03, 2000)
    d = (z_phot - z_spec) / (1 + z_spec)
    expected = stats.median_abs_deviation(d, scale="normal")   # 1 / Phi^-1(3/4)
    assert sigma_nmad(z_phot, z_spec) == pytest.approx(expected, rel=2e-6)
    assert bias(z_phot, z_spec) == pytest.approx(np.median(d), abs=1e-15)
    assert sigma_nmad(z_phot, z_spec) == pytest.approx(0.03, rel=0.05)


@pytest.mark.reference
def test_hand_computed_values():
    """Reference: analytic, values computed by hand from the definitions."""
    z_spec = np.array([0.0, 1.0, 2.0, 3.0])
    z_phot = np.array([0.1, 1.0, 2.6, 2.0])
    np.testing.assert_allclose(dz(z_phot, z_spec), [0.1, 0.0, 0.2, -0.25])
    assert outlier_fraction(z_phot, z_spec) == 0.5
    assert outlier_fraction(z_phot, z_spec, threshold=0.22) == 0.25
    assert bias(z_phot, z_spec) == pytest.approx(0.05)
    # |dz - 0.05| = 0.05, 0.05, 0.15, 0.30 -> median 0.10
    assert sigma_nmad(z_phot, z_spec) == pytest.approx(0.14826)
    metrics = evaluate(z_phot, z_spec)
    assert metrics == pytest.approx({"n": 4, "sigma_nmad": 0.14826,
                                     "outlier_fraction": 0.5, "bias": 0.05})


@pytest.mark.parametrize("z_phot, z_spec, match", [
    ([np.nan, 1.0], [1.0, 1.0], "z_phot has 1 non-finite"),
    ([1.0], [1.0, 2.0], "shape"),
    ([], [], "empty"),
    ([1.0], [-1.0], r"1 of 1 rows have no redshift in 'z_spec' \(masked, not finite or "
                    r"outside -0.01 to 20, .*first at index 0: -1.0\)"),
    (np.ma.masked_array([1.0, 2.0], mask=[0, 1]), [1.0, 2.0], "masked"),
])
def test_bad_input(z_phot, z_spec, match):
    """Contract: bad redshift arrays are errors saying what is wrong."""
    with pytest.raises(ValueError, match=match):
        dz(z_phot, z_spec)


def test_bad_threshold():
    """Contract: a non-positive outlier threshold is an error."""
    with pytest.raises(ValueError, match="threshold"):
        outlier_fraction([1.0], [1.0], threshold=0)


@pytest.mark.reference
def test_evaluate_by_z_matches_numpy_per_bin():
    """Reference: each bin's figures written out in NumPy (NMAD of dz =
    (z_phot - z_spec) / (1 + z_spec) times 1.4826, |dz| > 0.15)."""
    from photoz_numba.metrics import evaluate_by_z
    rng = np.random.default_rng(5)
    z_spec = rng.uniform(0, 7, 3000)
    z_phot = z_spec + (1 + z_spec) * rng.standard_t(3, 3000) * 0.03
    rows = evaluate_by_z(z_phot, z_spec)
    assert list(rows["z_low"]) == [0, 1, 2, 3, 4, 5, 6]
    for row in rows:
        last = row["z_high"] == 7
        inside = (z_spec >= row["z_low"]) & ((z_spec <= 7) if last else (z_spec < row["z_high"]))
        d = (z_phot[inside] - z_spec[inside]) / (1 + z_spec[inside])
        assert row["n"] == inside.sum()
        assert row["sigma_nmad"] == pytest.approx(1.4826 * np.median(np.abs(d - np.median(d))),
                                                  rel=1e-4)
        assert row["outlier_fraction"] == pytest.approx(np.mean(np.abs(d) > 0.15), abs=1e-15)
        assert row["median_dz"] == pytest.approx(np.median(d), abs=1e-15)
    assert rows["n"].sum() == 3000
    # The default bins end at the highest z_spec rounded up (7 above).
    assert list(evaluate_by_z([0.5, 1.0], [0.4, 2.29])["z_high"]) == [1, 2, 3]
    assert list(evaluate_by_z([0.5], [0.0])["z_high"]) == [1]
    # A sentinel is no redshift: skipped, warned of, and adds no bins.
    with pytest.warns(PhotoZWarning, match=r"1 of 2 rows have no redshift .* index 1: 99.0"):
        assert list(evaluate_by_z([0.5, 1.0], [0.4, 99.0])["z_high"]) == [1]
    empty = evaluate_by_z([1.0], [1.0], edges=[0, 2, 3])
    assert empty["n"][1] == 0 and np.isnan(empty["sigma_nmad"][1])
    with pytest.raises(ValueError, match="increasing"):
        evaluate_by_z([1.0], [1.0], edges=[0, 2, 1])


def test_redshift_values_is_the_rule_as_nan():
    """NaN exactly where no_redshift says (masked, NaN, -1, 99, -99,
    999), the values elsewhere, and the caller's array left as it was."""
    import numpy as np
    from photoz_numba.metrics import no_redshift, redshift_values
    given = np.array([0.5, -0.001, -0.01, 20.0, 99.0, -99.0, -1.0, 999.0, np.nan, 3.0])
    masked = np.ma.array(given, mask=[False] * 9 + [True])
    kept = given.copy()
    values = redshift_values(masked)
    assert values.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(values), no_redshift(masked))
    np.testing.assert_array_equal(values[:4], [0.5, -0.001, -0.01, 20.0])
    assert np.isnan(values[4:]).all()
    np.testing.assert_array_equal(redshift_values(given)[9], 3.0)
    np.testing.assert_array_equal(given, kept)


_TWINS = ("{} of the {} {} are flagged training_twin (512): training galaxies predicted "
          "from themselves, each its own nearest neighbour, so their figures are those of "
          "the training set, not of new galaxies (predict the training galaxies out of "
          "fold: photoz_numba.validation.cross_val_predict)")


@pytest.mark.reference
def test_training_twins_are_said_once_with_their_count(rng):
    """Rows flagged training_twin (bit 512, with other bits) are counted
    among the rows evaluated (those with a redshift: reference, a loop
    over the rows) in one warning per call of evaluate and evaluate_by_z
    (not per bin), whether the flags come with z_phot's table or are
    given; nothing without flags or without twins. Before, nothing."""
    import warnings

    from astropy.table import Table

    from photoz_numba.metrics import evaluate_by_z
    n = 200
    z_spec = rng.uniform(0.1, 2.9, n)
    z_spec[[3, 17, 40]] = 99.0                              # no redshift
    flags = rng.choice(np.array([0, 8, 512, 512 | 8, 512 | 1, 2], dtype=np.int16), n)
    flags[3] = 512                                          # a twin not evaluated
    table = Table({"z_phot": z_spec + rng.normal(0, 0.05, n), "zspec": z_spec,
                   "z_phot_flag": flags})
    twins = sum(1 for flag, z in zip(flags.tolist(), z_spec.tolist())
                if flag & 512 and z != 99.0)
    assert 0 < twins < n - 3
    said = _TWINS.format(twins, n - 3, "rows evaluated")
    for call in (lambda: evaluate(table["z_phot"], table["zspec"]),
                 lambda: evaluate_by_z(table["z_phot"], table["zspec"]),
                 lambda: evaluate(np.asarray(table["z_phot"]), z_spec, z_phot_flag=flags),
                 lambda: evaluate_by_z(list(table["z_phot"]), z_spec, edges=[0, 1, 2, 3],
                                       z_phot_flag=list(flags))):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        assert [str(w.message) for w in caught if "twin" in str(w.message)] == [said]
    table["z_phot_flag"] &= ~np.int16(512)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate(table["z_phot"], table["zspec"])
        evaluate(np.asarray(table["z_phot"]), z_spec)       # no flags given
    assert not [w for w in caught if "twin" in str(w.message)]
    with pytest.raises(ValueError, match="one integer flag per row"):
        evaluate(table["z_phot"], table["zspec"], z_phot_flag=flags[:-1])


def test_the_training_set_predicted_again_is_said_by_evaluate():
    """A model's own training rows predicted: every row a twin (the flag
    of test_model), and evaluate of the predictions says so."""
    from photoz_numba import PhotoZModel
    from photoz_numba.datasets import toy_catalogue
    train = toy_catalogue(300)
    out = PhotoZModel(["g", "r", "i"], k=20).fit(train).predict(train)
    assert ((np.asarray(out["z_phot_flag"]) & 512) != 0).all()
    with pytest.warns(PhotoZWarning, match=r"^300 of the 300 rows evaluated are flagged "
                                           r"training_twin"):
        evaluate(out["z_phot"], out["zspec"])
