"""The photoz-numba command line, run as a user would, through subprocess.

Contract tests (exit codes, messages, files written or left alone), but
for two regression tests pinning seed 0's figures with the defaults.
"""

import subprocess
import sys

import pytest
from astropy.table import Table


def run(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "photoz_numba.cli", *args],
                          capture_output=True, text=True, timeout=600, **kwargs)


def test_reproduce_prints_per_seed_table_and_summary(catalogue, tmp_path):
    """The printed table is the written metrics, with the paper's 0.018 and
    its published code's 0.0204 beside them; all outputs written."""
    result = run("reproduce", "--seeds", "0-1", "--n-iter", "4", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    seed_rows = [line.split() for line in lines if line.split()[:1] in (["0"], ["1"])]
    assert [row[0] for row in seed_rows] == ["0", "1"]
    assert any(line.strip().startswith("mean ± std") for line in lines)
    assert "0.01800" in result.stdout and "0.02040" in result.stdout
    metrics = Table.read(tmp_path / "metrics.ecsv")
    assert list(metrics["seed"]) == [0, 1] and (metrics["n_test"] == 921).all()
    # The printed figures are the written ones.
    assert f"{metrics['sigma_nmad'][0]:.5f}" == seed_rows[0][6]
    params = Table.read(tmp_path / "hyperparameters.ecsv")
    assert params.colnames == ["seed", "k", "gamma", "lam", "window", "clip_sigma", "cv_score"]
    assert int(seed_rows[1][1]) == params["k"][1]
    assert len(Table.read(tmp_path / "predictions.ecsv")) == 2 * 921
    assert len(Table.read(tmp_path / "predictions.fits")) == 2 * 921
    for name in ("figure1.png", "figure1.pdf"):
        assert (tmp_path / name).stat().st_size > 10_000


@pytest.mark.regression
def test_reproduce_without_tuning_uses_the_defaults(catalogue):
    """Pins this package's own earlier output: seed 0 with the defaults,
    sigma_NMAD 0.01582 (docs/reproduce.rst, the seed-0 line; 0.01581 with
    the window's second group, 0.01639 before the redshift window became
    a default)."""
    result = run("reproduce", "--seeds", "0", "--no-tune")
    assert result.returncode == 0, result.stderr
    row = next(line.split() for line in result.stdout.splitlines()
               if line.split()[:1] == ["0"])
    # Seed 0 with the defaults (docs: reproduce page).
    assert row[1:7] == ["40", "0.100", "0.1000", "0.150", "3.00", "0.01582"]


@pytest.mark.parametrize("args, code, message", [
    (["reproduce", "--seeds", "x"], 2, "seeds must look like"),
    (["reproduce", "--catalogue", "/no/such/file"], 1,
     "reproduce: error: catalogue file '/no/such/file'"),
    ([], 2, "required"),
])
def test_errors_are_one_line_on_stderr(args, code, message):
    result = run(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_traceback():
    result = run("--debug", "reproduce", "--catalogue", "/no/such/file")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "FileNotFoundError" in result.stderr


def test_help():
    result = run("reproduce", "--help")
    assert result.returncode == 0 and "--seeds" in result.stdout


# -- fit / predict / evaluate on files ------------------------------------------

import os  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from astropy import units as u  # noqa: E402
from astropy.table import vstack  # noqa: E402

from photoz_numba.datasets import KALNA2024_BANDS  # noqa: E402
from photoz_numba.selection import stratified_split  # noqa: E402

BANDS = ",".join(KALNA2024_BANDS)


@pytest.fixture(scope="module")
def files(sample, tmp_path_factory):
    """Training and test FITS files, and a model fitted from the CLI."""
    folder = tmp_path_factory.mktemp("cli")
    train, test = stratified_split(sample, z="zspec", seed=0)
    train.meta, test.meta = {}, {}
    train.write(folder / "train.fits")
    test.write(folder / "test.fits")
    result = run("fit", str(folder / "train.fits"), "--bands", BANDS, "--z", "zspec",
                 "-o", str(folder / "model.fits"))
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture(scope="module")
def predicted(files):
    """The CLI's predictions for seed 0's test part, and the evaluate output."""
    out = files / "out.fits"
    result = run("predict", str(files / "model.fits"), str(files / "test.fits"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    evaluated = run("evaluate", str(out), "--z", "zspec")
    assert evaluated.returncode == 0, evaluated.stderr
    return out, result.stdout, evaluated.stdout


def test_fit_predict_evaluate(predicted):
    """predict writes every row with the output columns; evaluate prints the
    figures of photoz_numba.metrics on the written file."""
    from photoz_numba.metrics import evaluate
    out, predict_stdout, evaluate_stdout = predicted
    assert "wrote 921 rows" in predict_stdout
    table = Table.read(out)
    assert len(table) == 921 and table.colnames[-4:] == ["z_phot", "z_phot_err",
                                                         "z_phot_flag", "z_phot_nused"]
    metrics = evaluate(table["z_phot"], table["zspec"])
    assert f"sigma_NMAD {metrics['sigma_nmad']:.5f}" in evaluate_stdout
    assert f"{100 * metrics['outlier_fraction']:.2f}%" in evaluate_stdout


@pytest.mark.regression
def test_evaluate_of_seed_0_is_unchanged(predicted):
    """Pins this package's own earlier output: seed 0 with the defaults,
    sigma_NMAD 0.01582 and 3.15 % outliers (docs/reproduce.rst, the seed-0
    line; 0.01581 and 3.15 % with the window's second group, 0.01639 and
    4.13 % before the redshift window became a default)."""
    _, _, evaluate_stdout = predicted
    assert "sigma_NMAD 0.01582" in evaluate_stdout and "3.15%" in evaluate_stdout


def test_predict_refuses_to_overwrite(files, tmp_path):
    out = tmp_path / "out.fits"
    out.write_text("keep me")
    result = run("predict", str(files / "model.fits"), str(files / "test.fits"), "-o", str(out))
    assert result.returncode == 1 and "--overwrite" in result.stderr
    assert out.read_text() == "keep me"
    result = run("predict", str(files / "model.fits"), str(files / "test.fits"),
                 "-o", str(files / "test.fits"), "--overwrite")
    assert result.returncode == 1 and "is the input" in result.stderr
    result = run("predict", str(files / "model.fits"), str(files / "test.fits"),
                 "-o", str(out), "--overwrite")
    assert result.returncode == 0 and len(Table.read(out)) == 921


def test_fit_with_column_mapping_and_unitless_columns(files, sample, tmp_path):
    table = Table.read(files / "train.fits")
    table.rename_column("f444w", "F444W_FLUX")
    table["F444W_FLUX"] = u.Quantity(table["F444W_FLUX"]).to_value(u.nJy)
    table.write(tmp_path / "train.fits")
    args = ["fit", str(tmp_path / "train.fits"), "--bands", BANDS, "-o",
            str(tmp_path / "model.fits"), "--band", "f444w=F444W_FLUX"]
    result = run(*args)
    assert result.returncode == 1 and "'F444W_FLUX' has no unit" in result.stderr
    assert not (tmp_path / "model.fits").exists()
    result = run(*args, "--unit", "f444w=nJy")
    assert result.returncode == 0, result.stderr
    same = run("predict", str(tmp_path / "model.fits"), str(files / "test.fits"),
               "-o", str(tmp_path / "a.fits"))
    # The test file has f444w, not F444W_FLUX: the mapping is part of the model.
    assert same.returncode == 1 and "F444W_FLUX" in same.stderr


def test_predict_names_the_option_of_an_unknown_band(files, tmp_path):
    """--unit or --band naming a band the model does not have, or --band
    making two bands read one column: the option and the bands are named,
    and nothing is written."""
    for option, value, said in (
            ("--unit", "x=uJy", "--unit names band(s) ['x'] that are not among the model's "
                                "bands ['f435w', "),
            ("--band", "x=X_FLUX", "--band x=X_FLUX: 'x' is not a band of the model")):
        result = run("predict", str(files / "model.fits"), str(files / "test.fits"),
                     "-o", str(tmp_path / "out.fits"), option, value)
        assert result.returncode == 1 and said in result.stderr, result.stderr
        assert not (tmp_path / "out.fits").exists()
    # A typo that makes two bands read one column.
    result = run("predict", str(files / "model.fits"), str(files / "test.fits"),
                 "-o", str(tmp_path / "out.fits"), "--band", "f435w=f606w")
    assert result.returncode == 1 and ("bands ['f435w', 'f606w'] all read column 'f606w': "
                                       "each band needs a column of its own (--band)"
                                       in result.stderr), result.stderr
    assert not (tmp_path / "out.fits").exists()


def test_corrupted_input_file(files, tmp_path):
    data = (files / "test.fits").read_bytes()
    (tmp_path / "bad.fits").write_bytes(data[:len(data) // 2])
    result = run("predict", str(files / "model.fits"), str(tmp_path / "bad.fits"),
                 "-o", str(tmp_path / "out.fits"))
    assert result.returncode == 1 and "truncated" in result.stderr
    assert "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == ["bad.fits"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_killed_predict_leaves_no_output(files, sample, tmp_path, sig):
    """Ctrl-C and the signals that end a process by default (a polite kill,
    a dropped session) remove the temporary file and exit with 130 or
    128 + the signal; only kill -9, which no process can catch, leaves it."""
    big = vstack([Table.read(files / "test.fits")] * 400)   # 368,400 rows
    big.write(tmp_path / "big.fits")
    out = tmp_path / "out.fits"
    process = subprocess.Popen(
        [sys.executable, "-m", "photoz_numba.cli", "predict", str(files / "model.fits"),
         str(tmp_path / "big.fits"), "-o", str(out), "--chunk-size", "5000",
         "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # CI may run us with SIGINT ignored (a background job): undo that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Wait until the temporary output exists: the write is under way.
    deadline = time.monotonic() + 60
    while not any(name.endswith(".part.fits") for name in os.listdir(tmp_path)):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert not out.exists()
    if sig == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == (130 if sig == signal.SIGINT else 128 + sig)
        assert "interrupted" in stderr
        assert sorted(os.listdir(tmp_path)) == ["big.fits"]   # temporary file removed


def test_fit_hyper_parameters(files, tmp_path):
    from photoz_numba import PhotoZModel
    result = run("fit", str(files / "train.fits"), "--bands", BANDS, "-o",
                 str(tmp_path / "m.fits"), "--k", "25", "--clip-sigma", "0",
                 "--magnitude-band", "none", "--offset", "mean")
    assert result.returncode == 0, result.stderr
    model = PhotoZModel.read(tmp_path / "m.fits")
    assert (model.k, model.clip_sigma, model.magnitude_band, model.offset) == \
        (25, None, None, "mean")
    # Options not given keep the model's defaults.
    defaults = PhotoZModel(["a", "b"])
    assert (model.gamma, model.lam, model.window) == (defaults.gamma, defaults.lam, 0.15)
    assert model.softening is None
    result = run("fit", str(files / "train.fits"), "--bands", BANDS, "-o",
                 str(tmp_path / "w.fits"), "--window", "0", "--asinh")
    assert result.returncode == 0, result.stderr
    model = PhotoZModel.read(tmp_path / "w.fits")
    assert model.window is None
    # --asinh: softening 1.042 times each band's median training error.
    train = Table.read(files / "train.fits")
    expected = 1.042 * np.median(u.Quantity(train["f150w_err"]).to_value(u.uJy))
    assert model.softening["f150w"].to_value(u.uJy) == pytest.approx(expected, rel=1e-12)


_SECOND_GROUP = ("--second-group is the share of the first window's weight that the second "
                 "must hold, and the second never outweighs the first: it must be a number "
                 "> 0 and <= 1, or 0 for the first window always, not ")


@pytest.mark.parametrize("option, value, message", [
    ("--window", "2", "--window must be a number between 0 and 1, or <= 0 to fit all k, "
                      "not 2.0"),
    ("--window", "nan", "--window must be a number between 0 and 1, or <= 0 to fit all k, "
                        "not nan"),
    ("--k", "0", "--k must be a positive integer, not 0"),
    ("--gamma", "-1", "--gamma must be a finite number > 0, not -1.0"),
    ("--lam", "0", "--lam must be a finite number > 0, not 0.0"),
    ("--clip-sigma", "nan", "--clip-sigma must be a number > 0, or <= 0 for no clipping, "
                            "not nan"),
    ("--search-eps", "-1", "--search-eps must be a finite number >= 0, not -1.0"),
    ("--magnitude-band", "f999w", "--magnitude-band 'f999w' is not one of the bands "
                                  "['g', 'r', 'i']"),
    ("--second-group", "5", _SECOND_GROUP + "5.0"),
    ("--second-group", "1.01", _SECOND_GROUP + "1.01"),
    ("--second-group", "-3", _SECOND_GROUP + "-3.0"),
])
def test_fit_errors_name_the_options_as_typed(tmp_path, capsys, option, value, message):
    """A bad hyper-parameter is named by its option (the Python API names
    the parameter: test_model.py), and checked before the training table is
    read: this one does not exist."""
    from photoz_numba.cli import main
    assert main(["fit", str(tmp_path / "absent.fits"), "--bands", "g,r,i",
                 "-o", str(tmp_path / "m.fits"), option, value]) == 1
    assert capsys.readouterr().err == f"photoz-numba fit: error: {message}\n"


def test_tune_errors_name_the_options_as_typed(toy_files, capsys):
    from photoz_numba.cli import main
    tune = ["tune", str(toy_files / "train.fits"), "--bands", "g,r,i",
            "-o", str(toy_files / "m.fits")]
    for extra, message in ((["--n-iter", "0"], "--n-iter must be >= 1, not 0"),
                           (["--folds", "1"], "--folds must be an integer from 2 to 500, "
                                              "not 1"),
                           (["--folds", "501"], "--folds must be an integer from 2 to 500, "
                                                "not 501"),
                           (["--outlier-weight", "-1"], "--outlier-weight must be a finite "
                                                        "number >= 0, not -1.0"),
                           (["--outlier-weight", "inf"], "--outlier-weight must be a finite "
                                                         "number >= 0, not inf")):
        assert main(tune + extra) == 1
        assert capsys.readouterr().err == f"photoz-numba tune: error: {message}\n"
    assert not (toy_files / "m.fits").exists()
    # Checked before the training table is read, as --k is.
    missing = ["tune", str(toy_files / "missing.fits"), "--bands", "g,r,i",
               "-o", str(toy_files / "m.fits")]
    for extra, message in ((["--k", "-1"], "--k must be"),
                           (["--outlier-weight", "-1"], "--outlier-weight must be")):
        assert main(missing + extra) == 1
        assert capsys.readouterr().err.startswith(f"photoz-numba tune: error: {message}")


@pytest.mark.parametrize("value", ["-1", "0"])
def test_reproduce_n_iter_is_checked_before_the_catalogue(tmp_path, capsys, value):
    """--n-iter below 1 is named as typed before the catalogue is read (it
    does not exist here) and before any trial is announced; 0 ran 15."""
    from photoz_numba.cli import main
    assert main(["reproduce", "--quick", "--n-iter", value,
                 "--catalogue", str(tmp_path / "absent.ascii")]) == 1
    assert capsys.readouterr() == (
        "", f"photoz-numba reproduce: error: --n-iter must be >= 1, not {value}\n")


def test_k_beyond_the_training_set_names_the_option(toy_files, capsys):
    """The fit's message names --k as typed, not the parameter k=400."""
    from photoz_numba.cli import main
    assert main(["fit", str(toy_files / "train.fits"), "--bands", "g,r,i", "--k", "400",
                 "-o", str(toy_files / "m.fits")]) == 0
    assert main(["fit", str(toy_files / "survey.fits"), "--bands", "g,r,i", "--k", "400",
                 "-o", str(toy_files / "m2.fits")]) == 1
    assert capsys.readouterr().err == (
        "photoz-numba fit: error: only 100 training galaxies have a redshift and at least "
        "2 bands measured; --k 400 needs at least 401\n")
    assert not (toy_files / "m2.fits").exists()


def test_second_group_from_zero_to_one(toy_files):
    """--second-group 1, the largest share, is stored; 0 means none."""
    from photoz_numba import PhotoZModel
    from photoz_numba.cli import main
    fit = ["fit", str(toy_files / "train.fits"), "--bands", "g,r,i", "--k", "10", "-q"]
    for value, stored in (("1", 1.0), ("0.5", 0.5), ("0", None)):
        assert main(fit + ["--second-group", value, "-o", str(toy_files / "m.fits"),
                           "--overwrite"]) == 0
        assert PhotoZModel.read(toy_files / "m.fits").second_group == stored


def test_tune_writes_model_and_history(files, tmp_path):
    from photoz_numba import PhotoZModel
    result = run("tune", str(files / "train.fits"), "--bands", BANDS, "-o",
                 str(tmp_path / "m.fits"), "--n-iter", "5", "--seed", "3",
                 "--history", str(tmp_path / "history.ecsv"))
    assert result.returncode == 0, result.stderr
    history = Table.read(tmp_path / "history.ecsv")
    model = PhotoZModel.read(tmp_path / "m.fits")
    best = history[np.argmin(history["cv_score"])]
    assert len(history) == 5 and (model.k, model.lam) == (best["k"], best["lam"])
    # Every tuned parameter, window and clip_sigma too.
    assert (f"best of 5: k={model.k} gamma={model.gamma:.4g} lam={model.lam:.4g} "
            f"window={model.window:.4g} clip_sigma={model.clip_sigma:.4g}; CV sigma_NMAD "
            f"{best['cv_sigma_nmad']:.5f}") in result.stdout
    assert (model.window, model.clip_sigma) == (best["window"], best["clip_sigma"])


def test_tune_names_only_the_parameters_it_tuned(toy_files, capsys):
    """With the window and clipping switched off, tune searches k, gamma
    and lam, and says so."""
    from photoz_numba import PhotoZModel
    from photoz_numba.cli import main
    assert main(["tune", str(toy_files / "train.fits"), "--bands", "g,r,i", "--n-iter", "2",
                 "--window", "0", "--clip-sigma", "0", "-o", str(toy_files / "m.fits")]) == 0
    model = PhotoZModel.read(toy_files / "m.fits")
    assert (model.window, model.clip_sigma) == (None, None)
    line = next(line for line in capsys.readouterr().out.splitlines()
                if line.startswith("best of 2:"))
    assert line.startswith(f"best of 2: k={model.k} gamma={model.gamma:.4g} "
                           f"lam={model.lam:.4g}; CV sigma_NMAD ")


#: A tune ended in its trial N by a signal sent to itself, as by Ctrl-C or
#: kill: ``python -c`` with the signal's number, N, then main's argv.
_TUNE_SIGNALLED = """
import os, sys
from photoz_numba.cli import main
from photoz_numba.selection import OutOfFold
metrics, calls = OutOfFold.metrics, []
def signalled(self, **params):
    calls.append(params)
    if len(calls) == int(sys.argv[2]):
        os.kill(os.getpid(), int(sys.argv[1]))
    return metrics(self, **params)
OutOfFold.metrics = signalled
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_tune_keeps_the_finished_trials(toy_files, sig):
    """Ctrl-C (or kill) during tune --history: the trials finished are
    written, whole, to the history (those of an uninterrupted run with the
    seed), a warning says how many and where, no model is written, and the
    exit code is the interrupt's. Before, nothing was kept."""
    tune = ["tune", str(toy_files / "train.fits"), "--bands", "g,r,i", "--seed", "0"]
    full = run(*tune, "--n-iter", "3", "--history", str(toy_files / "full.ecsv"),
               "-o", str(toy_files / "full.fits"))
    assert full.returncode == 0, full.stderr
    before = sorted(os.listdir(toy_files))
    history = toy_files / "trials.ecsv"
    result = subprocess.run(
        [sys.executable, "-c", _TUNE_SIGNALLED, str(int(sig)), "4", *tune, "--n-iter", "6",
         "--history", str(history), "-o", str(toy_files / "m.fits")],
        capture_output=True, text=True, timeout=600,
        # CI may run us with SIGINT ignored (a background job): undo that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert result.returncode == (130 if sig == signal.SIGINT else 128 + sig), result.stderr
    assert result.stderr.splitlines() == [
        f"photoz-numba: warning: interrupted after 3 of 6 trials; wrote the 3 finished "
        f"trials to {history} (--history); no model written",
        "photoz-numba: interrupted" + ("" if sig == signal.SIGINT else " (SIGTERM)")]
    kept, expected = Table.read(history), Table.read(toy_files / "full.ecsv")
    assert kept.colnames == expected.colnames and len(kept) == 3
    assert all((kept[name] == expected[name]).all() for name in kept.colnames)
    assert kept.meta["outlier_weight"] == expected.meta["outlier_weight"] == 0.1
    # No model, no temporary file.
    assert sorted(os.listdir(toy_files)) == sorted(before + ["trials.ecsv"])


def test_interrupted_tune_without_history_says_how_to_keep_it(toy_files):
    """Without --history, or before any trial has finished, nothing is
    written, and the warning says so."""
    tune = ["tune", str(toy_files / "train.fits"), "--bands", "g,r,i", "--n-iter", "6",
            "-o", str(toy_files / "m.fits")]
    before = sorted(os.listdir(toy_files))
    for done, extra, kept in (
            (3, [], "no model written (--history FILE keeps the finished trials of an "
                    "interrupted run)"),
            (0, ["--history", str(toy_files / "h.ecsv")], "no history or model written")):
        result = subprocess.run(
            [sys.executable, "-c", _TUNE_SIGNALLED, str(int(signal.SIGTERM)), str(done + 1),
             *tune, *extra], capture_output=True, text=True, timeout=600)
        assert result.returncode == 143, result.stderr
        assert result.stderr.splitlines()[0] == (
            f"photoz-numba: warning: interrupted after {done} of 6 trials; {kept}")
        assert sorted(os.listdir(toy_files)) == before


def test_predictions_record_their_model_and_calibrate_checks_it(toy_files, capsys):
    """predict records the model that made a file (PZMODEL: the model
    file's PZSTATE) in FITS, streamed or not, and in ECSV; calibrate
    --model refuses another model, naming both files, and takes the
    right one, or any for a file without the record. Before, another
    model was taken without a word."""
    from astropy.io import fits

    from photoz_numba import PhotoZModel
    from photoz_numba.cli import main
    from photoz_numba.io import model_digest
    fit = ["fit", str(toy_files / "train.fits"), "--bands", "g,r,i", "--calibrate"]
    for name, k in (("a.fits", "20"), ("b.fits", "21")):
        assert main(fit + ["--k", k, "-o", str(toy_files / name)]) == 0
    digest = fits.getheader(toy_files / "a.fits")["PZSTATE"]
    assert digest == model_digest(PhotoZModel.read(toy_files / "a.fits"))
    assert digest != fits.getheader(toy_files / "b.fits")["PZSTATE"]
    survey = Table.read(toy_files / "survey.fits")
    survey.write(toy_files / "survey.ecsv")
    outputs = {"streamed.fits": ("survey.fits", []), "memory.fits": ("survey.ecsv", []),
               "memory.ecsv": ("survey.fits", []),
               "chunked.fits.gz": ("survey.fits", ["--chunk-size", "30"])}
    for output, (source, extra) in outputs.items():
        assert main(["predict", str(toy_files / "a.fits"), str(toy_files / source),
                     "-o", str(toy_files / output), *extra]) == 0
        assert Table.read(toy_files / output).meta["PZMODEL"] == digest, output
    assert fits.getheader(toy_files / "streamed.fits", 1)["PZMODEL"] == digest
    capsys.readouterr()
    calibrate = ["calibrate", "--no-mixture", "-q"]
    for output in outputs:
        predictions = str(toy_files / output)
        out = toy_files / f"cal_{output}"
        assert main(calibrate + [predictions, "--model", str(toy_files / "b.fits"),
                                 "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert err == (f"photoz-numba calibrate: error: {predictions!r} was not made by the "
                       f"model {str(toy_files / 'b.fits')!r} (--model): it records the model "
                       f"{digest[:12]}... (PZMODEL), and {str(toy_files / 'b.fits')!r} is "
                       f"{fits.getheader(toy_files / 'b.fits')['PZSTATE'][:12]}...; give "
                       f"the model file that made the predictions\n")
        assert not out.exists()
        assert main(calibrate + [predictions, "--model", str(toy_files / "a.fits"),
                                 "-o", str(out)]) == 0
        assert Table.read(out / "pdf_report.ecsv").meta["cde_loss"] is not None
    # A file without the record (an older one) is taken with any model.
    older = Table.read(toy_files / "memory.ecsv")
    del older.meta["PZMODEL"]
    older.write(toy_files / "older.ecsv")
    assert main(calibrate + [str(toy_files / "older.ecsv"), "--model",
                             str(toy_files / "b.fits"), "-o", str(toy_files / "cal_old")]) == 0


def test_band_maps_the_models_bands_onto_a_catalogues_columns(toy_files, capsys):
    """predict, pdf and stack --band BAND=COLUMN read a band from a column
    of another name, streamed from FITS or from ECSV: the same results as
    from the columns the model names, and predict records the same model;
    BAND may be the model's column for it. A band the model does not have
    is an error naming it, and nothing is written. Before, --band was not
    an option of these commands."""
    from photoz_numba.cli import main
    train = Table.read(toy_files / "train.fits")
    train.rename_column("g", "G_FLUX")
    train.write(toy_files / "train_g.fits")
    for name, source, extra in (("m.fits", "train.fits", []),
                                ("m_g.fits", "train_g.fits", ["--band", "g=G_FLUX"])):
        assert main(["fit", str(toy_files / source), "--bands", "g,r,i", "--k", "20",
                     "--calibrate", "-o", str(toy_files / name), *extra]) == 0
    survey = Table.read(toy_files / "survey.fits")
    survey.rename_column("g", "flux_g")
    survey.rename_column("r", "flux_r")
    survey.write(toy_files / "renamed.fits")
    survey.write(toy_files / "renamed.ecsv")
    model = str(toy_files / "m.fits")

    def outputs(command, source, output, *extra):
        assert main([command, *extra, "-o", str(toy_files / output), "-q",
                     str(toy_files / source)]) == 0
        return Table.read(toy_files / output, **({"hdu": "PZ"} if command == "pdf" else {}))

    mapped = ["--band", "g=flux_g", "--band", "r=flux_r"]
    for command, suffix in (("predict", "fits"), ("pdf", "fits"), ("stack", "ecsv")):
        expected = outputs(command, "survey.fits", f"{command}.{suffix}", model)
        for source in ("renamed.fits", "renamed.ecsv"):
            got = outputs(command, source, f"{command}_{source}.{suffix}", model, *mapped)
            for name in ("z_phot", "z_phot_err", "z_phot_975", "pdf", "n_z"):
                if name in expected.colnames:
                    np.testing.assert_array_equal(got[name], expected[name])
            if command == "predict":
                assert got.meta["PZMODEL"] == expected.meta["PZMODEL"]
                assert got.colnames[:2] == ["flux_g", "flux_r"]
    # calibrate --model reads the predictions' bands as predict read them.
    calibrate = ["calibrate", "--no-mixture", "-q", str(toy_files / "predict_renamed.fits.fits")]
    assert main(calibrate + ["--model", model, "-o", str(toy_files / "cal")]) == 1
    err = capsys.readouterr().err
    assert "band column 'g' is not in the table" in err
    assert err.rstrip().endswith("mapped to it with --band BAND=COLUMN (columns= in Python)")
    # So are predict's, streamed or not.
    for output in ("unmapped.fits", "unmapped.ecsv"):
        assert main(["predict", model, str(toy_files / "renamed.fits"),
                     "-o", str(toy_files / output)]) == 1
        assert capsys.readouterr().err.rstrip().endswith(
            "--band BAND=COLUMN (columns= in Python)"
            + ("; a band's error column is named at fit (--error BAND=COLUMN, error_columns= "
               "in Python)" if output.endswith(".fits") else ""))
    assert main(calibrate + ["--model", model, *mapped, "-o", str(toy_files / "cal")]) == 0
    assert main(["calibrate", "--no-mixture", "-q", str(toy_files / "predict.fits"), "--model",
                 model, "-o", str(toy_files / "cal_reference")]) == 0
    assert Table.read(toy_files / "cal" / "pdf_report.ecsv").meta["cde_loss"] == \
        Table.read(toy_files / "cal_reference" / "pdf_report.ecsv").meta["cde_loss"]
    assert main(calibrate + [*mapped, "-o", str(toy_files / "cal_x")]) == 1
    assert capsys.readouterr().err == ("photoz-numba calibrate: error: --band names the "
                                       "columns the model of --model reads; without --model "
                                       "nothing uses it\n")
    # The model's column for a band names it too.
    got = outputs("predict", "survey.fits", "by_column.fits", str(toy_files / "m_g.fits"),
                  "--band", "G_FLUX=g")
    np.testing.assert_array_equal(got["z_phot"], Table.read(toy_files / "predict.fits")["z_phot"])
    capsys.readouterr()
    before = sorted(os.listdir(toy_files))
    for command, extra, message in (
            ("predict", ["--band", "u=flux_g"],
             f"--band u=flux_g: 'u' is not a band of the model {model!r} (bands g, r, i)"),
            ("stack", ["--band", "x=flux_g"],
             f"--band x=flux_g: 'x' is not a band of the model {model!r} (bands g, r, i)"),
            ("pdf", ["--band", "g"], "--band takes BAND=COLUMN, not 'g'")):
        output = toy_files / ("x.ecsv" if command == "stack" else "x.fits")
        assert main([command, model, str(toy_files / "renamed.fits"), *extra,
                     "-o", str(output)]) == 1
        assert capsys.readouterr().err == f"photoz-numba {command}: error: {message}\n"
    assert main(["pdf", str(toy_files / "m_g.fits"), str(toy_files / "renamed.fits"),
                 "--band", "flux=g", "-o", str(toy_files / "x.fits")]) == 1
    assert capsys.readouterr().err.endswith(
        "'flux' is not a band of the model " + repr(str(toy_files / "m_g.fits"))
        + " (bands g, r, i; their columns G_FLUX, r, i)\n")
    assert sorted(os.listdir(toy_files)) == before


def test_main_restores_the_callers_sigterm_handler(tmp_path):
    import signal
    import threading
    from photoz_numba.cli import main
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    assert main(["evaluate", str(tmp_path / "absent.fits")]) == 1
    assert {sig: signal.getsignal(sig) for sig in before} == before
    # From another thread (no handler can be set there) it still runs.
    codes = []
    worker = threading.Thread(
        target=lambda: codes.append(main(["evaluate", str(tmp_path / "absent.fits")])))
    worker.start()
    worker.join()
    assert codes == [1]


# -- command-line basics: version, python -m, logging -------------------------------

def test_version_and_python_dash_m():
    from photoz_numba import __version__
    result = subprocess.run([sys.executable, "-m", "photoz_numba", "--version"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"photoz-numba {__version__}"
    result = subprocess.run([sys.executable, "-m", "photoz_numba", "evaluate", "--help"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "--quiet" in result.stdout


@pytest.fixture
def toy_files(tmp_path):
    from photoz_numba.datasets import toy_catalogue
    table = toy_catalogue(600)
    table[:500].write(tmp_path / "train.fits")
    table[500:].write(tmp_path / "survey.fits")
    return tmp_path


def test_reports_go_through_the_logger(toy_files, capsys, caplog):
    import logging
    from photoz_numba.cli import main
    fit = ["fit", str(toy_files / "train.fits"), "--bands", "g,r,i", "--k", "10"]
    assert main(fit + ["-o", str(toy_files / "m1.fits")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("fitted on 500 of 500 galaxies") and err == ""
    # --quiet: nothing but warnings and errors; before or after the command.
    for args in (["--quiet"] + fit + ["-o", str(toy_files / "m2.fits")],
                 fit + ["-o", str(toy_files / "m3.fits"), "-q"]):
        assert main(args) == 0
        assert capsys.readouterr() == ("", "")
    # --verbose: details as well.
    assert main(fit + ["-o", str(toy_files / "m4.fits"), "--verbose"]) == 0
    out, _ = capsys.readouterr()
    assert "fitted on 500" in out and "model: PhotoZModel(" in out
    # A predict's summary is a log record of the photoz_numba logger.
    logger = logging.getLogger("photoz_numba")
    logger.addHandler(caplog.handler)
    try:
        assert main(["predict", str(toy_files / "m1.fits"), str(toy_files / "survey.fits"),
                     "-o", str(toy_files / "out.fits")]) == 0
    finally:
        logger.removeHandler(caplog.handler)
    assert any(record.name == "photoz_numba" and record.levelno == logging.INFO
               and record.getMessage().startswith("wrote 100 rows")
               for record in caplog.records)
    # The caller's logging is left as it was.
    assert logger.handlers == [] and logger.propagate


def test_quiet_and_verbose_exclude_each_other(capsys):
    from photoz_numba.cli import main
    with pytest.raises(SystemExit) as exc:
        main(["--quiet", "evaluate", "x.fits", "--verbose"])
    assert exc.value.code == 2 and "exclude each other" in capsys.readouterr().err


def test_evaluate_by_z_prints_each_bin(predicted):
    """evaluate --by-z prints photoz_numba.metrics.evaluate_by_z's rows of the
    written file; bad edges are an error naming them."""
    from photoz_numba.metrics import evaluate_by_z
    out, _, _ = predicted
    # --by-z takes no value: the file after it is the file (it was taken
    # for the bin edges).
    result = run("evaluate", "--by-z", str(out), "--z", "zspec")
    assert result.returncode == 0, result.stderr
    table = Table.read(out)
    rows = evaluate_by_z(np.asarray(table["z_phot"]), np.asarray(table["zspec"]))
    lines = result.stdout.splitlines()
    for row in rows:
        name = f"{row['z_low']:g}-{row['z_high']:g}"
        line = next(line for line in lines if line.split()[:1] == [name])
        assert line.split()[1:3] == [str(row["n"]), f"{row['sigma_nmad']:.4f}"]
    result = run("evaluate", str(out), "--z", "zspec", "--bins", "0,2,4,7")
    assert result.returncode == 0 and "2-4" in result.stdout
    result = run("evaluate", str(out), "--bins", "0,3,1")
    assert result.returncode == 2 and "'0,3,1'" in result.stderr


@pytest.fixture
def unitless_files(tmp_path):
    """A toy catalogue as ASCII without units, with flux errors named as
    a survey might (``g_sigma``...) and a name astropy cannot place."""
    from photoz_numba.datasets import toy_catalogue
    table = toy_catalogue(600)
    rng = np.random.default_rng(1)
    for band in ("g", "r", "i"):
        flux = np.asarray(table[band])
        table[band] = flux
        table[f"{band}_sigma"] = 0.05 * flux * rng.uniform(0.5, 1.5, flux.size)
    table[:500].write(tmp_path / "train.txt", format="ascii.basic")
    table[500:].write(tmp_path / "survey.txt", format="ascii.basic")
    return tmp_path, table


def test_asinh_with_stated_units_error_columns_and_format(unitless_files):
    """--asinh takes its softening from the error columns --error names,
    in the unit --unit states (1.042 times each band's median training
    error, in uJy); --format reads a file whose name does not tell its
    format, --output-format writes one; the formats are checked before
    any work."""
    from photoz_numba import PhotoZModel
    folder, table = unitless_files
    model = str(folder / "m.fits")
    base = ["fit", str(folder / "train.txt"), "--bands", "g,r,i", "--asinh", "-o", model]
    result = run(*base)
    assert result.returncode == 1
    assert "give it with --format" in result.stderr and "Format could not" not in result.stderr
    result = run(*base, "--format", "ascii")
    assert result.returncode == 1
    assert ("the error column 'g_err' of band 'g' is not in the table; name the error "
            "columns with --error BAND=COLUMN") in result.stderr
    errors = [arg for band in "gri" for arg in ("--error", f"{band}={band}_sigma")]
    result = run(*base, "--format", "ascii", *errors)
    assert result.returncode == 1 and "--unit BAND=UNIT" in result.stderr
    result = run(*base[:4], "-o", model, "--format", "ascii", "--unit", "nJy", *errors)
    assert result.returncode == 1 and "without --asinh nothing uses it" in result.stderr
    result = run(*base, "--format", "ascii", "--unit", "q=nJy", *errors)
    assert result.returncode == 1 and "--unit q=nJy: 'q' is not one of --bands" \
        in result.stderr
    result = run(*base, "--format", "ascii", "--unit", "nJy", *errors[:2], "--error",
                 "q=g_sigma")
    assert result.returncode == 1 and "--error q=g_sigma: 'q' is not one of --bands" \
        in result.stderr
    result = run(*base, "--format", "ascii", "--unit", "nJy", *errors)
    assert result.returncode == 0, result.stderr
    fitted = PhotoZModel.read(model)
    for band in "gri":
        expected = 1.042 * np.median(table[f"{band}_sigma"][:500]) * 1e-3    # nJy -> uJy
        assert fitted.softening[band].to_value(u.uJy) == pytest.approx(expected, rel=1e-12)
    out = folder / "out.dat"
    # Refused before any work (with an empty kernel cache, a late check would
    # compile first and say so): the output's name does not tell its format,
    # or a format is one astropy cannot read or write.
    empty_cache = dict(os.environ, NUMBA_CACHE_DIR=str(folder / "cache"))
    for extra, message in (([], "give it with --output-format"),
                           (["--format", "asci"], "astropy cannot read tables as 'asci' "
                                                  "(--format)"),
                           (["--format", "ascii", "--output-format", "ascii.sextractor"],
                            "astropy cannot write tables as 'ascii.sextractor' "
                            "(--output-format)")):
        result = run("predict", model, str(folder / "survey.txt"), "-o", str(out), *extra,
                     env=empty_cache)
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert "compiling" not in result.stdout and not out.exists()
    result = run("predict", model, str(folder / "survey.txt"), "-o", str(out),
                 "--format", "ascii", "--output-format", "ascii.csv", "--unit", "nJy")
    assert result.returncode == 0, result.stderr
    written = Table.read(out, format="ascii.csv")
    assert len(written) == 100 and "z_phot" in written.colnames
    # An ASCII input into FITS, by the output's name.
    result = run("predict", model, str(folder / "survey.txt"), "-o", str(folder / "o.fits"),
                 "--format", "ascii", "--unit", "nJy")
    assert result.returncode == 0, result.stderr
    assert Table.read(folder / "o.fits")["z_phot"].tolist() == written["z_phot"].tolist()


def test_missing_column_errors_name_the_option_without_quotes(predicted, tmp_path):
    out, _, _ = predicted
    result = run("evaluate", str(out), "--z", "nope")
    assert result.returncode == 1
    message = result.stderr.strip()
    assert message.startswith("photoz-numba evaluate: error: column 'nope' (--z) is not "
                              "in "), message
    assert "(columns: " in message
    result = run("calibrate", str(out), "--z", "nope", "-o", str(tmp_path / "c"))
    assert result.returncode == 1 and "column 'nope' (--z) is not in" in result.stderr
    # calibrate's -o is a directory: an existing file is refused before any work.
    clash = tmp_path / "report.csv"
    clash.write_text("keep me")
    result = run("calibrate", str(out), "--z", "zspec", "-o", str(clash), "--no-mixture")
    assert result.returncode == 1 and "is a file" in result.stderr
    assert result.stdout == "" and clash.read_text() == "keep me"


def test_evaluate_by_z_counts_the_rows_outside_the_edges(predicted):
    out, _, _ = predicted
    table = Table.read(out)
    z = np.asarray(table["zspec"])[~np.ma.getmaskarray(table["z_phot"])]
    outside = int(((z < 0) | (z > 1)).sum())
    assert outside > 0
    result = run("evaluate", str(out), "--z", "zspec", "--bins", "0,1")
    assert result.returncode == 0, result.stderr
    assert (f"{outside} of the {z.size} rows evaluated have zspec outside 0-1 and are in "
            f"no bin") in result.stdout


def test_pdf_writes_the_files_pdf(toy_files):
    """photoz-numba pdf writes what io.pdf_file writes (tested in
    test_pdf.py), with its grid and --id; a missing --id column is named."""
    import numpy as np
    from photoz_numba import PhotoZModel
    model_file = toy_files / "model.fits"
    assert run("fit", toy_files / "train.fits", "--bands", "g,r,i", "--k", "20",
               "--calibrate", "-o", model_file).returncode == 0
    survey = Table.read(toy_files / "survey.fits")
    survey["ID"] = np.arange(len(survey)) + 100
    survey.write(toy_files / "ids.fits")
    result = run("pdf", model_file, toy_files / "ids.fits", "--grid", "0:4:0.02", "--id", "ID",
                 "-o", toy_files / "pz.fits")
    assert result.returncode == 0, result.stderr
    assert "p(z) of 100 rows on 201 redshifts" in result.stdout
    # Said before the work: rows, points and the file's size.
    size = os.path.getsize(toy_files / "pz.fits")
    assert size > 100 * 201 * 4
    assert (f"pz.fits: writing the p(z) of 100 rows on 201 redshifts (float32, 4 bytes "
            f"each): {size:,} bytes ({size / 1e3:.1f} kB)\n") in result.stdout
    assert result.stdout.index("writing the p(z)") < result.stdout.index("without one")
    written = Table.read(toy_files / "pz.fits", hdu="PZ")
    grid = np.round(np.arange(201) * 0.02, 12)
    np.testing.assert_array_equal(Table.read(toy_files / "pz.fits", hdu="ZGRID")["z"], grid)
    np.testing.assert_allclose(written["pdf"], PhotoZModel.read(model_file).pdf(survey, grid),
                               rtol=1e-6, atol=1e-30)
    assert list(written["ID"]) == list(survey["ID"])
    result = run("pdf", model_file, toy_files / "ids.fits", "--id", "id", "-o",
                 toy_files / "pz2.fits")
    assert result.returncode == 1 and "column 'id' (--id) is not in" in result.stderr
    assert not (toy_files / "pz2.fits").exists()


def test_stack_writes_the_models_stack(toy_files):
    """photoz-numba stack writes what PhotoZModel.stack_pdf gives (the
    reference, tested against NumPy in test_pdf.py): from a mapped FITS
    file and from ECSV, with a weight column; refuses an existing output,
    a missing column and --hdu for non-FITS input, and writes nothing then."""
    import numpy as np
    from photoz_numba import PhotoZModel
    model_file = toy_files / "model.fits"
    assert run("fit", toy_files / "train.fits", "--bands", "g,r,i", "--k", "20",
               "--calibrate", "-o", model_file).returncode == 0
    survey = Table.read(toy_files / "survey.fits")
    survey["g"][:2] = survey["r"][:2] = -99.0               # no measurement: no p(z)
    survey["w"] = np.linspace(0, 1, len(survey))
    survey.write(toy_files / "weighted.fits")
    survey.write(toy_files / "weighted.fits.gz")
    survey.write(toy_files / "weighted.ecsv")
    model = PhotoZModel.read(model_file)
    grid = np.linspace(0, 4, 81)
    from photoz_numba.exceptions import PhotoZWarning
    with pytest.warns(PhotoZWarning, match="2 of 100 rows"):
        expected = model.stack_pdf(survey, grid, weights="w")
    for source, hdu in (("weighted.fits", []), ("weighted.fits.gz", ["--hdu", "1"]),
                        ("weighted.ecsv", [])):
        out = toy_files / f"nz_{source}.ecsv"
        result = run("stack", model_file, toy_files / source, "--grid", "0:4:0.05",
                     "--weight", "w", "-o", out, *hdu)
        assert result.returncode == 0, result.stderr
        assert "98 of 100 rows (2 have none and are left out" in result.stderr
        written = Table.read(out)
        np.testing.assert_array_equal(written["z"], np.round(grid, 12))
        assert written["z"][6] == 0.3                      # not 0.30000000000000004
        np.testing.assert_allclose(written["n_z"], expected["n_z"], rtol=1e-12)
        assert written.meta["n_stacked"] == 98
    # The default grid: 0 to a little beyond the training redshifts, by 0.01.
    assert run("stack", model_file, toy_files / "survey.fits", "-o",
               toy_files / "nz.ecsv").returncode == 0
    default = Table.read(toy_files / "nz.ecsv")
    assert default["z"][0] == 0 and np.allclose(np.diff(default["z"]), 0.01)
    assert default["z"][-1] > model.train_redshifts_.max()
    before = sorted(p.name for p in toy_files.iterdir())
    for args, message in (
            (["-o", toy_files / "nz.ecsv"], "exists; pass --overwrite"),
            (["--weight", "weight", "-o", toy_files / "x.ecsv"],
             "column 'weight' (--weight) is not in"),
            (["--grid", "0:4:0.03", "-o", toy_files / "x.ecsv"], "STEP > 0 that divides"),
            (["--grid", "0:1:0.3333333", "-o", toy_files / "x.ecsv"], "divides"),
            (["--grid", "0:1e6:1e-6", "-o", toy_files / "x.ecsv"], "at most 1,000,000"),
            (["--grid", "0:10:0.00001", "-o", toy_files / "x.ecsv"],
             "the grid '0:10:0.00001' has 1,000,001 points; at most 1,000,000"),
            (["--grid=-1:1:0.1", "-o", toy_files / "x.ecsv"],
             "the grid '-1:1:0.1' starts below 0, where p(z) is 0 (it is truncated at "
             "z = 0): start at 0 or above"),
            (["-o", toy_files / "x.fits"], "written as ECSV"),
            (["--hdu", "7", "-o", toy_files / "x.ecsv"], "has no HDU 7"),
            (["-o", toy_files / "survey.fits"], "refusing to overwrite"),):
        result = run("stack", model_file, toy_files / "survey.fits", *args)
        assert result.returncode != 0 and message in result.stderr, result.stderr
    result = run("stack", model_file, toy_files / "weighted.ecsv", "--hdu", "1",
                 "-o", toy_files / "x.ecsv")
    assert result.returncode != 0 and "--hdu is for FITS input" in result.stderr
    assert sorted(p.name for p in toy_files.iterdir()) == before


def test_compressed_text_tables_are_read_back(toy_files, capsys):
    """What predict writes compressed (.ecsv.gz, .csv.bz2) evaluate and
    calibrate read without --format, and predict and stack read a
    compressed ECSV catalogue: the same figures as from the plain files."""
    import gzip
    import shutil
    from photoz_numba.cli import main
    model = str(toy_files / "model.fits")
    assert main(["fit", str(toy_files / "train.fits"), "--bands", "g,r,i", "--k", "20",
                 "--calibrate", "-q", "-o", model]) == 0
    survey = str(toy_files / "survey.fits")
    outputs = ("p.ecsv", "p.ecsv.gz", "p.csv.bz2")
    for name in outputs:
        assert main(["predict", model, survey, "-q", "-o", str(toy_files / name)]) == 0
    capsys.readouterr()
    printed = []
    for name in outputs:
        assert main(["evaluate", str(toy_files / name), "--z", "zspec"]) == 0
        printed.append(capsys.readouterr().out)
    assert printed[0].startswith("rows 100, evaluated 100") and printed.count(printed[0]) == 3
    assert main(["calibrate", str(toy_files / "p.ecsv.gz"), "--z", "zspec", "--no-mixture",
                 "-q", "-o", str(toy_files / "report")]) == 0
    assert Table.read(toy_files / "report" / "calibration_report.ecsv").meta
    # A compressed ECSV catalogue as predict's and stack's input.
    Table.read(survey).write(toy_files / "survey.ecsv")
    with open(toy_files / "survey.ecsv", "rb") as source, \
            gzip.open(toy_files / "survey.ecsv.gz", "wb") as sink:
        shutil.copyfileobj(source, sink)
    assert main(["predict", model, str(toy_files / "survey.ecsv.gz"), "-q",
                 "-o", str(toy_files / "q.fits")]) == 0
    assert list(Table.read(toy_files / "q.fits")["z_phot"]) == \
        list(Table.read(toy_files / "p.ecsv")["z_phot"])
    for source in ("survey.ecsv", "survey.ecsv.gz"):
        assert main(["stack", model, str(toy_files / source), "--grid", "0:4:0.05", "-q",
                     "-o", str(toy_files / f"nz_{source}.ecsv")]) == 0
    np.testing.assert_array_equal(Table.read(toy_files / "nz_survey.ecsv.gz.ecsv")["n_z"],
                                  Table.read(toy_files / "nz_survey.ecsv.ecsv")["n_z"])


def test_grid_of_a_million_points_is_the_largest():
    """--grid allows at most 1,000,000 points, STOP included (0:10:0.00001,
    1,000,001 points, was let through: test_stack_writes_the_models_stack)."""
    from photoz_numba.cli import _grid
    grid = _grid("0:9.99999:0.00001")
    assert grid.size == 1_000_000 and grid[-1] == 9.99999
    assert _grid("0:1:0.5").tolist() == [0, 0.5, 1]


def test_asinh_on_magnitude_bands_names_the_band(toy_files):
    """--asinh makes asinh magnitudes from fluxes: a band in magnitudes is
    named, whether by its own unit or one --unit states (it said its error
    column did not convert to uJy)."""
    train = Table.read(toy_files / "train.fits")
    for band in "gri":
        train[band] = u.Quantity(train[band]).to(u.ABmag)
        train[f"{band.upper()}_MAGERR"] = np.full(len(train), 0.05) * u.mag
    train.write(toy_files / "mags.ecsv")
    errors = [arg for band in "gri" for arg in ("--error", f"{band}={band.upper()}_MAGERR")]
    result = run("fit", toy_files / "mags.ecsv", "--bands", "g,r,i", "--asinh", *errors,
                 "-o", toy_files / "m.fits")
    assert result.returncode == 1 and result.stderr == (
        "photoz-numba fit: error: --asinh (asinh magnitudes from fluxes) applies only to "
        "flux columns: band 'g' (column 'g') is in magnitudes (mag(AB))\n")
    train["g"] = train["g"].value
    train.write(toy_files / "mags.ecsv", overwrite=True)
    result = run("fit", toy_files / "mags.ecsv", "--bands", "g,r,i", "--asinh", *errors,
                 "--unit", "g=ABmag", "-o", toy_files / "m.fits")
    assert result.returncode == 1 and "band 'g' (column 'g') is in magnitudes" in result.stderr
    assert not (toy_files / "m.fits").exists()


def test_asinh_scale_and_no_abbreviations(toy_files):
    """--asinh-scale F stores F times the Lupton softening (the reference:
    photometry.lupton_softening of the same table); it needs --asinh; an
    abbreviated option is refused, not taken for the one it abbreviates."""
    from photoz_numba import PhotoZModel
    from photoz_numba.photometry import lupton_softening
    train = Table.read(toy_files / "train.fits")
    for band in "gri":
        train[f"{band}_err"] = 0.05 * abs(train[band]) + 0.01 * train[band].unit
    train.write(toy_files / "with_errors.fits")
    fit = ["fit", toy_files / "with_errors.fits", "--bands", "g,r,i", "--k", "10"]
    assert run(*fit, "--asinh", "--asinh-scale", "0.5", "-o",
               toy_files / "half.fits").returncode == 0
    stored = PhotoZModel.read(toy_files / "half.fits").softening
    full = lupton_softening(train, {"g": "g", "r": "r", "i": "i"})
    for band in "gri":
        assert float(stored[band] / full[band]) == pytest.approx(0.5, rel=1e-12)
    result = run(*fit, "--asinh-scale", "0.5", "-o", toy_files / "x.fits")
    assert result.returncode == 1 and "without --asinh nothing uses it" in result.stderr
    result = run(*fit, "--asinh", "--asinh-sc", "0.5", "-o", toy_files / "x.fits")
    assert result.returncode == 2 and "unrecognized arguments: --asinh-sc" in result.stderr
    assert not (toy_files / "x.fits").exists()


def test_fit_refuses_a_unit_that_contradicts_the_columns_own(toy_files):
    """The toy file's fluxes are in uJy: --unit nJy at fit is an error
    naming the column and the option, and no model file is written."""
    model = toy_files / "m.fits"
    result = run("fit", str(toy_files / "train.fits"), "--bands", "g,r,i", "--unit", "nJy",
                 "-o", str(model))
    assert result.returncode == 1
    assert "column 'g' has the unit uJy, and nJy is stated for it (--unit)" in result.stderr
    assert not model.exists()


@pytest.mark.reference
def test_evaluate_and_calibrate_say_the_training_twins(tmp_path, capsys):
    """A predictions file with rows flagged training_twin (bit 512, with
    other bits): evaluate and calibrate log one warning with their count
    among the rows they use (those with a redshift and a z_phot:
    reference, a loop over the rows); none without twins. Before, their
    training-set figures came without a word."""
    from astropy.table import MaskedColumn

    from photoz_numba.cli import main
    rng = np.random.default_rng(5)
    n = 120
    z_spec = rng.uniform(0.1, 2.9, n)
    z_spec[[2, 9]] = 99.0                                   # no redshift
    unpredicted = np.zeros(n, bool)
    unpredicted[[5, 9, 30]] = True
    flags = rng.choice(np.array([0, 8, 512, 512 | 1, 128], dtype=np.int16), n)
    flags[[2, 5]] = 512                                     # twins not used
    flags[unpredicted] |= 16
    table = Table({"zspec": z_spec,
                   "z_phot": MaskedColumn(z_spec + rng.normal(0, 0.05, n), mask=unpredicted),
                   "z_phot_err": MaskedColumn(np.full(n, 0.05), mask=unpredicted),
                   "z_phot_flag": flags})
    table.write(tmp_path / "pred.fits")
    used = [i for i in range(n) if z_spec[i] != 99.0 and not unpredicted[i]]
    twins = sum(1 for i in used if flags[i] & 512)
    assert 0 < twins < len(used) == n - 4
    said = (f"{twins} of the {len(used)} rows {{}} are flagged training_twin (512): training "
            f"galaxies predicted from themselves, each its own nearest neighbour, so their "
            f"figures are those of the training set, not of new galaxies (predict the "
            f"training galaxies out of fold: photoz_numba.validation.cross_val_predict)")
    assert main(["evaluate", str(tmp_path / "pred.fits")]) == 0
    err = capsys.readouterr().err
    assert err.count("training_twin") == 1
    assert f"photoz-numba: warning: {said.format('evaluated')}\n" in err
    from photoz_numba.exceptions import PhotoZWarning
    with pytest.warns(PhotoZWarning, match="2 of 120 rows have no redshift"):
        assert main(["calibrate", str(tmp_path / "pred.fits"), "--no-mixture",
                     "--skip-invalid", "-o", str(tmp_path / "calibration")]) == 0
    err = capsys.readouterr().err
    assert err.count("training_twin") == 1
    assert f"photoz-numba: warning: {said.format('with a redshift and a z_phot')}\n" in err
    table["z_phot_flag"] &= ~np.int16(512)
    table.write(tmp_path / "pred.fits", overwrite=True)
    assert main(["evaluate", str(tmp_path / "pred.fits")]) == 0
    with pytest.warns(PhotoZWarning, match="2 of 120 rows have no redshift"):
        assert main(["calibrate", str(tmp_path / "pred.fits"), "--no-mixture",
                     "--skip-invalid", "-o", str(tmp_path / "calibration"),
                     "--overwrite"]) == 0
    assert "training_twin" not in capsys.readouterr().err


def test_a_model_file_given_as_a_table_is_named(tmp_path):
    """A model file where a table goes (arguments swapped) is said to be
    one, on the in-memory path too (it listed the model file's columns)."""
    from photoz_numba import PhotoZModel
    from photoz_numba.datasets import toy_catalogue
    table = toy_catalogue(400)
    PhotoZModel(["g", "r", "i"], k=20).fit(table).write(tmp_path / "model.fits")
    for args in (("predict", "model.fits", "model.fits", "-o", "out.ecsv"),
                 ("evaluate", "model.fits")):
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 1
        assert "'model.fits' is a photoz_numba model file, given as the " in result.stderr
        assert "were two arguments swapped?" in result.stderr
    assert not (tmp_path / "out.ecsv").exists()


def test_a_mistyped_option_gets_its_commands_usage(tmp_path):
    """An option a command does not take: that command's usage (which
    lists its options), and the nearest option named; exit status 2."""
    result = run("predict", "model.fits", "cat.fits", "-o", "out.fits", "--chunksize", "1000",
                 cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: photoz-numba predict ")
    assert ("photoz-numba predict: error: unrecognized arguments: --chunksize 1000 "
            "(--chunksize: did you mean --chunk-size?)") in result.stderr


def test_an_argument_given_as_an_option_is_named_as_positional(tmp_path, capsys):
    """'--model M' where predict takes MODEL in its place: said so, with no
    far-fetched suggestion (it was "did you mean --help?")."""
    from photoz_numba.cli import main
    with pytest.raises(SystemExit) as exit_:
        main(["predict", "cat.fits", "--model", "model.fits", "-o", "out.fits"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: photoz-numba predict ")
    assert ("unrecognized arguments: --model (--model: model is given without an option, "
            "in its place in the usage)") in err
    assert "--help?" not in err


def test_package_warnings_are_said_as_the_commands(tmp_path):
    """A PhotoZWarning during a command reads as the command's other
    warnings ("photoz-numba: warning: ..."), not in astropy's logger's form."""
    from astropy import units as u
    from photoz_numba import PhotoZModel
    from photoz_numba.datasets import toy_catalogue
    table = toy_catalogue(600)
    PhotoZModel(["g", "r", "i"], k=20).fit(table[:400]).write(tmp_path / "model.fits")
    wrong = table[400:].copy()
    for band in ("g", "r", "i"):
        wrong[band] = wrong[band].to("nJy").value * u.uJy          # nJy labelled uJy
    wrong.write(tmp_path / "wrong.ecsv")
    result = run("predict", "model.fits", "wrong.ecsv", "-o", "out.ecsv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ("photoz-numba: warning: 200 of 200 rows lie beyond their neighbours"
            in result.stderr), result.stderr
    assert "WARNING: PhotoZWarning" not in result.stderr


def test_an_interruption_after_the_output_is_in_place_says_so(tmp_path, monkeypatch, capsys):
    """Ctrl-C that lands once the output was published whole (between the
    rename and the command's last line): still exit 130, but the message
    names the output written whole, so that it is not taken for lost; one
    before publishing says only "interrupted" and leaves nothing."""
    from photoz_numba import cli, io
    from photoz_numba.io import atomic_output

    def published_then_interrupted(args):
        with atomic_output(args.output) as tmp:
            with open(tmp, "w") as handle:
                handle.write("whole\n")
        raise KeyboardInterrupt

    def interrupted_while_writing(args):
        with atomic_output(args.output) as tmp:
            with open(tmp, "w") as handle:
                handle.write("half")
            raise KeyboardInterrupt

    for run_, name in ((published_then_interrupted, "whole.txt"),
                       (interrupted_while_writing, "half.txt")):
        monkeypatch.setattr(cli, "_predict", run_)
        output = tmp_path / name
        assert cli.main(["predict", "model.fits", "cat.fits", "-o", str(output)]) == 130
        err = capsys.readouterr().err
        if name == "whole.txt":
            assert err == f"photoz-numba: interrupted; written whole before it: {str(output)!r}\n"
            assert output.read_text() == "whole\n"
        else:
            assert err == "photoz-numba: interrupted\n"
            assert not output.exists() and not list(tmp_path.glob(".half*"))
        assert io._published is None
