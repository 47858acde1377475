"""Model files and FITS streaming (photoz_numba.io).

Contract tests: round trips bit-identical to in-memory predictions, files
never overwritten or left half-written, errors naming the file.
"""

import os

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from photoz_numba import PhotoZModel
from photoz_numba.datasets import KALNA2024_BANDS
from photoz_numba.selection import stratified_split
from photoz_numba.io import MODEL_FORMAT, atomic_output, predict_file, predict_fits

BANDS = list(KALNA2024_BANDS)
OUTPUT = ["z_phot", "z_phot_err", "z_phot_flag", "z_phot_nused"]


@pytest.fixture(scope="module")
def fitted(sample):
    train, _ = stratified_split(sample, z="zspec", seed=0)
    return PhotoZModel(BANDS, k=30, offset="mean", magnitude_band="f444w").fit(train)


@pytest.fixture(scope="module")
def catalogue_fits(catalogue, tmp_path_factory):
    """The whole catalogue (with missing bands) as FITS, with extra HDUs."""
    path = tmp_path_factory.mktemp("fits") / "catalogue.fits"
    table = catalogue.copy()
    table.meta = {"SURVEY": "PRIMER+JADES"}
    hdus = fits.HDUList([fits.PrimaryHDU(header=fits.Header([("OBSERVER", "me")])),
                         fits.table_to_hdu(table),
                         fits.ImageHDU(np.arange(12.0).reshape(3, 4), name="EXTRA")])
    hdus[1].header.add_history("made for the tests")
    hdus.writeto(path)
    return path


def _same(a, b):
    for name in OUTPUT:
        np.testing.assert_array_equal(np.ma.filled(a[name], -999), np.ma.filled(b[name], -999))


def test_model_round_trip_is_bit_identical(fitted, sample, tmp_path):
    path = tmp_path / "model.fits"
    fitted.write(path)
    again = PhotoZModel.read(path)
    assert again.get_params() == fitted.get_params()
    _same(fitted.predict(sample), again.predict(sample))
    header = fits.getheader(path)
    assert header["PZFORMAT"] == MODEL_FORMAT and header["K"] == 30
    with pytest.raises(FileExistsError, match="overwrite"):
        fitted.write(path)
    fitted.write(path, overwrite=True)


def test_stated_units_and_columns_survive(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.uniform(0.1, 3, 200)
    table = Table({"G_FLUX": 10 ** (-0.4 * (z - 23.9 + 1)), "r": 10 ** (-0.4 * (z / 2 - 23.9)),
                   "i": 10 ** (-0.4 * (z ** 2 / 5 - 23.9)), "zspec": z})
    model = PhotoZModel(["g", "r", "i"], k=10, columns={"g": "G_FLUX"}, units="uJy",
                        magnitude_band=None, clip_sigma=None).fit(table)
    model.write(tmp_path / "m.fits")
    again = PhotoZModel.read(tmp_path / "m.fits")
    assert again.columns == {"g": "G_FLUX"} and again.clip_sigma is None
    assert again.search_eps == 0.0
    model.search_eps = 2.5
    model.write(tmp_path / "m.fits", overwrite=True)
    assert PhotoZModel.read(tmp_path / "m.fits").search_eps == 2.5
    assert again.window == 0.15
    for window in (0.1, None):
        model.window = window
        model.write(tmp_path / "m.fits", overwrite=True)
        windowed = PhotoZModel.read(tmp_path / "m.fits")
        assert windowed.window == window
        _same(model.predict(table), windowed.predict(table))
    assert again.units == {"g": "uJy", "r": "uJy", "i": "uJy"}
    _same(model.predict(table), again.predict(table))


def test_model_file_errors(fitted, tmp_path):
    path = tmp_path / "model.fits"
    fitted.write(path)
    with pytest.raises(FileNotFoundError):
        PhotoZModel.read(tmp_path / "nope.fits")
    # Not a model file.
    fits.writeto(tmp_path / "image.fits", np.zeros(3))
    with pytest.raises(ValueError, match="not a photoz_numba model file"):
        PhotoZModel.read(tmp_path / "image.fits")
    # Not FITS at all: said so, without astropy's advice for damaged FITS.
    (tmp_path / "text.fits").write_text("hello")
    with pytest.raises(ValueError, match="is not a FITS file, so not a photoz_numba model "
                                         "file") as raised:
        PhotoZModel.read(tmp_path / "text.fits")
    assert "ignore_missing_simple" not in str(raised.value)
    # A model file compressed as fit may write it is FITS all the same.
    for suffix in (".fits.gz", ".fits.bz2", ".fits.xz"):
        fitted.write(tmp_path / f"model{suffix}")
        assert PhotoZModel.read(tmp_path / f"model{suffix}").k == fitted.k
    # FITS cut short.
    (tmp_path / "cut.fits").write_bytes(path.read_bytes()[:2 * 2880])
    with pytest.raises(ValueError, match="not a readable photoz_numba model file"):
        PhotoZModel.read(tmp_path / "cut.fits")
    # An incompatible format version.
    with fits.open(path) as hdus:
        hdus[0].header["PZFORMAT"] = MODEL_FORMAT + 1
        hdus.writeto(tmp_path / "future.fits")
    with pytest.raises(ValueError, match=f"format {MODEL_FORMAT + 1}.*reads format"):
        PhotoZModel.read(tmp_path / "future.fits")
    # Altered training data.
    with fits.open(path) as hdus:
        hdus["TRAINING"].data["z"][7] += 0.1
        hdus.writeto(tmp_path / "altered.fits")
    with pytest.raises(ValueError, match="altered"):
        PhotoZModel.read(tmp_path / "altered.fits")
    # Truncated.
    data = path.read_bytes()
    (tmp_path / "truncated.fits").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        PhotoZModel.read(tmp_path / "truncated.fits")


def test_fits_streaming_matches_in_memory(fitted, catalogue, catalogue_fits, tmp_path):
    out_path = tmp_path / "out.fits"
    calls = []
    n = predict_fits(fitted, catalogue_fits, out_path, chunk_size=700,
                     progress=lambda done, total: calls.append((done, total)))
    assert n == len(catalogue) == 5667
    assert calls[-1] == (5667, 5667) and len(calls) == 9
    out = Table.read(out_path, hdu=1)
    expected = fitted.predict(Table.read(catalogue_fits, hdu=1))
    _same(out, expected)
    # Every input column, in order, with units and values.
    assert out.colnames == catalogue.colnames + OUTPUT
    assert out["f444w"].unit == u.uJy
    np.testing.assert_array_equal(out["ID"], catalogue["ID"])
    # Rows with missing bands are there, predicted from the other bands, and flagged.
    assert not np.ma.getmaskarray(out["z_phot"]).any()
    assert ((out["z_phot_flag"] & 3) > 0).sum() == 1058
    with fits.open(out_path) as hdus:
        hdus.verify("exception")   # a valid FITS file by astropy's checks
        assert hdus[0].header["OBSERVER"] == "me"
        assert hdus[1].header["SURVEY"] == "PRIMER+JADES"
        assert "made for the tests" in str(hdus[1].header["HISTORY"])
        np.testing.assert_array_equal(hdus["EXTRA"].data, np.arange(12.0).reshape(3, 4))


def test_streaming_refuses_input_and_existing_output(fitted, catalogue_fits, tmp_path):
    with pytest.raises(ValueError, match="is the input"):
        predict_fits(fitted, catalogue_fits, catalogue_fits, overwrite=True)
    out_path = tmp_path / "out.fits"
    out_path.write_text("precious")
    with pytest.raises(FileExistsError):
        predict_fits(fitted, catalogue_fits, out_path)
    assert out_path.read_text() == "precious"


def test_interrupted_write_leaves_nothing(fitted, catalogue_fits, tmp_path):
    out_path = tmp_path / "out.fits"

    def interrupt(done, total):
        if done > 2000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_fits(fitted, catalogue_fits, out_path, chunk_size=1000, progress=interrupt)
    assert os.listdir(tmp_path) == []


def test_unitless_and_mapped_columns(fitted, sample, tmp_path):
    def renamed(table):
        return Table({f"FLUX_{b.upper()}": u.Quantity(table[b]).to_value(u.nJy)
                      for b in BANDS} | {"zspec": table["zspec"]})
    train, _ = stratified_split(sample, z="zspec", seed=0)
    renamed(sample).write(tmp_path / "in.fits")
    model = PhotoZModel(BANDS, k=30, offset="mean", magnitude_band="f444w",
                        columns={b: f"FLUX_{b.upper()}" for b in BANDS})
    with pytest.raises(u.UnitsError, match="FLUX_F435W"):
        model.fit(renamed(train))
    model.fit(renamed(train), units="nJy")
    model.set_params(units=None)
    with pytest.raises(u.UnitsError, match="FLUX_F435W"):
        predict_fits(model, tmp_path / "in.fits", tmp_path / "out.fits")
    assert not (tmp_path / "out.fits").exists()
    predict_fits(model, tmp_path / "in.fits", tmp_path / "out.fits", units="nJy")
    out = Table.read(tmp_path / "out.fits")
    np.testing.assert_allclose(out["z_phot"], fitted.predict(sample)["z_phot"], atol=1e-9)


def test_corrupted_input(fitted, catalogue_fits, tmp_path):
    data = catalogue_fits.read_bytes()
    (tmp_path / "cut.fits").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.fits' is not a readable FITS file: it is truncated"):
        predict_fits(fitted, tmp_path / "cut.fits", tmp_path / "out.fits")
    (tmp_path / "junk.fits").write_bytes(b"\0" * 5000)
    with pytest.raises(ValueError, match="not a readable FITS"):
        predict_fits(fitted, tmp_path / "junk.fits", tmp_path / "out.fits")
    assert sorted(os.listdir(tmp_path)) == ["cut.fits", "junk.fits"]


def test_other_formats_in_memory(fitted, sample, tmp_path):
    sample.write(tmp_path / "in.ecsv")
    n = predict_file(fitted, tmp_path / "in.ecsv", tmp_path / "out.ecsv")
    out = Table.read(tmp_path / "out.ecsv")
    assert n == len(out) == 4605
    _same(out, fitted.predict(sample))


def test_predict_file_reads_the_hdu_asked_for_and_refuses_first(fitted, sample, tmp_path,
                                                                monkeypatch):
    """predict_file predicts the HDU asked for when the input is FITS by
    format=, whatever its name (it read the first table), refuses hdu= for
    an input that is not FITS (it ignored it), and refuses an existing
    output, or one in no directory, before it reads the input."""
    from astropy.io import fits
    first, second = sample[:10], sample[100:103]
    fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(first),
                  fits.table_to_hdu(second)]).writeto(tmp_path / "cat.dat")
    assert predict_file(fitted, tmp_path / "cat.dat", tmp_path / "out.ecsv", hdu=2,
                        format="fits") == 3
    _same(Table.read(tmp_path / "out.ecsv"), fitted.predict(second))
    first.write(tmp_path / "c.ecsv")
    with pytest.raises(ValueError, match="hdu is for FITS input"):
        predict_file(fitted, tmp_path / "c.ecsv", tmp_path / "o.ecsv", hdu=5)
    import photoz_numba.io as io_module

    def refuse(*args, **kwargs):
        raise AssertionError("the input was read")
    monkeypatch.setattr(io_module, "read_table", refuse)
    with pytest.raises(FileExistsError, match="exists"):
        predict_file(fitted, tmp_path / "c.ecsv", tmp_path / "out.ecsv")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        predict_file(fitted, tmp_path / "c.ecsv", tmp_path / "nowhere" / "o.ecsv")
    assert sorted(os.listdir(tmp_path)) == ["c.ecsv", "cat.dat", "out.ecsv"]


def test_hdf5_output_keeps_units_descriptions_and_masks(fitted, sample, tmp_path):
    """predict_file to HDF5 keeps the columns' units, descriptions and
    masks (astropy drops them unless asked), so the output reads back as
    the in-memory prediction and can be predicted again."""
    pytest.importorskip("h5py")
    rows = sample[:20].copy()
    rows["f150w"][3] = rows["f200w"][3] = rows["f277w"][3] = np.nan
    rows.write(tmp_path / "in.ecsv")
    predict_file(fitted, tmp_path / "in.ecsv", tmp_path / "out.hdf5")
    out = Table.read(tmp_path / "out.hdf5")
    expected = fitted.predict(rows)
    _same(out, expected)
    for name in expected.colnames:
        assert out[name].unit == expected[name].unit, name
        assert out[name].description == expected[name].description, name
    assert list(np.ma.getmaskarray(out["z_phot"])) == list(np.ma.getmaskarray(expected["z_phot"]))
    _same(fitted.predict(out[rows.colnames]), expected)


def test_atomic_output_permissions(tmp_path):
    with atomic_output(tmp_path / "x.txt") as tmp:
        with open(tmp, "w") as handle:
            handle.write("done")
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "x.txt").st_mode & 0o777 == 0o666 & ~umask


def test_a_band_named_z_survives_model_files(tmp_path):
    """Regression: the TRAINING table's redshift column was named "z", and
    overwrote the magnitudes of a band named z (ugrizy) when written."""
    rng = np.random.default_rng(2)
    zs = rng.uniform(0.1, 2, 300)
    table = Table({band: (24 + np.sin(zs * (i + 1)) + rng.normal(0, 0.02, 300)) * u.ABmag
                   for i, band in enumerate("griz")})
    table["zspec"] = zs
    model = PhotoZModel(list("griz"), k=15).fit(table)
    model.write(tmp_path / "m.fits")
    again = PhotoZModel.read(tmp_path / "m.fits")
    np.testing.assert_array_equal(again.train_magnitudes_, model.train_magnitudes_)
    np.testing.assert_array_equal(again.train_redshifts_, model.train_redshifts_)
    _same(model.predict(table), again.predict(table))


def test_softening_survives_model_files(tmp_path):
    """Asinh magnitudes' softening is stored per band (uJy) and read back."""
    rng = np.random.default_rng(3)
    zs = rng.uniform(0.1, 2, 300)
    table = Table({band: (np.exp(-zs * (i + 1) / 3) + rng.normal(0, 0.05, 300)) * u.uJy
                   for i, band in enumerate("gri")})
    table["zspec"] = zs
    model = PhotoZModel(list("gri"), k=15, softening={"g": 20 * u.nJy, "r": 0.03 * u.uJy})
    model.fit(table)
    model.write(tmp_path / "m.fits")
    again = PhotoZModel.read(tmp_path / "m.fits")
    assert set(again.softening) == {"g", "r"}
    assert abs(again.softening["g"].to_value(u.nJy) - 20) < 1e-9
    _same(model.predict(table), again.predict(table))


def test_predict_file_says_how_many_rows_lack_a_z_phot(tmp_path, caplog):
    """Streamed (FITS to FITS) or through memory, the summary logged counts
    the written rows without z_phot and the other flagged ones, as the
    written z_phot_flag column has them."""
    import logging
    from photoz_numba.datasets import toy_catalogue
    from photoz_numba.flags import FLAGS, UNPREDICTED
    table = toy_catalogue(700)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500])
    survey = table[500:]
    survey["g"][:7] = np.nan          # seven rows with one colour: unpredicted
    survey["r"][:4] = np.nan
    survey["i"][10:13] = -1.0         # three non-detections: flagged, predicted
    survey.write(tmp_path / "survey.fits")
    for name in ("out.fits", "out.ecsv"):
        with caplog.at_level(logging.INFO, logger="photoz_numba"):
            caplog.clear()
            predict_file(model, tmp_path / "survey.fits", tmp_path / name, chunk_size=50)
        flag = np.asarray(Table.read(tmp_path / name)["z_phot_flag"])
        unpredicted = (flag & UNPREDICTED) != 0
        assert unpredicted.sum() == 4 and ((flag != 0) & ~unpredicted).sum() >= 3
        expected = (f"{unpredicted.sum()} of 200 rows without a z_phot, "
                    f"{((flag != 0) & ~unpredicted).sum()} more with a flag (rows with "
                    f"each: ")
        assert any(expected in message for message in caplog.messages), caplog.messages
        # and the rows with each flag, counted from the written flags.
        each = [f"{name} {((flag & bit) != 0).sum()}" for bit, name, *_ in FLAGS
                if ((flag & bit) != 0).any()]
        assert any(", ".join(each) in message for message in caplog.messages)


def test_streaming_finds_the_first_table_after_an_image(tmp_path):
    """By default the first binary table is predicted, after any image
    HDU; an HDU named or numbered is that one, and a file without a table
    is a clear error."""
    from photoz_numba.datasets import toy_catalogue
    table = toy_catalogue(600)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500])
    survey = table[500:]
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 4)), name="WEIGHT"),
                         fits.table_to_hdu(survey)])
    hdus[2].name = "OBJECTS"
    hdus.writeto(tmp_path / "survey.fits")
    expected = model.predict(survey)["z_phot"]
    for name, hdu in (("default.fits", None), ("named.fits", "OBJECTS"), ("number.fits", 2)):
        predict_fits(model, tmp_path / "survey.fits", tmp_path / name, hdu=hdu)
        with fits.open(tmp_path / name) as out:
            assert [each.name for each in out] == ["PRIMARY", "WEIGHT", "OBJECTS"]
            np.testing.assert_array_equal(out[2].data["z_phot"], expected)
    with pytest.raises(ValueError, match="HDU 1 of .* is not a binary table"):
        predict_fits(model, tmp_path / "survey.fits", tmp_path / "one.fits", hdu=1)
    fits.HDUList([fits.PrimaryHDU(np.zeros(3))]).writeto(tmp_path / "image.fits")
    with pytest.raises(ValueError, match="has no binary table HDU"):
        predict_fits(model, tmp_path / "image.fits", tmp_path / "none.fits")


def test_read_table_tells_a_compressed_table_by_the_name_before_its_suffix(tmp_path):
    """x.ecsv.gz is read as ECSV and x.fits.xz as FITS (astropy reads them
    compressed but tells them only by the plain name); a format astropy
    cannot read compressed (HDF5) is not guessed."""
    import bz2
    import gzip
    import lzma
    from photoz_numba.io import _compressed_format, read_table
    table = Table({"id": [1, 2, 3], "z": [0.5, 1.0, 2.5] * u.dimensionless_unscaled})
    for plain, suffix, module in (("t.ecsv", ".gz", gzip), ("t.csv", ".bz2", bz2),
                                  ("t.fits", ".xz", lzma)):
        table.write(tmp_path / plain)
        with open(tmp_path / plain, "rb") as source, \
                module.open(tmp_path / (plain + suffix), "wb") as sink:
            sink.write(source.read())
        read = read_table(tmp_path / (plain + suffix))
        assert list(read["id"]) == [1, 2, 3] and list(read["z"]) == [0.5, 1.0, 2.5]
    assert _compressed_format("t.ecsv.gz") == "ascii.ecsv"
    assert _compressed_format("t.hdf5.gz") is None and _compressed_format("t.ecsv") is None
    # A name that tells nothing compressed tells nothing either.
    with open(tmp_path / "t.ecsv", "rb") as source, gzip.open(tmp_path / "t.gz", "wb") as sink:
        sink.write(source.read())
    with pytest.raises(ValueError, match="its format could not be identified"):
        read_table(tmp_path / "t.gz")


def test_a_state_of_big_endian_or_float32_arrays_round_trips(tmp_path):
    """A FittedState whose arrays are big-endian or float32 (as read from a
    FITS table) is written as the native float64 values a model holds: its
    hash was of the raw bytes, and the file written was refused as altered."""
    from photoz_numba.datasets import toy_catalogue
    from photoz_numba.io import read_model_state, write_model
    table = toy_catalogue(600)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table[:500]).calibrate(table[:500])
    state = model.fitted_state()
    for name, dtype in (("big-endian", ">f8"), ("float32", np.float32)):
        given = state._replace(train_magnitudes=state.train_magnitudes.astype(dtype),
                               train_redshifts=state.train_redshifts.astype(dtype),
                               pz=state.pz._replace(pulls=state.pz.pulls.astype(dtype)))
        path = tmp_path / f"{name}.fits"
        write_model(given, path)
        back = read_model_state(path)
        for field, values in (("train_magnitudes", given.train_magnitudes),
                              ("train_redshifts", given.train_redshifts)):
            read = getattr(back, field)
            assert read.dtype == np.dtype("=f8")
            np.testing.assert_array_equal(read, values.astype(np.float64))
        np.testing.assert_array_equal(back.pz.pulls, given.pz.pulls.astype(np.float64))
        _same(PhotoZModel.from_fitted_state(given).predict(table[500:]),
              PhotoZModel.from_fitted_state(back).predict(table[500:]))


def test_float_parameters_round_trip_exactly(tmp_path, monkeypatch):
    """Header floats were written in astropy's 20 characters, 16
    significant digits: a lam of 1.2345678901234568e-05 (a log-uniform
    draw of tune's) came back as 1.23456789012345e-05, and PZSTATE, taken
    on the header as written, did not notice. Each float parameter now
    reads back as the float given; files written the old way still read."""
    import photoz_numba.io as io
    from photoz_numba.datasets import toy_catalogue
    table = toy_catalogue(600)
    for band in "gri":
        table[f"{band}_err"] = 0.05 * np.abs(table[band]) + 0.001 * table[band].unit
    # Each needs 17 significant digits: none is the float of its first 16.
    given = dict(lam=1.2345678901234568e-05, gamma=0.30000000000000004,
                 window=0.12345678901234568, clip_sigma=2.1234567890123457,
                 snr_min=1.2345678901234567, search_eps=0.12345678901234568,
                 second_group=0.12345678901234568)
    assert all(float(f"{value:.16g}") != value for value in given.values())
    model = PhotoZModel(["g", "r", "i"], k=20, **given).fit(table[:500])
    model.write(tmp_path / "m.fits")
    again = PhotoZModel.read(tmp_path / "m.fits")
    assert {name: getattr(again, name) for name in given} == given
    header = fits.getheader(tmp_path / "m.fits")
    assert header["LAM"] == given["lam"] and isinstance(header["LAM"], float)
    _same(model.predict(table[500:]), again.predict(table[500:]))
    # A file written with astropy's own formatting (as before) reads, as it was.
    monkeypatch.setattr(io, "_set_float", lambda header, name, value, comment:
                        header.set(name, float(value), comment))
    model.write(tmp_path / "old.fits")
    old = PhotoZModel.read(tmp_path / "old.fits")
    assert old.lam == float(fits.Card("LAM", given["lam"]).image[10:30]) != given["lam"]


def test_nulls_of_scaled_integer_columns_are_missing_on_both_paths(tmp_path):
    """A FITS flux stored as scaled integers (TSCAL) with a null (TNULL):
    astropy's Table.read masks nulls only in unscaled columns, so the
    in-memory path took the null for a flux of -2147.48 uJy (the streaming
    path masked it). Both now predict what a table with those fluxes
    masked predicts, and flag the rows missing_band."""
    from photoz_numba.datasets import toy_catalogue
    from photoz_numba.flags import MISSING_BAND
    from photoz_numba.io import read_table
    from astropy.table import MaskedColumn
    table = toy_catalogue(300, seed=4)
    model = PhotoZModel(["g", "r", "i"], k=20).fit(table)
    null, nulls = -2147483648, [3, 4, 5, 200]
    raw = np.round(np.asarray(table["g"]) * 1e6).astype(np.int32)
    raw[nulls] = null
    columns = [fits.Column(name="g", format="J", unit="uJy", array=raw)]
    columns += [fits.Column(name=name, format="D", unit="uJy", array=np.asarray(table[name]))
                for name in ("r", "i")]
    hdu = fits.BinTableHDU.from_columns(columns)
    hdu.header["TSCAL1"], hdu.header["TNULL1"] = 1e-6, null
    path = tmp_path / "scaled.fits"
    hdu.writeto(path)
    # The reference: the same fluxes, scaled in NumPy, the nulls masked.
    expected_table = Table({"g": MaskedColumn(raw * 1e-6, mask=np.isin(np.arange(300), nulls),
                                              unit=u.uJy),
                            "r": table["r"], "i": table["i"]})
    expected = model.predict(expected_table)
    assert np.ma.getmaskarray(read_table(path)["g"]).nonzero()[0].tolist() == nulls
    predict_file(model, path, tmp_path / "memory.ecsv")
    predict_fits(model, path, tmp_path / "streamed.fits")
    for name in ("memory.ecsv", "streamed.fits"):
        out = Table.read(tmp_path / name)
        _same(out, expected)
        assert np.all(out["z_phot_flag"][nulls] & MISSING_BAND)
