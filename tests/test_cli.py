"""The photoz-numba command line, run as a user would, through subprocess."""

import subprocess
import sys

import pytest
from astropy.table import Table


def run(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "photoz_numba.cli", *args],
                          capture_output=True, text=True, timeout=600, **kwargs)


def test_reproduce_prints_per_seed_table_and_summary(catalogue, tmp_path):
    result = run("reproduce", "--seeds", "0-2", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    seed_rows = [line.split() for line in lines if line.split()[:1] in (["0"], ["1"], ["2"])]
    assert [row[:3] for row in seed_rows] == [["0", "3684", "921"], ["1", "3684", "921"],
                                              ["2", "3684", "921"]]
    assert any(line.strip().startswith("mean ± std") for line in lines)
    assert "0.01800" in result.stdout and "0.02040" in result.stdout
    metrics = Table.read(tmp_path / "metrics.ecsv")
    assert list(metrics["seed"]) == [0, 1, 2]
    # The printed figures are the written ones.
    assert f"{metrics['sigma_nmad'][0]:.5f}" == seed_rows[0][3]
    assert len(Table.read(tmp_path / "predictions.ecsv")) == 3 * 921


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
