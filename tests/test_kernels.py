"""The Numba kernel against the plain NumPy reference and analytic cases.

Tests marked ``reference`` name their reference (tests/reference.py, the
brute-force neighbour search below, scipy's cKDTree, NumPy's exp, an
analytic case); the others are contracts (bit-identical results whatever
the threads, chunks, search structure or cache).
"""

import os

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table, vstack

import reference
from photoz_numba.datasets import KALNA2024_BANDS
from photoz_numba import PhotoZModel
from photoz_numba._kernels import predict as kernel_predict
from photoz_numba._kernels.predict import OFFSET_MODES, PredictOutputs, RidgeParams
from photoz_numba._kernels.ridge import exp_nonpositive, max_block_drops
from photoz_numba._kernels.search import (_SAMPLE, LEAF_SIZE, _kth_bound, _rounding_bounds,
                                          _row_d2, _screen, _upper, nearest_neighbours)
from photoz_numba._kernels.search import build_index as build_neighbour_index
from photoz_numba.selection import stratified_split

BANDS = list(KALNA2024_BANDS)


def predict_kernel(index, z_train, x_query, predictable, k, gamma, lam, clip_sigma,
                   offset_mode, *out):
    """The predict loop with its parameters and outputs spelt out."""
    kernel_predict.predict_kernel(index, z_train, x_query, predictable,
                                  RidgeParams(k, gamma, lam, clip_sigma, offset_mode),
                                  PredictOutputs(*out, np.empty((0, 1), np.int64)))


SETTINGS = [
    # The paper's form: no offset, colours only.
    dict(k=50, gamma=0.1, lam=1e-3, offset="none", magnitude_band=None, window=None),
    # The package defaults.
    dict(k=40, gamma=0.1, lam=0.1, offset="median", magnitude_band="f150w", window=0.15,
         second_group=0.5),
    # Few neighbours, wide kernel, mean offset, tighter clipping, no window.
    dict(k=15, gamma=0.5, lam=0.03, offset="mean", magnitude_band="f444w",
         clip_sigma=2.0, window=None),
]


def _flux_array(table):
    return np.column_stack([u.Quantity(table[b].filled(np.nan)).to_value(u.uJy) for b in BANDS])


@pytest.fixture(scope="module")
def split(sample):
    return stratified_split(sample, z="zspec", seed=3)


@pytest.mark.reference
@pytest.mark.parametrize("params", SETTINGS)
def test_matches_numpy_reference_on_paper_data(split, params):
    """z_phot, z_phot_err and neighbours used on the paper's data.
    Reference: tests/reference.py (NumPy)."""
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
        params.get("clip_sigma", 3.0), params["offset"], window=params["window"],
        second_group=params.get("second_group"))

    np.testing.assert_allclose(out["z_phot"], z_ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(out["z_phot_err"], err_ref, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(out["z_phot_nused"], used_ref)
    # The clipping and refit path really ran: one or two neighbours dropped
    # (more: test_refit_after_dropping_one_two_or_many...).
    drops = params["k"] - used_ref
    assert (drops == 1).sum() > 10 and (drops == 2).sum() > 0


@pytest.mark.reference
def test_clipping_leaves_at_least_three_neighbours(split):
    """With k = 4 and clip_sigma = 0.5 the clipping would often leave one
    or two neighbours, whose RMS residual is 0 or nearly: the first fit
    then stands. Reference: tests/reference.py (NumPy), and the count of
    such galaxies from its first fit, so that the case is really met."""
    train, test = split
    params = dict(k=4, gamma=0.1, lam=0.1, clip_sigma=0.5, offset="median", window=None)
    out = PhotoZModel(BANDS, magnitude_band="f150w", **params).fit(train).predict(test)
    x_train, x_test = reference.standardise(
        reference.features_from_fluxes(_flux_array(train), BANDS.index("f150w")),
        reference.features_from_fluxes(_flux_array(test), BANDS.index("f150w")))
    z_train = np.asarray(train["zspec"], dtype=float)
    z_ref, err_ref, used_ref = reference.predict(x_train, z_train, x_test, 4, 0.1, 0.1, 0.5)
    np.testing.assert_allclose(out["z_phot"], z_ref, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(out["z_phot_nused"], used_ref)
    assert (used_ref >= reference.MIN_FIT).all()
    would_leave = 0
    for q in range(len(x_test)):
        d2 = ((x_train - x_test[q]) ** 2).sum(axis=1)
        nbr = np.lexsort((np.arange(len(d2)), d2))[:4]
        _, err, resid = reference._fit(x_train[nbr], z_train[nbr], d2[nbr], 0.1, 0.1, "median")
        would_leave += 0 < (np.abs(resid) <= 0.5 * err).sum() < reference.MIN_FIT
    assert would_leave > 20


@pytest.mark.reference
@pytest.mark.parametrize("window, clip_sigma, second_group",
                         [(0.15, 3.0, 0.5), (0.05, None, None), (0.1, 3.0, 0.3)])
def test_redshift_window_matches_numpy_reference(split, window, clip_sigma, second_group):
    """The densest-redshift-window selection (and the second group), then
    the fit (and clipping) on the neighbours kept. Reference:
    tests/reference.py (NumPy), which tries every end point of the
    neighbours' ranges of windows."""
    train, test = split
    params = dict(k=40, gamma=0.1, lam=0.1, offset="median", magnitude_band="f150w")
    model = PhotoZModel(BANDS, window=window, clip_sigma=clip_sigma,
                        second_group=second_group, **params)
    out = model.fit(train, z="zspec").predict(test)
    x_train, x_test = reference.standardise(
        reference.features_from_fluxes(_flux_array(train), BANDS.index("f150w")),
        reference.features_from_fluxes(_flux_array(test), BANDS.index("f150w")))
    z_ref, err_ref, used_ref = reference.predict(
        x_train, np.asarray(train["zspec"], dtype=float), x_test, 40, 0.1, 0.1,
        np.inf if clip_sigma is None else clip_sigma, "median", window=window,
        second_group=second_group)
    np.testing.assert_allclose(out["z_phot"], z_ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(out["z_phot_err"], err_ref, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(out["z_phot_nused"], used_ref)
    # The window left neighbours out: more than clipping alone would.
    assert (used_ref <= 40 - 5).sum() > 20
    if second_group is not None:
        # The second group was fitted for a few galaxies (1 of 921 at
        # 0.15 and 0.5: it is rare away from z > 4).
        first_only = PhotoZModel(BANDS, window=window, clip_sigma=clip_sigma,
                                 second_group=None, **params)
        first = first_only.fit(train, z="zspec").predict(test)
        assert (np.asarray(first["z_phot"]) != np.asarray(out["z_phot"])).sum() >= 1


def test_results_do_not_depend_on_thread_count(split):
    """Contract: 1 and 2 threads predict bit-identically."""
    train, test = split
    model = PhotoZModel(BANDS).fit(train)
    one = model.predict(test, n_threads=1)
    two = model.predict(test, n_threads=2)
    for name in ("z_phot", "z_phot_err", "z_phot_flag", "z_phot_nused"):
        np.testing.assert_array_equal(one[name], two[name])


def test_thread_count_is_restored(split):
    """Contract: predict(n_threads=...) leaves Numba's thread count as it was."""
    import numba
    train, test = split
    before = numba.get_num_threads()
    # A thread count other than the current one, or the check is vacuous.
    other = 1 if before > 1 else numba.config.NUMBA_NUM_THREADS
    if other == before:
        pytest.skip("Numba has one thread: no other count to set and restore")
    PhotoZModel(BANDS).fit(train).predict(test[:10], n_threads=other)
    assert numba.get_num_threads() == before


def _toy_table(rng, n, n_bands=4):
    z = rng.uniform(0.2, 4.0, n)
    columns = {f"b{i}": (24 + np.sin(z * (i + 1)) + rng.normal(0, 0.05, n)) * u.ABmag
               for i in range(n_bands)}
    return Table({**columns, "zspec": z})


@pytest.mark.reference
def test_ties_and_duplicates_match_reference(rng):
    """Exact distance ties (duplicated rows) resolve as the reference does.
    Reference: tests/reference.py (NumPy)."""
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
        x_train, np.asarray(doubled["zspec"]), x_query, 10, 0.3, 0.05, window=0.15,
        second_group=0.5)
    np.testing.assert_allclose(out["z_phot"], z_ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(out["z_phot_err"], err_ref, rtol=0, atol=1e-8)
    assert (out["z_phot_flag"] & 4).sum() == 0   # no failed solve


@pytest.mark.reference
def test_single_neighbour_analytic(rng):
    """k = 1: alpha = (z - c) / (1 + lam), z_phot = c + alpha exp(-gamma d^2).
    Reference: analytic single-neighbour ridge solution."""
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


@pytest.mark.reference
def test_clipping_drops_a_planted_outlier():
    """Nineteen neighbours on z = 1 and one on z = 10: the refit ignores it.
    Reference: analytic (all kept neighbours on the median: z_phot = 1 exactly).

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
    params = dict(k=20, gamma=1e-3, lam=10.0, offset="median", magnitude_band=None,
                  window=None)
    out = PhotoZModel(["a", "b", "c"], **params).fit(train).predict(train[:1])
    assert out["z_phot_nused"][0] == 19
    # All kept neighbours sit on the median: the refit is exactly z = 1.
    assert out["z_phot"][0] == 1.0
    # ... with no spread to give an error: flagged no_error, the RMS residual 0.
    from photoz_numba.flags import NO_ERROR
    assert out["z_phot_flag"][0] & NO_ERROR and np.ma.is_masked(out["z_phot_err"][0])
    assert PhotoZModel(["a", "b", "c"], **params).fit(train).predict_arrays(
        train[:1]).z_phot_err_raw[0] == 0.0
    no_clip = PhotoZModel(["a", "b", "c"], clip_sigma=None, **params)
    no_clip = no_clip.fit(train).predict(train[:1])
    assert no_clip["z_phot_nused"][0] == 20
    assert no_clip["z_phot"][0] > 1.1


@pytest.mark.parametrize("offset", ["none", "median", "mean"])
@pytest.mark.reference
def test_refit_after_dropping_one_two_or_many_matches_reference(rng, offset):
    """Outliers planted at random (5 % of the training redshifts off by 5):
    galaxies drop one, two or more neighbours, so every refit path runs
    (from the full fit's factor: one or two dropped in closed form, three
    through a Cholesky factor of W; four or more: a new factor), and all
    agree with the NumPy reference. Reference: tests/reference.py (NumPy)."""
    x = rng.normal(size=(800, 3))
    z = 1.0 + 0.3 * x[:, 0] + 0.01 * rng.normal(size=800)
    z[rng.random(800) < 0.05] += 5.0
    query = rng.normal(size=(300, 3))
    n = len(query)
    out = (np.empty(n), np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64))
    predict_kernel(build_neighbour_index(x.T), z, query, np.ones(n, dtype=bool), 40, 0.5,
                   0.05, 2.5, OFFSET_MODES[offset], *out)
    z_ref, err_ref, used_ref = reference.predict(x, z, query, 40, 0.5, 0.05, 2.5, offset)
    np.testing.assert_allclose(out[0], z_ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(out[1], err_ref, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(out[2], used_ref)
    drops = np.bincount(40 - used_ref)
    assert max_block_drops(40) == 3
    assert drops[1] > 10 and drops[2] > 10 and drops[3] > 10 and drops[4:].sum() > 0


# -- neighbour index: k-d tree against the whole scan and scipy ---------------

def _brute_neighbours(x_train, x_query, k):
    """Reference: distances summed feature by feature, ties to the lower index."""
    index = np.arange(len(x_train))
    nbr = np.empty((len(x_query), k), dtype=np.int64)
    dist2 = np.empty((len(x_query), k))
    for q, query in enumerate(x_query):
        d2 = np.zeros(len(x_train))
        for f in range(x_train.shape[1]):
            d2 += (x_train[:, f] - query[f]) ** 2
        order = np.lexsort((index, d2))[:k]
        nbr[q], dist2[q] = order, d2[order]
    return nbr, dist2


def _tied_data(rng, n_train=300, n_feat=5):
    """Random rows plus exact duplicates and rows on a coarse grid, so that
    many distances tie exactly; queries include training rows themselves."""
    x = rng.normal(size=(n_train, n_feat))
    x[: n_train // 3] = np.round(x[: n_train // 3] * 2) / 2
    x[n_train // 3: n_train // 2] = x[: n_train // 2 - n_train // 3]
    query = np.vstack([rng.normal(size=(40, n_feat)), x[::17],
                       np.round(rng.normal(size=(20, n_feat)) * 2) / 2])
    return x, query


@pytest.mark.reference
@pytest.mark.parametrize("leaf_size", [1, 4, 16, 128, 10_000])
@pytest.mark.parametrize("k", [1, 2, 7, 50, 300])
def test_tree_neighbours_match_brute_force(rng, leaf_size, k):
    """Tree search with ties: the same neighbours and distances.
    Reference: brute-force neighbour search (_brute_neighbours)."""
    x, query = _tied_data(rng)
    index = build_neighbour_index(x.T, leaf_size=leaf_size)
    nbr, dist2 = nearest_neighbours(index, query, k)
    expected_nbr, expected_dist2 = _brute_neighbours(x, query, k)
    np.testing.assert_array_equal(nbr, expected_nbr)
    np.testing.assert_array_equal(dist2, expected_dist2)


@pytest.mark.reference
@pytest.mark.parametrize("k", [1, 7, 50, 300, 2000])
def test_scan_neighbours_match_brute_force(rng, k):
    """A single-leaf index larger than the scan's threshold sample (so the
    threshold is estimated, then corrected), with exact ties: the same
    neighbours and distances as the reference; a block of identical rows
    (distance 0 for many rows at once) too.
    Reference: brute-force neighbour search (_brute_neighbours)."""
    x, query = _tied_data(rng, n_train=2000)
    x[-300:] = x[0]
    query = np.vstack([query, x[:1]])
    index = build_neighbour_index(x.T)
    assert len(index.child) == 1 and len(x) > _SAMPLE
    nbr, dist2 = nearest_neighbours(index, query, k)
    expected_nbr, expected_dist2 = _brute_neighbours(x, query, k)
    np.testing.assert_array_equal(nbr, expected_nbr)
    np.testing.assert_array_equal(dist2, expected_dist2)
    # A query with NaN has no neighbours (and does not hang the scan).
    nan_query = np.full((1, x.shape[1]), np.nan)
    for nan_index in (index, build_neighbour_index(x.T, leaf_size=64)):
        nbr, dist2 = nearest_neighbours(nan_index, nan_query, k)
        assert (nbr == -1).all() and np.isinf(dist2).all()


@pytest.mark.reference
def test_scan_is_exact_where_float32_cannot_resolve_the_distances(rng):
    """A scan keeps only the candidates within the float32 screen of the
    k-th smallest float32 distance, widened by its rounding bound; where
    float32 cannot tell the distances apart (rows far from the origin
    relative to their spacing, near-duplicates 1e-9 apart) the neighbours
    must still be the exact ones in the exact order.
    Reference: brute-force neighbour search (_brute_neighbours)."""
    x = 1000.0 + 1e-4 * rng.normal(size=(3000, 3))
    query = 1000.0 + 1e-4 * rng.normal(size=(100, 3))
    base = rng.normal(size=(3000, 5))
    near = base[:50] + 1e-9 * rng.normal(size=(50, 5))
    tied, tied_query = _tied_data(rng, n_train=3000)
    for x, query in ((x, query), (np.vstack([base, near]), base[:50]), (tied, tied_query)):
        index = build_neighbour_index(x.T)
        assert len(index.child) == 1
        for k in (1, 10, 60):
            nbr, dist2 = nearest_neighbours(index, query, k)
            expected_nbr, expected_dist2 = _brute_neighbours(x, query, k)
            np.testing.assert_array_equal(nbr, expected_nbr)
            np.testing.assert_array_equal(dist2, expected_dist2)


@pytest.mark.reference
def test_screen_and_upper_bound_the_exact_distance(rng):
    """The float32 screening's rounding bounds, from the float32 squared
    distance summed as the kernels sum it: the exact squared distance is
    at most `_upper` of it, and it is at most `_screen` of the exact one,
    for features of order 1, far from the origin, and so small that the
    squares fall below float32's normal range (rounding then absolute,
    not relative: the scan dropped true neighbours there).
    Reference: the exact float64 squared distance (_row_d2)."""
    n_feat = 5
    for scale, offset in ((1.0, 0.0), (1e-4, 1000.0), (1e-20, 0.0), (1e-22, 0.0),
                          (1e-25, 0.0)):
        x = offset + scale * rng.normal(size=(500, n_feat))
        query = offset + scale * rng.normal(size=n_feat)
        slack, widen = _rounding_bounds(np.sqrt((x ** 2).sum(axis=1)).max(), query)
        d32 = np.zeros(len(x), np.float32)
        for f in range(n_feat):
            diff = x[:, f].astype(np.float32) - np.float32(query[f])
            d32 = d32 + diff * diff
        for pos, screened in enumerate(d32):
            exact = _row_d2(x, pos, query)
            assert exact <= _upper(screened, slack, widen)
            assert screened <= _screen(exact, slack, widen)


@pytest.mark.reference
def test_scan_is_exact_below_float32_normal_range(rng):
    """Features so small that the float32 squares are subnormal: a scan
    still finds the exact neighbours (the smallest case found in review:
    the true nearest row's float32 distance is not the smallest).
    Reference: brute-force neighbour search (_brute_neighbours)."""
    s = 2.0 ** -149
    d, e = np.sqrt(0.49 * s), np.sqrt(0.51 * s)
    x = np.array([[d, d], [e, 0.0], [1e-20, 1e-20]])
    nbr, _ = nearest_neighbours(build_neighbour_index(x.T), np.zeros((1, 2)), 1)
    assert nbr[0, 0] == 1
    x = 1e-22 * rng.normal(size=(2000, 5))
    query = 1e-22 * rng.normal(size=(200, 5))
    for k in (1, 10):
        nbr, dist2 = nearest_neighbours(build_neighbour_index(x.T), query, k)
        expected_nbr, expected_dist2 = _brute_neighbours(x, query, k)
        np.testing.assert_array_equal(nbr, expected_nbr)
        np.testing.assert_array_equal(dist2, expected_dist2)


@pytest.mark.reference
def test_kth_bound_against_sorted_values(rng):
    """The scan's bound on the k-th smallest float32 distance: at least the
    k-th smallest of the sorted values, below the (k+1)-th, with ties,
    zeros and inf among them. Reference: numpy.sort."""
    for n in (1, 2, 7, 64, 500):
        values = rng.exponential(size=n).astype(np.float32)
        values[rng.random(n) < 0.3] = values[0]
        values[rng.random(n) < 0.1] = 0.0
        values[rng.random(n) < 0.1] = np.inf
        ordered = np.sort(values)
        for k in range(1, n + 1):
            bound = _kth_bound(values.copy(), n, k)
            assert ordered[k - 1] <= bound
            if k < n:
                assert bound < ordered[k] or bound == ordered[k - 1] == ordered[k]


@pytest.mark.reference
@pytest.mark.parametrize("eps", [0.5, 3.0])
def test_approximate_search_is_within_one_plus_eps(rng, eps):
    """A tree search with eps > 0: each neighbour within (1 + eps) times
    the true distance of its rank (the guarantee), mostly the true ones,
    and fewer exact ones as eps grows; a scanned index ignores eps.
    Reference: brute-force neighbour search (_brute_neighbours)."""
    x = rng.normal(size=(20000, 6))
    query = rng.normal(size=(300, 6))
    exact_nbr, exact_d2 = _brute_neighbours(x, query, 20)
    index = build_neighbour_index(x.T, eps=eps)
    assert len(index.child) > 1 and index.shrink == 1 / (1 + eps) ** 2
    nbr, d2 = nearest_neighbours(index, query, 20)
    assert (np.diff(d2, axis=1) >= 0).all()
    # Rows are ranked by float32 distances, but the distances reported are
    # the exact ones of the rows found, summed feature by feature.
    offsets = x[nbr] - query[:, None, :]
    measured = offsets[..., 0] ** 2
    for f in range(1, x.shape[1]):
        measured = measured + offsets[..., f] ** 2
    np.testing.assert_array_equal(d2, measured)
    assert (np.sqrt(d2) <= (1 + eps) * np.sqrt(exact_d2) * (1 + 1e-12)).all()
    assert (d2 > exact_d2).any()         # it is approximate...
    recall = np.mean([len(np.intersect1d(a, b)) for a, b in zip(nbr, exact_nbr)]) / 20
    assert recall > (0.9 if eps < 1 else 0.5)     # ...but mostly right
    scan = build_neighbour_index(x[:3000].T, eps=eps)
    np.testing.assert_array_equal(nearest_neighbours(scan, query, 20)[0],
                                  _brute_neighbours(x[:3000], query, 20)[0])
    with pytest.raises(ValueError, match="eps must be >= 0"):
        build_neighbour_index(x.T, eps=-1)


@pytest.mark.reference
def test_approximate_search_keeps_its_guarantee_at_float32_resolution(rng):
    """Ranking by float32 distances must not break the 1 + eps guarantee
    where float32 cannot resolve the distances: rows far from the origin
    relative to their spacing, and near-duplicate rows (an exact match
    against a row 1e-9 away). Both failed before the exact re-search.
    Reference: brute-force neighbour search (_brute_neighbours)."""
    eps = 0.5
    x = 1000.0 + 1e-4 * rng.normal(size=(20000, 3))
    query = 1000.0 + 1e-4 * rng.normal(size=(200, 3))
    _, d2 = nearest_neighbours(build_neighbour_index(x.T, eps=eps), query, 1)
    _, exact_d2 = _brute_neighbours(x, query, 1)
    assert (np.sqrt(d2) <= (1 + eps) * np.sqrt(exact_d2) * (1 + 1e-12)).all()
    base = rng.normal(size=(20000, 5))
    near = base[:100] + 1e-9 * rng.normal(size=(100, 5))
    x = np.vstack([near, base])            # near-duplicates at the lower indices
    nbr, d2 = nearest_neighbours(build_neighbour_index(x.T, eps=eps), base[:100], 1)
    np.testing.assert_array_equal(nbr[:, 0], np.arange(100, 200))
    assert (d2 == 0).all()


def test_approximate_prediction_does_not_depend_on_the_other_galaxies(rng):
    """With eps > 0 a galaxy's neighbours (so its z_phot) must not depend on
    which galaxies are predicted with it or in what order (chunked files,
    Dask partitions): the same bits alone, in a shuffled batch and whole.
    Contract."""
    # Clustered rows and queries (like a training set resampled with
    # noise): consecutive queries are close, where seeding one's search
    # with the other's neighbours would change an approximate result.
    centres = rng.normal(size=(500, 6))
    x = centres[rng.integers(0, 500, 30000)] + 0.1 * rng.normal(size=(30000, 6))
    z = np.abs(x[:, 0]) + 0.05 * rng.normal(size=len(x))
    index = build_neighbour_index(x.T, eps=3.0)
    query = centres[rng.integers(0, 500, 4000)] + 0.01 * rng.normal(size=(4000, 6))

    def predict(rows):
        n = len(rows)
        out = (np.empty(n), np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64))
        predict_kernel(index, z, np.ascontiguousarray(rows), np.ones(n, dtype=bool), 30,
                       0.5, 0.05, 3.0, OFFSET_MODES["median"], *out)
        return out[0]

    whole = predict(query)
    shuffle = rng.permutation(len(query))
    shuffled = np.empty_like(whole)
    shuffled[shuffle] = predict(query[shuffle])
    np.testing.assert_array_equal(shuffled, whole)
    alone = np.array([predict(query[i:i + 1])[0] for i in range(0, 4000, 100)])
    np.testing.assert_array_equal(alone, whole[::100])


@pytest.mark.reference
def test_tree_neighbours_match_ckdtree(rng):
    """Distances agree with scipy's cKDTree (whose tie order is its own).
    Reference: scipy cKDTree."""
    from scipy.spatial import cKDTree
    x = rng.normal(size=(5000, 11))
    query = rng.normal(size=(200, 11))
    nbr, dist2 = nearest_neighbours(build_neighbour_index(x.T), query, 30)
    dist, expected = cKDTree(x).query(query, k=30)
    np.testing.assert_allclose(np.sqrt(dist2), dist, rtol=1e-12)
    np.testing.assert_array_equal(nbr, expected)   # continuous data: no ties


@pytest.mark.reference
def test_all_rows_identical_is_one_leaf(rng):
    """A node whose rows are all equal cannot be split: it stays one leaf.
    Reference: analytic (200 rows at the query, ties to the lower index:
    rows 0-9)."""
    x = np.vstack([np.ones((200, 3)), rng.normal(size=(50, 3))])
    index = build_neighbour_index(x.T, leaf_size=8)
    nbr, _ = nearest_neighbours(index, np.ones((1, 3)), 10)
    np.testing.assert_array_equal(nbr[0], np.arange(10))


def test_tree_and_whole_scan_predict_bit_identically(split):
    """Contract: the prediction does not depend on how neighbours are searched."""
    train, test = split
    model = PhotoZModel(BANDS, k=30).fit(train)
    features = model._pattern_features(model._magnitudes(test, None)[0],
                                       tuple(range(len(BANDS))))
    x_query = np.ascontiguousarray((features - model.feature_mean_) / model.feature_std_)
    outputs = []
    for leaf_size in (8, 128, 10 ** 6):
        index = build_neighbour_index(model.train_features_, leaf_size=leaf_size)
        n = len(x_query)
        out = (np.empty(n), np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64))
        predict_kernel(index, model.train_z_, x_query, np.ones(n, dtype=bool), 30,
                       0.1, 0.1, 3.0, OFFSET_MODES["median"], *out)
        outputs.append(out)
    # Each query's search is seeded by the previous one's neighbours: the
    # query order changes the seeds, never the results.
    n = len(x_query)
    shuffled = np.random.default_rng(0).permutation(n)
    out = (np.empty(n), np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64))
    predict_kernel(build_neighbour_index(model.train_features_), model.train_z_,
                   x_query[shuffled], np.ones(n, dtype=bool), 30, 0.1, 0.1, 3.0,
                   OFFSET_MODES["median"], *out)
    outputs.append(tuple(np.empty_like(o) for o in out))
    for o_new, o in zip(outputs[-1], out):
        o_new[shuffled] = o
    for out in outputs[1:]:
        for a, b in zip(outputs[0], out):
            np.testing.assert_array_equal(a, b)


@pytest.mark.reference
def test_k_equals_training_set_size(rng):
    """k = n_train (the model needs k + 1, the kernel does not): every
    training galaxy is a neighbour, as in the reference. Reference: tests/reference.py (NumPy)."""
    x = rng.normal(size=(30, 4))
    z = np.abs(x[:, 1]) + 0.05 * rng.normal(size=30)
    query = rng.normal(size=(20, 4))
    n = len(query)
    for leaf_size in (4, 100):
        out = (np.empty(n), np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64))
        predict_kernel(build_neighbour_index(x.T, leaf_size=leaf_size), z, query,
                       np.ones(n, dtype=bool), 30, 0.3, 0.05, 2.0, OFFSET_MODES["mean"], *out)
        z_ref, err_ref, used_ref = reference.predict(x, z, query, 30, 0.3, 0.05, 2.0, "mean")
        np.testing.assert_allclose(out[0], z_ref, rtol=0, atol=1e-8)
        np.testing.assert_allclose(out[1], err_ref, rtol=0, atol=1e-8)
        np.testing.assert_array_equal(out[2], used_ref)


@pytest.mark.reference
def test_vectorised_exp_is_accurate():
    """exp of non-positive arguments to 4e-16, 0 below -708. Reference: numpy.exp."""
    t = -np.concatenate([np.geomspace(1e-300, 700, 20001), [0.0, 707.9, 708.1, 745, 1e4]])
    got = exp_nonpositive(t)
    expected = np.exp(t)
    normal = expected > 1e-307
    np.testing.assert_allclose(got[normal], expected[normal], rtol=4e-16, atol=0)
    assert got[t == 0][0] == 1.0
    np.testing.assert_array_equal(got[t < -708], 0.0)


@pytest.mark.reference
def test_large_training_set_uses_a_tree_and_two_threads_agree(rng):
    """A tree of many leaves; 1 and 2 threads and repeated runs bit-identical
    (contract), the first 50 queries as the reference. Reference: tests/reference.py (NumPy)."""
    import numba
    x = rng.normal(size=(20 * LEAF_SIZE, 6))
    z = np.abs(x[:, 0]) + 0.1 * rng.normal(size=len(x))
    index = build_neighbour_index(x.T, leaf_size=LEAF_SIZE)
    assert (index.child < 0).sum() > 16
    query = rng.normal(size=(700, 6))
    results = []
    for threads in (1, 2, 1):
        n = len(query)
        out = (np.empty(n), np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64))
        previous = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            predict_kernel(index, z, query, np.ones(n, dtype=bool), 40, 0.2, 0.05,
                           3.0, OFFSET_MODES["median"], *out)
        finally:
            numba.set_num_threads(previous)
        results.append(out)
    for out in results[1:]:
        for a, b in zip(results[0], out):
            np.testing.assert_array_equal(a, b)
    x_ref = x
    z_ref, err_ref, used_ref = reference.predict(x_ref, z, query[:50], 40, 0.2, 0.05)
    np.testing.assert_allclose(results[0][0][:50], z_ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(results[0][1][:50], err_ref, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(results[0][2][:50], used_ref)


def test_predict_in_row_chunks_is_bit_identical(split, monkeypatch):
    """Long tables are predicted a chunk of rows at a time (bounded memory),
    with band patterns grouped per chunk: same results as in one pass.
    Contract."""
    import photoz_numba.model as model_module
    train, test = split
    test = test.copy()
    for band, rows in (("f435w", slice(0, 300, 3)), ("f090w", slice(1, 200, 5))):
        column = test[band]
        test[band] = np.where(np.isin(np.arange(len(test)), np.arange(len(test))[rows]),
                              np.nan, u.Quantity(column.filled(np.nan)).value) * column.unit
    model = PhotoZModel(BANDS, k=20).fit(train)
    whole = model.predict(test)
    monkeypatch.setattr(model_module, "_PREDICT_ROWS", 97)
    chunked = model.predict(test)
    for name in ("z_phot", "z_phot_err", "z_phot_flag", "z_phot_nused"):
        np.testing.assert_array_equal(np.ma.getdata(whole[name]), np.ma.getdata(chunked[name]))
        np.testing.assert_array_equal(np.ma.getmaskarray(whole[name]),
                                      np.ma.getmaskarray(chunked[name]))
    assert (whole["z_phot_flag"] != 0).sum() > 50


_PREDICT_SCRIPT = """
import sys, warnings
import os

import numpy as np
warnings.simplefilter("ignore")
from photoz_numba import PhotoZModel
from photoz_numba.datasets import KALNA2024_BANDS, load_kalna2024, paper_sample
from photoz_numba.selection import stratified_split
train, test = stratified_split(paper_sample(load_kalna2024()), z="zspec", seed=3)
out = PhotoZModel(list(KALNA2024_BANDS)).fit(train).predict(test)
np.save(sys.argv[1], np.column_stack([out["z_phot"].filled(np.nan),
                                      out["z_phot_err"].filled(np.nan)]))
"""


@pytest.mark.slow
def test_compiled_and_cached_kernels_agree_bitwise(sample, tmp_path):
    """Contract: a process that compiles the kernels (empty Numba cache) and one that
    loads them from that cache predict bit-identically. Guards the
    fastmath functions: were the compiler to optimise a callee differently
    when compiling it with its caller than when loading it cached, results
    would change in the last bit between a first run and the next."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    results = []
    for run in ("compiled", "cached"):
        subprocess.run([sys.executable, "-c", _PREDICT_SCRIPT, str(tmp_path / run)],
                       env=env, check=True)
        results.append(np.load(tmp_path / f"{run}.npy"))
    assert np.isfinite(results[0]).all()
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.reference
def test_window_members_match_reference_with_ties(rng):
    """The sweep over neighbours in redshift order picks the members the
    brute-force reference picks, also with repeated redshifts and
    distances. Reference: tests/reference.py (every end point tried)."""
    from photoz_numba._kernels.predict import window_members, window_scratch
    for trial in range(300):
        n = int(rng.integers(1, 60))
        z = np.round(rng.choice([rng.uniform(0, 1, n), rng.uniform(0, 7, n)]), 1)
        d2 = np.round(rng.uniform(0, 3, n), int(rng.integers(0, 3)))
        width = float(rng.choice([0.05, 0.15, 0.3]))
        member = np.empty(60, np.int64)
        m = window_members(z, d2, n, width, member, window_scratch(60))
        expected = np.flatnonzero(reference.window_members(z, d2, width))
        np.testing.assert_array_equal(member[:m], expected)


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"),
                    reason="no function pointers with NUMBA_DISABLE_JIT")
def test_a_block_that_fails_is_counted_not_lost(rng, monkeypatch):
    """Contract: the parallel loop calls each block's kernel through a
    function pointer, across which an exception cannot pass: a block that
    fails returns 0 and reports its error as unraisable, the loop's count
    of blocks done is one short, and the other blocks are done."""
    import sys

    from numba import njit

    from photoz_numba._kernels._jit import KernelPointer
    from photoz_numba._kernels.predict import (_BLOCK, Queries, _predict_all, empty_outputs,
                                               kernel_mode, ridge_params, step_pointers)
    from photoz_numba._kernels.search import build_index

    @njit
    def fails_in_block_one(block, queries, index, z_train, params, out, steps, scan, tree,
                           approx, second):
        if block == 1:
            raise MemoryError("block 1")
        for rank in range(block * _BLOCK, min((block + 1) * _BLOCK, queries.x.shape[0])):
            out.z_phot[queries.by_place[rank]] = 1.0
        return np.int64(1)

    x_train = rng.normal(size=(300, 3))
    x_query = rng.normal(size=(3 * _BLOCK - 10, 3))
    index = build_index(x_train.T)
    out = empty_outputs(len(x_query))
    out.z_phot[:] = 0.0
    by_place = np.arange(len(x_query))
    params = ridge_params(10, 0.1, 0.1, 3.0, "median")
    mode = kernel_mode(index, params)
    queries = Queries(x_query, np.ones(len(x_query), bool), by_place)
    args = (queries, index, rng.uniform(0, 3, 300), params, out,
            step_pointers(index, params, mode), *mode)
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    done = _predict_all(KernelPointer(fails_in_block_one, (np.int64(0),) + args), *args)
    assert done == 2
    assert [type(error.exc_value) for error in unraisable] == [MemoryError]
    expected = np.ones(len(x_query))
    expected[_BLOCK:2 * _BLOCK] = 0.0
    np.testing.assert_array_equal(out.z_phot, expected)


def test_single_leaf_query_order_matches_the_kernel(rng):
    """Contract: a whole scan's query order is computed in NumPy (no
    kernel to compile); its keys are those of the compiled descent,
    queries outside the box and with NaN included."""
    from photoz_numba._kernels.search import _leaf_keys, _query_keys, build_index
    index = build_index(rng.normal(size=(500, 4)).T)
    assert index.child[0] < 0
    x_query = rng.normal(scale=2.0, size=(300, 4))
    x_query[5, 1] = np.nan
    x_query[7] = np.nan
    np.testing.assert_array_equal(_leaf_keys(index, x_query), _query_keys(index, x_query))


def test_split_weight_analytic():
    """Rank weights 1, 1/2, 1/3, 1/4 (sum 25/12): against z_phot = 1 only
    the second neighbour, at z = 5.5, is an outlier's distance away (6/25
    of the weight); against 5.5, the other three (19/25). A neighbour just
    inside 0.15 (1 + z_j) does not count."""
    from photoz_numba._kernels.predict import SPLIT_SHARE, split_weight, window_scratch
    z_train = np.array([1.0, 5.5, 1.0, 1.29])
    order = np.arange(4)
    rank = window_scratch(4).rank
    assert split_weight(z_train, order, order, 4, 1.0, rank) == pytest.approx(6 / 25, abs=1e-15)
    expected = pytest.approx(19 / 25, abs=1e-15)
    assert split_weight(z_train, order, order, 4, 5.5, rank) == expected
    # |1.0 - 1.29| = 0.29 < 0.15 * 2.29; |1.0 - 5.5| = 4.5 > 0.15 * 6.5.
    assert split_weight(z_train, order, order[::-1].copy(), 4, 1.0, rank) == pytest.approx(
        (1 / 3) / (25 / 12), abs=1e-15)
    assert split_weight(z_train, order, order, 0, 1.0, rank) == 0.0
    assert SPLIT_SHARE == 0.25


@pytest.mark.reference
@pytest.mark.parametrize("window", [0.15, None])
def test_split_neighbours_flag_matches_numpy_reference(split, window):
    """The split_neighbours bit is set exactly where the brute-force
    neighbours at an outlier's distance from z_phot hold a quarter of the
    rank weight. Reference: tests/reference.py (NumPy)."""
    from photoz_numba.flags import SPLIT_NEIGHBOURS
    train, test = split
    model = PhotoZModel(BANDS, window=window).fit(train, z="zspec")
    out = model.predict(test)
    index = BANDS.index("f150w")
    x_train, x_test = reference.standardise(
        reference.features_from_fluxes(_flux_array(train), index),
        reference.features_from_fluxes(_flux_array(test), index))
    expected, shares = reference.split_neighbours(
        x_train, np.asarray(train["zspec"], dtype=float), x_test,
        np.asarray(out["z_phot"]), 40)
    flagged = (np.asarray(out["z_phot_flag"]) & SPLIT_NEIGHBOURS) != 0
    near = np.abs(shares - 0.25) < 1e-9      # rounding could go either way
    assert near.sum() <= 2
    np.testing.assert_array_equal(flagged[~near], expected[~near])
    # Both kinds occur, and flagged galaxies really have far neighbours.
    assert 10 < flagged.sum() < len(test) // 4
    assert shares[flagged].min() >= 0.25 - 1e-9


@pytest.mark.reference
def test_closer_group_matches_reference_with_ties(rng):
    """The second group's choice, with repeated redshifts and distances
    and shares around the first's weight. Reference: tests/reference.py."""
    from photoz_numba._kernels.predict import closer_group, window_members, window_scratch
    chosen = 0
    for trial in range(300):
        n = int(rng.integers(2, 60))
        z = np.round(rng.choice([rng.uniform(0, 1, n), rng.uniform(0, 7, n)]), 1)
        d2 = np.round(rng.uniform(0, 3, n), int(rng.integers(0, 3)))
        width = float(rng.choice([0.05, 0.15, 0.3]))
        share = float(rng.choice([0.3, 0.5, 1.0]))
        scratch = window_scratch(60)
        member = np.empty(60, np.int64)
        m = window_members(z, d2, n, width, member, scratch)
        first = member[:m].copy()
        m = closer_group(z, d2, n, width, 0.5, share, member, m, scratch)
        inside = np.zeros(n, bool)
        inside[first] = True
        expected = np.flatnonzero(reference.closer_group(z, d2, width, 0.5, share, inside))
        np.testing.assert_array_equal(member[:m], expected)
        chosen += not np.array_equal(member[:m], first)
    assert chosen > 10


def test_closer_group_analytic():
    """Neighbours 0 to 2 at z = 5.5 (rank weights 1 + 1/2 + 1/3 = 1.833)
    and 3 to 21 at z = 1 (1/4 + ... + 1/22 = 1.858): the low-z window wins
    on weight. Its members are farther (d2 = 4 against 1), so with share
    0.5 the near three are fitted; with share 1 (1.833 < 1.858) they are
    not; and two near ones (the third moved to z = 3) are too few."""
    from photoz_numba._kernels.predict import closer_group, window_members, window_scratch
    z = np.array([5.5] * 3 + [1.0] * 19)
    d2 = np.array([1.0] * 3 + [4.0] * 19)
    low = list(range(3, 22))
    scratch = window_scratch(22)
    for share, expected, z_third in ((0.5, [0, 1, 2], 5.5), (1.0, low, 5.5), (0.5, low, 3.0)):
        z[2] = z_third
        member = np.empty(22, np.int64)
        m = window_members(z, d2, 22, 0.15, member, scratch)
        assert list(member[:m]) == low
        m = closer_group(z, d2, 22, 0.15, 0.1, share, member, m, scratch)
        assert list(member[:m]) == expected


def test_queries_in_any_memory_layout_give_the_same_redshifts(rng):
    """Contract: ``predict_kernel`` takes queries in any layout (Fortran
    order, a strided view): the compiled loop gets a C-contiguous copy, so
    the results are those of the C-ordered queries, bit for bit."""
    from photoz_numba._kernels.predict import empty_outputs, predict_kernel, ridge_params
    from photoz_numba._kernels.search import build_index

    z_train = rng.uniform(0, 3, 400)
    x_train = np.column_stack([z_train, z_train ** 2, -z_train]) + rng.normal(0, 0.01, (400, 3))
    x_query = x_train[:40] + 0.005
    index = build_index(x_train.T)
    params = ridge_params(20, 1.0, 0.01, 3.0, "median")
    layouts = {"C": np.ascontiguousarray(x_query), "F": np.asfortranarray(x_query),
               "strided": np.repeat(x_query, 2, axis=1)[:, ::2]}
    results = {}
    for name, queries in layouts.items():
        out = empty_outputs(len(x_query))
        predict_kernel(index, z_train, queries, np.ones(len(x_query), bool), params, out)
        results[name] = out.z_phot
    np.testing.assert_array_equal(results["F"], results["C"])
    np.testing.assert_array_equal(results["strided"], results["C"])
    assert np.all(np.abs(results["C"] - z_train[:40]) < 0.05)
