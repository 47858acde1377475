"""PhotoZModel.tune: Bayesian optimisation with stratified CV.

Mostly contract tests (the tuner's figures are cross_validate's, seeded
runs repeat whatever the threads); the tuned paper protocol is checked
against the published figures (reference) and against the figures this
package measured when it was written (regression), separately.
"""

import numba
import numpy as np
import pytest

from photoz_numba import PhotoZModel
from photoz_numba.datasets import KALNA2024_BANDS
from photoz_numba.selection import stratified_split
from photoz_numba.metrics import evaluate
from photoz_numba.tuning import cv_score
from photoz_numba.validation import cross_validate

BANDS = list(KALNA2024_BANDS)


@pytest.fixture(scope="module")
def train(sample):
    return stratified_split(sample, z="zspec", seed=1)[0]


@pytest.fixture(scope="module")
def tuned(train):
    return PhotoZModel(BANDS).tune(train, n_iter=12, random_state=1)


def test_history_and_best_setting(tuned, train):
    """The history has a row per trial, starts at the defaults, keeps the
    best, and scores each trial by the documented objective."""
    history = tuned.tuning_history_
    assert len(history) == 12
    assert set(history.colnames) >= {"trial", "k", "gamma", "lam", "window", "clip_sigma",
                                     "cv_sigma_nmad", "cv_outlier_fraction", "cv_score"}
    # The first trial is the starting setting; the kept one is the best.
    first = [history[name][0] for name in ("k", "gamma", "lam", "window", "clip_sigma")]
    assert first == [40, 0.1, 0.1, 0.15, 3.0]
    best = history[np.argmin(history["cv_score"])]
    names = ("k", "gamma", "lam", "window", "clip_sigma")
    assert [getattr(tuned, name) for name in names] == [best[name] for name in names]
    assert best["cv_score"] <= history["cv_score"][0]
    np.testing.assert_allclose(history["cv_score"], cv_score(
        history["cv_sigma_nmad"], history["cv_outlier_fraction"]))
    # The objective written out: sigma_NMAD + 0.1 x outlier fraction (docs).
    np.testing.assert_allclose(
        history["cv_score"],
        np.asarray(history["cv_sigma_nmad"]) + 0.1 * np.asarray(history["cv_outlier_fraction"]),
        rtol=1e-15)
    # Refitted on the whole training table.
    assert tuned.n_train_ == len(train)


def test_trial_scores_match_independent_cross_validation(tuned, train):
    """The tuner's fast per-fold path gives the figures of cross_validate
    (the same method by another code path)."""
    history = tuned.tuning_history_
    for row in history[[0, 5]]:
        model = PhotoZModel(BANDS, k=int(row["k"]), gamma=float(row["gamma"]),
                            lam=float(row["lam"]), window=float(row["window"]),
                            clip_sigma=float(row["clip_sigma"]))
        metrics = cross_validate(model, train, seed=1)
        assert metrics["sigma_nmad"] == pytest.approx(row["cv_sigma_nmad"], abs=1e-12)
        assert metrics["outlier_fraction"] == pytest.approx(row["cv_outlier_fraction"],
                                                            abs=1e-12)


def test_same_seed_same_result_whatever_the_threads(train, tuned):
    """One thread repeats the default-thread tuning's history exactly."""
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        again = PhotoZModel(BANDS).tune(train, n_iter=12, random_state=1)
    finally:
        numba.set_num_threads(before)
    for name in tuned.tuning_history_.colnames:
        np.testing.assert_array_equal(again.tuning_history_[name],
                                      tuned.tuning_history_[name])


def test_outlier_weight_sets_the_objective(train):
    """Another outlier weight: each trial is scored by sigma_NMAD + w x
    outlier fraction (written out here), and the kept setting is the
    lowest of that. The first ten trials of the seeded search are drawn
    before the objective guides it, so weights 0 and 50 try the same
    settings and must keep the sharpest core and the fewest outliers."""
    names = ("k", "gamma", "lam", "window", "clip_sigma")
    histories = {}
    for weight in (0.0, 50.0):
        model = PhotoZModel(BANDS).tune(train, n_iter=8, random_state=2,
                                        outlier_weight=weight)
        history = model.tuning_history_
        assert history.meta["outlier_weight"] == weight
        sigma = np.asarray(history["cv_sigma_nmad"])
        outliers = np.asarray(history["cv_outlier_fraction"])
        np.testing.assert_allclose(history["cv_score"], sigma + weight * outliers,
                                   rtol=1e-15)
        best = history[np.argmin(sigma + weight * outliers)]
        assert [getattr(model, name) for name in names] == [best[name] for name in names]
        histories[weight] = history
    for name in names + ("cv_sigma_nmad", "cv_outlier_fraction"):
        np.testing.assert_array_equal(histories[0.0][name], histories[50.0][name])
    sigma = np.asarray(histories[0.0]["cv_sigma_nmad"])
    outliers = np.asarray(histories[0.0]["cv_outlier_fraction"])
    assert np.ptp(outliers) > 0       # else the two weights could not differ
    kept_sharp = np.argmin(histories[0.0]["cv_score"])
    kept_clean = np.argmin(histories[50.0]["cv_score"])
    assert sigma[kept_sharp] == sigma.min()
    assert outliers[kept_clean] == outliers.min()


def test_outlier_weight_default_is_the_documented_one():
    """PhotoZModel.tune's default weight is the module's OUTLIER_WEIGHT, 0.1."""
    import inspect
    from photoz_numba.tuning import OUTLIER_WEIGHT
    default = inspect.signature(PhotoZModel.tune).parameters["outlier_weight"].default
    assert default == OUTLIER_WEIGHT == 0.1


def test_bad_arguments(train):
    """Bad n_iter and a non-Table input are errors naming the problem."""
    with pytest.raises(ValueError, match="n_iter"):
        PhotoZModel(BANDS).tune(train, n_iter=0)
    for weight in (-0.1, np.nan, np.inf, "a lot", None, True, "0.5", 10 ** 400):
        with pytest.raises(ValueError, match="outlier_weight must be a finite number >= 0"):
            PhotoZModel(BANDS).tune(train, n_iter=2, outlier_weight=weight)
    with pytest.raises(TypeError, match="astropy Table"):
        PhotoZModel(BANDS).tune(np.zeros(3))


@pytest.fixture(scope="module")
def tuned_protocol(sample):
    """Mean test sigma_NMAD and outlier fraction over the 10 seeds, tuning
    (50 trials) on each seed's training part only."""
    figures = []
    for seed in range(10):
        train, test = stratified_split(sample, z="zspec", seed=seed)
        model = PhotoZModel(BANDS).tune(train, n_iter=50, random_state=seed)
        out = model.predict(test)
        metrics = evaluate(out["z_phot"], out["zspec"])
        figures.append((metrics["sigma_nmad"], metrics["outlier_fraction"]))
    return np.mean(figures, axis=0)


@pytest.mark.slow
@pytest.mark.reference
def test_tuned_protocol_beats_the_paper(tuned_protocol):
    """Issue floor: tuning on each seed's training part only, 10 seeds.

    Reference: Kalná et al. 2024's published sigma_NMAD 0.018 and 3.5 %
    outliers; the issue's floors for the tuned model are below both,
    sigma_NMAD <= 0.0165 and outliers <= 3.2 %.
    """
    sigma, outliers = tuned_protocol
    assert sigma <= 0.0165 and outliers <= 0.032


@pytest.mark.slow
@pytest.mark.regression
def test_tuned_protocol_figures_are_unchanged(tuned_protocol):
    """Pins this package's own earlier output: sigma_NMAD 0.01432 and 2.65 %
    outliers, the 10-seed means of the tuned protocol with the redshift
    window and clip_sigma tuned too (docs/reproduce.rst, the "mean ± std"
    line; 0.01414 and 2.68 % with the window's second group, 0.01624 and
    3.08 % before the window)."""
    sigma, outliers = tuned_protocol
    assert sigma == pytest.approx(0.01432, abs=2e-4)
    assert outliers == pytest.approx(0.0265, abs=2e-3)


@pytest.mark.slow
def test_tuned_protocol_is_identical_across_thread_counts(catalogue):
    """A tuned protocol seed gives the same bits on 1 and 2 threads."""
    from photoz_numba.protocol import run_paper_protocol
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            results.append(run_paper_protocol(catalogue, seeds=[4], tune=True, n_iter=8))
    finally:
        numba.set_num_threads(before)
    (first, first_pred), (second, second_pred) = results
    for name in ("k", "gamma", "lam", "cv_score", "sigma_nmad", "outlier_fraction"):
        assert first[name][0] == second[name][0]
    np.testing.assert_array_equal(first_pred["z_phot"], second_pred["z_phot"])


@pytest.mark.slow
def test_trial_scores_exactly_what_cross_validate_scores_with_missing_bands(train):
    """One model-selection path: rows that lack bands take part in tuning as
    in cross_validate, and each trial's figures are cross_validate's, to
    the last bit, on the same folds."""
    table = train.copy()
    rng = np.random.default_rng(7)
    lacking = rng.random(len(table)) < 0.25
    for row in np.flatnonzero(lacking):
        for band in rng.choice(BANDS, size=rng.integers(1, 3), replace=False):
            table[band][row] = np.ma.masked
    tuned = PhotoZModel(BANDS).tune(table, n_iter=3, random_state=4)
    for row in tuned.tuning_history_:
        model = PhotoZModel(BANDS, k=int(row["k"]), gamma=float(row["gamma"]),
                            lam=float(row["lam"]), window=float(row["window"]),
                            clip_sigma=float(row["clip_sigma"]))
        metrics = cross_validate(model, table, seed=4)
        assert metrics["sigma_nmad"] == row["cv_sigma_nmad"]
        assert metrics["outlier_fraction"] == row["cv_outlier_fraction"]
        # The rows lacking bands were predicted and scored, not dropped.
        assert metrics["n"] + metrics["n_unpredicted"] == len(table)
        assert metrics["n"] > (~lacking).sum() + 0.9 * lacking.sum()


def test_window_and_clipping_switched_off_stay_off():
    """Contract: a None window or clip_sigma is not tuned (the first trial
    is the model's setting, which the search space cannot express)."""
    from photoz_numba.datasets import toy_catalogue
    table = toy_catalogue(400)
    model = PhotoZModel(["g", "r", "i"], k=20, window=None, clip_sigma=None)
    model.tune(table, n_iter=4, random_state=0)
    assert model.window is None and model.clip_sigma is None
    assert "window" not in model.tuning_history_.colnames
    assert "clip_sigma" not in model.tuning_history_.colnames


_NO_REDSHIFT = "masked, not finite or outside -0.01 to 20, as the sentinels 99 and -99"


def test_tune_warns_once_of_rows_with_no_redshift():
    """The folds and the refit read the same redshifts: one warning, not
    one from each."""
    import warnings
    from photoz_numba.datasets import toy_catalogue
    from photoz_numba.exceptions import PhotoZWarning
    table = toy_catalogue(400)
    table["zspec"][3:13] = 99.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = PhotoZModel(["g", "r", "i"], k=20).tune(table, n_iter=2, random_state=0)
    assert [str(w.message) for w in caught if issubclass(w.category, PhotoZWarning)] == [
        f"10 of 400 rows have no redshift in 'zspec' ({_NO_REDSHIFT}; first at row 3: "
        f"99.0) and are skipped"]
    assert model.n_train_ == 390


def test_too_few_galaxies_with_a_redshift_to_tune():
    """The count is of the rows with a redshift (10 of 40), and the
    smallest fold model's (8 with 5 folds): k from 10 cannot be tuned."""
    from photoz_numba.datasets import toy_catalogue
    from photoz_numba.exceptions import PhotoZWarning
    table = toy_catalogue(40)
    table["zspec"][10:] = 99.0
    with pytest.raises(ValueError) as error, pytest.warns(PhotoZWarning, match="30 of 40"):
        PhotoZModel(["g", "r", "i"], k=20).tune(table, n_iter=2)
    assert str(error.value) == ("too few training galaxies with a redshift (10; the smallest "
                                "fold model is fitted on 8) to tune k over (10, 100) with 5 "
                                "folds")
