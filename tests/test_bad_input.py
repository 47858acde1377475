"""Bad input and faults, each as a user would meet them (docs: bad_input).

Nothing lost (no input overwritten, no row dropped, no half-written or
silently replaced output), nothing silently wrong (a model file altered
after writing is refused, stale FITS keywords do not leak into the new
columns, sentinel magnitudes are not measurements), one clear message.
"""

import bz2
import contextlib
import errno
import gzip
import os
import shutil
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

import photoz_numba
from photoz_numba import PhotoZModel
from photoz_numba.cli import main
from photoz_numba.datasets import toy_catalogue
from photoz_numba.exceptions import PhotoZWarning
from photoz_numba.io import atomic_output, predict_file, predict_fits, write_model

OUTPUT = ["z_phot", "z_phot_err", "z_phot_flag", "z_phot_nused"]


@pytest.fixture(scope="module")
def toy():
    return toy_catalogue(700)


@pytest.fixture(scope="module")
def model(toy):
    return PhotoZModel(["g", "r", "i"], k=20).fit(toy[:500])


@pytest.fixture
def files(toy, model, tmp_path):
    """train.fits, survey.fits (with an image HDU after the table), model.fits."""
    toy[:500].write(tmp_path / "train.fits")
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(toy[500:]),
                         fits.ImageHDU(np.arange(6.0), name="EXTRA")])
    hdus.writeto(tmp_path / "survey.fits")
    model.write(tmp_path / "model.fits")
    return tmp_path


def _same(a, b):
    for name in OUTPUT:
        np.testing.assert_array_equal(np.ma.filled(a[name], -999), np.ma.filled(b[name], -999))


def _cli(capsys, *args):
    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out, err


# -- 1. the command line never overwrites its own input ------------------------------

FIT = ("--bands", "g,r,i", "--k", "10")


def test_fit_refuses_to_replace_its_training_table(files, capsys):
    train = files / "train.fits"
    before = train.read_bytes()
    code, _, err = _cli(capsys, "fit", train, *FIT, "-o", train, "--overwrite")
    assert code == 1 and "is the input" in err and "-o" in err
    assert train.read_bytes() == before


@pytest.mark.parametrize("where", ["model", "history"])
def test_tune_refuses_to_replace_its_training_table(files, capsys, where):
    train = files / "train.fits"
    before = train.read_bytes()
    outputs = (["-o", train, "--history", files / "h.ecsv"] if where == "model"
               else ["-o", files / "m.fits", "--history", train])
    code, _, err = _cli(capsys, "tune", train, *FIT, "--n-iter", "2", *outputs,
                        "--overwrite")
    assert code == 1 and "is the input" in err
    assert train.read_bytes() == before
    assert not (files / "m.fits").exists() and not (files / "h.ecsv").exists()


def test_tune_refuses_the_same_file_for_model_and_history(files, capsys):
    code, _, err = _cli(capsys, "tune", files / "train.fits", *FIT, "--n-iter", "2",
                        "-o", files / "x.fits", "--history", files / "x.fits")
    assert code == 1 and "--history" in err and "-o" in err
    assert not (files / "x.fits").exists()


def test_model_file_must_have_a_fits_name(files, model, capsys):
    """A model file is FITS: fit -o model.ecsv wrote FITS under that name;
    it is refused before the table is read, and by PhotoZModel.write."""
    code, _, err = _cli(capsys, "fit", files / "train.fits", *FIT, "-o", files / "m.ecsv")
    assert code == 1 and f"-o '{files / 'm.ecsv'}': a model file is FITS" in err
    assert "name it .fits (or .fits.gz, .fits.bz2, .fits.xz)" in err
    with pytest.raises(ValueError, match=r"a model file is FITS: .*not '.*m\.ecsv'"):
        model.write(files / "m.ecsv")
    assert not (files / "m.ecsv").exists()
    model.write(files / "m.fits.gz")      # compressed FITS is FITS
    assert PhotoZModel.read(files / "m.fits.gz").n_train_ == model.n_train_


@pytest.mark.parametrize("suffix, magic", [(".fits.gz", b"\x1f\x8b"), (".fits.GZ", b"\x1f\x8b"),
                                           (".fits.bz2", b"BZh"), (".fits.xz", b"\xfd7zXZ")])
def test_compressed_model_file_is_compressed_as_named(files, model, suffix, magic):
    """'.fits.GZ' was plain FITS under a gzip name (astropy compresses '.gz'
    only), and a gzip model recorded its temporary file's name."""
    path = files / f"m{suffix}"
    model.write(path)
    data = path.read_bytes()
    assert data.startswith(magic)
    if magic == b"\x1f\x8b":
        assert not data[3] & 0x08 and b".part" not in data[:200]     # no FNAME
    assert PhotoZModel.read(path).fitted_state().params == model.fitted_state().params


def test_reproduce_does_not_replace_files_without_overwrite(tmp_path, capsys):
    (tmp_path / "metrics.ecsv").write_text("precious")
    code, _, err = _cli(capsys, "reproduce", "--seeds", "0", "--no-tune", "-o", tmp_path)
    assert code == 1 and "metrics.ecsv" in err and "--overwrite" in err
    assert (tmp_path / "metrics.ecsv").read_text() == "precious"


def test_reproduce_refuses_to_replace_its_catalogue(tmp_path, capsys):
    catalogue = tmp_path / "predictions.ecsv"
    catalogue.write_text("# not really the catalogue\n")
    code, _, err = _cli(capsys, "reproduce", "--seeds", "0", "--no-tune", "--catalogue",
                        catalogue, "-o", tmp_path, "--overwrite")
    assert code == 1 and "is the input" in err and "--catalogue" in err
    assert catalogue.read_text() == "# not really the catalogue\n"


# -- 2. compressed catalogues ----------------------------------------------------------

@pytest.mark.parametrize("compress, name", [(gzip.compress, "survey.fits"),
                                            (gzip.compress, "survey.fits.gz"),
                                            (bz2.compress, "survey.fits.bz2")])
def test_compressed_input_is_predicted_correctly(files, model, compress, name):
    packed = files / f"packed_{name}"
    packed.write_bytes(compress((files / "survey.fits").read_bytes()))
    predict_file(model, files / "survey.fits", files / "plain.fits")
    predict_file(model, packed, files / "out.fits")
    with fits.open(files / "out.fits") as out, fits.open(files / "plain.fits") as plain:
        out.verify("exception")
        assert len(out) == 3
        np.testing.assert_array_equal(out["EXTRA"].data, np.arange(6.0))
        assert (out[1].data.tobytes() == plain[1].data.tobytes())
    _same(Table.read(files / "out.fits"), model.predict(Table.read(files / "survey.fits")))


def test_zip_input_is_refused_clearly(files, model):
    import zipfile
    with zipfile.ZipFile(files / "survey.zip.fits", "w") as archive:
        archive.write(files / "survey.fits", "survey.fits")
    with pytest.raises(ValueError, match="zip"):
        predict_fits(model, files / "survey.zip.fits", files / "out.fits")
    assert not (files / "out.fits").exists()


def test_compressed_output(files, model):
    predict_file(model, files / "survey.fits", files / "out.fits.gz")
    with open(files / "out.fits.gz", "rb") as handle:
        start = handle.read(4)
    # gzip (RFC 1952), and no file name recorded: the temporary one it was
    # written under would be ('gunzip -N' restores it).
    assert start[:2] == b"\x1f\x8b" and not start[3] & 0x08
    with fits.open(files / "out.fits.gz") as out:
        out.verify("exception")
        np.testing.assert_array_equal(out["EXTRA"].data, np.arange(6.0))
    _same(Table.read(files / "out.fits.gz"), model.predict(Table.read(files / "survey.fits")))
    assert sorted(os.listdir(files)) == ["model.fits", "out.fits.gz", "survey.fits",
                                         "train.fits"]


def test_compressed_output_of_another_format(files, model, toy):
    toy[500:].write(files / "survey.ecsv")
    predict_file(model, files / "survey.ecsv", files / "out.ecsv.gz")
    _same(Table.read(files / "out.ecsv.gz", format="ascii.ecsv"), model.predict(toy[500:]))


# -- 3. model files: everything that affects predictions is checked -------------------

def _edit(path, out, change, checksum):
    with fits.open(path) as hdus:
        change(hdus)
        hdus.writeto(out, checksum=checksum)


HEADER_EDITS = {"K": 21, "GAMMA": 0.2, "LAM": 0.05, "OFFSET": "mean", "MAGBAND": "g",
                "CLIPSIG": 2.0, "MINBANDS": 3, "SNRMIN": 3.0, "SRCHEPS": 1.0}


@pytest.mark.parametrize("checksum", [False, True])
@pytest.mark.parametrize("keyword", sorted(HEADER_EDITS))
def test_edited_header_keyword_is_refused(files, keyword, checksum):
    def change(hdus):
        hdus[0].header[keyword] = HEADER_EDITS[keyword]

    _edit(files / "model.fits", files / "edited.fits", change, checksum)
    with pytest.raises(ValueError, match="altered.*PZSTATE"):
        PhotoZModel.read(files / "edited.fits")


@pytest.mark.parametrize("checksum", [False, True])
@pytest.mark.parametrize("column, value", [("column", "G_FLUX"), ("stated_unit", "nJy"),
                                           ("fit_unit", "nJy"), ("error_column", "g_e"),
                                           ("band", "x")])
def test_edited_band_mapping_is_refused(files, column, value, checksum):
    def change(hdus):
        hdus["BANDS"].data[column][0] = value

    _edit(files / "model.fits", files / "edited.fits", change, checksum)
    # Without new checksums the FITS DATASUM fails; with them, PZSTATE.
    with pytest.raises(ValueError, match="altered.*PZSTATE" if checksum else
                       "altered.*checksum .DATASUM"):
        PhotoZModel.read(files / "edited.fits")


def test_altered_bytes_fail_the_fits_checksum(files):
    data = bytearray((files / "model.fits").read_bytes())
    # A byte of the training table's data: the FITS DATASUM no longer matches.
    with fits.open(files / "model.fits") as hdus:
        where = hdus["TRAINING"].fileinfo()["datLoc"] + 5
    data[where] ^= 0x01
    (files / "edited.fits").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        PhotoZModel.read(files / "edited.fits")


@pytest.mark.parametrize("keyword", ["K", "GAMMA", "OFFSET", "CLIPSIG", "PZHASH"])
def test_deleted_keyword_is_a_clear_error(files, keyword):
    _edit(files / "model.fits", files / "edited.fits",
          lambda hdus: hdus[0].header.remove(keyword), True)
    with pytest.raises(ValueError, match=f"keyword {keyword}"):
        PhotoZModel.read(files / "edited.fits")


@pytest.mark.parametrize("keyword, value", [("K", "abc"), ("K", 2.5), ("GAMMA", "wide"),
                                            ("CLIPSIG", "x"), ("NTRAIN", "many")])
def test_malformed_keyword_is_a_clear_error(files, keyword, value):
    def change(hdus):
        hdus[0].header[keyword] = value

    _edit(files / "model.fits", files / "edited.fits", change, True)
    with pytest.raises(ValueError, match=f"keyword {keyword}"):
        PhotoZModel.read(files / "edited.fits")


def test_unedited_model_file_still_reads(files, model, toy):
    _edit(files / "model.fits", files / "copy.fits", lambda hdus: None, True)
    _same(PhotoZModel.read(files / "copy.fits").predict(toy[500:]), model.predict(toy[500:]))


# -- 4. two writers, one path ---------------------------------------------------------

def test_second_writer_does_not_replace_the_first(tmp_path):
    path = tmp_path / "out.txt"
    first, second = atomic_output(path), atomic_output(path)
    tmp1, tmp2 = first.__enter__(), second.__enter__()
    for tmp, text in ((tmp1, "first"), (tmp2, "second")):
        with open(tmp, "w") as handle:
            handle.write(text)
    first.__exit__(None, None, None)
    with pytest.raises(FileExistsError, match="out.txt"):
        second.__exit__(None, None, None)
    assert path.read_text() == "first"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_output_appearing_during_predict_is_kept(files, model):
    out = files / "out.fits"

    def other_writer(done, total):
        if not out.exists():
            out.write_text("the other run's result")

    with pytest.raises(FileExistsError, match="out.fits"):
        predict_fits(model, files / "survey.fits", out, chunk_size=50, progress=other_writer)
    assert out.read_text() == "the other run's result"
    assert sorted(os.listdir(files)) == ["model.fits", "out.fits", "survey.fits",
                                         "train.fits"]


def test_model_file_appearing_during_write_is_kept(model, tmp_path, monkeypatch):
    import photoz_numba.io as io
    path = tmp_path / "model.fits"
    real = fits.HDUList.writeto

    def writeto(self, name, **kwargs):
        real(self, name, **kwargs)
        path.write_text("another model")

    monkeypatch.setattr(io.fits.HDUList, "writeto", writeto)
    with pytest.raises(FileExistsError):
        write_model(model, path)
    assert path.read_text() == "another model"
    assert os.listdir(tmp_path) == ["model.fits"]


# -- 5. appended FITS columns are clean ----------------------------------------------

def test_column_descriptions_stay_with_their_columns(files, model, toy, tmp_path):
    """The appended columns' descriptions are TTYPE comments, which astropy
    does not carry as metadata: after a column is removed and the table
    written again, no description sits on another column (TCOMM keywords
    did: each moved by one)."""
    predict_fits(model, files / "survey.fits", tmp_path / "out.fits")
    table = Table.read(tmp_path / "out.fits")
    assert not [key for key in table.meta if key.startswith("TCOMM")]
    table.remove_column(table.colnames[0])
    table.write(tmp_path / "again.fits")
    header = fits.getheader(tmp_path / "again.fits", 1)
    assert not [key for key in header if key.startswith("TCOMM")]


def test_stale_column_keywords_do_not_leak(files, model, toy):
    with fits.open(files / "survey.fits") as hdus:
        header = hdus[1].header
        n = header["TFIELDS"]
        stale = {f"TSCAL{n + 1}": 2.0, f"TZERO{n + 1}": 1.0, f"TUNIT{n + 1}": "Mpc",
                 f"TNULL{n + 3}": 0, f"TDISP{n + 1}": "I3", f"TCOMM{n + 2}": "stale"}
        # A user's keywords that only look like column keywords: kept.
        own = {f"TEMP{n + 5}": 12.5, f"TILE{n + 2}": "A3", "TELESCOP": "JWST"}
        for key, value in {**stale, **own}.items():
            header[key] = value
        hdus.writeto(files / "stale.fits")
    with fits.open(files / "stale.fits") as hdus:
        assert hdus[1].header[f"TUNIT{n + 1}"] == "Mpc"      # really in the input
    predict_fits(model, files / "stale.fits", files / "out.fits")
    out = Table.read(files / "out.fits")
    _same(out, model.predict(toy[500:]))
    assert out["z_phot"].unit is None
    assert not np.ma.getmaskarray(out["z_phot_flag"]).any()
    with fits.open(files / "out.fits") as hdus:
        header = hdus[1].header
        for i, column in enumerate(model.output_schema(), start=n + 1):
            assert header[f"TTYPE{i}"] == column.name
            assert header.comments[f"TTYPE{i}"] == column.description
            assert f"TCOMM{i}" not in header
            assert header.get(f"TUNIT{i}", "") == column.unit
            for key in ("TSCAL", "TZERO", "TNULL", "TDISP"):
                assert f"{key}{i}" not in header
        for key, value in own.items():
            assert header[key] == value


def test_every_output_column_has_a_description_and_a_unit():
    from photoz_numba.schema import OUTPUT_COLUMNS
    for column in OUTPUT_COLUMNS:
        assert column.description and isinstance(column.unit, str)
        u.Unit(column.unit)


def test_in_memory_output_columns_carry_the_schema(model, toy):
    out = model.predict(toy[500:])
    for column in model.output_schema():
        assert out[column.name].description == column.description
        assert (out[column.name].unit or "") == column.unit


# -- 6. magnitude sentinels -----------------------------------------------------------

def _magnitudes(toy):
    table = Table({band: (u.Quantity(toy[band]).to(u.ABmag)).value for band in "gri"})
    for band in "gri":
        table[band].unit = u.ABmag
    table["zspec"] = toy["zspec"]
    return table


def test_99_mag_is_a_nondetection_not_a_measurement(toy):
    from photoz_numba import flags
    table = _magnitudes(toy)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500])
    test = table[500:510].copy()
    nan = test.copy()
    test["g"][:5] = 99.0
    nan["g"][:5] = np.nan
    got, expected = model.predict(test), model.predict(nan)
    np.testing.assert_array_equal(got["z_phot"], expected["z_phot"])
    assert (got["z_phot_flag"][:5] & flags.NONDETECTION).all()
    assert not (got["z_phot_flag"][:5] & flags.MISSING_BAND).any()


def test_99_mag_in_training_is_not_a_feature(toy):
    table = _magnitudes(toy)
    clean = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500])
    dirty_table = table[:500].copy()
    dirty_table["g"][:40] = 99.0
    dirty = PhotoZModel(["g", "r", "i"], k=20).fit(dirty_table)
    assert np.isnan(dirty.fitted_state().train_magnitudes[:40, 0]).all()
    # The full-band features are standardised over the galaxies with g only.
    reference = PhotoZModel(["g", "r", "i"], k=20).fit(table[40:500])
    np.testing.assert_allclose(dirty.feature_mean_, reference.feature_mean_)
    assert not np.array_equal(dirty.feature_mean_, clean.feature_mean_)


def test_sentinels_are_configurable(toy):
    from photoz_numba.photometry import (DEFAULT_SENTINELS, STATE_MEASURED, STATE_MISSING,
                                         STATE_NONDETECTION, band_magnitudes)
    assert DEFAULT_SENTINELS == {"magnitude": {99.0: "nondetection", -99.0: "missing"},
                                 "flux": {-99.0: "missing"}}
    mags = Table({"m": [99.0, -99.0, 99.99, 25.0]})
    mags["m"].unit = u.ABmag
    _, state = band_magnitudes(mags, ["m"])
    assert list(state[:, 0]) == [STATE_NONDETECTION, STATE_MISSING, STATE_MEASURED,
                                 STATE_MEASURED]
    _, state = band_magnitudes(mags, ["m"], sentinels={"magnitude": {99.99: "missing"}})
    assert list(state[:, 0]) == [STATE_MEASURED, STATE_MEASURED, STATE_MISSING,
                                 STATE_MEASURED]
    # A flux of 99 uJy is a measurement (18.9 mag); -99 is missing.
    fluxes = Table({"f": [99.0, -99.0, 1.0] * u.uJy})
    _, state = band_magnitudes(fluxes, ["f"])
    assert list(state[:, 0]) == [STATE_MEASURED, STATE_MISSING, STATE_MEASURED]
    with pytest.raises(ValueError, match="sentinels"):
        band_magnitudes(mags, ["m"], sentinels={"magnitude": {99.0: "absent"}})
    with pytest.raises(ValueError, match="sentinels"):
        band_magnitudes(mags, ["m"], sentinels={"mags": {}})


def test_model_sentinels_are_kept_in_the_model_file(toy, tmp_path):
    table = _magnitudes(toy)
    sentinels = {"magnitude": {99.99: "nondetection"}}
    model = PhotoZModel(["g", "r", "i"], k=20, sentinels=sentinels).fit(table[:500])
    model.write(tmp_path / "m.fits")
    again = PhotoZModel.read(tmp_path / "m.fits")
    assert again.sentinels == sentinels
    test = table[500:510].copy()
    test["g"][:3] = 99.99
    _same(again.predict(test), model.predict(test))
    from photoz_numba import flags
    assert (again.predict(test)["z_phot_flag"][:3] & flags.NONDETECTION).all()
    with pytest.raises(ValueError, match="sentinels"):
        PhotoZModel(["g", "r", "i"], sentinels={"magnitude": {99.0: "gone"}})


def test_cli_sentinel_option(files, capsys, toy):
    table = _magnitudes(toy)
    table[:500].write(files / "mags.ecsv")
    code, _, err = _cli(capsys, "fit", files / "mags.ecsv", *FIT, "-o", files / "m.fits",
                        "--mag-sentinel", "99.99=nondetection")
    assert code == 0, err
    assert PhotoZModel.read(files / "m.fits").sentinels == {
        "magnitude": {99.99: "nondetection"}}
    code, _, err = _cli(capsys, "fit", files / "mags.ecsv", *FIT, "-o", files / "n.fits",
                        "--mag-sentinel", "99=gone")
    assert code == 1 and "--mag-sentinel" in err


# -- 7. read-only installs ------------------------------------------------------------

_READ_ONLY_RUN = textwrap.dedent('''
    import sys, warnings
    import astropy.units  # noqa: F401 - astropy's logger takes over showwarning at import
    sys.path.insert(0, sys.argv[1])
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        from photoz_numba import PhotoZModel
        from photoz_numba._kernels import _jit
        from photoz_numba.datasets import toy_catalogue
        table = toy_catalogue(400)
        model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:300])
        z = model.predict(table[300:])["z_phot"]
        model.predict(table[300:])
    ours = [str(w.message) for w in caught if "Numba's cache" in str(w.message)]
    print(len(ours), ours[0] if ours else "-")
    print(_jit.cache_directory())
    print(",".join(repr(float(v)) for v in z[:5]))
''')

# Bind-mounts the directories in $RO_DIRS read-only in a mount namespace of
# its own (root writes anywhere else), then runs the command.
_READ_ONLY_SHELL = ('for d in $(echo "$RO_DIRS" | tr ":" " "); do '
                    'mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" || exit 97; '
                    'done; exec "$0" "$@"')


def _can_mount_read_only():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", _READ_ONLY_SHELL, "true"],
                           env=dict(os.environ, RO_DIRS=os.getcwd()), capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"),
                    reason="no compiled kernels with NUMBA_DISABLE_JIT")
@pytest.mark.parametrize("everything", [False, True])
def test_read_only_install_predicts(tmp_path, toy, everything):
    """Read-only package copy, home and TMPDIR, NUMBA_CACHE_DIR unset: the
    kernels are cached in the next writable place (the system temporary
    directory); with that read-only too (``everything``), they are compiled
    uncached with exactly one warning. Predictions are the same."""
    site = tmp_path / "site"
    shutil.copytree(os.path.dirname(photoz_numba.__file__), site / "photoz_numba",
                    ignore=shutil.ignore_patterns("__pycache__"))
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("NUMBA_CACHE_DIR", "XDG_", "PYTHONPATH", "TEMP", "TMP"))}
    env.update(HOME=str(home), TMPDIR=str(tmp), PYTHONDONTWRITEBYTECODE="1")
    read_only = [site, home, tmp]
    if everything:
        import tempfile
        read_only += sorted({tempfile.gettempdir(), "/tmp", "/var/tmp"})
    command = [sys.executable, "-c", _READ_ONLY_RUN, str(site)]
    if _can_mount_read_only():
        env["RO_DIRS"] = ":".join(map(str, read_only))
        command = ["unshare", "-m", "sh", "-c", _READ_ONLY_SHELL] + command
    elif os.geteuid() != 0 and not everything:
        for root, dirs, names in os.walk(site, topdown=False):
            os.chmod(root, 0o555)
        os.chmod(home, 0o555)
        os.chmod(tmp, 0o555)
    else:
        pytest.skip("cannot make the system temporary directory read-only here")
    try:
        result = subprocess.run(command, env=env, cwd=str(home), capture_output=True,
                                text=True, timeout=600)
    finally:
        for root, dirs, names in os.walk(tmp_path):
            os.chmod(root, 0o755)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    count, message = lines[0].split(" ", 1)
    if everything:
        assert count == "1" and "NUMBA_CACHE_DIR" in message, result.stdout
        assert lines[1] == "None"
    else:
        assert count == "0", result.stdout
        assert not lines[1].startswith((str(tmp_path), "None")), lines[1]
    assert "cannot cache" not in result.stderr
    train = toy_catalogue(400)
    expected = PhotoZModel(["g", "r", "i"], k=20).fit(train[:300]).predict(train[300:])
    got = [float(v) for v in lines[2].split(",")]
    np.testing.assert_allclose(got, expected["z_phot"][:5], rtol=0, atol=1e-12)


# -- 8. the command line speaks command line ------------------------------------------

@pytest.mark.parametrize("threads", ["0", "-2", "100000"])
def test_bad_threads_names_the_option(files, capsys, threads):
    code, _, err = _cli(capsys, "predict", files / "model.fits", files / "survey.fits",
                        "-o", files / "out.fits", "--threads", threads)
    assert code == 1 and "--threads" in err and threads in err
    assert "number of threads must be" not in err and "NUMBA_NUM_THREADS" not in err
    assert not (files / "out.fits").exists()


def test_missing_unit_names_the_option(files, capsys, toy):
    table = toy[:500].copy()
    table["g"].unit = None
    table.write(files / "nounit.fits")
    code, _, err = _cli(capsys, "fit", files / "nounit.fits", *FIT, "-o", files / "m.fits")
    assert code == 1 and "'g' has no unit" in err and "--unit" in err
    assert "units=" not in err


@pytest.mark.parametrize("tunit", ["microJy", "foo"])
def test_unrecognised_unit_is_named_streamed_or_not(files, model, toy, tunit):
    """A band column whose TUNIT astropy does not recognise is refused
    with an error naming the column and the unit, whether the FITS file is
    streamed or read into memory, with or without a stated unit (streamed,
    a stated unit was used in its place, silently)."""
    from astropy import units as u
    from photoz_numba.io import predict_file
    toy[500:520].write(files / "odd.fits")
    with fits.open(files / "odd.fits", mode="update") as hdus:
        hdus[1].header["TUNIT1"] = tunit          # the g column
    for output in ("a.fits", "a.ecsv"):
        for units in (None, "uJy"):
            with pytest.warns(u.UnitsWarning) if output.endswith(".ecsv") else \
                    contextlib.nullcontext():     # astropy's reader warns too
                with pytest.raises(u.UnitsError, match=f"column 'g' has the unit "
                                   f"'{tunit}', which astropy does not recognise"):
                    predict_file(model, files / "odd.fits", files / output, units=units)
            assert not (files / output).exists()


def test_failed_download_names_the_option(capsys, monkeypatch):
    import photoz_numba.datasets as datasets

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    monkeypatch.setattr(datasets.conf, "kalna2024_path", "")
    monkeypatch.setattr(datasets, "download_file", offline)
    code, _, err = _cli(capsys, "reproduce", "--seeds", "0", "--no-tune")
    assert code == 1 and "--catalogue" in err and "path=" not in err


def test_unwritable_output_is_named_as_given(files, capsys, monkeypatch):
    import tempfile

    def refuse(*args, dir=None, **kwargs):
        raise PermissionError(13, "Permission denied", os.path.join(dir, ".hidden.part"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    out = files / "out.fits"
    code, _, err = _cli(capsys, "predict", files / "model.fits", files / "survey.fits",
                        "-o", out)
    assert code == 1 and f"'{out}'" in err and "Permission denied" in err
    assert ".part" not in err and ".hidden" not in err


def test_full_disk_names_the_output_as_given(files, capsys, monkeypatch):
    """[Errno 28] No space left on device, without a file name, is said under
    the output's name, with its type and errno; nothing is left behind."""
    out = files / "out.fits"
    with pytest.raises(OSError, match=r"cannot write '.*out\.fits': No space left") as caught:
        with atomic_output(out) as tmp:
            with open(tmp, "wb") as handle:
                handle.write(b"half")
                raise OSError(errno.ENOSPC, "No space left on device")
    assert caught.value.errno == errno.ENOSPC and ".part" not in str(caught.value)
    # An error about the temporary file, by its name: said under the output's.
    with pytest.raises(PermissionError, match=r"cannot write '.*out\.fits': Permission") \
            as caught:
        with atomic_output(out) as tmp:
            raise PermissionError(errno.EACCES, "Permission denied", tmp)
    assert ".part" not in str(caught.value)
    # One about an input read in the block keeps its own name.
    with pytest.raises(OSError, match="survey.fits") as caught:
        with atomic_output(out):
            raise OSError(errno.EIO, "Input/output error", str(files / "survey.fits"))
    assert "cannot write" not in str(caught.value)
    assert sorted(os.listdir(files)) == ["model.fits", "survey.fits", "train.fits"]

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(photoz_numba.io, "_copy_bytes", full)     # streamed FITS output
    code, _, err = _cli(capsys, "predict", files / "model.fits", files / "survey.fits",
                        "-o", out)
    assert code == 1 and f"cannot write '{out}': No space left on device" in err
    assert not out.exists()


def test_output_in_a_missing_directory_is_named_as_given(files, capsys):
    out = files / "no" / "such" / "out.fits"
    code, _, err = _cli(capsys, "predict", files / "model.fits", files / "survey.fits",
                        "-o", out)
    assert code == 1 and f"'{out}'" in err and "does not exist" in err
    assert ".part" not in err


# -- other refusals listed on the bad-input page -------------------------------------

@pytest.mark.parametrize("name, said", [("z_phot", r"\['z_phot'\]"),
                                        ("Z_PHOT", r"\['Z_PHOT'\].*ignoring case")])
def test_table_that_already_has_output_columns_is_refused(files, model, toy, name, said):
    """An output column already in the table is refused, in memory and
    streamed; in any case, since FITS column names are case-insensitive
    (a z_phot beside an earlier pipeline's Z_PHOT is the same column to
    CFITSIO, which reads the old)."""
    table = toy[500:].copy()
    table[name] = 9.0
    with pytest.raises(ValueError, match=r"already has column\(s\) " + said):
        model.predict(table)
    table.write(files / "has.fits")
    with pytest.raises(ValueError, match=r"already has column\(s\) " + said):
        predict_fits(model, files / "has.fits", files / "out.fits")
    assert not (files / "out.fits").exists()


def test_variable_length_columns_get_advice_that_works(files, model, toy, capsys):
    """A FITS table with a variable-length array column cannot be streamed:
    the advice names the column and works in Python and on the command line."""
    hdu = fits.table_to_hdu(toy[500:])
    columns = hdu.columns + fits.ColDefs([fits.Column(
        name="spectrum", format="PJ()",
        array=np.array([np.arange(i % 3) for i in range(len(hdu.data))], dtype=object))])
    fits.BinTableHDU.from_columns(columns).writeto(files / "vla.fits")
    code, _, err = _cli(capsys, "predict", files / "model.fits", files / "vla.fits",
                        "-o", files / "out.fits")
    assert code == 1 and "variable-length array columns ['spectrum']" in err
    assert "Table.read" in err and "-o OUT.ecsv" in err
    assert not (files / "out.fits").exists()
    # As advised: a non-FITS output on the command line, a Table in Python.
    code, _, err = _cli(capsys, "predict", files / "model.fits", files / "vla.fits",
                        "-o", files / "out.ecsv", "-q")
    assert code == 0 and "z_phot" in Table.read(files / "out.ecsv").colnames
    assert "z_phot" in model.predict(Table.read(files / "vla.fits")).colnames


def test_mostly_extrapolated_rows_raise_a_warning_about_units(model, toy, files, tmp_path):
    """Fluxes in nJy labelled uJy put nearly every galaxy beyond its
    neighbours (flag extrapolation): a warning asks about the units, in
    memory and when streaming; the right units give none."""
    from photoz_numba.exceptions import PhotoZWarning
    from photoz_numba.flags import EXTRAPOLATION
    survey = toy[500:].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(survey)                                  # no warning
    wrong = survey.copy()
    for band in ("g", "r", "i"):
        wrong[band] = wrong[band].to("nJy").value * u.uJy      # nJy labelled uJy
    with pytest.warns(PhotoZWarning, match="are the band columns in the units they say"):
        out = model.predict(wrong)
    assert np.mean((np.asarray(out["z_phot_flag"]) & EXTRAPOLATION) != 0) > 0.5
    wrong.write(tmp_path / "wrong.fits")
    with pytest.warns(PhotoZWarning, match="rows lie beyond their neighbours"):
        predict_fits(model, tmp_path / "wrong.fits", tmp_path / "out.fits", chunk_size=7)


# -- spectroscopic redshifts that are no redshift (sentinels) -------------------

_NO_REDSHIFT = ("masked, not finite or outside -0.01 to 20, as the sentinels 99 and -99")


def _with_sentinels(n=500):
    """A toy training table with 30 rows at z = 99 (from row 3), and -99,
    -1, NaN and 999; and the mask of the rows that have a redshift. Row 0
    is a blueshifted galaxy, z = -0.001, a measurement."""
    table = toy_catalogue(n)
    table["zspec"][0] = -0.001
    bad = np.zeros(n, bool)
    bad[3:33] = True
    table["zspec"][3:33] = 99.0
    for row, value in ((40, -99.0), (41, -1.0), (42, np.nan), (43, 999.0)):
        table["zspec"][row] = value
        bad[row] = True
    return table, ~bad


def test_sentinel_redshifts_are_not_trained_on():
    """fit skips rows at z = 99, -99, -1, NaN, 999 with a warning naming
    the count and the first row, and is the fit of the other rows (kept
    by hand); -0.001 is used."""
    table, good = _with_sentinels()
    with pytest.warns(PhotoZWarning) as caught:
        model = PhotoZModel(["g", "r", "i"], k=20).fit(table)
    assert [str(w.message) for w in caught] == [
        f"34 of 500 rows have no redshift in 'zspec' ({_NO_REDSHIFT}; first at row 3: "
        f"99.0) and are skipped"]
    clean = PhotoZModel(["g", "r", "i"], k=20).fit(table[good])
    assert model.n_train_ == int(good.sum()) == 466
    np.testing.assert_array_equal(model.train_redshifts_, np.asarray(table["zspec"])[good])
    assert model.train_redshifts_[0] == -0.001
    survey = toy_catalogue(50, seed=7)
    np.testing.assert_array_equal(model.predict(survey)["z_phot"],
                                  clean.predict(survey)["z_phot"])
    # Every row without a redshift: an error naming the column, count and row.
    table["zspec"] = 99.0
    with pytest.raises(ValueError, match=r"500 of 500 rows have no redshift in 'zspec' "
                                         r"\(.*first at row 0: 99.0\): nothing to learn"):
        PhotoZModel(["g", "r", "i"], k=20).fit(table)


def test_sentinel_redshifts_in_calibration_and_tuning():
    """calibrate, cross-validation and tune on a table with sentinels give
    what they give on the table without those rows (the same folds)."""
    from photoz_numba.validation import cross_validate
    table, good = _with_sentinels(400)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "34 of 400 rows have no redshift",
                                PhotoZWarning)
        model = PhotoZModel(["g", "r", "i"], k=20).fit(table).calibrate(table)
        cv = cross_validate(PhotoZModel(["g", "r", "i"], k=20), table)
        tuned = PhotoZModel(["g", "r", "i"], k=20).tune(table, n_iter=3, random_state=0)
    clean = PhotoZModel(["g", "r", "i"], k=20).fit(table[good]).calibrate(table[good])
    survey = toy_catalogue(50, seed=7)
    for name in ("z_phot_err", "z_phot_500", "z_phot_975"):
        np.testing.assert_array_equal(model.predict(survey)[name], clean.predict(survey)[name])
    assert cv == cross_validate(PhotoZModel(["g", "r", "i"], k=20), table[good])
    assert cv["n"] == 366 and cv["n_unpredicted"] == 0
    reference = PhotoZModel(["g", "r", "i"], k=20).tune(table[good], n_iter=3, random_state=0)
    assert list(tuned.tuning_history_["cv_score"]) == \
        list(reference.tuning_history_["cv_score"])


def test_sentinel_redshifts_are_not_evaluated():
    """evaluate and evaluate_by_z skip rows at z_spec = 99 (50 of 500, as a
    user's file had), warning with the count and first index: the figures
    are those of the other rows, by hand; dz refuses them."""
    from photoz_numba.metrics import dz, evaluate, evaluate_by_z
    rng = np.random.default_rng(3)
    z_spec = rng.uniform(0.1, 3, 500)
    z_phot = z_spec + 0.02 * (1 + z_spec) * rng.standard_normal(500)
    z_phot[::25] += 1.0     # 20 outliers
    z_spec[100:150] = 99.0
    good = np.ones(500, bool)
    good[100:150] = False
    with pytest.warns(PhotoZWarning,
                      match=r"^50 of 500 rows have no redshift in 'z_spec' \(.*first at "
                            r"index 100: 99.0\) and are skipped$"):
        metrics = evaluate(z_phot, z_spec)
    d = (z_phot[good] - z_spec[good]) / (1 + z_spec[good])
    assert metrics["n"] == 450
    assert metrics["outlier_fraction"] == np.mean(np.abs(d) > 0.15) == 18 / 450
    assert metrics["sigma_nmad"] == pytest.approx(
        1.4826 * np.median(np.abs(d - np.median(d))), rel=1e-12)
    with pytest.warns(PhotoZWarning, match="50 of 500"):
        rows = evaluate_by_z(z_phot, z_spec)
    assert list(rows["z_high"]) == [1.0, 2.0, 3.0] and rows["n"].sum() == 450
    with pytest.raises(ValueError, match=r"50 of 500 rows have no redshift in 'z_spec' "
                                         r"\(.*first at index 100: 99.0\)"):
        dz(z_phot, z_spec)


def test_cli_fit_and_evaluate_skip_sentinel_redshifts(tmp_path):
    """fit on a file with 30 rows at z = 99 fits on the others; evaluate on
    predictions with 10 rows at 99 skips and counts them, with a warning,
    and prints the figures of the other rows."""
    from photoz_numba.metrics import evaluate
    table = toy_catalogue(600)
    train = table[:500]
    train["zspec"][:30] = 99.0
    train.write(tmp_path / "tr_99.fits")
    table[500:].write(tmp_path / "survey.fits")
    result = subprocess.run([sys.executable, "-m", "photoz_numba.cli", "fit",
                             str(tmp_path / "tr_99.fits"), "--bands", "g,r,i", "--k", "20",
                             "-o", str(tmp_path / "m.fits")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "fitted on 470 of 500 galaxies" in result.stdout
    assert "30 of 500 rows have no redshift in 'zspec'" in result.stderr
    assert "first at row 0: 99.0" in result.stderr
    assert main(["predict", str(tmp_path / "m.fits"), str(tmp_path / "survey.fits"), "-q",
                 "-o", str(tmp_path / "p.fits")]) == 0
    predictions = Table.read(tmp_path / "p.fits")
    reference = evaluate(predictions["z_phot"][10:], predictions["zspec"][10:])
    predictions["zspec"][:10] = 99.0
    predictions.write(tmp_path / "p_99.fits")
    result = subprocess.run([sys.executable, "-m", "photoz_numba.cli", "evaluate",
                             str(tmp_path / "p_99.fits"), "--by-z"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "rows 100, evaluated 90 (skipped 0 with masked or NaN z_phot, 10 with no redshift in "
        "zspec)")
    assert (f"sigma_NMAD {reference['sigma_nmad']:.5f}  outliers (|dz| > 0.15) "
            f"{100 * reference['outlier_fraction']:.2f}%") in result.stdout
    assert result.stderr == (
        f"photoz-numba: warning: 10 of 100 rows have no redshift in 'zspec' "
        f"({_NO_REDSHIFT}; first at row 0: 99.0) and are skipped\n")


# -- calibrate -o DIR: one run per directory ------------------------------------

def test_calibrate_does_not_mix_two_runs_in_its_directory(tmp_path, capsys):
    """A second calibrate into DIR is refused before any work without
    --overwrite; with it, the first run's p(z) files go, and each table
    records its predictions file and z column."""
    from photoz_numba.schema import PERCENTILES
    table = toy_catalogue(700, seed=2)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500]).calibrate(table[:500])
    with_pz = model.predict(table[500:])
    with_pz.write(tmp_path / "p_jwst.fits")
    plain = with_pz.copy()
    plain.remove_columns([name for name, _ in PERCENTILES])
    plain.write(tmp_path / "p_default.fits")
    out = tmp_path / "cal_dir"
    base = ["calibrate", "--z", "zspec", "--no-mixture", "-q", "-o", str(out)]
    assert main([base[0], str(tmp_path / "p_jwst.fits")] + base[1:]) == 0
    first = sorted(os.listdir(out))
    assert first == ["calibration_report.ecsv", "coverage.png", "pdf_coverage.png",
                     "pdf_pit.png", "pdf_report.ecsv", "pit.png", "pulls.png"]
    before = {name: (out / name).read_bytes() for name in first}
    capsys.readouterr()
    assert main([base[0], str(tmp_path / "p_default.fits")] + base[1:]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == (
        f"photoz-numba calibrate: error: {str(out)!r} already holds "
        f"{', '.join(['calibration_report.ecsv', 'pulls.png', 'pit.png', 'coverage.png', 'pdf_report.ecsv', 'pdf_pit.png', 'pdf_coverage.png'])}; "
        f"pass --overwrite to replace them, or choose another directory\n")
    assert {name: (out / name).read_bytes() for name in first} == before
    assert main([base[0], str(tmp_path / "p_default.fits")] + base[1:] + ["--overwrite"]) == 0
    assert sorted(os.listdir(out)) == ["calibration_report.ecsv", "coverage.png", "pit.png",
                                       "pulls.png"]
    meta = Table.read(out / "calibration_report.ecsv").meta
    assert meta["predictions"] == str(tmp_path / "p_default.fits")
    assert meta["column_z_spec"] == "zspec"
    # A run with percentiles records its input in the p(z) report too.
    assert main([base[0], str(tmp_path / "p_jwst.fits")] + base[1:] + ["--overwrite"]) == 0
    assert Table.read(out / "pdf_report.ecsv").meta["predictions"] == \
        str(tmp_path / "p_jwst.fits")


def test_cli_fit_calibrate_warns_once_of_rows_with_no_redshift(tmp_path, capsys):
    """fit --calibrate (and tune --calibrate) read the training redshifts
    more than once, and warn of the rows with none once."""
    table, good = _with_sentinels(400)
    table.write(tmp_path / "train.fits")
    for command in (["fit"], ["tune", "--n-iter", "2"]):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert main(command + [str(tmp_path / "train.fits"), "--bands", "g,r,i",
                                   "--k", "20", "--calibrate", "-q", "--overwrite",
                                   "-o", str(tmp_path / "m.fits")]) == 0
        assert [str(w.message) for w in caught if issubclass(w.category, PhotoZWarning)] \
            == [f"34 of 400 rows have no redshift in 'zspec' ({_NO_REDSHIFT}; first at row "
                f"3: 99.0) and are skipped"], command
        assert PhotoZModel.read(tmp_path / "m.fits").n_train_ == int(good.sum())


def test_cli_calibrate_pdf_skips_rows_with_no_redshift(tmp_path):
    """calibrate --model on predictions with 20 rows at z = 99: one
    warning (the pulls'), the p(z) report's PIT count and CDE loss are
    those of the other rows (reference: the model's own calls on them)."""
    table = toy_catalogue(1200, seed=3)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:1000]).calibrate(table[:1000])
    model.write(tmp_path / "m.fits")
    test = table[1000:]
    predictions = model.predict(test)
    predictions["zspec"][5:25] = 99.0
    predictions.write(tmp_path / "p.fits")
    good = np.ones(len(test), bool)
    good[5:25] = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["calibrate", str(tmp_path / "p.fits"), "--model", str(tmp_path / "m.fits"),
                     "--no-mixture", "-q", "-o", str(tmp_path / "cal")]) == 0
    assert [str(w.message) for w in caught if issubclass(w.category, PhotoZWarning)] == [
        f"20 of 200 rows have no redshift in 'zspec' ({_NO_REDSHIFT}; first at row 5: 99.0) "
        f"and are skipped"]
    meta = Table.read(tmp_path / "cal" / "pdf_report.ecsv").meta
    assert meta["n"] == 180
    assert meta["cde_loss"] == pytest.approx(model.cde_loss(test[good], "zspec"), rel=1e-12)


def test_calibrate_plot_failing_leaves_the_earlier_run(tmp_path, monkeypatch, capsys):
    """calibrate --overwrite whose last plot fails leaves the earlier
    run's files as they were: no new report beside old plots."""
    import photoz_numba.plotting
    table = toy_catalogue(700, seed=2)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500]).calibrate(table[:500])
    predictions = model.predict(table[500:])
    predictions.write(tmp_path / "p.fits")
    predictions[50:].write(tmp_path / "p2.fits")
    out = tmp_path / "cal"
    options = ["--no-mixture", "-q", "-o", str(out)]
    assert main(["calibrate", str(tmp_path / "p.fits")] + options) == 0
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}
    assert len(before) == 7

    def fails(report):
        raise RuntimeError("no room for the figure")
    monkeypatch.setattr(photoz_numba.plotting, "plot_interval_coverage", fails)
    capsys.readouterr()
    assert main(["calibrate", str(tmp_path / "p2.fits"), "--overwrite"] + options) == 1
    assert capsys.readouterr().err == \
        "photoz-numba calibrate: error: no room for the figure\n"
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before


def test_split_counts_the_rows_with_a_redshift():
    """stratified_split names how many rows have a redshift, not the rows
    it was left with after dropping the others."""
    from photoz_numba.selection import stratified_split
    table = Table({"zspec": [0.5, 99.0, -99.0]})
    with pytest.raises(ValueError) as error, pytest.warns(PhotoZWarning, match="2 of 3"):
        stratified_split(table)
    assert str(error.value) == ("only 1 of the 3 rows have a redshift in 'zspec'; a split "
                                "needs at least 2")


def test_model_says_whether_rows_are_mostly_extrapolated(model):
    """The model's verdict is the analytic threshold: above half-way from
    e = 1 - (1 - 2 / (k + 1)) ** n_features to all rows, 20 rows or more."""
    e = 1.0 - (1.0 - 2.0 / (model.k + 1)) ** len(model.feature_names_)
    threshold = (0.5 + 0.5 * e) * 1000
    below, above = int(np.floor(threshold)), int(np.floor(threshold)) + 1
    assert not model.mostly_extrapolated(below, 1000)
    assert model.mostly_extrapolated(above, 1000)
    assert not model.mostly_extrapolated(19, 19)         # too few rows to judge
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.warn_if_mostly_extrapolated(below, 1000)   # no warning where it says no


def test_cli_evaluate_skips_nan_z_phot_as_unpredicted(tmp_path):
    """A NaN z_phot (as Dask, CSV and Parquet write a row with no z_phot)
    is skipped and counted like a masked one; an infinite one is an error
    naming the file's row."""
    from photoz_numba.cli import main
    from photoz_numba.metrics import evaluate
    z_spec = np.array([99.0, 99.0, 0.5, 1.0, 2.0, 3.0, 1.5])
    z_phot = np.array([0.3, 0.4, 0.52, 1.1, np.nan, 3.1, 1.45])
    Table({"zspec": z_spec, "z_phot": z_phot}).write(tmp_path / "p.ecsv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from io import StringIO
        printed = StringIO()
        with contextlib.redirect_stdout(printed):
            assert main(["evaluate", str(tmp_path / "p.ecsv")]) == 0
    keep = [2, 3, 5, 6]
    want = evaluate(z_phot[keep], z_spec[keep])
    assert printed.getvalue().startswith(
        "rows 7, evaluated 4 (skipped 1 with masked or NaN z_phot, 2 with no redshift")
    assert f"sigma_NMAD {want['sigma_nmad']:.5f}" in printed.getvalue()
    z_phot[4] = np.inf
    Table({"zspec": z_spec, "z_phot": z_phot}).write(tmp_path / "inf.ecsv")
    result = subprocess.run([sys.executable, "-m", "photoz_numba.cli", "evaluate",
                             str(tmp_path / "inf.ecsv")], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 1 and "first at row 4" in result.stderr


def test_two_bands_of_one_column_are_refused():
    """A mapping's typo that makes two bands read one column (every colour
    between them 0, redshifts far off) is refused, naming both bands and
    the column, in the constructor and when a fitted model is remapped."""
    from photoz_numba.io import reading_columns
    with pytest.raises(ValueError, match=r"bands \['g', 'r'\] all read column 'x'"):
        PhotoZModel(["g", "r", "i"], columns={"g": "x", "r": "x"})
    model = PhotoZModel(["g", "r", "i"], k=20).fit(toy_catalogue(300))
    with pytest.raises(ValueError, match=r"bands \['g', 'r'\] all read column 'r'"):
        reading_columns(model, {"g": "r"})
    assert reading_columns(model, {"g": "r", "r": "g"}).band_columns == ["r", "g", "i"]


def test_streaming_says_what_missing_columns_may_be(files, model, toy):
    """A model file given as the catalogue, band columns in another case
    (FITS names ignore case, the model's do not) and a catalogue in the
    second table HDU: each error says what is likely meant."""
    with pytest.raises(ValueError, match=r"is a photoz_numba model file, given as the "
                                         r"catalogue: were two arguments swapped\?"):
        predict_fits(model, files / "model.fits", files / "out.fits")
    upper = toy[500:].copy()
    for band in ("g", "r", "i"):
        upper.rename_column(band, band.upper())
    upper.write(files / "upper.fits")
    with pytest.raises(KeyError, match=r"in another case: g is 'G', r is 'R', i is 'I' "
                                       r"\(map each band to its column: --band BAND=COLUMN"):
        predict_fits(model, files / "upper.fits", files / "out.fits")
    metadata = Table({"key": ["survey"], "val": ["toy"]})
    fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(metadata),
                  fits.table_to_hdu(toy[500:])]).writeto(files / "multi.fits")
    with pytest.raises(KeyError, match="the first table HDU was read; HDU '2' holds them "
                                       r"\(--hdu, or hdu=\)"):
        predict_fits(model, files / "multi.fits", files / "out.fits")
    assert not (files / "out.fits").exists()
    predict_fits(model, files / "multi.fits", files / "out.fits", hdu=2)
    _same(Table.read(files / "out.fits", hdu=2), model.predict(toy[500:]))
