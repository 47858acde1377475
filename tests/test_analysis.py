"""The analyses behind the docs' figures and tables (``analysis/``) run:
each one's ``--smoke`` mode, a tiny problem through its whole code path,
in a fresh process from the repository root."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from astropy.table import Table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def run_analysis(catalogue, tmp_path):
    """Run ``python -m analysis.<name> --smoke *args`` from the repository
    root (skipped, like every test that needs it, without the catalogue)."""
    def run(name, *args):
        result = subprocess.run([sys.executable, "-m", f"analysis.{name}", "--smoke", *args],
                                cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout
    return run


def assert_finite(table, *names):
    assert len(table) > 0
    for name in names:
        assert np.all(np.isfinite(np.asarray(table[name], dtype=float))), name


def test_approximate_search_accuracy(run_analysis, tmp_path):
    path = tmp_path / "approximate.ecsv"
    run_analysis("approximate_search_accuracy", "--output", str(path))
    table = Table.read(path)
    assert list(table["seed"]) == [0]
    assert_finite(table, "sigma_nmad_exact", "outliers_exact", "sigma_nmad_approx",
                  "outliers_approx")
    assert 0 < table["sigma_nmad_approx"][0] < 0.1


def test_high_z(run_analysis, tmp_path):
    path = tmp_path / "high_z.ecsv"
    out = run_analysis("high_z", str(path))
    table = Table.read(path)
    assert table["idea"][2] == "second group, share 0.5" and len(table) == 13
    assert_finite(table, "sigma_nmad", "outlier_fraction", "outlier_fraction_5_6")
    # The flag's share recomputed in NumPy is the kernel's bit.
    assert "(share >= 0.25) on 100.0000% of galaxies" in out
    flags = Table.read(tmp_path / "high_z_flag.ecsv")
    assert np.all(flags["outliers_flagged"] > flags["outliers_unflagged"])


def test_calibration_protocol(run_analysis, tmp_path):
    run_analysis("calibration_protocol", "--output", str(tmp_path))
    per_seed = Table.read(tmp_path / "calibration_protocol.ecsv")
    assert_finite(per_seed, "before_1", "before_2", "after_1", "after_2")
    assert np.all(per_seed["after_1"] > per_seed["before_1"])
    forms = Table.read(tmp_path / "calibration_forms.ecsv")
    assert_finite(forms, "scale", "cv_loss", "test_1", "test_2", "test_loss")


def test_choose_defaults(run_analysis, tmp_path):
    path = tmp_path / "choose_defaults.ecsv"
    run_analysis("choose_defaults", str(path))
    table = Table.read(path)
    assert len(table) == 2
    assert_finite(table, "cv_sigma_nmad", "cv_outlier_fraction", "cv_score")


def _ideas_table(run_analysis, tmp_path, name, rows):
    """Run an ideas analysis; its table has ``rows`` rows of finite CV and
    test figures."""
    path = tmp_path / f"{name}.ecsv"
    run_analysis(name, str(path))
    table = Table.read(path)
    assert len(table) == rows
    assert_finite(table, "cv_sigma_nmad", "cv_outlier_fraction", "test_sigma_nmad",
                  "test_outlier_fraction")


def test_ideas(run_analysis, tmp_path):
    _ideas_table(run_analysis, tmp_path, "ideas", 3)


def test_survey_ideas(run_analysis, tmp_path):
    _lsst_folder()
    _ideas_table(run_analysis, tmp_path, "survey_ideas", 6)


def test_ks_floor(tmp_path):
    """A simulation, no data needed: per-seed KS of a perfect p(z) near
    0.87 / sqrt(921) without recalibration (Kolmogorov's mean, analytic),
    and larger with one learnt on 3684 other values."""
    path = tmp_path / "ks_floor.ecsv"
    subprocess.run([sys.executable, "-m", "analysis.ks_floor", str(path), "--draws", "400"],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    table = Table.read(path)
    mean = dict(zip(table["recalibration"], table["mean_ks"]))
    assert mean["none"] == pytest.approx(0.8687 / np.sqrt(921), rel=0.05)
    assert mean["calibrate's knots"] > 1.05 * mean["none"]


def test_survey_ensembles(run_analysis, tmp_path):
    """The run checks itself: each trial's out-of-fold figures are the
    tuning's, and its own fold loop without copies is cross_validate."""
    _lsst_folder()
    _ideas_table(run_analysis, tmp_path, "survey_ensembles", 10)


def _lsst_folder():
    # The analyses' own default: ../shared/data beside the repository.
    root = pathlib.Path(__file__).resolve().parents[1]
    folder = pathlib.Path(os.environ.get("PHOTOZ_NUMBA_LSST_LIKE",
                                         root.parent / "shared" / "data"))
    if not (folder / "lsst_like_train.fits").exists():
        pytest.skip(f"the LSST-like benchmark is not in {folder}")


@pytest.fixture
def analysis_importable(monkeypatch):
    """The analyses importable in this process, as from the repository
    root (the test runner's working directory need not be it)."""
    monkeypatch.syspath_prepend(str(ROOT))


def test_front_of_a_hand_made_cloud(analysis_importable):
    """The front of six points worked out by hand: (2, 9), (3, 4) twice and
    (6, 1) beat the others; (4, 4) is beaten by (3, 4), (7, 2) by (6, 1)."""
    from analysis.survey_front import front
    sigma = [4, 2, 7, 3, 6, 3]
    outliers = [4, 9, 2, 4, 1, 4]      # the last repeats (3, 4): equal points both stay
    np.testing.assert_array_equal(front(sigma, outliers), [1, 3, 5, 4])


def test_survey_front(run_analysis, tmp_path, analysis_importable):
    """No front setting beats another on both CV figures; a front
    setting's CV figures are cross_validate's (another code path than the
    tuner's) and its test figures evaluate's of its own fit."""
    from analysis.survey_front import WEIGHTS
    from analysis.survey_ideas import BANDS, COLUMNS, load
    from photoz_numba import PhotoZModel
    from photoz_numba.metrics import evaluate
    from photoz_numba.photometry import lupton_softening
    from photoz_numba.validation import cross_validate
    _lsst_folder()
    path = tmp_path / "front.ecsv"
    run_analysis("survey_front", str(path))
    table = Table.read(path)
    assert_finite(table, "cv_sigma_nmad", "cv_outlier_fraction", "test_sigma_nmad",
                  "test_outlier_fraction")
    chosen, on_front = table[table["kind"] == "chosen"], table[table["kind"] == "front"]
    assert list(chosen["weight"]) == list(WEIGHTS)
    sigma = np.asarray(on_front["cv_sigma_nmad"])
    outliers = np.asarray(on_front["cv_outlier_fraction"])
    for i in range(len(on_front)):
        others = np.arange(len(on_front)) != i
        assert not np.any((sigma[others] <= sigma[i]) & (outliers[others] <= outliers[i])
                          & ((sigma[others] < sigma[i]) | (outliers[others] < outliers[i])))
    train, test = load(smoke=True)
    row = on_front[-1]
    model = PhotoZModel(BANDS, columns=COLUMNS, softening=lupton_softening(train, COLUMNS),
                        **{name: (int(row[name]) if name == "k" else float(row[name]))
                           for name in ("k", "gamma", "lam", "window", "clip_sigma")})
    cv = cross_validate(model, train, z="redshift", seed=0)
    assert cv["sigma_nmad"] == pytest.approx(row["cv_sigma_nmad"], rel=1e-12)
    assert cv["outlier_fraction"] == pytest.approx(row["cv_outlier_fraction"], rel=1e-12)
    out = model.fit(train, z="redshift").predict(test)
    ok = ~np.ma.getmaskarray(out["z_phot"])
    figures = evaluate(np.asarray(out["z_phot"][ok]), np.asarray(test["redshift"][ok]))
    assert figures["sigma_nmad"] == pytest.approx(row["test_sigma_nmad"], rel=1e-12)
    assert figures["outlier_fraction"] == pytest.approx(row["test_outlier_fraction"],
                                                        rel=1e-12)


def test_survey_neighbourhoods(run_analysis, tmp_path):
    """The NumPy version's line for the method as it is equals the
    package's own CV (independent implementations of the same maths), and
    the outliers divided by share add up to its outlier count."""
    _lsst_folder()
    path = tmp_path / "neighbourhoods.ecsv"
    run_analysis("survey_neighbourhoods", str(path))
    table = Table.read(path)
    assert len(table) == 3 and table["idea"][2].startswith("nested")
    own = table.meta["package_cv"]
    np.testing.assert_allclose(table["cv_sigma_nmad"][0], own["sigma_nmad"], rtol=1e-9)
    np.testing.assert_allclose(table["cv_outlier_fraction"][0], own["outlier_fraction"],
                               rtol=1e-9)
    shares = table.meta["outliers_by_true_share"]
    assert sum(shares["galaxies"]) == 2000
    assert sum(shares["outliers"]) == round(own["outlier_fraction"] * 2000)


def test_missing_bands(run_analysis, tmp_path):
    path = tmp_path / "missing_bands.ecsv"
    run_analysis("missing_bands", str(path))
    table = Table.read(path)
    assert len(set(table["case"])) == 6
    assert_finite(table, "sigma_nmad", "outlier_fraction")


@pytest.mark.slow
def test_make_doc_figures(run_analysis, tmp_path):
    run_analysis("make_doc_figures", str(tmp_path))
    generated = tmp_path / "_generated"
    for figure in ("reproduce/figure1.png", "calibration/coverage.png",
                   "calibration/before/pulls.png", "calibration/after/pulls.png",
                   "performance/throughput_vs_k.png", "performance/overview.png"):
        assert (generated / figure).stat().st_size > 0, figure


def test_pdf_acceptance(run_analysis):
    _lsst_folder()
    out = run_analysis("pdf_acceptance", "--dataset", "both")
    # and, from the LSST-like set's stacked p(z), its n(z).
    assert "n(z) of the test file from the stacked p(z)" in out
    assert "pooled PIT KS distance" in out
    line = next(row for row in out.splitlines() if row.strip().startswith("0 "))
    values = [float(v) for v in line.split()[2:8]]
    c68, c95, ks, cde = values[:4]
    assert 0.55 < c68 < 0.8 and 0.88 < c95 < 0.99 and 0 < ks < 0.1 and cde < -5


def test_pz_tails(run_analysis, tmp_path):
    path = tmp_path / "pz_tails.ecsv"
    run_analysis("pz_tails", str(path))
    table = Table.read(path)
    assert list(table["way"]) == ["untruncated", "truncated", "wider"]
    assert_finite(table, "c68", "c95", "pit_ks", "cde_loss", "p6_below", "p7")
    # Truncated at the training part's highest redshift, below 7: no p(z)
    # above it; untruncated, some.
    assert np.isnan(table["z_max"][0]) and (table["z_max"][1:] < 7).all()
    assert table["p7"][0] > 0 and (table["p7"][1:] == 0).all()


def test_softening_choice(run_analysis, tmp_path):
    path = tmp_path / "softening_choice.ecsv"
    run_analysis("softening_choice", str(path))
    table = Table.read(path)
    assert list(table["choice"]) == ["log magnitudes", "softening 0.5",
                                     "CV-chosen among 0, 0.5"]
    assert_finite(table, "cv_score", "sigma_nmad", "outlier_fraction")
    # The CV choice takes the run with the lower CV score, whose figures it
    # then carries.
    best = int(np.argmin(table["cv_score"][:2]))
    assert table["cv_score"][2] == table["cv_score"][best]
    assert table["sigma_nmad"][2] == table["sigma_nmad"][best]


def test_pit_knots(run_analysis, tmp_path):
    path = tmp_path / "pit_knots.ecsv"
    run_analysis("pit_knots", str(path), "--dataset", "lsst")
    table = Table.read(path)
    assert list(table["knots"]) == ["every 0.05 (21)", "every 0.025 (41)",
                                    "every 0.05 + percentiles (calibrate's)"]
    assert_finite(table, "below_025", "above_975", "c68", "cde_loss", "pit_ks")
    np.testing.assert_allclose(table["c95"], 1 - table["below_025"] - table["above_975"])
    # Held-out halves of 2000 galaxies, recalibrated on the other half:
    # each tail near its 2.5 %, the CDE loss that of a p(z) sharper than 1.
    assert ((table["below_025"] > 0.01) & (table["below_025"] < 0.05)).all()
    assert ((table["above_975"] > 0.01) & (table["above_975"] < 0.05)).all()
    assert (table["cde_loss"] < -1).all()


def test_holdout_coverage(run_analysis, tmp_path):
    _lsst_folder()
    path = tmp_path / "holdout.ecsv"
    out = run_analysis("holdout_coverage", str(path), "--test-file")
    table = Table.read(path)
    assert list(table["seed"]) == [100, 101] and table.meta["hold"] == 200
    assert_finite(table, "c68", "c95", "gauss68", "test_c68", "test_c95", "test_gauss68")
    assert np.all((table["c68"] > 0.5) & (table["c68"] < table["c95"]))
    assert "the same models on the test file" in out
    # The summary's binomial spread is sqrt(p (1 - p) / n) of the 200.
    assert f"binomial of 200 {100 * np.sqrt(0.6827 * 0.3173 / 200):.2f}" in out
