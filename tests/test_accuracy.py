"""The paper's protocol with the default hyper-parameters (issue floor).

The floors are checked against the published figures (reference tests);
the figures this package measured when the defaults were chosen are
pinned separately (regression tests).
"""

import numpy as np
import pytest

from photoz_numba.protocol import run_paper_protocol, summarise
from photoz_numba.validation import cross_validate
from photoz_numba import PhotoZModel
from photoz_numba.datasets import KALNA2024_BANDS
from photoz_numba.selection import stratified_split


@pytest.fixture(scope="module")
def ten_seeds(catalogue):
    """The protocol's 10 seeds with the defaults: per-seed table, summary,
    predictions."""
    per_seed, predictions = run_paper_protocol(catalogue, seeds=range(10))
    return per_seed, summarise(per_seed), predictions


@pytest.mark.slow
@pytest.mark.reference
def test_defaults_beat_the_floor_on_ten_seeds(ten_seeds):
    """Mean over the 10 seeds within the issue's floors.

    Reference: Kalná et al. 2024's published figures, sigma_NMAD 0.018 and
    3.5 % outliers, and their published code's 0.0204 and 3.9 % (run on
    the same protocol, docs/reproduce.rst); the issue's floors are
    sigma_NMAD <= 0.0175 (below the paper's 0.018) and outliers <= 4.3 %.
    """
    per_seed, summary, predictions = ten_seeds
    assert summary["sigma_nmad"][0] <= 0.0175
    assert summary["outlier_fraction"][0] <= 0.043
    assert len(predictions) == 10 * 921
    assert (per_seed["n_unpredicted"] == 0).all()


@pytest.mark.slow
@pytest.mark.regression
def test_defaults_ten_seed_figures_are_unchanged(ten_seeds):
    """Pins this package's own earlier output: sigma_NMAD 0.01587 and 2.62 %
    outliers, the 10-seed means of the defaults with the redshift window
    (docs/method.rst and docs/reproduce.rst, ``--no-tune``; 0.01583 and
    2.50 % with its second group, 0.01653 and 3.29 % before the window)."""
    _, summary, _ = ten_seeds
    assert abs(summary["sigma_nmad"][0] - 0.01587) < 2e-4
    assert abs(summary["outlier_fraction"][0] - 0.0262) < 2e-3


def test_protocol_is_reproducible(catalogue):
    """Two runs of one seed give the same figures and the same predictions;
    ``on_seed`` is given each seed's row as soon as it is done."""
    said = []
    first, first_pred = run_paper_protocol(catalogue, seeds=[2], on_seed=said.append)
    assert len(said) == 1 and said[0]["seed"] == 2
    assert said[0]["sigma_nmad"] == first["sigma_nmad"][0]
    second, second_pred = run_paper_protocol(catalogue, seeds=[2])
    assert first["sigma_nmad"][0] == second["sigma_nmad"][0]
    assert first["outlier_fraction"][0] == second["outlier_fraction"][0]
    assert len(first_pred) == 921
    np.testing.assert_array_equal(first_pred["z_phot"], second_pred["z_phot"])


@pytest.mark.regression
def test_cross_validation_figure_of_the_defaults(sample):
    """Pins this package's own earlier output: the 5-fold CV score on seed
    0's training part of the defaults (the window's first group),
    sigma_NMAD 0.015806 and 2.2258 % outliers; with its second group
    (``second_group=0.5``) 0.015797 and 1.9815 %; and without the redshift window
    (the defaults before it) 0.016260 and 3.2845 % (docs/method.rst, made
    by analysis/ideas.py)."""
    train, _ = stratified_split(sample, z="zspec", seed=0)
    for window, second, sigma, outliers in [(0.15, 0.5, 0.015797, 0.019815),
                                            (0.15, None, 0.015806, 0.022258),
                                            (None, None, 0.016260, 0.032845)]:
        metrics = cross_validate(PhotoZModel(list(KALNA2024_BANDS), window=window,
                                             second_group=second), train, seed=0)
        assert abs(metrics["sigma_nmad"] - sigma) < 1e-5
        assert abs(metrics["outlier_fraction"] - outliers) < 1e-5
        assert metrics["n_unpredicted"] == 0
