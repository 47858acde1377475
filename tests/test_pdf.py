"""p(z): the compiled mixture against a plain NumPy implementation of the
same maths and analytic cases; the model's p(z) API, files and bad input."""

import os
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table
from scipy import stats
from scipy.special import ndtr

from photoz_numba import PhotoZModel
from photoz_numba.datasets import toy_catalogue
from photoz_numba.exceptions import NotFittedError, PhotoZWarning
from photoz_numba.pdf import (PIT_LEVELS, PzState, central_coverage, check_grid, pit_ks,
                              pz_cdf, pz_density, pz_percentiles, pz_scores)


def _triweight_cdf(t):
    t = np.clip(t, -1, 1)
    return 0.5 + 35 / 32 * (t - t ** 3 + 0.6 * t ** 5 - t ** 7 / 7)


def _reference_knots(state, z_hat):
    """NumPy: a galaxy's PIT knots, each level's knot interpolated in z_hat
    between the regions' centres (held constant beyond them)."""
    if state.pit_centres is None:
        return state.pit_knots
    return np.array([np.interp(z_hat, state.pit_centres, column)
                     for column in np.asarray(state.pit_knots).T])


def _reference_cdf(state, z_hat, scale, neighbours, z):
    """NumPy: the mixture's CDF, truncated at 0 and mapped through the PIT
    knots (docs of photoz_numba._kernels.pz)."""
    out = np.empty(z.shape)
    for q in range(z_hat.size):
        u = state.pulls[neighbours[q][neighbours[q] >= 0]]
        u = u[np.isfinite(u)]
        rest = 1 - state.core_weight - state.tail_weight

        def raw(x):
            value = (state.core_weight * ndtr((x - z_hat[q]) / (state.core_width * scale[q]))
                     + state.tail_weight * ndtr((x - z_hat[q]) / (state.tail_width * scale[q])))
            if u.size == 0:
                return value / (1 - rest)
            centres = z_hat[q] + state.pull_scale * scale[q] * u
            half = state.pull_width * scale[q]
            return value + rest * _triweight_cdf((x - centres) / half).mean()

        below = raw(0.0)
        # Truncated at z_max too, unless predicted above it or (nearly)
        # none of it lies below.
        top = np.inf if state.z_max is None or z_hat[q] > state.z_max else state.z_max
        mass = raw(top) - below if np.isfinite(top) else 1 - below
        if mass < 1e-9:
            top, mass = np.inf, 1 - below
        knots = _reference_knots(state, z_hat[q])
        for j, x in enumerate(np.atleast_1d(z[q])):
            F = 0.0 if x <= 0 else 1.0 if x >= top else (raw(x) - below) / mass
            mapped = np.interp(F, knots, PIT_LEVELS)
            if z.ndim == 1:
                out[q] = mapped
            else:
                out[q, j] = mapped
    return out


@pytest.fixture
def mixture(rng):
    n_train, n = 300, 40
    pulls = rng.standard_t(3, n_train)
    pulls[rng.random(n_train) < 0.1] = np.nan          # galaxies without a pull
    knots = np.sort(np.concatenate([[0, 1], rng.uniform(0, 1, PIT_LEVELS.size - 2)]))
    state = PzState(pulls, 0.4, 0.8, 0.05, 20.0, 1.0, 0.7, knots, "kernel")
    z_hat = rng.uniform(0.05, 6, n)
    scale = rng.uniform(0.01, 0.2, n)
    neighbours = rng.integers(0, n_train, (n, 25))
    neighbours[rng.random((n, 25)) < 0.2] = -1
    neighbours[0] = -1                                  # no neighbour at all
    return state, z_hat, scale, neighbours


@pytest.mark.reference
def test_cdf_matches_numpy_reference(mixture, rng):
    """Reference: the NumPy mixture above, at random redshifts."""
    state, z_hat, scale, neighbours = mixture
    z = z_hat[:, None] + scale[:, None] * rng.normal(0, 3, (z_hat.size, 7))
    np.testing.assert_allclose(pz_cdf(state, z_hat, scale, neighbours, z),
                               _reference_cdf(state, z_hat, scale, neighbours, z),
                               rtol=0, atol=1e-12)


@pytest.fixture
def regional(mixture, rng):
    """The mixture with three regions of z_hat, each its own recalibration."""
    state, z_hat, scale, neighbours = mixture
    knots = np.array([np.sort(np.concatenate([[0, 1], rng.uniform(0, 1, PIT_LEVELS.size - 2)]))
                      for _ in range(3)])
    return state._replace(pit_knots=knots, pit_centres=np.array([1.0, 2.5, 4.0])), z_hat, \
        scale, neighbours


@pytest.mark.reference
def test_regional_cdf_matches_numpy_reference(regional, rng):
    """Reference: the NumPy mixture with each galaxy's knots interpolated
    between the regions' (z_hat from 0.05 to 6: below, between and above
    the centres)."""
    state, z_hat, scale, neighbours = regional
    assert (z_hat < 1.0).any() and (z_hat > 4.0).any()
    z = z_hat[:, None] + scale[:, None] * rng.normal(0, 3, (z_hat.size, 7))
    np.testing.assert_allclose(pz_cdf(state, z_hat, scale, neighbours, z),
                               _reference_cdf(state, z_hat, scale, neighbours, z),
                               rtol=0, atol=1e-12)
    probabilities = [0.025, 0.16, 0.5, 0.84, 0.975]
    quantiles = pz_percentiles(state, z_hat, scale, neighbours, probabilities)
    for j, p in enumerate(probabilities):
        np.testing.assert_allclose(
            _reference_cdf(state, z_hat, scale, neighbours, quantiles[:, j]), p, atol=1e-6)


def _biased_sample(rng, n, shift):
    """Galaxies with a Gaussian p(z) of width 0.1 at z_hat (no tail, no
    neighbours) whose true redshifts lie ``shift * (1.5 - z_hat)`` widths
    above z_hat for z_hat < 1.5 and at it elsewhere, plus N(0, 1) widths
    of scatter."""
    z_hat = rng.uniform(0.3, 4.0, n)
    scale = np.full(n, 0.1)
    z = z_hat + 0.1 * (rng.normal(size=n) + shift * np.maximum(1.5 - z_hat, 0.0))
    return z_hat, scale, np.full((n, 3), -1), z


@pytest.mark.reference
def test_pit_regions_mend_a_calibration_that_differs_by_region(rng):
    """Reference: analytic. Where the truth lies up to 1.2 widths above
    the prediction, for z_hat < 1.5 only, one recalibration of all
    galaxies cannot make the PIT uniform there; regional ones, learnt on
    one sample, do on a new one. With no such shift, the regions chosen
    do no harm."""
    from photoz_numba.pdf import pit_knots, pit_regions
    state = PzState(np.zeros(1), 1.0, 1.0, 0.0, 20.0, 1.0, 0.7, PIT_LEVELS, "kernel")
    # (Some 1950 galaxies below z_hat = 1.5: a uniform PIT's KS distance
    # is about 0.02 there, rarely above 0.04.)
    for shift, most in ((1.0, 0.06), (0.0, 0.06)):
        z_hat, scale, neighbours, z = _biased_sample(rng, 6000, shift)
        regional = pit_regions(state, z_hat, scale, neighbours, z)
        raw = pz_cdf(state, z_hat, scale, neighbours, z)
        one = state._replace(pit_knots=pit_knots(raw))
        z_hat, scale, neighbours, z = _biased_sample(rng, 6000, shift)
        low = z_hat < 1.5
        ks_regional = pit_ks(pz_cdf(regional, z_hat, scale, neighbours, z)[low])
        ks_one = pit_ks(pz_cdf(one, z_hat, scale, neighbours, z)[low])
        assert ks_regional < most
        if shift:
            assert regional.pit_centres is not None
            assert ks_one > max(0.1, 2.5 * ks_regional)      # 0.6 widths off on average
        assert pit_ks(pz_cdf(regional, z_hat, scale, neighbours, z)[~low]) < most


@pytest.mark.reference
def test_density_is_the_derivative_and_integrates_to_one(mixture):
    """Reference: numerical integration of the density gives the CDF (with
    a smooth recalibration, so that a fine grid resolves the density)."""
    state, z_hat, scale, neighbours = mixture
    state = state._replace(pit_knots=PIT_LEVELS ** 1.3)
    # Fine where the cores are, coarse out to where the tails end.
    grid = np.concatenate([np.linspace(0, 12, 240001), np.linspace(12.01, 100, 8800)])
    z = np.broadcast_to(grid, (z_hat.size, grid.size))
    density = pz_density(state, z_hat, scale, neighbours, np.ascontiguousarray(z))
    total = np.trapezoid(density, grid, axis=1)
    np.testing.assert_allclose(total, 1.0, atol=2e-3)
    cumulative = np.concatenate([np.zeros((z_hat.size, 1)), np.cumsum(
        0.5 * (density[:, 1:] + density[:, :-1]) * np.diff(grid), axis=1)], axis=1)
    at = [60000, 120000]
    np.testing.assert_allclose(cumulative[:, at],
                               pz_cdf(state, z_hat, scale, neighbours,
                                      np.ascontiguousarray(z[:, at])), atol=2e-3)


@pytest.fixture
def truncated(mixture):
    """The mixture truncated at z_max = 3: a third of its galaxies' z_hat
    lie above it (one so far that less than 1e-9 of its p(z) lies below),
    and those are not truncated at the top."""
    state, z_hat, scale, neighbours = mixture
    z_hat, scale = z_hat.copy(), scale.copy()
    z_hat[1], scale[1] = 40.0, 0.01
    return state._replace(z_max=3.0), z_hat, scale, neighbours


@pytest.mark.reference
def test_truncated_pz_matches_numpy_reference(truncated, rng):
    """Reference: the NumPy mixture above, truncated at z_max and
    renormalised for the galaxies predicted below z_max: its CDF at random
    redshifts (1 at and beyond z_max), its density (0 beyond z_max,
    integrating to 1 between 0 and z_max) and its percentiles (within
    [0, z_max], inverting the CDF). A galaxy predicted above z_max keeps
    its p(z) whole above it, its median near its z_hat."""
    state, z_hat, scale, neighbours = truncated
    z = z_hat[:, None] + scale[:, None] * rng.normal(0, 3, (z_hat.size, 7))
    z[:, 0] = 3.0
    z[2:, 1] = rng.uniform(0.0, 3.0, z_hat.size - 2)
    cdf = pz_cdf(state, z_hat, scale, neighbours, z)
    np.testing.assert_allclose(cdf, _reference_cdf(state, z_hat, scale, neighbours, z),
                               rtol=0, atol=1e-12)
    above = z_hat > 3.0
    assert 0 < above.sum() < z_hat.size
    assert (cdf[~above, 0] == 1.0).all() and (cdf[above, 0] < 0.5).all()
    grid = np.linspace(0.0, 3.5, 70001)
    smooth = state._replace(pit_knots=PIT_LEVELS ** 1.3)
    density = pz_density(smooth, z_hat[~above], scale[~above], neighbours[~above],
                         np.ascontiguousarray(np.broadcast_to(grid, ((~above).sum(), grid.size))))
    assert (density[:, grid > 3.0] == 0).all()
    np.testing.assert_allclose(np.trapezoid(density, grid, axis=1), 1.0, atol=2e-3)
    probabilities = [0.025, 0.16, 0.5, 0.84, 0.975]
    quantiles = pz_percentiles(state, z_hat, scale, neighbours, probabilities)
    assert (quantiles[~above] <= 3.0).all() and (quantiles[above, 2] > 3.0).all()
    # Its median is that of the untruncated p(z).
    whole = pz_percentiles(state._replace(z_max=None), z_hat[above], scale[above],
                           neighbours[above], [0.5])[:, 0]
    np.testing.assert_allclose(quantiles[above, 2], whole, rtol=0, atol=1e-9)
    for j, p in enumerate(probabilities):
        np.testing.assert_allclose(pz_cdf(state, z_hat, scale, neighbours, quantiles[:, j]),
                                   p, atol=1e-6)


@pytest.mark.reference
def test_percentiles_invert_the_cdf(mixture):
    state, z_hat, scale, neighbours = mixture
    probabilities = [0.025, 0.16, 0.5, 0.84, 0.975]
    quantiles = pz_percentiles(state, z_hat, scale, neighbours, probabilities)
    assert (np.diff(quantiles, axis=1) > 0).all()
    for j, p in enumerate(probabilities):
        np.testing.assert_allclose(pz_cdf(state, z_hat, scale, neighbours, quantiles[:, j]),
                                   p, atol=1e-6)


@pytest.mark.reference
def test_probability_above_threshold_analytic():
    """Reference: analytic. A pure Gaussian core (no tail, no neighbours,
    identity recalibration) far from z = 0: P(z > z0) = 1 - Phi((z0 - z) / w)."""
    state = PzState(np.zeros(1), 1.0, 0.8, 0.0, 20.0, 1.0, 0.7, PIT_LEVELS, "kernel")
    z_hat, scale = np.array([6.2, 5.8, 7.0]), np.array([0.25, 0.5, 0.1])
    neighbours = np.full((3, 4), -1)
    above = 1 - pz_cdf(state, z_hat, scale, neighbours, np.full(3, 6.0))
    np.testing.assert_allclose(above, stats.norm.sf(6.0, loc=z_hat, scale=0.8 * scale),
                               rtol=1e-12)
    # Its density is the Gaussian's, and its CDE terms are analytic too.
    scores = pz_scores(state, z_hat, scale, neighbours, z_hat)
    width = 0.8 * scale
    np.testing.assert_allclose(scores[:, 0], 1 / (2 * np.sqrt(np.pi) * width), rtol=1e-4)
    np.testing.assert_allclose(scores[:, 1], 1 / (np.sqrt(2 * np.pi) * width), rtol=1e-12)
    np.testing.assert_allclose(scores[:, 2], 0.5, atol=1e-12)


@pytest.mark.reference
def test_coverage_and_ks_of_uniform_pit():
    """Reference: analytic, a uniform PIT covers each central interval at
    its level, and the KS distance of n evenly spaced values is 1 / (2n)."""
    pit = (np.arange(1000) + 0.5) / 1000
    for level in (0.5, 0.6827, 0.9545):
        assert central_coverage(pit, level) == pytest.approx(level, abs=1e-3)
    assert pit_ks(pit) == pytest.approx(0.0005)
    assert pit_ks(stats.uniform.rvs(size=20000, random_state=1)) < 0.015


def model_training(model):
    """The training table of the `calibrated` fixture."""
    return toy_catalogue(1500, seed=3)[:1200]


@pytest.fixture(scope="module")
def calibrated():
    table = toy_catalogue(1500, seed=3)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:1200]).calibrate(table[:1200])
    return model, table[1200:]


def test_predict_adds_ordered_percentiles(calibrated):
    model, test = calibrated
    out = model.predict(test)
    names = ["z_phot_025", "z_phot_160", "z_phot_500", "z_phot_840", "z_phot_975"]
    assert out.colnames[-5:] == names
    values = np.column_stack([np.asarray(out[name]) for name in names])
    assert (np.diff(values, axis=1) > 0).all()
    np.testing.assert_allclose(out["z_phot_err"], 0.5 * (values[:, 3] - values[:, 1]))
    # z_phot is the statistic of p(z) the calibration chose: the median, or
    # the kernel prediction (the uncalibrated model's z_phot).
    kernel = PhotoZModel(**model.get_params()).fit(model_training(model)).predict(test)
    expected = values[:, 2] if model.pz_.point == "median" else np.asarray(kernel["z_phot"])
    np.testing.assert_array_equal(out["z_phot"], expected)
    # The PIT of the true redshifts is the CDF there.
    pit = model.cdf(test, "zspec")
    z_spec = np.asarray(test["zspec"])
    inside = (z_spec >= values[:, 1]) & (z_spec <= values[:, 3])
    np.testing.assert_array_equal(inside, (pit >= 0.16 - 1e-9) & (pit <= 0.84 + 1e-9))


def test_pdf_rows_integrate_to_one(calibrated):
    model, test = calibrated
    for grid in (np.linspace(0, 4, 40001), np.linspace(0, 4, 41), np.geomspace(0.01, 6, 300)):
        density = model.pdf(test[:20], grid)
        assert density.shape == (20, grid.size)
        np.testing.assert_allclose(np.trapezoid(density, grid, axis=1), 1.0, atol=1e-9)


def test_pdf_and_cdf_bad_input(calibrated):
    model, test = calibrated
    for grid, message in (([], "at least 2"), ([1.0, 0.5], "strictly increasing"),
                          ([0.1, np.nan, 0.3], "NaN")):
        with pytest.raises(ValueError, match=message):
            model.pdf(test[:3], grid)
    values = np.array([0.5, np.nan, 1.0])
    result = model.cdf(test[:3], values)
    assert np.isnan(result[1]) and np.isfinite(result[[0, 2]]).all()
    with pytest.raises(ValueError, match="one redshift per row"):
        model.cdf(test[:3], [0.5, 1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        check_grid([0.0, 0.0, 1.0])


def test_probability_above_takes_what_cdf_takes(calibrated):
    model, test = calibrated
    rows = test[:5]
    np.testing.assert_array_equal(model.probability_above(rows, "zspec"),
                                  1 - model.cdf(rows, "zspec"))
    np.testing.assert_array_equal(model.probability_above(rows, 2.0),
                                  1 - model.cdf(rows, np.full(5, 2.0)))
    with pytest.raises(ValueError, match=r"one redshift per row \(5\)"):
        model.probability_above(rows, [1.0, 2.0])


def test_unpredicted_rows_have_no_pz(calibrated):
    model, test = calibrated
    rows = test[:4].copy()
    rows["r"][1] = np.nan
    rows["i"][1] = np.nan                     # one band left: not predicted
    out = model.predict(rows)
    assert out["z_phot_160"].mask[1] and not out["z_phot_160"].mask[0]
    assert np.isnan(model.cdf(rows, "zspec")[1])
    assert np.isnan(model.pdf(rows, np.linspace(0, 4, 50))[1]).all()


def test_no_pz_without_calibration():
    table = toy_catalogue(300)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table)
    assert "z_phot_160" not in model.predict(table).colnames
    with pytest.raises(NotFittedError, match="calibrate"):
        model.cdf(table, "zspec")
    with pytest.raises(ValueError, match="training table itself"):
        model.calibrate(toy_catalogue(300, seed=9))


def test_pz_survives_model_files_and_streaming(calibrated, tmp_path):
    from photoz_numba.io import predict_fits
    model, test = calibrated
    path = tmp_path / "model.fits"
    model.write(path)
    again = PhotoZModel.read(path)
    assert again.output_schema() == model.output_schema()
    # p(z) ends at the training set's highest redshift, in the file too.
    assert again.pz_.z_max == model.pz_.z_max == model.train_redshifts_.max()
    out, back = model.predict(test), again.predict(test)
    for name in out.colnames:
        np.testing.assert_array_equal(out[name], back[name])
    catalogue = tmp_path / "test.fits"
    test.write(catalogue)
    predict_fits(model, catalogue, tmp_path / "out.fits", chunk_size=100)
    streamed = Table.read(tmp_path / "out.fits")
    for name in ("z_phot_025", "z_phot_500", "z_phot_975", "z_phot_err"):
        np.testing.assert_array_equal(streamed[name], out[name])


def test_qp_round_trip(calibrated):
    qp = pytest.importorskip("qp")
    from photoz_numba.pdf import to_qp
    model, test = calibrated
    grid = np.linspace(0, 4, 8001)
    ensemble = to_qp(model, test[:10], grid)
    assert isinstance(ensemble, qp.Ensemble) and ensemble.npdf == 10
    z = np.asarray(test["zspec"][:10])
    density = model.pdf(test[:10], grid)
    np.testing.assert_allclose(ensemble.pdf(grid[::50]), density[:, ::50], rtol=1e-6,
                               atol=1e-6)
    # qp integrates the interpolated density: within a grid step of ours.
    np.testing.assert_allclose(ensemble.cdf(z[:, None])[:, 0], model.cdf(test[:10], z),
                               atol=0.05)


def test_qp_warns_of_pz_off_its_grid_at_the_caller(calibrated):
    """qp renormalises each p(z) to its grid: to_qp says which rows lose
    more than 0.1 % outside it (by the model's own CDF at the grid's ends),
    and the warning points at the line that called to_qp."""
    pytest.importorskip("qp")
    from photoz_numba.pdf import to_qp
    model, test = calibrated
    grid = np.linspace(0.0, 1.0, 201)
    ends = (model.cdf(test, np.full(len(test), 1.0))
            - model.cdf(test, np.zeros(len(test))))
    rows = test[ends > 0.5][:30]          # qp refuses a p(z) all off its grid
    short = ends[ends > 0.5][:30] < 0.999
    assert 0 < short.sum() < len(rows) == 30
    with pytest.warns(PhotoZWarning, match=f"^{short.sum()} of 30 rows have more than 0.1%") \
            as record:
        to_qp(model, rows, grid)
    assert [w.filename for w in record] == [__file__]


def test_regional_recalibration_survives_model_files(calibrated, tmp_path):
    """A p(z) recalibrated in regions of z_hat is written and read back
    whole (its centres included): the same percentiles; a file whose
    knots do not match its centres is refused."""
    from astropy.io import fits
    original, test = calibrated
    model = PhotoZModel.from_fitted_state(original.fitted_state())
    knots = np.array([PIT_LEVELS ** 1.2, PIT_LEVELS, PIT_LEVELS ** 0.8])
    model.pz_ = model.pz_._replace(pit_knots=knots, pit_centres=np.array([0.5, 1.0, 1.5]))
    model.write(tmp_path / "model.fits")
    again = PhotoZModel.read(tmp_path / "model.fits")
    np.testing.assert_array_equal(again.pz_.pit_centres, [0.5, 1.0, 1.5])
    out, back = model.predict(test), again.predict(test)
    # (The regions change the percentiles, so the round trip is not vacuous.)
    assert not np.array_equal(out["z_phot_025"], original.predict(test)["z_phot_025"])
    for name in ("z_phot_025", "z_phot_500", "z_phot_975"):
        np.testing.assert_array_equal(out[name], back[name])
    with fits.open(tmp_path / "model.fits") as hdus:
        shape = Table.read(hdus["PDFSHAPE"])
        shape.remove_column("pit_centres")
        hdus["PDFSHAPE"] = fits.table_to_hdu(shape)
        hdus["PDFSHAPE"].name = "PDFSHAPE"
        hdus.writeto(tmp_path / "broken.fits", checksum=True)      # checksums valid
    with pytest.raises(ValueError, match="pit_knots without pit_centres must be 1-d"):
        PhotoZModel.read(tmp_path / "broken.fits")


def test_a_model_file_without_pz_reads_as_before(tmp_path):
    table = toy_catalogue(400)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table).calibrate(table, pz=False)
    model.write(tmp_path / "m.fits")
    assert PhotoZModel.read(tmp_path / "m.fits").pz_ is None
    assert os.path.getsize(tmp_path / "m.fits") > 0


@pytest.mark.reference
def test_pit_from_percentiles_is_exact_at_their_levels():
    """Reference: analytic, a Gaussian's percentiles; the PIT of a true
    redshift at a percentile is that percentile's level."""
    from photoz_numba.calibration import pit_from_percentiles
    from photoz_numba.schema import PERCENTILES
    centre, width = np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.05])
    table = Table({name: stats.norm.ppf(p, centre, width) for name, p in PERCENTILES})
    for name, p in PERCENTILES:
        table["zspec"] = table[name]
        np.testing.assert_allclose(pit_from_percentiles(table), p, atol=1e-12)


def test_pdf_report_and_plots(calibrated):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from photoz_numba.calibration import pdf_report
    from photoz_numba.plotting import plot_interval_coverage, plot_pdf_pit
    model, test = calibrated
    report = pdf_report(model.cdf(test, "zspec"), cde_loss=model.cde_loss(test, "zspec"))
    assert report.n == len(test) and report.counts.sum() == len(test)
    # The coverage at the 5 % levels is the PIT's central fractions.
    pit = model.cdf(test, "zspec")
    assert report.coverage[report.levels == 0.5][0] == np.mean(np.abs(pit - 0.5) <= 0.25)
    assert report.cde_loss < 0 and "CDE loss" in repr(report)
    # The 1 and 2 sigma levels are measured and reported as such.
    for level in (0.6827, 0.9545):
        assert report.coverage[report.levels == level][0] == \
            np.mean(np.abs(pit - 0.5) <= level / 2)
        assert f"{100 * level:.2f} % intervals hold" in repr(report)
    ax = plot_pdf_pit(report)
    assert ax.get_ylabel() == "density"
    ax = plot_interval_coverage(report)
    assert ax.get_legend() is not None
    import matplotlib.pyplot as plt
    plt.close("all")


def test_cli_calibrate_reports_the_pz(calibrated, tmp_path):
    from photoz_numba.cli import main
    model, test = calibrated
    model.write(tmp_path / "model.fits")
    model.predict(test).write(tmp_path / "predictions.fits")
    for extra, approximate in (([], True), (["--model", str(tmp_path / "model.fits")], False)):
        out = tmp_path / ("approx" if approximate else "exact")
        assert main(["calibrate", str(tmp_path / "predictions.fits"), "-o", str(out),
                     "--no-mixture", *extra]) == 0
        table = Table.read(out / "pdf_report.ecsv")
        assert table.meta["approximate"] is approximate
        assert (table.meta["cde_loss"] is None) is approximate
        assert (out / "pdf_pit.png").exists() and (out / "pdf_coverage.png").exists()
    exact = Table.read(tmp_path / "exact" / "pdf_report.ecsv")
    approx = Table.read(tmp_path / "approx" / "pdf_report.ecsv")
    # Exact at the percentiles' own central level 95 %; interpolated elsewhere.
    at = exact["level"] == 0.95
    assert approx["coverage"][at][0] == exact["coverage"][at][0]


def _one_redshift_clump(z):
    """A toy catalogue and a training set made of all its rows but the
    first, plus six near copies of the first row's photometry all at
    redshift ``z``: the first row's nearest neighbours share one redshift."""
    from astropy.table import vstack
    table = toy_catalogue(1000, seed=3)
    clump = vstack([table[:1]] * 6)
    for band in ("g", "r", "i"):
        clump[band] = clump[band] * (1 + 1e-4 * np.arange(6))
    clump["zspec"] = z
    return table, vstack([table[1:], clump])


def test_neighbours_of_one_redshift_give_no_error():
    """Contract: a galaxy whose fitted neighbours all have one redshift (a
    group quoted at the same z) gets that z as z_phot and the no_error
    flag, with z_phot_err and the p(z) percentiles masked: not a zero
    error, nor NaN in a column that is not masked."""
    from photoz_numba.flags import NO_ERROR, decode_z_phot_flags
    table, train = _one_redshift_clump(1.25)
    query = table[:1]
    for calibrate in (False, True):
        model = PhotoZModel(["g", "r", "i"], k=5).fit(train)
        if calibrate:
            with pytest.warns(PhotoZWarning, match="zero error"):
                model.calibrate(train)
        out = model.predict(query)
        assert out["z_phot"][0] == 1.25 and not np.ma.is_masked(out["z_phot"][0])
        assert "no_error" in decode_z_phot_flags(int(out["z_phot_flag"][0]))
        assert out["z_phot_flag"][0] & NO_ERROR
        assert np.ma.is_masked(out["z_phot_err"][0])
        if calibrate:
            assert out["z_phot_err_raw"][0] == 0.0
            for name in ("z_phot_025", "z_phot_500", "z_phot_975"):
                assert np.ma.is_masked(out[name][0])
    # Other galaxies are not flagged.
    assert not (model.predict(table[1:200])["z_phot_flag"] & NO_ERROR).any()


def test_pit_regions_fall_back_when_the_whole_set_ties():
    """Contract: two regions win the cross-validation, but on the whole
    set half the galaxies share one z_hat and the two regions' centres
    tie: the best count the whole set allows is taken (here one region),
    not a crash."""
    from photoz_numba.pdf import pit_regions, regional_knots
    rng = np.random.default_rng(5)
    n = 2400
    halves = np.random.default_rng(0).permutation(n) % 2 == 0   # pit_regions' own halves
    first, second = np.flatnonzero(halves), np.flatnonzero(~halves)
    z_hat = np.full(n, 1.0)
    z_hat[first[:300]] = rng.uniform(0.2, 0.9, 300)
    z_hat[first[300:598]] = rng.uniform(1.1, 3, 298)
    z_hat[second[:299]] = rng.uniform(0.2, 0.9, 299)
    z_hat[second[299:599]] = rng.uniform(1.1, 3, 300)
    assert regional_knots(z_hat, np.zeros(n), 2) is None
    assert all(regional_knots(z_hat[part], np.zeros(part.sum()), 2) is not None
               for part in (halves, ~halves))
    z = z_hat + 0.1 * (rng.normal(size=n) + np.where(z_hat <= 1.0, 1.5, -1.5))
    state = PzState(np.zeros(1), 1.0, 1.0, 0.0, 20.0, 1.0, 0.7, PIT_LEVELS, "kernel")
    out = pit_regions(state, z_hat, np.full(n, 0.1), np.full((n, 3), -1), z)
    assert out.pit_centres is None and out.pit_knots.shape == PIT_LEVELS.shape


def test_a_recalibration_that_does_not_fit_its_centres_is_refused(mixture):
    """Bad input: knots that do not match their centres, or centres that do
    not increase, are a clear error, not a read out of bounds."""
    state, z_hat, scale, neighbours = mixture
    for knots, centres, match in (
            (PIT_LEVELS, [0.5, 1.0, 1.5], "do not match pit_centres"),
            (np.array([PIT_LEVELS] * 2), [1.0, 0.5], "finite and increasing"),
            (np.array([PIT_LEVELS] * 2), None, "must be 1-d")):
        bad = state._replace(pit_knots=knots, pit_centres=centres)
        with pytest.raises(ValueError, match=match):
            pz_percentiles(bad, z_hat, scale, neighbours, [0.5])


@pytest.mark.parametrize("offset", ["median", "mean", "none"])
def test_no_spread_whatever_the_offset(offset):
    """Contract: neighbours of one redshift are flagged no_error whatever
    the offset (with the mean, their mean is not always that redshift in
    floating point, and their RMS residual not exactly 0), and so is a fit
    that the window leaves with fewer than three neighbours; no other row
    is flagged."""
    from photoz_numba.flags import NO_ERROR
    table, train = _one_redshift_clump(0.1 + 0.1 + 0.1)
    out = PhotoZModel(["g", "r", "i"], k=3, offset=offset).fit(train).predict(table[:1])
    assert out["z_phot_flag"][0] & NO_ERROR and np.ma.is_masked(out["z_phot_err"][0])
    if offset != "none":        # (without an offset the ridge shrinks z towards 0)
        assert abs(out["z_phot"][0] - 0.3) < 1e-12
    # A very narrow window leaves one or two neighbours of ten for some.
    noisy = toy_catalogue(1000, seed=4)
    # (Folded at 0: a redshift below -0.01 is no redshift, and is skipped.)
    noisy["zspec"] = np.abs(noisy["zspec"] + np.random.default_rng(1).normal(0, 0.3, len(noisy)))
    out = PhotoZModel(["g", "r", "i"], k=10, window=0.01, offset=offset).fit(
        noisy[:800]).predict(noisy[800:])
    few = np.asarray(out["z_phot_nused"]) < 3
    flagged = (np.asarray(out["z_phot_flag"]) & NO_ERROR) != 0
    assert few.sum() > 5
    np.testing.assert_array_equal(flagged, few)
    np.testing.assert_array_equal(np.ma.getmaskarray(out["z_phot_err"]), few)


def test_a_median_point_keeps_the_kernel_z_phot_without_a_pz(calibrated, tmp_path):
    """Contract: a model whose z_phot is the p(z) median gives the kernel's
    z_phot (not NaN) on a no_error row, which has no p(z)."""
    from photoz_numba.flags import NO_ERROR
    table, train = _one_redshift_clump(1.25)
    model = PhotoZModel(["g", "r", "i"], k=5).fit(train)
    with pytest.warns(Warning):
        model.calibrate(train)
    model.pz_ = model.pz_._replace(point="median")
    out = model.predict(table[:3])
    assert out["z_phot_flag"][0] & NO_ERROR and out["z_phot"][0] == 1.25
    assert not (out["z_phot_flag"][1:] & NO_ERROR).any()
    np.testing.assert_array_equal(out["z_phot"][1:], out["z_phot_500"][1:])


def test_cdf_of_one_redshift_for_every_row(calibrated):
    """A scalar z is that redshift for every row: the same values as the
    array of it, and 1 - probability_above there; NaN gives NaN rows."""
    model, test = calibrated
    one = model.cdf(test, 1.0)
    np.testing.assert_array_equal(one, model.cdf(test, np.full(len(test), 1.0)))
    np.testing.assert_allclose(one, 1 - model.probability_above(test, 1.0), atol=1e-15)
    assert np.isnan(model.cdf(test, np.nan)).all()


@pytest.mark.reference
def test_stack_pdf_sums_each_rows_cell_probabilities(calibrated, monkeypatch):
    """Reference: NumPy, each row's CDF (`cdf`) at the cells' edges,
    differenced, weighted and summed over the rows that have a p(z); the
    rows go in chunks (a chunk of 7 here) and one without a p(z) is left
    out, counted and warned of."""
    import photoz_numba.pdf as pdf_module
    model, test = calibrated
    rows = test[:30].copy()
    rows["r"][4] = rows["i"][4] = np.nan            # one band left: no p(z)
    weights = np.linspace(0.0, 2.0, len(rows))
    grid = np.concatenate([[0.0, 0.05], np.linspace(0.1, 2.5, 49)])  # uneven
    edges = np.concatenate([grid[:1], 0.5 * (grid[1:] + grid[:-1]), grid[-1:]])
    cdf = np.column_stack([model.cdf(rows, np.full(len(rows), edge)) for edge in edges])
    have = np.isfinite(cdf).all(axis=1)
    expected = weights[have] @ (np.diff(cdf[have], axis=1) / np.diff(edges))
    monkeypatch.setattr(pdf_module, "_GRID_CHUNK_VALUES", 7 * (grid.size + 1))
    assert pdf_module.grid_chunk_rows(grid.size + 1) == 7
    with pytest.warns(PhotoZWarning) as record:
        stacked = model.stack_pdf(rows, grid, weights=weights)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2 and messages[0].startswith("1 of 30 rows have no p(z)")
    assert " of the stacked p(z) " in messages[1]          # some lies beyond z = 2.5
    np.testing.assert_allclose(stacked["n_z"], expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(stacked["z"], grid)
    assert stacked.meta == {"n_rows": 30, "n_stacked": 29, "n_extrapolated": int(
                                _extrapolated(model_training(model), rows).sum()),
                            "weight_sum": pytest.approx(weights[have].sum())}
    # Integrated, the weight of the galaxies within the grid.
    within = weights[have] @ (cdf[have, -1] - cdf[have, 0])
    assert np.trapezoid(stacked["n_z"], grid) == pytest.approx(within, rel=1e-12)
    # The same as summing `pdf`, and a weight column works as an array.
    rows["w"] = weights
    with pytest.warns(PhotoZWarning):
        by_name = model.stack_pdf(rows, grid, weights="w")
    # The rows whose p(z) reaches beyond z = 2.5 by more than 0.1 %, by
    # the reference CDF, are counted in pdf's warning, with the least within.
    row_within = cdf[have, -1] - cdf[have, 0]
    short = row_within < 0.999
    assert 0 < short.sum() < 29
    with pytest.warns(PhotoZWarning, match=f"^{short.sum()} of 30 rows have more than 0.1% of "
                      f"their p.z. outside the grid from 0 to 2.5 .the least within it: "
                      f"{row_within.min():.4f}."):
        density = model.pdf(rows, grid)
    np.testing.assert_allclose(by_name["n_z"], np.nansum(weights[:, None] * density, axis=0),
                               rtol=1e-12, atol=1e-12)


def test_stack_fits_streams_the_models_stack(calibrated, tmp_path):
    """io.stack_fits, chunk by chunk (a chunk of 7 rows) and through gzip,
    gives the in-memory stack (the reference, tested against NumPy above);
    stacks on other grids are not combined."""
    from photoz_numba.io import stack_fits
    from photoz_numba.pdf import combine_stacks
    model, test = calibrated
    rows = test[:50].copy()
    rows["r"][3] = rows["i"][3] = np.nan
    rows["w"] = np.linspace(0.1, 2.0, len(rows))
    grid = np.linspace(0, 4, 81)
    with pytest.warns(PhotoZWarning, match="1 of 50 rows"):
        expected = model.stack_pdf(rows, grid, weights="w")
    for name in ("rows.fits", "rows.fits.gz"):
        rows.write(tmp_path / name)
        seen = []
        with pytest.warns(PhotoZWarning, match="1 of 50 rows"):
            stacked = stack_fits(model, tmp_path / name, grid, weights="w", chunk_size=7,
                                 progress=lambda done, total: seen.append(done))
        np.testing.assert_allclose(stacked["n_z"], expected["n_z"], rtol=1e-12, atol=1e-12)
        assert stacked.meta == expected.meta | {"weight_sum": pytest.approx(
            expected.meta["weight_sum"], rel=1e-12)}
        assert seen == [7, 14, 21, 28, 35, 42, 49, 50]
    with pytest.raises(KeyError, match=r"column 'v' \(weights\) is not in"):
        stack_fits(model, tmp_path / "rows.fits", grid, weights="v")
    rows["w"][23] = -2.0
    rows.write(tmp_path / "bad.fits")
    with pytest.raises(ValueError, match=r"1 rows of rows 21 to 27 are not, the first row 23 "
                                         r"\(-2.0\)"):
        stack_fits(model, tmp_path / "bad.fits", grid, weights="w", chunk_size=7)
    with pytest.raises(ValueError, match="not on the same grid"):
        combine_stacks(grid, [expected, model.stack_pdf(test[:5], grid[:-1])])


def test_pdf_file_writes_each_rows_pdf(calibrated, tmp_path, monkeypatch):
    """io.pdf_file writes `pdf` (the reference, tested against NumPy
    above) row by row in the input's order, as float32, with the id column
    and the grid; from FITS in chunks (4 rows here) and from ECSV, to
    plain and gzipped FITS; rows without a p(z) are NaN; a non-FITS name,
    an existing output and a missing id column are refused before any
    work, and nothing is left behind."""
    import photoz_numba.pdf as pdf_module
    from photoz_numba.io import pdf_file
    model, test = calibrated
    rows = test[:30].copy()
    rows["r"][3] = rows["i"][3] = np.nan
    rows["ID"] = np.arange(len(rows)) * 7 + 1
    rows["name"] = [f"gal{i}" for i in range(len(rows))]
    grid = np.linspace(0, 4, 161)
    expected = model.pdf(rows, grid)
    rows.write(tmp_path / "rows.fits")
    rows.write(tmp_path / "rows.ecsv")
    monkeypatch.setattr(pdf_module, "_GRID_CHUNK_VALUES", 4 * (grid.size + 1))
    assert pdf_module.grid_chunk_rows(grid.size + 1) == 4
    for source, output, id_column in (("rows.fits", "a.fits", "ID"),
                                      ("rows.fits", "b.fits.gz", "name"),
                                      ("rows.ecsv", "c.fits", None)):
        assert pdf_file(model, tmp_path / source, tmp_path / output, grid,
                        id_column=id_column) == 30
        written = Table.read(tmp_path / output, hdu="PZ")
        assert written["pdf"].dtype.kind == "f" and written["pdf"].dtype.itemsize == 4
        np.testing.assert_allclose(np.ma.filled(written["pdf"], np.nan), expected, rtol=1e-6,
                                   atol=1e-30)
        assert np.isnan(np.ma.filled(written["pdf"][3], np.nan)).all()
        np.testing.assert_array_equal(Table.read(tmp_path / output, hdu="ZGRID")["z"], grid)
        if id_column:
            assert list(written[id_column]) == list(rows[id_column])
        else:
            assert written.colnames == ["pdf"]
    before = sorted(path.name for path in tmp_path.iterdir())
    for output, kwargs, error, message in (
            ("d.ecsv", {}, ValueError, "is FITS"),
            ("a.fits", {}, FileExistsError, "exists"),
            ("e.fits", {"id_column": "nope"}, KeyError, r"'nope' \(id_column\)")):
        with pytest.raises(error, match=message):
            pdf_file(model, tmp_path / "rows.fits", tmp_path / output, grid, **kwargs)
    assert sorted(path.name for path in tmp_path.iterdir()) == before


def test_pdf_file_copies_identifiers_as_they_are(calibrated, tmp_path):
    """io.pdf_file's id_column keeps what the input holds: text from a
    non-FITS input (written as ASCII, not garbled with the p(z) after it),
    64-bit unsigned integers (FITS stores them with an offset) exactly,
    and masked identifiers masked, from FITS (streamed) and from ECSV (in
    memory) alike; the p(z) beside them is `pdf`'s."""
    from astropy.table import MaskedColumn
    from photoz_numba.io import pdf_file
    model, test = calibrated
    rows = test[:9].copy()
    rows["name"] = [f"gal{i:03d}" for i in range(len(rows))]
    rows["objid"] = np.arange(len(rows), dtype=np.uint64) + np.uint64(2**63 + 12345)
    rows["num"] = MaskedColumn(np.arange(len(rows)) + 10, mask=np.arange(len(rows)) == 4)
    grid = np.linspace(0, 4, 81)
    expected = model.pdf(rows, grid)
    rows.write(tmp_path / "rows.fits")
    rows.write(tmp_path / "rows.ecsv")
    for source in ("rows.fits", "rows.ecsv"):
        for name in ("name", "objid", "num"):
            output = tmp_path / f"{name}_{source}.fits"
            pdf_file(model, tmp_path / source, output, grid, id_column=name)
            written = Table.read(output, hdu="PZ")
            assert written.colnames == [name, "pdf"]
            np.testing.assert_allclose(written["pdf"], expected, rtol=1e-6, atol=1e-30)
            if name == "objid":
                assert written[name].dtype == np.uint64
            if name == "num":
                assert list(np.ma.getmaskarray(written[name])) == [i == 4 for i in range(9)]
            assert [str(v) for v in written[name]] == [str(v) for v in rows[name]]


def test_stack_pdf_bad_input(calibrated):
    model, test = calibrated
    grid = np.linspace(0, 4, 41)
    with pytest.raises(ValueError, match="strictly increasing"):
        model.stack_pdf(test[:3], [0.0, 2.0, 1.0])
    for weights, message in (([1.0, -1.0, 1.0], r"finite and >= 0: 1 rows .*row 1 \(-1.0\)"),
                             ([1.0, 1.0, np.nan], r"row 2 \(nan\)"),
                             ([1.0, 1.0], "one weight per row")):
        with pytest.raises(ValueError, match=message):
            model.stack_pdf(test[:3], grid, weights=weights)
    with pytest.raises(KeyError, match=r"column 'w' \(weights\) is not in the table"):
        model.stack_pdf(test[:3], grid, weights="w")
    rows = test[:3].copy()
    rows["w"] = np.ma.MaskedArray([1.0, 1.0, 1.0], mask=[False, True, False])
    with pytest.raises(ValueError, match=r"'w' must be finite and >= 0: 1 rows .* \(masked\)"):
        model.stack_pdf(rows, grid, weights="w")        # a masked weight is no weight
    rows["s"] = ["a", "b", "c"]
    with pytest.raises(ValueError, match="'s' must hold numbers"):
        model.stack_pdf(rows, grid, weights="s")
    with pytest.raises(ValueError, match="dimensionless numbers, not in Jy"):
        model.stack_pdf(rows, grid, weights=np.ones(3) * u.Jy)
    ones = model.stack_pdf(rows, grid, weights=np.ones(3) * u.one)
    np.testing.assert_array_equal(ones["n_z"], model.stack_pdf(rows, grid)["n_z"])
    empty = model.stack_pdf(test[:0], grid)
    assert empty.meta["n_stacked"] == 0 and (empty["n_z"] == 0).all()
    with pytest.raises(KeyError, match="'g'"):
        model.stack_pdf(test[:0]["r", "i"], grid)
    with pytest.raises(NotFittedError, match="calibrate"):
        PhotoZModel(["g", "r", "i"], k=20).fit(model_training(model)).stack_pdf(test, grid)


# A galaxy of a user's JWST catalogue (calibrated with the JWST rule) whose
# 2.5 % point the search once left unfinished (its CDF there 0.0185): its
# neighbours' pulls (rounded), its prediction and error, and the model's
# shape and two regions of recalibration.
_USER_PULLS = np.array([-1.133, 0.488, -0.425, 0.04, 0.488, -0.106, -0.136, 1.55, -0.245, 0.224,
                        0.265, -0.443, 0.635, 1.564, -0.931, 0.796, 0.155, 0.381, -1.203, 0.964,
                        1.103, 0.436, -0.214, 0.394, 0.998, -0.157, 0.086, -0.807, -0.287, -0.29,
                        -0.551, -1.076, 0.144, 0.039, -0.897, -0.14, -0.778, 0.187, -0.654,
                        -0.863])
_USER_KNOTS = np.array([
    [0.0, 0.031103529867743958, 0.07548402318452758, 0.12085633159878138,
     0.17191910407419955, 0.2217002099877645, 0.27509150153350886, 0.337568921969049,
     0.39099702295205807, 0.4400089915335801, 0.48927220689722295, 0.5426583442581411,
     0.6020387298313974, 0.6617798010233815, 0.7104005928740444, 0.7689893789344431,
     0.8204800683628864, 0.8820955645946822, 0.9295688753762709, 0.9724430131020424, 1.0],
    [0.0, 0.02457556204304899, 0.07480693733363625, 0.13086131400517334, 0.19372666887212203,
     0.2525342714227799, 0.2953195855686252, 0.35116701845253745, 0.40597617402827163,
     0.45066580462464234, 0.5056827241303686, 0.5522517431106496, 0.6031313128763571,
     0.6549036467758305, 0.7104544865533631, 0.7619702830155002, 0.8087457237679464,
     0.8665832965913872, 0.925919390650467, 0.9699369294792709, 1.0]])


@pytest.mark.reference
def test_percentiles_invert_the_cdf_where_newton_steps_cross_the_bracket(rng):
    """Reference: the CDF, at the percentiles found. The user's galaxy,
    and 3000 more of the same shape with random pulls, predictions and
    errors: every percentile's CDF is its level to 1e-6."""
    knots = _USER_KNOTS
    state = PzState(_USER_PULLS, 0.8, 0.8, 0.03, 20.0, 1.0, 0.7, knots, "kernel")
    state = state._replace(pit_centres=np.array([0.7745338873165933, 3.0072440625956367]))
    n = 3000
    z_hat = np.concatenate([[2.30246626213322], rng.uniform(0.02, 8.0, n)])
    scale = np.concatenate([[0.08143675873183369], 10 ** rng.uniform(-2.5, -0.5, n)])
    neighbours = np.concatenate([np.arange(40)[None, :],
                                 rng.integers(0, 40, (n, 40))])
    probabilities = [0.025, 0.16, 0.5, 0.84, 0.975]
    quantiles = pz_percentiles(state, z_hat, scale, neighbours, probabilities)
    for j, p in enumerate(probabilities):
        np.testing.assert_allclose(pz_cdf(state, z_hat, scale, neighbours, quantiles[:, j]),
                                   p, atol=1e-6, err_msg=f"level {p}")


def test_probability_off_the_grid_is_said(calibrated, tmp_path, monkeypatch):
    """A grid that cuts the p(z) (0 to 1 for galaxies up to z ~ 3) loses
    probability: the stack says how much of it (reference: each row's CDF
    at the grid's ends, NumPy), and pdf_file, chunk by chunk, how many rows
    lose more than 0.1 % and the least kept, once."""
    import photoz_numba.pdf as pdf_module
    from photoz_numba.io import pdf_file
    model, test = calibrated
    rows = test[:40]
    grid = np.linspace(0.0, 1.0, 101)
    within = model.cdf(rows, np.full(len(rows), 1.0)) - model.cdf(rows, np.zeros(len(rows)))
    outside = len(rows) - within.sum()
    assert 0.05 * len(rows) < outside < 0.95 * len(rows)
    with pytest.warns(PhotoZWarning, match=f"^{outside / len(rows):.2%} of the stacked p.z. "
                      f".{outside:.4g} of 40 galaxies' worth. lies outside the grid from 0 to 1"):
        model.stack_pdf(rows, grid)
    short = within < 0.999
    rows.write(tmp_path / "rows.fits")
    monkeypatch.setattr(pdf_module, "_GRID_CHUNK_VALUES", 7 * (grid.size + 1))   # 6 chunks
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdf_file(model, tmp_path / "rows.fits", tmp_path / "pz.fits", grid)
    said = [str(w.message) for w in caught if issubclass(w.category, PhotoZWarning)]
    assert said == [f"{short.sum()} of 40 rows have more than 0.1% of their p(z) outside the "
                    f"grid from 0 to 1 (the least within it: {within.min():.4f}); their "
                    f"densities on it integrate to that, not 1: extend the grid to keep it"]


def _extrapolated(train, rows, k=20, window=0.15):
    """NumPy (tests/reference.py): whether each row lies outside the
    bounding box, in some feature (g-r, r-i, r), of the neighbours its fit
    keeps: its k nearest training galaxies (brute force, ties to the lower
    index) in the window that weighs most."""
    import reference

    def features(table):
        flux = np.column_stack([table[band].quantity.to_value(u.uJy) for band in "gri"])
        return reference.features_from_fluxes(flux, magnitude_band=1)

    x_train, x_query = reference.standardise(features(train), features(rows))
    z_train = np.asarray(train["zspec"])
    index = np.arange(len(x_train))
    out = np.zeros(len(x_query), dtype=bool)
    for q, x in enumerate(x_query):
        d2 = ((x_train - x) ** 2).sum(axis=1)
        nearest = np.lexsort((index, d2))[:k]
        kept = nearest[reference.window_members(z_train[nearest], d2[nearest], window)]
        offsets = x_train[kept] - x
        out[q] = ((offsets.min(axis=0) > 0) | (offsets.max(axis=0) < 0)).any()
    return out


@pytest.mark.reference
def test_every_pz_path_says_once_when_rows_are_mostly_extrapolated(calibrated, tmp_path,
                                                                   monkeypatch):
    """nJy fluxes labelled uJy (45 of 60 rows) put most rows beyond their
    neighbours' range: every p(z) path says so once, as predict does, with
    the count of the NumPy reference (`_extrapolated`), judged on all the
    rows where they are taken in chunks of fewer than 20 (none of which
    alone is judged); the same rows in their own units say nothing. They
    said nothing at all: an n(z) of wrong units came silently."""
    import photoz_numba.pdf as pdf_module
    from photoz_numba.cli import main
    from photoz_numba.io import pdf_file, stack_file, stack_fits
    model, test = calibrated
    right = test[:60]
    wrong = right.copy()
    for band in ("g", "r", "i"):
        wrong[band][:45] *= 1000.0                          # nJy, labelled uJy
    flagged = _extrapolated(model_training(model), wrong).sum()
    flagged_right = _extrapolated(model_training(model), right).sum()
    assert 0.63 * 60 < flagged < 60         # the rule's bound for k = 20, 3 features
    said = (f"{flagged} of 60 rows lie beyond their neighbours in some feature (flag "
            f"extrapolation): are the band columns in the units they say?")
    grid = np.linspace(0, 6, 121)
    monkeypatch.setattr(pdf_module, "_GRID_CHUNK_VALUES", 7 * (grid.size + 1))  # 7 rows
    model_file = tmp_path / "model.fits"
    model.write(model_file)

    def paths(rows, name):
        rows.write(tmp_path / f"{name}.fits")
        rows.write(tmp_path / f"{name}.ecsv")
        return {"pdf": lambda: model.pdf(rows, grid),
                "cdf": lambda: model.cdf(rows, np.full(len(rows), 1.0)),
                "PIT": lambda: model.cdf(rows, "zspec"),
                "probability_above": lambda: model.probability_above(rows, 1.0),
                "stack_pdf": lambda: model.stack_pdf(rows, grid),
                "stack_fits": lambda: stack_fits(model, tmp_path / f"{name}.fits", grid,
                                                 chunk_size=7),
                "stack_file": lambda: stack_file(model, tmp_path / f"{name}.ecsv", grid),
                "pdf_file": lambda: pdf_file(model, tmp_path / f"{name}.fits",
                                             tmp_path / f"{name}_pz.fits", grid,
                                             overwrite=True),
                "to_qp": lambda: pdf_module.to_qp(model, rows, grid),
                "photoz-numba stack": lambda: main(
                    ["stack", str(model_file), str(tmp_path / f"{name}.fits"), "--grid",
                     "0:6:0.05", "-o", str(tmp_path / f"{name}_nz.ecsv"), "--overwrite"]),
                "photoz-numba pdf": lambda: main(
                    ["pdf", str(model_file), str(tmp_path / f"{name}.fits"), "--grid",
                     "0:6:0.05", "-o", str(tmp_path / f"{name}_pz.fits"), "--overwrite"])}

    for rows, name, expected, n_flagged in ((wrong, "wrong", [said], flagged),
                                            (right, "right", [], flagged_right)):
        for path, call in paths(rows, name).items():
            if path == "to_qp" and not _has_qp():
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = call()
            assert [str(w.message) for w in caught
                    if "beyond their neighbours" in str(w.message)] == expected, (path, name)
            if path.startswith("photoz-numba"):
                assert result == 0
        stacked = pdf_module.quiet(model.stack_pdf, rows, grid)
        assert stacked.meta["n_extrapolated"] == n_flagged
        assert Table.read(tmp_path / f"{name}_nz.ecsv").meta["n_extrapolated"] == n_flagged


def _has_qp():
    try:
        import qp  # noqa: F401
    except ImportError:
        return False
    return True


def test_quiet_overlapping_in_threads():
    # Two parts of a catalogue in two threads (Dask's default scheduler):
    # the first ends while the second still runs. Neither may let its
    # PhotoZWarning through, and once both have ended PhotoZWarning must be
    # shown again. With warnings.catch_warnings each call restored the
    # filter list it had found, so the second leaked its warning and then
    # left PhotoZWarning ignored for good.
    import threading

    import photoz_numba.pdf as pdf_module
    first_in, second_in, first_out = (threading.Event() for _ in range(3))
    errors = []

    def first():
        first_in.set()
        assert second_in.wait(10)

    def second():
        second_in.set()
        assert first_out.wait(10)
        warnings.warn("a part's warning", PhotoZWarning)

    def run(function, entered=None):
        try:
            if entered is not None:
                assert entered.wait(10)
            pdf_module.quiet(function)
        except BaseException as exc:    # seen by the test, not lost in the thread
            errors.append(exc)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        filters = list(warnings.filters)
        one = threading.Thread(target=run, args=(first,))
        two = threading.Thread(target=run, args=(second, first_in))
        one.start()
        two.start()
        one.join(10)
        first_out.set()
        two.join(10)
        assert not errors and not one.is_alive() and not two.is_alive()
        assert caught == []
        assert warnings.filters == filters
        warnings.warn("the total's warning", PhotoZWarning)
    assert [str(w.message) for w in caught] == ["the total's warning"]


@pytest.mark.reference
def test_recalibration_is_exact_at_the_percentiles_levels(rng):
    """Reference: the definition of a quantile. Learnt on a PIT far from
    uniform (outliers piled near 0 and 1, as catastrophic errors put
    them), the recalibrated PIT of the same galaxies has the share of the
    level below each level of the percentile columns (0.025 ... 0.975), to
    one galaxy in the sample: those levels are knots of the map, not
    interpolated across the tails."""
    from photoz_numba.pdf import pit_knots
    state = PzState(np.zeros(1), 1.0, 1.0, 0.0, 20.0, 1.0, 0.7, PIT_LEVELS, "kernel")
    n = 4000
    z_hat, scale = rng.uniform(0.5, 3.0, n), np.full(n, 0.1)
    z = z_hat + 0.1 * np.where(rng.uniform(size=n) < 0.08, rng.choice([-1, 1], n) *
                               rng.uniform(1.8, 4.0, n), rng.normal(0.0, 0.7, n))
    neighbours = np.full((n, 3), -1)
    raw = pz_cdf(state, z_hat, scale, neighbours, z)
    recalibrated = pz_cdf(state._replace(pit_knots=pit_knots(raw)), z_hat, scale, neighbours, z)
    for level in (0.025, 0.16, 0.5, 0.84, 0.975):
        assert abs(np.mean(recalibrated <= level) - level) <= 1.5 / n, level


def _reference_mapped_cdf(state, z_hat, scale, u, x):
    """NumPy, vectorised over ``x``: one galaxy's recalibrated CDF, with
    pulls ``u`` (finite), truncated at 0 only (``state.z_max`` None)."""
    raw = (state.core_weight * ndtr((x - z_hat) / (state.core_width * scale))
           + state.tail_weight * ndtr((x - z_hat) / (state.tail_width * scale)))
    rest = 1 - state.core_weight - state.tail_weight

    def whole(value, at):
        if u.size == 0:
            return value / (1 - rest)
        centres = z_hat + state.pull_scale * scale * u
        t = (np.asarray(at)[..., None] - centres) / (state.pull_width * scale)
        return value + rest * _triweight_cdf(t).mean(axis=-1)

    below = whole(state.core_weight * ndtr(-z_hat / (state.core_width * scale))
                  + state.tail_weight * ndtr(-z_hat / (state.tail_width * scale)), 0.0)
    F = np.where(x <= 0, 0.0, (whole(raw, x) - below) / (1 - below))
    return np.interp(F, _reference_knots(state, z_hat), PIT_LEVELS)


@pytest.mark.reference
def test_integral_of_pz_squared_matches_numpy_reference(mixture):
    """Reference: the CDE loss's integral of p(z)^2 between each galaxy's
    0.0001 and 0.9999 quantiles, from the NumPy CDF's differences on 200,001
    points (the density is smooth between the knots of its recalibration). The narrow components must be resolved: with 400
    points across the wide tail's span the integral was off by up to a
    fifth."""
    state, z_hat, scale, neighbours = mixture
    rows = np.arange(z_hat.size)               # row 0 has no neighbour
    # The narrowest core of the shapes, and a map like those learnt: linear
    # between knots at the learning levels.
    from photoz_numba.pdf import PIT_LEARN_LEVELS
    knots = np.interp(PIT_LEVELS, PIT_LEARN_LEVELS, PIT_LEARN_LEVELS ** 1.3)
    state = state._replace(core_width=0.6, pit_knots=knots)
    ends = pz_percentiles(state, z_hat[rows], scale[rows], neighbours[rows], [1e-4, 1 - 1e-4])
    got = pz_scores(state, z_hat[rows], scale[rows], neighbours[rows], z_hat[rows])[:, 0]
    want = np.empty(rows.size)
    for i, q in enumerate(rows):
        u = state.pulls[neighbours[q][neighbours[q] >= 0]]
        u = u[np.isfinite(u)]
        x = np.linspace(ends[i, 0], ends[i, 1], 200001)
        cdf = _reference_mapped_cdf(state, z_hat[q], scale[q], u, x)
        want[i] = np.sum(np.diff(cdf) ** 2) / (x[1] - x[0])
    # (The map's slope jumps at its knots, where the trapezoid rule is
    # first-order; 400 points over the span were off by 21 % here.)
    np.testing.assert_allclose(got, want, rtol=1e-2)


def test_percentiles_in_any_order(mixture):
    """Each percentile is its own whatever the order asked: falling
    probabilities once gave the quantile of an earlier, higher one."""
    state, z_hat, scale, neighbours = mixture
    ascending = pz_percentiles(state, z_hat, scale, neighbours, [0.1, 0.5, 0.9])
    shuffled = pz_percentiles(state, z_hat, scale, neighbours, [0.5, 0.9, 0.1])
    np.testing.assert_allclose(shuffled, ascending[:, [1, 2, 0]], rtol=0, atol=1e-7)


@pytest.mark.reference
def test_pz_of_a_galaxy_predicted_far_below_zero():
    """Reference: analytic. No neighbours, no recalibration: what lies
    above z = 0 of a core and a tail centred far below it, CDF(z) = 1 -
    S(z) / S(0) with S the mixture's survival function. The CDF measured
    as 1 - CDF from below lost every digit there (NaN, and percentiles
    all 0)."""
    from scipy.special import ndtr
    state = PzState(np.zeros(1), 0.4, 0.8, 0.05, 20.0, 1.0, 0.7, PIT_LEVELS, "kernel")
    z_hat, scale = np.array([-0.5, -0.45, -0.3]), np.array([0.002, 0.003, 0.004])
    neighbours = np.full((3, 4), -1)

    def survival(z, q):
        return (0.4 * ndtr(-(z - z_hat[q]) / (0.8 * scale[q]))
                + 0.05 * ndtr(-(z - z_hat[q]) / (20.0 * scale[q])))

    probabilities = [0.025, 0.16, 0.5, 0.84, 0.975]
    quantiles = pz_percentiles(state, z_hat, scale, neighbours, probabilities)
    assert np.isfinite(quantiles).all() and (np.diff(quantiles, axis=1) > 0).all()
    grid = np.linspace(0.0, 0.1, 2001)[1:]
    cdf = pz_cdf(state, z_hat, scale, neighbours,
                 np.ascontiguousarray(np.broadcast_to(grid, (3, grid.size))))
    fine = np.linspace(0.0, 0.5, 100001)
    density = pz_density(state, z_hat, scale, neighbours,
                         np.ascontiguousarray(np.broadcast_to(fine, (3, fine.size))))
    for q in range(3):
        np.testing.assert_allclose(1 - survival(quantiles[q], q) / survival(0.0, q),
                                   probabilities, rtol=0, atol=1e-6)
        np.testing.assert_allclose(cdf[q], 1 - survival(grid, q) / survival(0.0, q),
                                   rtol=0, atol=1e-9)
        assert np.trapezoid(density[q], fine) == pytest.approx(1.0, abs=1e-4)
