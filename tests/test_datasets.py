"""Catalogue loader, the paper's sample, and stratified splits.

Contract tests, but for the paper's sample size (reference: Kalná et al.
2024) and the quantile bins of an evenly spaced sample (reference:
analytic). The catalogue's 5667 rows are the published file's (its
SHA-256 is checked on load).
"""

import os
import shutil

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table

from photoz_numba import conf
from photoz_numba.datasets import ENV_VAR, KALNA2024_BANDS, load_kalna2024
from photoz_numba.selection import _strata, stratified_kfold, stratified_split


def test_catalogue_layout(catalogue):
    assert len(catalogue) == 5667
    for band in KALNA2024_BANDS:
        assert catalogue[band].unit == u.uJy
        assert catalogue[f"{band}_err"].unit == u.uJy
    assert catalogue["ra"].unit == u.deg
    # -99 marks 'no measurement' in the file and becomes a mask.
    assert catalogue["f435w"].mask.sum() > 0
    assert not (catalogue["f435w"].filled(0) == -99).any()


@pytest.mark.reference
def test_paper_sample_has_4605_galaxies(catalogue, sample):
    """Reference: Kalná et al. 2024, the paper's sample of 4605 galaxies
    (docs/index.rst: the paper's protocol); every band measured, z_spec <= 7."""
    assert len(sample) == 4605
    assert sample["zspec"].max() <= 7
    for band in KALNA2024_BANDS:
        assert (sample[band] > 0).all() and not sample[band].mask.any()


def test_local_path_argument_and_precedence(tmp_path, monkeypatch, catalogue):
    local = os.environ.get(ENV_VAR) or conf.kalna2024_path
    copy = tmp_path / "copy.ascii"
    shutil.copy(local, copy)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "does-not-exist"))
    # The argument wins over the environment variable.
    assert len(load_kalna2024(copy)) == 5667
    with pytest.raises(FileNotFoundError, match="does-not-exist.*PHOTOZ_NUMBA_KALNA2024"):
        load_kalna2024()


def test_config_item(tmp_path, monkeypatch, catalogue):
    local = os.environ.get(ENV_VAR) or conf.kalna2024_path
    monkeypatch.delenv(ENV_VAR, raising=False)
    with conf.set_temp("kalna2024_path", str(local)):
        assert len(load_kalna2024()) == 5667


def test_hash_mismatch_is_an_error(tmp_path):
    fake = tmp_path / "fake.ascii"
    fake.write_text("ID zspec\n1 0.5\n")
    with pytest.raises(ValueError, match="SHA-256"):
        load_kalna2024(fake)
    assert len(load_kalna2024(fake, check_hash=False)) == 1


@pytest.mark.remote_data
def test_download_from_public_url(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with conf.set_temp("kalna2024_path", ""):
        assert len(load_kalna2024()) == 5667


@pytest.fixture
def indexed(sample):
    """The sample with a row index: IDs repeat across the three fields."""
    table = sample.copy()
    table["row"] = np.arange(len(table))
    return table


def test_split_sizes_and_reproducibility(indexed):
    train, test = stratified_split(indexed, z="zspec", seed=0)
    assert (len(train), len(test)) == (3684, 921)
    np.testing.assert_array_equal(np.sort(np.concatenate([train["row"], test["row"]])),
                                  np.arange(4605))
    # Both parts keep the input order.
    assert (np.diff(train["row"]) > 0).all() and (np.diff(test["row"]) > 0).all()
    again = stratified_split(indexed, z="zspec", seed=0)[1]
    np.testing.assert_array_equal(test["row"], again["row"])
    other = stratified_split(indexed, z="zspec", seed=1)[1]
    assert not np.array_equal(test["row"], other["row"])


def test_split_is_stratified(indexed):
    z = np.asarray(indexed["zspec"])
    strata = _strata(z, 14)
    _, test = stratified_split(indexed, z="zspec", seed=4)
    in_test = np.isin(indexed["row"], test["row"])
    for label in np.unique(strata):
        members = strata == label
        # Each bin gives floor or ceil of its 20 % share.
        share = 0.2 * members.sum() * 921 / (0.2 * 4605)
        assert abs(in_test[members].sum() - share) < 1


@pytest.mark.reference
def test_strata_match_quantile_bins():
    """Reference: analytic, 140 evenly spaced values in 14 quantile bins: 10 each."""
    z = np.arange(140, dtype=float)
    counts = np.bincount(_strata(z, 14))
    np.testing.assert_array_equal(counts, np.full(14, 10))


def test_kfold_sizes_and_strata(sample):
    z = np.asarray(sample["zspec"])
    folds = stratified_kfold(z, n_folds=5, seed=0)
    sizes = np.bincount(folds)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == 4605
    strata = _strata(z, 14)
    for label in np.unique(strata):
        per_fold = np.bincount(folds[strata == label], minlength=5)
        assert per_fold.max() - per_fold.min() <= 1


@pytest.mark.parametrize("kwargs, match", [
    (dict(test_size=0), "test_size"), (dict(test_size=1.5), "test_size"),
    (dict(z="redshift"), "'redshift'")])
def test_split_bad_arguments(kwargs, match):
    table = Table({"zspec": np.linspace(0, 1, 10)})
    with pytest.raises((ValueError, KeyError), match=match):
        stratified_split(table, **kwargs)


def test_kfold_bad_arguments():
    with pytest.raises(ValueError, match="n_folds"):
        stratified_kfold(np.arange(10.0), n_folds=1)
    with pytest.raises(ValueError, match="finite"):
        stratified_kfold(np.array([0.1, np.nan, 0.3]), n_folds=2)
